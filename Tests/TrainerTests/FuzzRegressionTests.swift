import FuzzTargets
import Testing

/// A short, seeded run of the config fuzz target (FuzzTargets' `config`): the DeepSpeed-style
/// seed configs read, and 2000 mutations of them are read or refused with a
/// `TrainingConfigFile.ConfigError` naming the key.
@Suite struct ConfigFuzzRegressionTests {
    @Test func mutatedConfigsAreRefusedCleanly() throws {
        let run = try RegressionRun.run("config")
        #expect(run.seedOutcomes.allSatisfy { $0 == "ok" }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        #expect(run.accepted > 0)
    }

    /// fuzz/corpus/config/bound-batch-2e61: a micro-batch of 2^61 sequences (the largest whole
    /// numbers the reader takes are below 2^62) reads as a config, and is refused when it meets a
    /// model, before B·T (2^71 at 1024 tokens) is counted.
    @Test func aBatchBeyondTheActivationBoundIsRefused() throws {
        let outcomes = try RegressionRun.replayCorpus("config", prefix: "bound-")
        #expect(outcomes.map(\.file) == ["bound-batch-2e61"])
        for (file, outcome) in outcomes {
            #expect(outcome.hasPrefix("BatchError: batch size  with sequence length  needs more than"), "\(file): \(outcome)")
        }
    }
}

/// Short, seeded runs of the checkpoint-file targets (FuzzTargets' `snapshot` and
/// `safetensors`): the seeds read, and 2000 mutations of each are read in full (every vector or
/// tensor, within the file) or refused with the reader's own error naming the file.
@Suite struct CheckpointFileFuzzRegressionTests {
    @Test(arguments: ["snapshot", "safetensors"])
    func mutatedFilesAreRefusedCleanly(target: String) throws {
        let run = try RegressionRun.run(target)
        #expect(run.seedOutcomes.allSatisfy { $0 == "ok" }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        #expect(run.accepted > 0)
    }
}
