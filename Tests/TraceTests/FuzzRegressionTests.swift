import FuzzTargets
import Testing

/// A short, seeded run of the trace fuzz target (FuzzTargets' `trace`): the seed traces read,
/// and 2000 mutations of them (edge numbers and strings, dropped, duplicated and swapped lines,
/// broken JSON) are read or refused with a `TraceError` naming the place; a trace that reads
/// encodes and reads back the same.
@Suite struct TraceFuzzRegressionTests {
    @Test func mutatedTracesAreRefusedCleanly() throws {
        let run = try RegressionRun.run("trace")
        #expect(run.seedOutcomes.allSatisfy { $0 == "ok" }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        #expect(run.accepted > 0)
    }

    /// fuzz/corpus/trace/bound-hidden-2e62: the hand-built seed with hidden 2^62 and one head.
    /// It used to read, and the target's parameter count (what `replay` computes) trapped.
    @Test func aModelBeyondTheShapeBoundsIsRefused() throws {
        let outcomes = try RegressionRun.replayCorpus("trace", prefix: "bound-")
        #expect(outcomes.map(\.file) == ["bound-hidden-2e62"])
        for (file, outcome) in outcomes {
            #expect(outcome.contains("TraceError") && outcome.contains("field 'workload.model.hidden'"), "\(file): \(outcome)")
        }
    }
}
