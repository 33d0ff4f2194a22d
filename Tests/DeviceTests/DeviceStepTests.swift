import DeviceProtocol
import Foundation
import Optim
import SmartSSD
import Testing

@Suite(.serialized) struct DeviceStepTests {
    static let optimizers: [OptimizerConfig] = [
        .adamw(AdamWHyperparameters()),
        .sgd(SGDHyperparameters(momentum: 0.9, weightDecay: 0.01), .reference),
        .adagrad(AdagradHyperparameters(initialAccumulatorValue: 0.1, weightDecay: 0.01), .torch),
    ]

    /// K steps on a real device process give p, m, v and the compute copy bit-identical to the
    /// same kernel run in process on the same payloads.
    @Test(arguments: [HandlerMode.naive, .overlap], [0, 1, 2])
    func deviceStepsAreBitIdenticalToInProcessSteps(handler: HandlerMode, optimizerIndex: Int) throws {
        try Self.checkSteps(handler: handler, optimizer: Self.optimizers[optimizerIndex], states: .fp32)
    }

    /// The same with 8-bit states in blocks of 1024 (the last subgroup's last block short):
    /// the device's quantized kernel gives what the fp32 kernel gives in process on states
    /// decoded and encoded again after every step.
    @Test(arguments: [HandlerMode.naive, .overlap], [0, 1, 2])
    func eightBitDeviceStepsAreBitIdenticalToInProcessSteps(handler: HandlerMode, optimizerIndex: Int) throws {
        try Self.checkSteps(handler: handler, optimizer: Self.optimizers[optimizerIndex], states: .blockwise8(blockSize: 1024))
    }

    static func checkSteps(handler: HandlerMode, optimizer: OptimizerConfig, states: StatePrecision) throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let hello = try connection.hello(clientName: "test")
        #expect(hello.protocolVersion == 4)
        let n = 10_000  // three subgroups of 4096, the last one short
        let configuration = DeviceConfiguration(sliceElements: n, subgroupElements: 4096, optimizer: optimizer,
                                                gradientPrecision: .fp16, copyOutPrecision: .fp16, handler: handler, statePrecision: states)
        let host = try HostSide(device: device, connection: connection, configuration: configuration,
                                initial: randomFloats(n, scale: 1, seed: 1))
        #expect(host.configured.subgroupCount == 3)
        #expect(try connection.status() == [0, 0, 0])
        for step in 1...4 {
            // Dense payloads on odd steps, top-k (r = 0.05) on even ones.
            let ratio: Double? = step % 2 == 0 ? 0.05 : nil
            let gradient = randomFloats(n, scale: 0.5, seed: UInt64(100 + step))
            let sizes = try host.stage(step: step, gradient: gradient, ratio: ratio, valueEncoding: .fp16)
            let update = optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 0.5)
            let report = try connection.step(StepCommand(step: step, update: update, skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
            try host.referenceStep(update: update, step: step, sizes: sizes)
            // An update is charged what it streams: the dense fp32 gradient, p and the states as stored.
            for op in report.operations where op.kind == .update {
                #expect(op.bytes == 8 * op.elements + optimizer.stateCount * states.storedBytes(elements: op.elements))
            }
        }
        #expect(try connection.status() == [4, 4, 4])
        #expect(bits(try connection.readState(.parameters, offset: 0, count: n)) == bits(host.referenceVector(0)))
        #expect(bits(try connection.readState(.state1, offset: 0, count: n)) == bits(host.referenceVector(1)))
        // A range that starts and ends inside blocks and crosses a subgroup: only its pages read.
        #expect(bits(try connection.readState(.state1, offset: 3000, count: 2100)) == bits(Array(host.referenceVector(1)[3000..<5100])))
        if optimizer.stateCount == 2 {
            #expect(bits(try connection.readState(.state2, offset: 0, count: n)) == bits(host.referenceVector(2)))
        }
        #expect(bits(try host.hostCopy()) == bits(host.referenceCopy.floats))
        try connection.perform(.shutdown)
        #expect(device.waitForExit() == 0)
    }

