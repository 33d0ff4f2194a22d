import FuzzTargets
import Testing

/// A short, seeded run of the protocol fuzz target (FuzzTargets' `protocol`): every request and
/// reply frame decodes, and 2000 mutations of them, read as a frame, as a socket stream and as a
/// message body, are accepted (and then survive re-encoding) or refused with a described
/// `ProtocolError` or `ConnectionError`.
@Suite struct ProtocolFuzzRegressionTests {
    @Test func mutatedFramesAreRefusedCleanly() throws {
        let run = try RegressionRun.run("protocol")
        // Every seed but the last (two frames back to back) is one whole frame.
        #expect(run.seedOutcomes.dropLast().allSatisfy { $0.hasPrefix("frame ok") }, "\(run.seedOutcomes)")
        #expect(run.violations.isEmpty, "\(run.violations.prefix(3))")
        #expect(run.executions == 2000)
        #expect(run.accepted > 0)
    }
}
