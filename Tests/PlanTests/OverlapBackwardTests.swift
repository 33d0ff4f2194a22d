import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// The optimizer step overlapped with the backward pass (Fuyou, Ratel): the same bytes as the
/// mode it is applied to, moved earlier.
@Suite struct OverlapBackwardTests {
    /// Llama 3 8B at one 1024-token sequence, in subgroups of 2.5 × 10^8 elements (33 of them), so
    /// most subgroups are complete long before the backward ends.
    static func workloads() throws -> (after: IterationWorkload, overlapped: IterationWorkload) {
        let shape = try ModelPreset.named("llama3-8b").shape(sequence: 1024, batch: 1)
        return (try IterationWorkload(model: shape, subgroupElements: 250_000_000),
                try IterationWorkload(model: shape, subgroupElements: 250_000_000, overlapsBackward: true))
    }

    /// By hand, the bytes per parameter are the mode's own (base 32 on the shared link; su+o 8,
    /// and 4 + 12 + 12 + 4 = 32 through each device's flash and ports), since only the order
    /// changes; and an iteration is never slower, at every device count and mode.
    @Test func sameBytesNeverSlowerAndTheUpdateStartsDuringTheBackward() throws {
        let setup = try IterationPlannerTests.setup()
        let (after, overlapped) = try Self.workloads()
        for mode in OffloadMode.allCases {
            for devices in [1, 4] {
                let serial = try StudyResult.run(mode, after, devices: devices, on: setup)
                let timeline = try IterationPlanner.timeline(mode, overlapped, devices: devices, on: setup)
                let overlap = StudyResult(mode: mode, devices: devices, workload: overlapped, timeline: timeline)
                #expect(abs(overlap.sharedLinkBytes - serial.sharedLinkBytes) < 1, "\(mode.rawValue) \(devices)")
                #expect(zip(overlap.deviceBytes, serial.deviceBytes).allSatisfy { abs($0 - $1) < 1 })
                #expect(overlap.iterationSeconds <= serial.iterationSeconds * (1 + 1e-9), "\(mode.rawValue) \(devices)")
                // The first update starts before the last backward computation ends.
                let tags = timeline.plan.tags, timings = timeline.result.operations
                let firstUpdate = zip(tags, timings).filter { $0.0.phase == .update }.map(\.1.start).min() ?? .infinity
                let lastBackward = zip(tags, timings).filter { $0.0.phase == .backward && $0.0.kind == .compute }
                    .map(\.1.end).max() ?? 0
                #expect(firstUpdate < lastBackward, "\(mode.rawValue) \(devices)")
            }
        }
        let base = try StudyResult.run(.base, overlapped, devices: 4, on: setup)
        #expect(abs(base.sharedLinkBytesPerParameter - 32) < 1e-6)
        // Where the offloaded step is the bottleneck, overlapping it pays.
        #expect(base.iterationSeconds < 0.95 * (try StudyResult.run(.base, after, devices: 4, on: setup)).iterationSeconds)
    }

    /// Written only when on, so a workload without it is encoded as before it existed.
    @Test func roundTripsAndIsWrittenOnlyWhenOn() throws {
        let (after, overlapped) = try Self.workloads()
        #expect(try JSONDecoder().decode(IterationWorkload.self, from: JSONEncoder().encode(overlapped)) == overlapped)
        let keys = try JSONSerialization.jsonObject(with: JSONEncoder().encode(after)) as! [String: Any]
        #expect(Set(keys.keys) == ["model", "optimizer", "subgroupElements", "topkRatio", "compressedFraction"])
    }
}
