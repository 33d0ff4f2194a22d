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
}
