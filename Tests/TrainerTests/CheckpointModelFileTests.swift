import Foundation
import GPT
import Offload
import Testing
import Trainer

/// The llm.c model file: every final checkpoint writes it; periodic ones only with
/// `checkpointModelFile` (resume never reads it), and without it they leave no model of another
/// step beside their trainer state.
@Suite(.serialized) struct CheckpointModelFileTests {
    /// What the checkpoint directory held when step `step` finished (its periodic checkpoint
    /// of the step before was saved), and the parameters after every step.
    struct Observed {
        var stateStep: Int?
        var modelFile: Data?
        var parameters: [Int: [Float]] = [:]
    }

    /// Runs 4 steps of bf16 (the masters come from the devices) with a checkpoint every 2 steps,
    /// looking into the checkpoint directory right after step 3.
    static func run(_ dir: RunDirectory, name: String, modelFile: Bool, before: (String) throws -> Void = { _ in })
        throws -> (Observed, checkpoint: String) {
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: .suO, steps: 4)
        o.precision = .bf16
        o.ssdDirectory += "-\(name)"
        o.saveCheckpoint = "\(dir.path)/checkpoint-\(name)"
        o.checkpointEvery = 2
        o.checkpointModelFile = modelFile
        try FileManager.default.createDirectory(atPath: o.saveCheckpoint!, withIntermediateDirectories: true)
        try before(o.saveCheckpoint!)
        let run = try TrainingRun(o)
        defer { run.finish() }
        var observed = Observed()
        let checkpoint = o.saveCheckpoint!
        try run.run { record in
            observed.parameters[record.step] = try? run.fleet.readState(.parameters)
            guard record.step == 3 else { return }
            observed.stateStep = (try? TrainerState.read(from: "\(checkpoint)/trainer-state.json"))?.stepsDone
            observed.modelFile = FileManager.default.contents(atPath: "\(checkpoint)/\(TrainingRun.modelFile)")
        }
        return (observed, checkpoint)
    }

    @Test func periodicCheckpointsWriteTheModelFileOnlyWhenAsked() throws {
        let dir = RunDirectory()
        // A model file an earlier run left in the directory is removed by the periodic checkpoint.
        let (without, checkpoint) = try Self.run(dir, name: "without", modelFile: false) { directory in
            try Data("an earlier run's model".utf8).write(to: URL(fileURLWithPath: "\(directory)/\(TrainingRun.modelFile)"))
        }
        #expect(without.stateStep == 2)
        #expect(without.modelFile == nil)
        // The final checkpoint writes it: the fp32 masters of the last step.
        let final = try GPTCheckpoint.read(from: "\(checkpoint)/\(TrainingRun.modelFile)")
        #expect(final.parameters.array == without.parameters[4])

        let (with, _) = try Self.run(dir, name: "with", modelFile: true)
        #expect(with.stateStep == 2)
        let copy = "\(dir.path)/periodic-model.bin"
        try #require(with.modelFile).write(to: URL(fileURLWithPath: copy))
        let periodic = try GPTCheckpoint.read(from: copy)
        #expect(periodic.parameters.array == with.parameters[2])
        #expect(with.parameters[2] != with.parameters[4])
    }
}
