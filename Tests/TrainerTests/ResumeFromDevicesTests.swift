import Foundation
import Offload
import OffloadVocabulary
import DeviceProtocol
import Optim
import Testing
import Trainer

/// A run whose host stopped (here: it ended early, without a checkpoint) goes on from its SSD
/// directory: the journal gives the host's part of the last step, the devices the fp32 masters
/// and states, and the continued run is bit-identical to one that never stopped. The real host
/// crash, a SIGKILL in every phase, is `HostChaosTests`.
@Suite(.serialized) struct ResumeFromDevicesTests {
    @Test(arguments: [(OffloadMode.base, Precision.fp32), (.suO, .fp32), (.suO, .bf16), (.suOC, .fp32)])
    func aRunGoesOnFromItsDevicesWithoutACheckpoint(mode: OffloadMode, precision: Precision) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var full = options(dir, data: data, mode: mode, steps: 6, compression: GradientCompressionSettings(ratio: 0.1))
        full.precision = precision
        full.metricsPath = "\(dir.path)/metrics.jsonl"
        var reference = full
        reference.ssdDirectory += "-reference"
        reference.metricsPath = nil
        let whole = try TrainingRun(reference)
        try whole.run()
        // The fp32 masters and every state, from the devices (in mixed precision the host
        // holds only the compute copy).
        let expected = try StateVector.allCases.map { try whole.fleet.readState($0).map(\.bitPattern) }
        whole.finish()

        var first = full
        first.steps = 4
        let part1 = try TrainingRun(first)
        try part1.run()
        part1.finish()
        // The journal holds the last step; the metrics file holds steps 1–4.
        #expect(try TrainerJournal.newest(in: full.ssdDirectory).stepsDone == 4)

        var onward = full
        onward.resume = full.ssdDirectory
        let part2 = try TrainingRun(onward)
        try part2.run()
        #expect(try StateVector.allCases.map { try part2.fleet.readState($0).map(\.bitPattern) } == expected)
        part2.finish()
        #expect(part2.records.map(\.step) == [5, 6])
        #expect((part1.records + part2.records).map { Float($0.loss).bitPattern } == whole.records.map { Float($0.loss).bitPattern })
        #expect(part2.model.computeParameters.floats.map(\.bitPattern) == whole.model.computeParameters.floats.map(\.bitPattern))
        let steps = try String(contentsOfFile: full.metricsPath!, encoding: .utf8).split(separator: "\n").map { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
        }
        #expect(steps == [1, 2, 3, 4, 5, 6])
    }

    /// Error-feedback residuals live only in checkpoints: resumed from its devices, such a run
    /// goes back to its last checkpoint (the devices restore their snapshots) and still ends
    /// bit-identical; without a checkpoint it starts again from its first step.
    @Test func errorFeedbackGoesBackToTheLastCheckpoint() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let full = options(dir, data: data, mode: .suOC, steps: 7, compression: GradientCompressionSettings(ratio: 0.1, errorFeedback: true))
        let whole = try undisturbedRun(full)

        var first = full
        first.steps = 3
        let bare = try TrainingRun(first)
        try bare.run()
        bare.finish()
        // Without a checkpoint the run starts again from its first step.
        var onward = full
        onward.resume = full.ssdDirectory
        let again = try TrainingRun(onward)
        try again.run()
        again.finish()
        #expect(again.records.map(\.step) == Array(1...7))
        #expect(again.model.parameters.array.map(\.bitPattern) == whole.model.parameters.array.map(\.bitPattern))

        // Steps 1–3 with a checkpoint at the end; then (resumed from the devices, at the
        // checkpoint's step) steps 4–5 without one, and the host stops.
        first.saveCheckpoint = "\(dir.path)/checkpoint"
        let part1 = try TrainingRun(first)
        try part1.run()
        part1.finish()
        var further = full
        further.steps = 5
        further.resume = full.ssdDirectory
        let part1b = try TrainingRun(further)
        try part1b.run()
        part1b.finish()
        let journaled = try TrainerJournal.newest(in: full.ssdDirectory)
        #expect(journaled.stepsDone == 5 && journaled.checkpoint == first.saveCheckpoint)

        // The devices are at step 5; the run goes back to the step-3 checkpoint.
        let part2 = try TrainingRun(onward)
        try part2.run()
        part2.finish()
        #expect(part2.records.map(\.step) == [4, 5, 6, 7])
        #expect(part2.model.parameters.array.map(\.bitPattern) == whole.model.parameters.array.map(\.bitPattern))
    }

    @Test func aDirectoryWithNothingToResumeIsRefusedNamingWhatWasExpected() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var run = options(dir, data: data, mode: .suO, steps: 3)
        run.resume = dir.path
        #expect { _ = try TrainingRun(run) } throws: { error in
            "\(error)".contains("expected a checkpoint (with trainer-state.json), an exported checkpoint (with model.safetensors) or a run's SSD directory (with trainer-state.journal)")
        }
        // A journal whose two slots are both damaged is refused by name.
        try FileManager.default.createDirectory(atPath: run.ssdDirectory, withIntermediateDirectories: true)
        let journal = "\(run.ssdDirectory)/trainer-state.journal"
        try Data(repeating: 0x5A, count: 128 << 10).write(to: URL(fileURLWithPath: journal))
        run.resume = run.ssdDirectory
        #expect { _ = try TrainingRun(run) } throws: { error in
            "\(error)".contains("'\(journal)' holds no intact record: both of its slots are damaged")
        }
    }
}
