import Foundation
import Testing

/// `smartinf model-check` end to end at a tiny size: this machine's profiles built from bench
/// documents, a live `train --clock wall` run, the prediction beside it, the reference set saved.
@Suite struct ModelCheckCommandTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("model-check-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// Bench documents as `bench … --json` writes them, with round numbers: the disk reads
    /// 2 GB/s and writes 1 GB/s at depth 16, the kernel updates 100 M parameters/s, CRC32C runs at
    /// 12 GB/s.
    func writeBenchDocuments(model: String) throws {
        func io(_ operation: String, _ depth: Int, _ rate: Double) -> String {
            #"{"blockSize": 1048576, "bytes": 67108864, "gigabytesPerSecond": {"maximum": \#(rate), "median": \#(rate), "minimum": \#(rate)}, "operation": "\#(operation)", "queueDepth": \#(depth)}"#
        }
        try Data((#"{"benchmark": "io", "rows": ["# + [io("write", 1, 0.5), io("read", 1, 1.0), io("write", 16, 1.0), io("read", 16, 2.0)]
            .joined(separator: ", ") + "]}").utf8).write(to: URL(fileURLWithPath: "\(dir)/io.json"))
        try Data((#"{"benchmark": "optim", "rows": [{"bytesPerParameter": 30, "copyOut": "fp16", "gigabytesPerSecond": 3, "gradient": "fp16", "#
            + #""inPlaceGigabytesPerSecond": 6, "memoryCopyGigabytesPerSecond": 5, "optimizer": "adamw", "parameters": 1000000, "#
            + #""parametersPerSecond": 100000000, "path": "simd", "ratioToInPlace": 0.5, "ratioToMemoryCopy": 0.6, "states": "fp32", "checksumGigabytesPerSecond": 12, "#
            + #""seconds": {"maximum": 0.01, "median": 0.01, "minimum": 0.01}, "threads": 1}]}"#).utf8)
            .write(to: URL(fileURLWithPath: "\(dir)/optim.json"))
        try Data((#"{"benchmark": "train", "rows": [{"backwardSeconds": 0.2, "batchSize": 2, "blasThreads": 1, "conversionShare": 0, "#
            + #""forwardSeconds": 0.05, "maximumSecondsPerStep": 0.3, "minimumSecondsPerStep": 0.3, "model": "\#(model)", "parameters": 100000, "#
            + #""precision": "fp32", "secondsPerStep": 0.3, "sequenceLength": 16, "sgemmGigaflopsPerSecond": 1, "sgemmShare": 0.5, "#
            + #""steps": 3, "tokensPerSecond": 100, "updateSeconds": 0.05}]}"#).utf8).write(to: URL(fileURLWithPath: "\(dir)/train.json"))
    }

    @Test func predictsRunsAndCompares() throws {
        let model = "gpt2:2,2,64,32,256"
        try writeBenchDocuments(model: model)
        let corpus = try SmartInfProcess.run(["corpus", "--out", dir, "--train-bytes", "20000", "--val-bytes", "4000"])
        #expect(corpus.status == 0, "\(corpus.stderr)")
        let result = try SmartInfProcess.run([
            "model-check", "--io", "\(dir)/io.json", "--optim", "\(dir)/optim.json", "--train", "\(dir)/train.json", "--init", model,
            "--batch", "2", "--seq", "16", "--steps", "2", "--modes", "base,su", "--devices", "1,2", "--dram", "16MiB",
            "--sub-group-size", "65536", "--ssd-dir", "\(dir)/ssd", "--train-data", "\(dir)/train.bin", "--out", "\(dir)/out", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(doc["rows"] as? [[String: Any]])
        #expect(rows.map { "\($0["mode"] ?? "")×\($0["devices"] ?? "")" } == ["base×1", "base×2", "su×1", "su×2"])
        for row in rows {
            let predicted = try #require(row["predicted"] as? [String: Double])
            let measured = try #require(row["measured"] as? [String: Double])
            #expect((predicted["iteration_s"] ?? 0) > 0 && (measured["iteration_s"] ?? 0) > 0)
            let errors = try #require(row["errors"] as? [String: Double])
            #expect(abs((errors["iteration_s"] ?? 0) - ((predicted["iteration_s"]! / measured["iteration_s"]!) - 1)) < 1e-9)
        }
        // The measured disk rates are in the drive profile; all devices share the one disk.
        let drive = try String(contentsOfFile: "\(dir)/out/this-drive.json", encoding: .utf8)
        #expect(drive.contains(#""read": {"value": "2e+09B/s""#) && drive.contains(#""write": {"value": "1e+09B/s""#))
        #expect(try String(contentsOfFile: "\(dir)/out/this-host.json", encoding: .utf8).contains(#""sharedDrive": {"value": true"#))
        // The engine's update stage: the kernel (10 ns a parameter) and two CRC32C passes over
        // 12 B (2 ns), for 16 B of input: 16 B / 12 ns.
        #expect(drive.contains(#""update": {"value": "1.33333e+09B/s""#), "\(drive)")
        // The measurements are a reference set that validate reads on the machine's profiles.
        let check = try SmartInfProcess.run(["validate", "--reference", "\(dir)/out/model-check-reference.json", "--folds", "none",
                                             "--host", "\(dir)/out/this-host.json", "--device", "\(dir)/out/this-drive.json",
                                             "--gpu", "\(dir)/out/this-cpu.json", "--json"])
        let validated = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        #expect((validated["points"] as? [[String: Any]])?.count == 4, "\(check.stderr)")
        // A document of the wrong bench is refused, naming the file.
        let wrong = try SmartInfProcess.run([
            "model-check", "--io", "\(dir)/optim.json", "--optim", "\(dir)/optim.json", "--train", "\(dir)/train.json", "--init", model,
            "--seq", "16", "--ssd-dir", "\(dir)/ssd", "--train-data", "\(dir)/train.bin", "--out", "\(dir)/out",
        ])
        #expect(wrong.status != 0 && wrong.stderr.contains("optim.json: not a `smartinf bench io --json` document"), "\(wrong.stderr)")
        // An optim document from before the checksum rate was measured is refused, saying why.
        let optim = try String(contentsOfFile: "\(dir)/optim.json", encoding: .utf8)
        try optim.replacingOccurrences(of: #""checksumGigabytesPerSecond": 12, "#, with: "").write(toFile: "\(dir)/optim.json", atomically: true, encoding: .utf8)
        let old = try SmartInfProcess.run([
            "model-check", "--io", "\(dir)/io.json", "--optim", "\(dir)/optim.json", "--train", "\(dir)/train.json", "--init", model,
            "--batch", "2", "--seq", "16", "--ssd-dir", "\(dir)/ssd", "--train-data", "\(dir)/train.bin", "--out", "\(dir)/out",
        ])
        #expect(old.status != 0 && old.stderr.contains("has no checksumGigabytesPerSecond"), "\(old.stderr)")
    }
}
