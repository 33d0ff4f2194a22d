import Foundation
import InMemoryLogging
import Logging
import Offload
import OffloadVocabulary
import Testing
import Trainer

/// `--on-device-failure retry`: a run that suffers a device fault ends bit-identical to one
/// that did not, for every fault kind, at several steps and phases; without it the run stops
/// with the device named.
@Suite(.serialized) struct DeviceRecoveryTests {
    static let faults = [
        "crash@step=2,phase=read", "crash@step=3,phase=write_p", "crash@step=3,phase=write_m",
        "crash@step=2,phase=before_commit", "crash@step=3,phase=after_commit", "torn@step=3",
        "eio@read,step=2", "eio@write,step=3", "corrupt@grad,step=2", "corrupt@state,step=3", "hang@step=3",
    ]

    func reference(_ dir: RunDirectory, _ data: (train: String, val: String), mode: OffloadMode,
                   compression: GradientCompressionSettings, subgroupElements: Int? = nil) throws -> [UInt32] {
        var o = options(dir, data: data, mode: mode, steps: 4, compression: compression)
        if let subgroupElements { o.subgroupElements = subgroupElements }
        return try undisturbedRun(o).model.parameters.array.map(\.bitPattern)
    }

    @Test func everyFaultKindIsRecoveredBitIdentically() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let expected = try reference(dir, data, mode: .suO, compression: GradientCompressionSettings())
        for fault in Self.faults {
            var o = options(dir, data: data, mode: .suO, steps: 4)
            o.deviceFaults = [1: fault]
            o.onDeviceFailure = .retry(maxRetries: 2)
            o.deviceTimeout = 2
            let run = try TrainingRun(o)
            defer { run.finish() }
            try run.run()
            #expect(run.recoveries == 1, "\(fault)")
            #expect(run.model.parameters.array.map(\.bitPattern) == expected, "\(fault)")
        }
    }

    /// A torn journal commit on a device with two journal blocks (over 63 subgroups) leaves it
    /// holding step 3 on the first block's subgroups and step 2 on the rest; the recovery rolls
    /// every device back to step 2 and the run ends as if undisturbed.
    @Test func aTornJournalCommitIsRecoveredBitIdentically() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let expected = try reference(dir, data, mode: .suO, compression: GradientCompressionSettings(), subgroupElements: 512)
        var o = options(dir, data: data, mode: .suO, steps: 4)
        o.subgroupElements = 512
        o.deviceFaults = [1: "torn@step=3"]
        o.onDeviceFailure = .retry(maxRetries: 1)
        let run = try TrainingRun(o)
        defer { run.finish() }
        // More subgroups than one journal block holds (63).
        #expect(run.fleet.partition.sliceElements / run.fleet.subgroupElements > 63)
        try run.run()
        #expect(run.recoveries == 1)
        #expect(run.model.parameters.array.map(\.bitPattern) == expected)
    }

    /// A recovery is logged as a warning that names the failure, with the failed device and the
    /// step as metadata; at debug the fleet also says what it did about each device.
    @Test func aRecoveryIsLoggedWithItsDeviceAndStep() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: .suO, steps: 4)
        o.deviceFaults = [1: "crash@step=3,phase=after_commit"]
        o.onDeviceFailure = .retry(maxRetries: 1)
        var handler = InMemoryLogHandler()
        handler.logLevel = .debug
        let run = try TrainingRun(o, logger: Logger(label: "test", factory: { _ in handler }))
        defer { run.finish() }
        try run.run()
        #expect(run.recoveries == 1)
        let warnings = handler.entries.filter { $0.level == .warning }
        #expect(warnings.count == 1, "\(handler.entries)")
        let recovery = try #require(warnings.first)
        #expect(recovery.message.description.hasPrefix("step 3: device 1 ("))
        #expect(recovery.message.description.hasSuffix("; recovering device 1 and rolling the fleet back to step 2 (retry 1 of 1)"))
        #expect(recovery.metadata["device"] == "1")
        #expect(recovery.metadata["step"] == "3")
        #expect(recovery.metadata["failure"] != nil)
        let fleet = handler.entries.filter { $0.level == .debug }.map(\.message.description)
        #expect(fleet.contains("restarting device 1's process"), "\(fleet)")
        // Device 0 had committed step 3 before device 1 died after its own commit: both go back.
        #expect(fleet.contains("device 0 committed step 3: rolling it back to step 2"), "\(fleet)")
        #expect(fleet.contains("device 1 committed step 3: rolling it back to step 2"), "\(fleet)")
        #expect(handler.entries.filter { $0.level == .info }.map(\.message.description)
                    == ["model: \(run.model.config)", "fleet: su+o on 2 device(s), starting"])
    }

    /// With error feedback the residuals are put back before the step runs again.
    @Test func compressedRunsWithErrorFeedbackRecoverToo() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let compression = GradientCompressionSettings(ratio: 0.1, errorFeedback: true)
        let expected = try reference(dir, data, mode: .suOC, compression: compression)
        var o = options(dir, data: data, mode: .suOC, steps: 4, compression: compression)
        o.deviceFaults = [0: "crash@step=3,phase=write_m"]
        o.onDeviceFailure = .retry(maxRetries: 1)
        let run = try TrainingRun(o)
        defer { run.finish() }
        try run.run()
        #expect(run.model.parameters.array.map(\.bitPattern) == expected)
    }

    /// A state slot that fails the checksum its commit recorded is never used: without retry the
    /// run stops, naming device, subgroup, slot and offset, and says which checkpoint to resume.
    @Test func anIntegrityFailureSaysWhereToResume() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: .suO, steps: 4)
        o.deviceFaults = [0: "corrupt@state,step=3,subgroup=1"]
        o.saveCheckpoint = "\(dir.path)/checkpoint"
        o.checkpointEvery = 1
        let run = try TrainingRun(o)
        defer { run.finish() }
        #expect { try run.run() } throws: { error in
            let text = "\(error)"
            guard case TrainingError.integrity(_, resumeFrom: "\(dir.path)/checkpoint") = error else { return false }
            return text.contains("device 0") && text.contains("integrity failure: subgroup 1's state in slot")
                && text.contains("SSD offset") && text.contains("--resume \(dir.path)/checkpoint")
        }
        #expect(run.records.count == 2)
    }

    @Test func abortNamesTheDeviceAndTheFault() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: .suO, steps: 3)
        o.deviceFaults = [1: "corrupt@grad,step=2"]
        let run = try TrainingRun(o)
        defer { run.finish() }
        #expect { try run.run() } throws: { error in
            let text = "\(error)"
            guard case .deviceFailed(device: 1, _, failure: .refused(.badPayload), _)? = error as? FleetError else { return false }
            return text.contains("device 1") && text.contains("subgroup 0 (SSD offset") && text.contains("checksum")
        }
    }
}
