import FuzzTargets
import Testing

/// Short, seeded runs of the llm.c file fuzz targets (FuzzTargets' `checkpoint` and `tokens`):
/// the written files read back, and 2000 mutations of each (header dimensions and counts at
/// their limits, files cut short or grown, resized to match the header) are read or refused
/// with a described `ModelFileError`.
@Suite struct ModelFileFuzzRegressionTests {
    @Test(arguments: ["checkpoint", "tokens"])
    func mutatedFilesAreRefusedCleanly(target: String) throws {
        let run = try RegressionRun.run(target)
        #expect(run.seedOutcomes.allSatisfy { $0 == "ok" }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        #expect(run.accepted > 0)
    }

    /// fuzz/corpus/checkpoint/bound-parameters-beyond-2e40: a bare header, every dimension within
    /// its own limit, 1.13 × 10^12 parameters; refused at its L, both as a checkpoint and as the
    /// `--init` spec made of its dimensions.
    @Test func aHeaderBeyondTheParameterBoundIsRefused() throws {
        let outcomes = try RegressionRun.replayCorpus("checkpoint", prefix: "bound-")
        #expect(outcomes.map(\.file) == ["bound-parameters-beyond-2e40"])
        for (file, outcome) in outcomes {
            #expect(outcome.contains("GPTConfigError: --init 'gpt:,,,,': L is , expected small enough for at most  (^) parameters"),
                    "\(file): \(outcome)")
            #expect(outcome.contains("ModelFileError: checkpoint") && outcome.contains("header field 'L' is , expected small enough"),
                    "\(file): \(outcome)")
        }
    }
}
