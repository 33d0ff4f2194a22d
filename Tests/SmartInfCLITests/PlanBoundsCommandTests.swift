import Foundation
import Testing

/// Hostile device counts and subgroup or chunk sizes, given to the study commands as flags or in
/// a trace, are refused with a message naming the flag or field and the setting to change,
/// instead of exhausting memory. The commands run under a 1 GiB address-space limit: were a
/// check missing, they would die allocating (in seconds: the cases are chosen so that nothing
/// before the allocation takes long) instead of taking the machine's memory.
@Suite struct PlanBoundsCommandTests {
    /// `smartinf arguments…` under a 1 GiB `ulimit -v`.
    static func runLimited(_ arguments: [String]) throws -> SmartInfProcess.Result {
        try SmartInfProcess.run(arguments, memoryLimitKiB: 1 << 20)
    }

    static func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plan-bounds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }

    static func expectRefused(_ arguments: [String], _ messages: [String]) throws {
        let result = try runLimited(arguments)
        // 1 for a refused plan, 64 for a flag ArgumentParser's validation refuses; not a signal.
        #expect([1, 64].contains(result.status), "\(arguments): status \(result.status), \(result.stderr)")
        for message in messages {
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test func tooManyDevicesAreRefusedNamingTheFlag() throws {
        try Self.expectRefused(["synth", "--preset", "gpt2-4.0b", "--devices", "1000000000000", "--mode", "su+o"],
                               ["--devices 1000000000000: expected at most 4096 storage devices"])
        try Self.expectRefused(["synth", "--preset", "gpt2-4.0b", "--devices", "4097"], ["--devices 4097: expected at most 4096"])
        try Self.expectRefused(["sweep", "--presets", "gpt2-4.0b", "--devices", "2,5000", "--out", "/dev/null"],
                               ["--devices: '5000' is not an integer from 1 to 4096"])
    }

    @Test func tinySubgroupsAndChunksAreRefusedWithTheOperationCount() throws {
        // A subgroup of 1000 elements: 1.4 × 10^9 operations. (Of one element, 1.6 × 10^11, see
        // PlanSizeBoundsTests; not here, as the planner, unchecked, would count its 3.3 × 10^10
        // subgroups for minutes before allocating them.)
        try Self.expectRefused(["synth", "--preset", "gpt2-33.0b", "--devices", "10", "--mode", "su+o", "--subgroup", "1000"],
                               ["the su+o plan would have 1352399144 operations, more than the 20000000 a plan may have: "
                                + "raise the subgroup size (now 1000 elements"])
        try Self.expectRefused(["synth", "--preset", "gpt2-33.0b", "--devices", "10", "--mode", "su+o", "--set", "fpga.chunk=64B"],
                               ["operations, more than the 20000000 a plan may have: raise the chunk size (now 64 B, --set fpga.chunk=SIZE"])
    }

    /// A trace whose configuration is too large is refused by replay: 10^12 devices when read,
    /// naming the field; a subgroup of 1000 elements when its plan is sized; `--devices` beyond
    /// the bound naming the flag.
    @Test func hostileTracesAreRefusedByReplay() throws {
        try Self.withDirectory { dir in
            let trace = "\(dir)/t.jsonl"
            let saved = try SmartInfProcess.run(["synth", "--preset", "gpt2-33.0b", "--devices", "10", "--mode", "su+o", "--save", trace])
            #expect(saved.status == 0, "\(saved.stderr)")
            let text = try String(contentsOfFile: trace, encoding: .utf8)
            #expect(text.contains(#""devices":10,"#) && text.contains(#""subgroupElements":1000000000,"#))

            try Self.expectRefused(["replay", trace, "--devices", "5000"], ["--devices 5000: expected at most 4096"])

            let devices = "\(dir)/devices.jsonl"
            try text.replacingOccurrences(of: #""devices":10,"#, with: #""devices":1000000000000,"#)
                .write(toFile: devices, atomically: true, encoding: .utf8)
            try Self.expectRefused(["replay", devices], ["line 1", "field 'config.devices': found 1000000000000; expected a whole "
                                                         + "number of devices from 1 to 4096"])

            let subgroup = "\(dir)/subgroup.jsonl"
            try text.replacingOccurrences(of: #""subgroupElements":1000000000,"#, with: #""subgroupElements":1000,"#)
                .write(toFile: subgroup, atomically: true, encoding: .utf8)
            // Unchanged, replay times the recorded operations again; re-planned, it is refused.
            try Self.expectRefused(["replay", subgroup, "--mode", "su+o+c"],
                                   ["the su+o+c plan would have 1352399249 operations", "raise the subgroup size (now 1000 elements"])
        }
    }

    /// The paper's largest case still plans, in every mode (the most devices are planned in
    /// PlanSizeBoundsTests; a debug build takes half a minute to simulate them).
    @Test func paperScaleSynthPlans() throws {
        let result = try Self.runLimited(["synth", "--preset", "gpt2-33.0b", "--devices", "10", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let results = try #require(doc["results"] as? [[String: Any]])
        #expect(results.count == 4 && results.allSatisfy { ($0["iteration_s"] as? Double ?? 0) > 0 })
    }
}