    /// A byte flipped on the SSD between two steps (in either slot of subgroup 1, so whichever
    /// the journal names) is caught by the checksum summed as the slot lands: the step is refused
    /// as an integrity failure naming the subgroup, and nothing commits. A byte flipped in a
    /// staged payload's body is caught the same way, as a bad payload. Both handlers, fp32 and
    /// 8-bit states.
    @Test(arguments: [HandlerMode.naive, .overlap], [StatePrecision.fp32, .blockwise8(blockSize: 1024)])
    func aByteFlippedOnTheSSDIsCaughtAsTheSlotLands(handler: HandlerMode, states: StatePrecision) throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let n = 10_000
        let optimizer = Self.optimizers[0]
        let configuration = DeviceConfiguration(sliceElements: n, subgroupElements: 4096, optimizer: optimizer,
                                                gradientPrecision: .fp16, copyOutPrecision: .fp16, handler: handler, statePrecision: states)
        let host = try HostSide(device: device, connection: connection, configuration: configuration,
                                initial: randomFloats(n, scale: 1, seed: 4))
        func step(_ step: Int) throws {
            let sizes = try host.stage(step: step, gradient: randomFloats(n, scale: 0.5, seed: UInt64(300 + step)), ratio: nil,
                                       valueEncoding: .fp16)
            try connection.step(StepCommand(step: step, update: optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1),
                                            skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
        }
        try step(1)
        let layout = DeviceLayout(sliceElements: n, subgroupElements: host.configured.subgroupElements, stateCount: 2, slots: 2,
                                  statePrecision: states)
        // A staged payload with a byte of its body flipped on the SSD.
        let sizes = try host.stage(step: 2, gradient: randomFloats(n, scale: 0.5, seed: 302), ratio: nil, valueEncoding: .fp16)
        try Self.flipByte(in: device.ssdPath, at: [layout.gradientSlotOffset(subgroup: 2) + sizes[2] - 3])
        #expect { try connection.step(StepCommand(step: 2, update: optimizer.prepare(step: 2, learningRate: 1e-2, combinedUnscale: 1),
                                                  skip: false, subgroups: [0, 1, 2], payloadBytes: sizes)) } throws: { error in
            let refusal = error as? DeviceReplyError
            return refusal?.code == .badPayload && refusal!.message.contains("subgroup 2") && refusal!.message.contains("body checksum")
        }
        #expect(try connection.status() == [1, 1, 1])
        // Then a byte of m, past p (the part of the slot that lands last), in both slots.
        try Self.flipByte(in: device.ssdPath, at: (0..<2).map { layout.slotOffset(subgroup: 1, slot: $0) + layout.vectorBytes + 100 })
        #expect { try step(2) } throws: { error in
            let refusal = error as? DeviceReplyError
            return refusal?.code == .integrity && refusal!.message.contains("subgroup 1")
        }
        #expect(try connection.status() == [1, 1, 1])
        try connection.perform(.shutdown)
        #expect(device.waitForExit() == 0)
    }

    /// Flips bit 4 of the byte at each of `offsets` in the file, through the page cache (a
    /// direct read of the range writes it back first).
    static func flipByte(in path: String, at offsets: [Int]) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        for offset in offsets {
            try handle.seek(toOffset: UInt64(offset))
            let byte = try #require(try handle.read(upToCount: 1))
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data([byte[0] ^ 0x10]))
        }
        try handle.synchronize()
        try handle.close()
    }

    /// The overlapping handler's loads and write-backs take turns on the disk: no two transfers
    /// of a step are in flight together, and a subgroup's parameters are written before its
    /// states; the step still gives the in-process result.
    @Test func overlapTransfersTakeTurnsOnTheDisk() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let n = 16 * 16_384
        let optimizer = Self.optimizers[0]
        let configuration = DeviceConfiguration(sliceElements: n, subgroupElements: 16_384, optimizer: optimizer,
                                                gradientPrecision: .fp16, copyOutPrecision: .fp16, handler: .overlap)
        let host = try HostSide(device: device, connection: connection, configuration: configuration,
                                initial: randomFloats(n, scale: 1, seed: 3))
        for step in 1...2 {
            let sizes = try host.stage(step: step, gradient: randomFloats(n, scale: 0.5, seed: UInt64(200 + step)), ratio: nil,
                                       valueEncoding: .fp16)
            let update = optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1)
            let sent = ContinuousClock.now.systemNanoseconds
            let report = try connection.step(StepCommand(step: step, update: update, skip: false, subgroups: Array(0..<16),
                                                         payloadBytes: sizes))
            let answered = ContinuousClock.now.systemNanoseconds
            try host.referenceStep(update: update, step: step, sizes: sizes)
            // The device process's instants are on the host's clock: every operation lies
            // between the host sending the step and reading the answer.
            #expect(report.operations.allSatisfy { sent <= $0.wallStart && $0.wallStart <= $0.wallEnd && $0.wallEnd <= answered })
            let transfers = report.operations.filter { [.load, .writeParameters, .writeStates].contains($0.kind) }
                .sorted { $0.wallStart < $1.wallStart }
            #expect(transfers.count == 3 * 16)
            for (earlier, later) in zip(transfers, transfers.dropFirst()) {
                #expect(later.wallStart >= earlier.wallEnd, "\(earlier.kind) of subgroup \(earlier.subgroup) still ran when \(later.kind) of subgroup \(later.subgroup) started")
            }
            for s in 0..<16 {
                let parameters = try #require(transfers.first { $0.kind == .writeParameters && $0.subgroup == s })
                let states = try #require(transfers.first { $0.kind == .writeStates && $0.subgroup == s })
                #expect(parameters.wallEnd <= states.wallStart)
            }
        }
        #expect(bits(try connection.readState(.parameters, offset: 0, count: n)) == bits(host.referenceVector(0)))
        #expect(bits(try connection.readState(.state2, offset: 0, count: n)) == bits(host.referenceVector(2)))
        try connection.perform(.shutdown)
        #expect(device.waitForExit() == 0)
    }
}
