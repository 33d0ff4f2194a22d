import Foundation
import Offload
import OffloadVocabulary
import Optim
import Testing
import Trainer

/// `--overlap-forward`: each forward pass starts on the subgroups the devices have already
/// written back, while they finish the previous step. The run must not change by a bit, must
/// really take parameters early, and must survive device failures as a plain run does.
@Suite(.serialized) struct OverlapForwardTests {
    func run(_ o: TrainingOptions) throws -> (parameters: [UInt32], losses: [UInt64], steps: [Int], early: Int, recoveries: Int) {
        let run = try TrainingRun(o)
        defer { run.finish() }
        try run.run()
        return (run.model.computeParameters.floats.map(\.bitPattern), run.records.map(\.loss.bitPattern), run.records.map(\.step),
                run.earlyParameterSubgroups, run.recoveries)
    }

    @Test(arguments: [(OffloadMode.base, Precision.fp32), (.suO, .fp32), (.suO, .bf16), (.suOC, .fp32)])
    func overlappedRunsAreBitIdenticalAndTakeParametersEarly(mode: OffloadMode, precision: Precision) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let compression = GradientCompressionSettings(ratio: 0.1, errorFeedback: mode == .suOC)
        var plain = options(dir, data: data, mode: mode, steps: 6, compression: compression, validationEvery: 3)
        plain.precision = precision
        plain.ssdDirectory += "-plain"
        var overlapped = plain
        overlapped.ssdDirectory += "-overlapped"
        overlapped.overlapForward = true
        let reference = try run(plain)
        let result = try run(overlapped)
        #expect(result.parameters == reference.parameters)
        #expect(result.losses == reference.losses)
        #expect(result.steps == Array(1...6))
        #expect(reference.early == 0)
        // Steps 1, 2, 4 overlap (3 validates, 6 ends the run): their next forward passes took
        // subgroups before the devices had replied.
        #expect(result.early > 0)
    }

    /// A device that crashes in a step in flight is found when the next forward pass settles it:
    /// recovered under `retry` (the pass is redone on the recovered parameters), bit-identical;
    /// under `abort` the failed step is not recorded.
    @Test func aFailureInAStepInFlightIsRecoveredOrReported() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var plain = options(dir, data: data, mode: .suO, steps: 5)
        plain.ssdDirectory += "-plain"
        let reference = try run(plain)

        for fault in ["crash@step=2,phase=write_m", "crash@step=3,phase=update", "hang@step=2"] {
            var faulted = plain
            faulted.ssdDirectory = "\(dir.path)/ssd-faulted"
            faulted.overlapForward = true
            faulted.deviceFaults = [1: fault]
            faulted.deviceTimeout = 2
            faulted.onDeviceFailure = .retry(maxRetries: 2)
            let recovered = try run(faulted)
            #expect(recovered.recoveries == 1, "\(fault)")
            #expect(recovered.parameters == reference.parameters, "\(fault)")
            #expect(recovered.losses == reference.losses, "\(fault)")
            #expect(recovered.steps == Array(1...5), "\(fault)")
        }

        var aborting = plain
        aborting.ssdDirectory = "\(dir.path)/ssd-aborting"
        aborting.overlapForward = true
        aborting.deviceFaults = [1: "crash@step=3,phase=write_m"]
        let run = try TrainingRun(aborting)
        defer { run.finish() }
        #expect { try run.run() } throws: { "\($0)".hasPrefix("device 1 (") }
        #expect(run.records.map(\.step) == [1, 2])
    }
}
