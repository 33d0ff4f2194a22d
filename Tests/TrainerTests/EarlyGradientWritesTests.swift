import Offload
import OffloadVocabulary
import Testing
import Trainer

/// `--no-early-gradient-writes`: every gradient payload is written in the update phase, none
/// while backward runs (what `make bench-torch` needs to time the trainer's update as the C ABI's
/// step). Only when the payloads are written may change, never the run.
@Suite struct EarlyGradientWritesTests {
    @Test(arguments: [OffloadMode.suO, .su])
    func runsWithAndWithoutEarlyWritesAreBitIdentical(mode: OffloadMode) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let early = options(dir, data: data, mode: mode, steps: 4)
        var late = early
        late.ssdDirectory += "-late"
        late.earlyGradientWrites = false
        let reference = try undisturbedRun(early)
        let run = try undisturbedRun(late)
        #expect(reference.earlyGradientPayloads > 0)
        #expect(run.earlyGradientPayloads == 0)
        #expect(run.model.computeParameters.floats.map(\.bitPattern) == reference.model.computeParameters.floats.map(\.bitPattern))
        #expect(run.records.map(\.loss.bitPattern) == reference.records.map(\.loss.bitPattern))
    }
}
