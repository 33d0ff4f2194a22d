import Foundation
import Testing

/// Bad input to `smartinf train`: each gets a clear message naming what was wrong, a failing exit
/// status, and leaves no partial output (no metrics file, no checkpoint).
@Suite(.serialized) struct TrainCommandTests {
    let dir = "/var/tmp/smartinf-cli-\(getpid())-\(UUID().uuidString.prefix(6))"

    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let corpus = try SmartInfProcess.run(["corpus", "--out", dir, "--train-bytes", "20000", "--val-bytes", "4000"])
        #expect(corpus.status == 0, "\(corpus.stderr)")
    }

    func train(_ extra: [String], data: String? = nil) throws -> SmartInfProcess.Result {
        try SmartInfProcess.run(["train", "--train-data", data ?? "\(dir)/train.bin", "--steps", "2", "--batch", "2", "--seq", "16",
                                 "--ssd-dir", "\(dir)/ssd", "--dram", "16MiB", "--metrics", "\(dir)/metrics.jsonl",
                                 "--save-checkpoint", "\(dir)/checkpoint"] + extra)
    }

    func expectNoOutputs() {
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/metrics.jsonl"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/checkpoint"))
    }

    @Test func aShortRunTrainsAndSavesItsOutputs() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try train(["--init", "gpt2:1,2,32,16,256", "--mode", "su+o", "--devices", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("su+o on 2 device(s): loss"))
        let lines = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        for key in ["step", "loss", "lr", "loss_scale", "skipped", "grad_norm", "tokens_per_s", "seconds"] {
            #expect(first?[key] != nil, "metrics record lacks \(key)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(dir)/checkpoint/model.bin"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/checkpoint/trainer-state.json"))
    }

    @Test func badInputsAreRefusedClearlyWithoutPartialOutputs() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A checkpoint with the wrong magic.
        let badCheckpoint = "\(dir)/bad.bin"
        try Data(repeating: 7, count: 2048).write(to: URL(fileURLWithPath: badCheckpoint))
        // A truncated token file.
        let tokens = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/train.bin"))
        let truncated = "\(dir)/truncated.bin"
        try tokens.prefix(1024 + 100).write(to: URL(fileURLWithPath: truncated))
        let cases: [([String], String?, String)] = [
            (["--checkpoint", badCheckpoint], nil, "magic"),
            (["--init", "gpt2:1,2,32,16,256"], truncated, "truncated"),
            (["--init", "gpt2:1,2,32,8,256"], nil, "sequence"),           // T 16 > maxT 8
            (["--init", "gpt2:1,2,32,16,100"], nil, "token"),              // token ≥ V 100
            (["--init", "gpt2:1,2,32,16,256", "--checkpoint", badCheckpoint], nil, "exclude each other"),
            (["--init", "gpt2:1,2,32,16,256", "--mode", "su+o", "--error-feedback"], nil, "--error-feedback needs --mode su+o+c"),
            (["--init", "gpt2:1,2,32,16,256", "--mode", "turbo"], nil, "--mode 'turbo'"),
            (["--init", "gpt2:1,2,32,16,256", "--attach", "\(dir)/nobody.sock"], nil, "device 0 (\(dir)/nobody.sock) failed: cannot connect"),
            (["--init", "gpt2:1,2,32,16,256", "--precision", "fp8"], nil, "--precision 'fp8'"),
        ]
        for (flags, data, message) in cases {
            let result = try train(flags, data: data)
            #expect(result.status != 0, "\(flags) should fail")
            #expect(result.stderr.localizedCaseInsensitiveContains(message), "\(flags): stderr was \(result.stderr)")
            expectNoOutputs()
        }
    }
}
