import Foundation
import Testing

/// `smartinf checkpoint export` and `smartinf bench checkpoint` through the real executable.
@Suite(.serialized) struct CheckpointCommandTests {
    let dir = "/var/tmp/smartinf-cli-\(getpid())-\(UUID().uuidString.prefix(6))"

    /// A run on 2 devices checkpoints; its export resumes on 3 devices in base mode; bad
    /// sources are refused naming what was expected.
    @Test func anExportedCheckpointResumesOnAnotherFleet() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let corpus = try SmartInfProcess.run(["corpus", "--out", dir, "--train-bytes", "20000", "--val-bytes", "4000"])
        #expect(corpus.status == 0, "\(corpus.stderr)")
        let common = ["train", "--train-data", "\(dir)/train.bin", "--batch", "2", "--seq", "16", "--dram", "16MiB"]
        let saved = try SmartInfProcess.run(common + ["--init", "gpt2:1,2,32,16,256", "--steps", "2", "--mode", "su+o", "--devices", "2",
                                                      "--ssd-dir", "\(dir)/ssd", "--save-checkpoint", "\(dir)/checkpoint"])
        #expect(saved.status == 0, "\(saved.stderr)")
        let export = try SmartInfProcess.run(["checkpoint", "export", "\(dir)/checkpoint", "--out", "\(dir)/exported"])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.hasPrefix("exported step 2 from 2 device(s): 48 tensors"), "\(export.stdout)")
        let resumed = try SmartInfProcess.run(common + ["--steps", "4", "--mode", "base", "--devices", "3", "--ssd-dir", "\(dir)/ssd-base",
                                                        "--resume", "\(dir)/exported"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("step    3/4") && resumed.stdout.contains("step    4/4"), "\(resumed.stdout)")

        let nothing = try SmartInfProcess.run(["checkpoint", "export", dir, "--out", "\(dir)/none"])
        #expect(nothing.status != 0 && nothing.stderr.contains("is neither a checkpoint directory (no trainer-state.json) nor an SSD directory with device snapshots"),
                "\(nothing.stderr)")
        let missingOut = try SmartInfProcess.run(["checkpoint", "export", "\(dir)/checkpoint"])
        #expect(missingOut.status != 0 && missingOut.stderr.contains("Missing expected argument '--out <out>'"))
    }

    /// At a tiny size: both methods leave the states durable; near-storage moves only its
    /// request and reply over the link, the host gather every state byte and more.
    @Test func benchCheckpointComparesNearStorageWithAHostGather() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try SmartInfProcess.run(["bench", "checkpoint", "--params", "200000", "--devices", "2", "--dram", "4MiB",
                                              "--repetitions", "1", "--dir", dir, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(rows.map { $0["method"] as? String } == ["near-storage", "host gather"])
        let stateBytes = 200_000 * 12
        #expect(rows.allSatisfy { $0["stateBytes"] as? Int == stateBytes })
        let near = try #require(rows[0]["sharedLinkBytes"] as? Int)
        let gather = try #require(rows[1]["sharedLinkBytes"] as? Int)
        #expect(near > 0 && near < 2000, "near-storage moved \(near) bytes over the link")
        #expect(gather >= stateBytes)
        #expect(try #require(rows[0]["bytesWritten"] as? Int) >= stateBytes)
        #expect(try #require(rows[1]["bytesWritten"] as? Int) >= stateBytes)
        #expect((rows[0]["speedupOverHostGather"] as? Double ?? 0) > 0)
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(contents.isEmpty, "left behind: \(contents)")
    }
}
