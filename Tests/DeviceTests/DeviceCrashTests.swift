import BlockIO
import DeviceProtocol
import Foundation
import Optim
import SmartSSD
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

    /// Stages step `step`'s payloads for every subgroup of `host`'s slice.
    static func stage(_ step: Int, host: HostSide) throws -> [Int] {
        try host.stage(step: step, gradient: randomFloats(host.configuration.sliceElements, scale: 1, seed: UInt64(step)), ratio: 0.1,
                       valueEncoding: .fp32)
    }

    static func stepCommand(_ step: Int, host: HostSide, sizes: [Int]) -> StepCommand {
        StepCommand(step: step, update: update(step), skip: false, subgroups: Array(0..<host.configured.subgroupCount), payloadBytes: sizes)
    }

    static func runStep(_ step: Int, host: HostSide, connection: DeviceConnection) throws -> [Int] {
        let sizes = try stage(step, host: host)
        try connection.step(stepCommand(step, host: host, sizes: sizes))
        return sizes
    }

    static func expectDeviceHolds(_ host: HostSide, _ connection: DeviceConnection, _ context: String) throws {
        try expectDeviceHolds((0..<3).map { host.referenceVector($0) }, connection, context)
    }

    /// `vectors`: p, m and v over the whole slice.
    static func expectDeviceHolds(_ vectors: [[Float]], _ connection: DeviceConnection, _ context: String) throws {
        let n = vectors[0].count
        #expect(bits(try connection.readState(.parameters, offset: 0, count: n)) == bits(vectors[0]), "p \(context)")
        #expect(bits(try connection.readState(.state1, offset: 0, count: n)) == bits(vectors[1]), "m \(context)")
        #expect(bits(try connection.readState(.state2, offset: 0, count: n)) == bits(vectors[2]), "v \(context)")
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

    /// A journal commit torn by a power loss loses nothing committed. 150 subgroups make three
    /// journal blocks (63 subgroups each): the torn write lands the first block whole, the
    /// second only partly, the third not at all. On reopening, the first block's subgroups hold
    /// step 3, the others step 2, each bit-identical to the reference; the host's rollback to
    /// step 2 and a redo of step 3 give the undisturbed result.
    @Test func aTornJournalCommitLosesNothingCommitted() throws {
        let subgroup = 256
        let n = 150 * subgroup
        let configuration = DeviceConfiguration(sliceElements: n, subgroupElements: subgroup, optimizer: Self.optimizer,
                                                gradientPrecision: .fp32, copyOutPrecision: .bf16, handler: .overlap)
        let layout = DeviceLayout(sliceElements: n, subgroupElements: subgroup, stateCount: 2, slots: 2)
        #expect(layout.journalBlocks == 3)
        let device = try DeviceProcess(extra: ["--fault", "torn@step=3"])
        var connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: configuration,
                                initial: randomFloats(n, scale: 1, seed: 13))
        for step in 1...2 {
            let sizes = try Self.runStep(step, host: host, connection: connection)
            try host.referenceStep(update: Self.update(step), step: step, sizes: sizes)
        }
        let afterTwo = (0..<3).map { host.referenceVector($0) }
        /// Both copies of each journal block, as on the SSD.
        func journal() throws -> [[[UInt8]]] {
            let buffer = AlignedBuffer<UInt8>(count: 4096, alignment: 4096)
            return try (0..<layout.journalBlocks).map { block in
                try (0...1).map { copy in
                    try buffer.withUnsafeMutableBufferPointer { b in
                        try host.ring.run([BlockTransfer(.read, file: host.ssd, fileOffset: layout.journalBlockOffset(block, copy: copy),
                                                         memory: UnsafeMutableRawBufferPointer(b))], blockSize: 4096)
                    }
                    return buffer.array
                }
            }
        }
        let before = try journal()
        let sizes = try Self.stage(3, host: host)
        #expect(throws: (any Error).self) { try connection.step(Self.stepCommand(3, host: host, sizes: sizes)) }
        #expect(device.waitForExit() != 0)
        #expect(device.stderr.contains("fault torn@step=3 fires"))
        try host.referenceStep(update: Self.update(3), step: 3, sizes: sizes)
        let afterThree = (0..<3).map { host.referenceVector($0) }
        // Step 3 wrote one copy of every block when it began (forgetting step 1, whose slot it
        // overwrites) and its commit the other copy: blocks 0 and 1 (partly) got both writes,
        // block 2 only the first.
        let after = try journal()
        #expect((0..<3).map { block in (0...1).filter { before[block][$0] != after[block][$0] }.count } == [2, 2, 1])

        try device.start()
        connection = try device.connect()
        _ = try connection.configure(configuration)
        let landed = DeviceLayout.subgroupsPerJournalBlock
        #expect(try connection.status() == Array(repeating: 3, count: landed) + Array(repeating: 2, count: 150 - landed))
        let mixed = (0..<3).map { v in Array(afterThree[v][0..<(landed * subgroup)] + afterTwo[v][(landed * subgroup)...]) }
        try Self.expectDeviceHolds(mixed, connection, "after the torn commit")

        // The host's recovery: back to step 2 everywhere, then step 3 again.
        try connection.perform(.rollback(step: 2))
        #expect(try connection.status() == Array(repeating: 2, count: 150))
        try Self.expectDeviceHolds(afterTwo, connection, "after rolling back to step 2")
        try connection.step(Self.stepCommand(3, host: host, sizes: sizes))
        #expect(try connection.status() == Array(repeating: 3, count: 150))
        try Self.expectDeviceHolds(afterThree, connection, "after redoing step 3")
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
