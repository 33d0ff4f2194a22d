import Foundation
import Offload
import Testing
import Trainer

/// su+o+c with error feedback survives a stop: the checkpoint keeps the residuals, and a resumed
/// run is bit-identical to an uninterrupted one; a damaged or missing residual file is refused.
@Suite(.serialized) struct ErrorFeedbackResumeTests {
    @Test func resumedCompressedRunWithFeedbackIsBitIdentical() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let compression = GradientCompressionSettings(ratio: 0.1, errorFeedback: true)
        var straight = options(dir, data: data, mode: .suOC, steps: 6, compression: compression)
        straight.ssdDirectory += "-straight"
        let whole = try TrainingRun(straight)
        try whole.run()
        whole.finish()

        var first = options(dir, data: data, mode: .suOC, steps: 3, compression: compression)
        first.saveCheckpoint = "\(dir.path)/checkpoint"
        let part1 = try TrainingRun(first)
        try part1.run()
        part1.finish()
        // The residuals are named after their step, and the trainer state names them.
        let state = try TrainerState.read(from: "\(dir.path)/checkpoint/trainer-state.json")
        #expect(state.errorFeedback == "error-feedback-3.bin")
        let residuals = "\(dir.path)/checkpoint/error-feedback-3.bin"
        let saved = try ErrorFeedbackFile(reading: residuals)
        #expect(saved.devices.count == 2)
        #expect(saved.devices.allSatisfy { $0.allSatisfy { $0.completedSteps == 3 } })
        // Residuals of a top-10% run after three steps are not all zero.
        #expect(saved.devices.flatMap { $0.flatMap(\.residual) }.contains { $0 != 0 })

        var second = first
        second.steps = 6
        second.saveCheckpoint = nil

        // A damaged file is refused by its checksum; a missing one says why it might be missing.
        let bad = "\(dir.path)/checkpoint-bad"
        try FileManager.default.copyItem(atPath: "\(dir.path)/checkpoint", toPath: bad)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(bad)/error-feedback-3.bin")))
        bytes[40] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: "\(bad)/error-feedback-3.bin"))
        second.resume = bad
        #expect { _ = try TrainingRun(second) } throws: { "\($0)".contains("error-feedback-3.bin: its checksum does not match") }
        try FileManager.default.removeItem(atPath: "\(bad)/error-feedback-3.bin")
        #expect { _ = try TrainingRun(second) } throws: { "\($0)".contains("saved by a run without --error-feedback") }

        second.resume = first.saveCheckpoint
        let part2 = try TrainingRun(second)
        try part2.run()
        part2.finish()
        #expect((part1.records + part2.records).map { Float($0.loss).bitPattern } == whole.records.map { Float($0.loss).bitPattern })
        #expect(part2.model.parameters.array.map(\.bitPattern) == whole.model.parameters.array.map(\.bitPattern))

    }
}

/// Payloads go out during backward: most subgroups are written before the step command, the
/// embeddings' wait for the end, and the results stay those of the in-process trainer (the
/// parity tests above run with it on).
@Suite(.serialized) struct EarlyOffloadTests {
    @Test func mostSubgroupsAreWrittenDuringBackward() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let run = try TrainingRun(options(dir, data: data, mode: .suO, steps: 2))
        defer { run.finish() }
        try run.run()
        let early = run.fleet.lastStep.reduce(0) { $0 + $1.earlySubgroups }
        let total = run.fleet.lastStep.count * (run.partition.sliceElements + run.fleet.subgroupElements - 1) / run.fleet.subgroupElements
        #expect(early > total / 2, "\(early) of \(total) subgroups written early")
        #expect(early < total)  // wte and wpe are final only at the end
        // With error feedback nothing is written early (a skipped step must not advance residuals).
        var feedback = options(dir, data: data, mode: .suOC, steps: 2,
                               compression: GradientCompressionSettings(ratio: 0.1, errorFeedback: true))
        feedback.ssdDirectory += "-feedback"
        let compressed = try TrainingRun(feedback)
        defer { compressed.finish() }
        try compressed.run()
        #expect(compressed.fleet.lastStep.allSatisfy { $0.earlySubgroups == 0 })
    }
}
