import FuzzTargets
import Testing

/// A short, seeded run of the payload fuzz target (FuzzTargets' `payload`, which `make fuzz`
/// runs for minutes): the encoder's payloads decode, and 2000 mutations of them (bit flips,
/// edge integers in the header, wrong lengths, bad index streams, each also with its checksums
/// recomputed) are accepted or refused with a described `PayloadError` that leaves the
/// destination untouched.
@Suite struct PayloadFuzzRegressionTests {
    @Test func mutatedPayloadsAreRefusedCleanly() throws {
        let run = try RegressionRun.run("payload")
        #expect(run.seedOutcomes.allSatisfy { $0 == "ok" }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        // The mutations get past the checksums to the checks behind them.
        #expect(run.distinctOutcomes > 20)
    }
}
