import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// Twin-Flow's split (ZeRO-Offload++) applied to computational storage: a fraction f of every
/// subgroup updated on the host CPU beside the devices.
@Suite struct HostShareTests {
    static func workload(share: Double, subgroup: Int = 1_000_000_000) throws -> IterationWorkload {
        try IterationWorkload(model: ModelPreset.named("llama3-8b").shape(sequence: 1024, batch: 1), subgroupElements: subgroup,
                              hostUpdateShare: share)
    }

    /// By hand, per parameter (paper accounting, Adam): every gradient is offloaded (4 down);
    /// the devices' part uploads its parameters (4 (1 − f) up); the host's part reads g, p, m, v
    /// (16 f up) and writes p, m, v (12 f down): 8 + 24 f on the shared link. Inside the devices
    /// the SmartUpdate traffic (gradient 4, load 16, write-back 12, upload 4 = 36 per parameter
    /// through the flash and ports) shrinks to (1 − f) of it, and the host's part adds base's
    /// 16 + 12 through the same flash: 4 + 32 (1 − f) + 28 f.
    @Test(arguments: [0.0, 0.25, 0.5])
    func bytesPerParameterAreTheHandDerivedCounts(_ f: Double) throws {
        let setup = try IterationPlannerTests.setup()
        let workload = try Self.workload(share: f)
        let r = try StudyResult.run(.suO, workload, devices: 4, on: setup)
        #expect(abs(r.sharedLinkBytesPerParameter - (8 + 24 * f)) < 1e-3, "\(f): \(r.sharedLinkBytesPerParameter)")
        let device = r.deviceBytes.reduce(0, +) / Double(workload.parameters)
        #expect(abs(device - (4 + 32 * (1 - f) + 28 * f)) < 1e-3, "\(f): \(device)")
    }

    /// The size counted before planning is the plan's, with the host's operations added.
    @Test func planSizeCountsTheHostsOperations() throws {
        let setup = try IterationPlannerTests.setup()
        for share in [0.0, 0.3] {
            for mode in [OffloadMode.su, .suO, .suOC] {
                let workload = try Self.workload(share: share, subgroup: 300_000_000)
                let size = try IterationPlanner.size(mode, workload, devices: 3, on: setup)
                let plan = try IterationPlanner.plan(mode, workload, devices: 3, on: setup)
                #expect(size.operations == plan.graph.operationCount, "\(mode.rawValue) \(share)")
            }
        }
    }

    @Test func aShareOutsideZeroToOneIsRefused() throws {
        for bad in [-0.1, 1, 1.5, Double.nan] {
            let error = #expect(throws: WorkloadError.self) { try Self.workload(share: bad) }
            #expect(error?.description.hasPrefix("--host-share ") == true)
        }
        let on = try Self.workload(share: 0.3)
        #expect(try JSONDecoder().decode(IterationWorkload.self, from: JSONEncoder().encode(on)) == on)
    }
}
