import FuzzTargets
import Testing

/// A short, seeded run of the trace fuzz target (FuzzTargets' `trace`): the seed traces read,
/// and 2000 mutations of them (edge numbers and strings, dropped, duplicated and swapped lines,
/// broken JSON) are read or refused with a `TraceError` naming the place; a trace that reads
/// encodes and reads back the same.
@Suite struct TraceFuzzRegressionTests {
    @Test func mutatedTracesAreRefusedCleanly() throws {
        let run = try RegressionRun.run("trace")
        #expect(run.seedOutcomes.allSatisfy { $0 == "ok; plan built" }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        #expect(run.accepted > 0)
    }

    /// fuzz/corpus/trace/bound-hidden-2e62: the hand-built seed with hidden 2^62 and one head.
    /// It used to read, and the target's parameter count (what `replay` computes) trapped.
    @Test func aModelBeyondTheShapeBoundsIsRefused() throws {
        let outcomes = try RegressionRun.replayCorpus("trace", prefix: "bound-hidden")
        #expect(outcomes.map(\.file) == ["bound-hidden-2e62"])
        for (file, outcome) in outcomes {
            #expect(outcome.contains("TraceError") && outcome.contains("field 'workload.model.hidden'"), "\(file): \(outcome)")
        }
    }

    /// fuzz/corpus/trace/bound-devices-1e12: the hand-built seed with `config.devices` 10^12.
    /// It used to read, and `replay` ran out of memory building the devices.
    @Test func tooManyDevicesAreRefused() throws {
        let outcomes = try RegressionRun.replayCorpus("trace", prefix: "bound-devices")
        #expect(outcomes.map(\.file) == ["bound-devices-1e12"])
        for (file, outcome) in outcomes {
            #expect(outcome.contains("TraceError") && outcome.contains("field 'config.devices'"), "\(file): \(outcome)")
        }
    }

    /// fuzz/corpus/trace/bound-subgroup-1: the hand-built seed with the 33B model, su+o on 10
    /// devices and `subgroupElements` 1. It reads (nothing in it overflows), and the plan `replay`
    /// makes of it is refused when sized, at 1.6 × 10^11 operations, instead of being built.
    @Test func aPlanOfTooManyOperationsIsRefused() throws {
        let outcomes = try RegressionRun.replayCorpus("trace", prefix: "bound-subgroup")
        #expect(outcomes.map(\.file) == ["bound-subgroup-1"])
        for (file, outcome) in outcomes {
            #expect(outcome.hasPrefix("ok; replay refuses: PlanError: the su+o plan would have"), "\(file): \(outcome)")
            #expect(outcome.contains("raise the subgroup size"), "\(file): \(outcome)")
        }
    }
}
