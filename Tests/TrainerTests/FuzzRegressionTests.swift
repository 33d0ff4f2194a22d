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
}
