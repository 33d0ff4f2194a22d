import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// SSDTrain's activation offload to the storage devices.
@Suite struct ActivationOffloadTests {
    /// By hand: each block's checkpoint (tokens × hidden × 2 B) crosses the shared link twice
    /// (written after the forward, read before the recompute) and the devices' flash twice; the
    /// optimizer step's bytes are unchanged. The size counted before planning is the plan's.
    @Test(arguments: [OffloadMode.base, .suO])
    func checkpointsCrossTheSharedLinkTwice(_ mode: OffloadMode) throws {
        let setup = try IterationPlannerTests.setup()
        let shape = try ModelPreset.named("llama3-8b").shape(sequence: 1024, batch: 1)
        let plain = try IterationWorkload(model: shape)
        let ssdTrain = try IterationWorkload(model: shape, activationsOnStorage: true)
        let before = try StudyResult.run(mode, plain, devices: 4, on: setup)
        let after = try StudyResult.run(mode, ssdTrain, devices: 4, on: setup)
        let checkpoints = 2.0 * 32 * 1024 * 4096 * 2
        #expect(abs(after.sharedLinkBytes - before.sharedLinkBytes - checkpoints) < 1)
        #expect(abs(after.deviceBytes.reduce(0, +) - before.deviceBytes.reduce(0, +) - checkpoints) < 1)
        #expect(after.iterationSeconds >= before.iterationSeconds)
        let size = try IterationPlanner.size(mode, ssdTrain, devices: 4, on: setup)
        #expect(size.operations == (try IterationPlanner.plan(mode, ssdTrain, devices: 4, on: setup)).graph.operationCount)
        #expect(try JSONDecoder().decode(IterationWorkload.self, from: JSONEncoder().encode(ssdTrain)) == ssdTrain)
    }
}
