import DeviceProtocol
import Foundation
import Optim
import Testing

/// A device killed (SIGKILL) in the middle of a step reopens at its last committed step with
/// states bit-identical to before the step, and redoing the step gives the uninterrupted result.
@Suite(.serialized) struct DeviceCrashTests {
    static let n = 10_000
    static let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())

    static func configuration(_ handler: HandlerMode) -> DeviceConfiguration {
        DeviceConfiguration(sliceElements: n, subgroupElements: 4096, optimizer: optimizer, gradientPrecision: .fp32,
                            copyOutPrecision: .bf16, handler: handler)
    }

    static func update(_ step: Int) -> PreparedUpdate { optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1) }

    static func runStep(_ step: Int, host: HostSide, connection: DeviceConnection) throws -> [Int] {
        let sizes = try host.stage(step: step, gradient: randomFloats(n, scale: 1, seed: UInt64(step)), ratio: 0.1, valueEncoding: .fp32)
        try connection.step(StepCommand(step: step, update: update(step), skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
        return sizes
    }

    static func expectDeviceHolds(_ host: HostSide, _ connection: DeviceConnection, _ context: String) throws {
        #expect(bits(try connection.readState(.parameters, offset: 0, count: n)) == bits(host.referenceVector(0)), "p \(context)")
        #expect(bits(try connection.readState(.state1, offset: 0, count: n)) == bits(host.referenceVector(1)), "m \(context)")
        #expect(bits(try connection.readState(.state2, offset: 0, count: n)) == bits(host.referenceVector(2)), "v \(context)")
    }

    @Test(arguments: [HandlerMode.naive, .overlap],
          ["phase=read,subgroup=1", "phase=update,subgroup=0", "phase=write_p,subgroup=1", "phase=write_m,subgroup=2",
           "phase=before_commit"])
    func crashMidStepRecoversTheCommittedStep(handler: HandlerMode, point: String) throws {
        let device = try DeviceProcess(extra: ["--fault", "crash@step=3,\(point)"])
        var connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration(handler),
                                initial: randomFloats(Self.n, scale: 1, seed: 9))
        for step in 1...2 {
            let sizes = try Self.runStep(step, host: host, connection: connection)
            try host.referenceStep(update: Self.update(step), step: step, sizes: sizes)
        }
        // Step 3 dies at the planned point: the host sees the connection drop.
        #expect(throws: (any Error).self) { _ = try Self.runStep(3, host: host, connection: connection) }
        #expect(device.waitForExit() != 0)

        try device.start()
        connection = try device.connect()
        _ = try connection.configure(Self.configuration(handler))
        #expect(try connection.status() == [2, 2, 2])
        try Self.expectDeviceHolds(host, connection, "after the crash at \(point)")

        // Redo step 3 on the payloads still in the gradient region: same as never crashing.
        let sizes = try Self.runStep(3, host: host, connection: connection)
        try host.referenceStep(update: Self.update(3), step: 3, sizes: sizes)
        #expect(try connection.status() == [3, 3, 3])
        try Self.expectDeviceHolds(host, connection, "after redoing step 3")
    }

    @Test func crashAfterTheCommitKeepsTheStep() throws {
        let device = try DeviceProcess(extra: ["--fault", "crash@step=2,phase=after_commit"])
        var connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration(.overlap),
                                initial: randomFloats(Self.n, scale: 1, seed: 10))
        let sizes = try Self.runStep(1, host: host, connection: connection)
        try host.referenceStep(update: Self.update(1), step: 1, sizes: sizes)
        let sizes2 = try host.stage(step: 2, gradient: randomFloats(Self.n, scale: 1, seed: 2), ratio: 0.1, valueEncoding: .fp32)
        #expect(throws: (any Error).self) {
            try connection.step(StepCommand(step: 2, update: Self.update(2), skip: false, subgroups: [0, 1, 2], payloadBytes: sizes2))
        }
        try host.referenceStep(update: Self.update(2), step: 2, sizes: sizes2)
        _ = device.waitForExit()
        try device.start()
        connection = try device.connect()
        _ = try connection.configure(Self.configuration(.overlap))
        #expect(try connection.status() == [2, 2, 2])
        try Self.expectDeviceHolds(host, connection, "after a crash past the commit")
    }

    /// The host can roll a device back one committed step (the other slot still holds it), and
    /// redoing the step reproduces it.
    @Test func rollbackToThePreviousCommittedStep() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration(.naive),
                                initial: randomFloats(Self.n, scale: 1, seed: 11))
        for step in 1...2 {
            let sizes = try Self.runStep(step, host: host, connection: connection)
            try host.referenceStep(update: Self.update(step), step: step, sizes: sizes)
        }
        let afterTwo = (0..<3).map { host.referenceVector($0) }
        let sizes = try Self.runStep(3, host: host, connection: connection)
        try connection.perform(.rollback(step: 2))
        #expect(try connection.status() == [2, 2, 2])
        #expect(bits(try connection.readState(.parameters, offset: 0, count: Self.n)) == bits(afterTwo[0]))
        #expect(bits(try connection.readState(.state2, offset: 0, count: Self.n)) == bits(afterTwo[2]))
        // Step 1 is gone: its slot was overwritten by step 3.
        let error = #expect(throws: DeviceReplyError.self) { try connection.perform(.rollback(step: 1)) }
        #expect(error?.code == .outOfRange)
        #expect(error?.message.contains("cannot roll back to step 1") == true)
        try connection.step(StepCommand(step: 3, update: Self.update(3), skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
        try host.referenceStep(update: Self.update(3), step: 3, sizes: sizes)
        try Self.expectDeviceHolds(host, connection, "after redoing step 3")
    }

    /// A skipped step (overflow) commits without changing any state.
    @Test func skippedStepCommitsWithoutTouchingStates() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration(.overlap),
                                initial: randomFloats(Self.n, scale: 1, seed: 12))
        let sizes = try Self.runStep(1, host: host, connection: connection)
        try host.referenceStep(update: Self.update(1), step: 1, sizes: sizes)
        try connection.step(StepCommand(step: 2, update: Self.update(2), skip: true, subgroups: [0, 1, 2], payloadBytes: [0, 0, 0]))
        #expect(try connection.status() == [2, 2, 2])
        try Self.expectDeviceHolds(host, connection, "after a skipped step")
    }
}
