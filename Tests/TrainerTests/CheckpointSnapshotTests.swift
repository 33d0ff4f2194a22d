import DeviceProtocol
import Foundation
import Offload
import OffloadVocabulary
import Testing
import Trainer

/// A checkpoint's device part is a snapshot each device takes inside itself; a run resumed
/// from a checkpoint its devices have gone past restores it.
@Suite(.serialized) struct CheckpointSnapshotTests {
    /// Three steps and a checkpoint (kept aside), then the run goes on to six; resumed from the
    /// step-3 checkpoint, the devices (now at step 6) restore their step-3 snapshots, and steps
    /// 4–6 come out bit-identical to an uninterrupted run.
    @Test(arguments: [OffloadMode.base, .suO])
    func aRunResumesFromACheckpointItsDevicesHaveGonePast(mode: OffloadMode) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var straight = options(dir, data: data, mode: mode, steps: 6)
        straight.ssdDirectory += "-straight"
        let whole = try TrainingRun(straight)
        try whole.run()
        whole.finish()

        var first = options(dir, data: data, mode: mode, steps: 3)
        first.saveCheckpoint = "\(dir.path)/checkpoint"
        let part1 = try TrainingRun(first)
        try part1.run()
        part1.finish()
        let older = "\(dir.path)/checkpoint-at-3"
        try FileManager.default.copyItem(atPath: first.saveCheckpoint!, toPath: older)
        let saved = try TrainerState.read(from: "\(older)/trainer-state.json")
        #expect(saved.snapshots?.count == 2 && saved.model?.layers == 2)

        // The run goes on to step 6 without checkpoints, then the host "dies". Resumed from the
        // step-3 checkpoint, the devices restore their step-3 snapshots.
        var onward = first
        onward.steps = 6
        onward.resume = first.saveCheckpoint
        onward.saveCheckpoint = nil
        let ahead = try TrainingRun(onward)
        try ahead.run()
        #expect(try ahead.fleet.committedSteps() == [6, 6])
        ahead.finish()
        var resumed = onward
        resumed.resume = older
        let part2 = try TrainingRun(resumed)
        try part2.run()
        part2.finish()
        #expect(part2.records.map(\.step) == [4, 5, 6])
        #expect((part1.records + part2.records).map { Float($0.loss).bitPattern } == whole.records.map { Float($0.loss).bitPattern })
        #expect(part2.model.parameters.array.map(\.bitPattern) == whole.model.parameters.array.map(\.bitPattern))

        // Checkpointing every step, each device keeps its newest two snapshots; the step-3 ones
        // are then gone, and a resume from step 3 names the snapshot it cannot find.
        var everyStep = resumed
        everyStep.saveCheckpoint = "\(dir.path)/checkpoint-every-step"
        everyStep.checkpointEvery = 1
        let pruning = try TrainingRun(everyStep)
        try pruning.run()
        pruning.finish()
        let prefix = mode == .base ? "base" : "device"
        for i in 0..<2 {
            #expect(SnapshotStore(ssdPath: "\(first.ssdDirectory)/\(prefix)-\(i).ssd").entries().map(\.step) == [5, 6])
        }
        #expect { _ = try TrainingRun(resumed) } throws: { error in
            (error as? FleetError)?.failure == .refused(.io) && "\(error)".contains(saved.snapshots![0])
        }
    }
}
