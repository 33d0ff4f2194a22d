import BlockIO
import Checksum
import Compression
import DeviceProtocol
import Foundation
import Optim
import Testing

/// Bad messages and bad payloads get an error reply; the device keeps serving and its committed
/// states do not change.
@Suite(.serialized) struct DeviceHostileInputTests {
    static let n = 5000
    static let optimizer = OptimizerConfig.sgd(SGDHyperparameters(), .torch)

    static func configuration() -> DeviceConfiguration {
        DeviceConfiguration(sliceElements: n, subgroupElements: 2048, optimizer: optimizer, gradientPrecision: .fp32,
                            copyOutPrecision: .fp32, handler: .overlap)
    }

    /// Sends raw bytes on a fresh connection and returns what the device answered (nil if it
    /// closed without answering).
    static func sendRaw(_ bytes: [UInt8], to device: DeviceProcess, closeAfter: Bool = true) throws -> Reply? {
        let socket = try FramedSocket.connect(path: device.socketPath)
        socket.setTimeout(seconds: 5)
        _ = bytes.withUnsafeBytes { send(socket.descriptor, $0.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL)) }
        if closeAfter { shutdown(socket.descriptor, Int32(SHUT_WR)) }
        guard let frame = try? socket.receive() else { return nil }
        return try Reply.decode(frame)
    }

    @Test func malformedMessagesGetErrorRepliesAndTheDeviceKeepsServing() throws {
        let device = try DeviceProcess()
        let good = Request.status.frame(requestID: 7).encoded()

        // Garbage: bad magic.
        let garbage = try Self.sendRaw(Array("GET / HTTP/1.1\r\n\r\n".utf8), to: device)
        guard case .error(let code, let message) = garbage else { Issue.record("no error reply to garbage"); return }
        #expect(code == .malformedRequest)
        #expect(message.contains("magic"))

        // Wrong protocol version.
        var versioned = good
        versioned[4] = 9
        guard case .error(let versionCode, let versionMessage) = try Self.sendRaw(versioned, to: device) else { Issue.record("no reply"); return }
        #expect(versionCode == .malformedRequest)
        #expect(versionMessage.contains("protocol version is 9"))
        // The version before 8-bit states: refused, saying what to do.
        versioned[4] = 3
        guard case .error(_, let oldMessage) = try Self.sendRaw(versioned, to: device) else { Issue.record("no reply"); return }
        #expect(oldMessage.contains("protocol version is 3; expected 4, this build's (host and devices must speak one version: run them from the same build)"))

        // Oversized: the header announces more than the cap.
        var oversized = good
        let huge = UInt32(Frame.maximumBodyBytes + 1).littleEndian
        withUnsafeBytes(of: huge) { for i in 0..<4 { oversized[12 + i] = $0[i] } }
        guard case .error(let sizeCode, let sizeMessage) = try Self.sendRaw(oversized, to: device) else { Issue.record("no reply"); return }
        #expect(sizeCode == .malformedRequest)
        #expect(sizeMessage.contains("body length"))

        // Corrupted checksum.
        var corrupted = Request.hello(clientName: "x").frame(requestID: 3).encoded()
        corrupted[corrupted.count - 1] ^= 0xFF
        guard case .error(let crcCode, let crcMessage) = try Self.sendRaw(corrupted, to: device) else { Issue.record("no reply"); return }
        #expect(crcCode == .malformedRequest)
        #expect(crcMessage.contains("checksum"))

        // Truncated: half a message, then the client hangs up. No reply is possible; the device
        // must simply go on.
        _ = try Self.sendRaw(Array(good.prefix(10)), to: device)
        _ = try Self.sendRaw(Array(good.prefix(good.count - 2)), to: device)

        // A well-framed request with an unknown kind, and one with a bad field: answered on the
        // same connection, which stays usable.
        let connection = try device.connect()
        try connection.socket.send(Frame(kind: 77, requestID: 5, body: []))
        guard case .error(let kindCode, let kindMessage) = try Reply.decode(try connection.socket.receive()) else { Issue.record("no reply"); return }
        #expect(kindCode == .malformedRequest)
        #expect(kindMessage.contains("kind"))
        try connection.socket.send(Frame(kind: 6, requestID: 6, body: [9, 0, 0]))
        guard case .error(let fieldCode, let fieldMessage) = try Reply.decode(try connection.socket.receive()) else { Issue.record("no reply"); return }
        #expect(fieldCode == .malformedRequest)
        #expect(fieldMessage.contains("read-state"))

        // Out of order: a step before configure.
        let update = Self.optimizer.prepare(step: 1, learningRate: 0.1, combinedUnscale: 1)
        let early = #expect(throws: DeviceReplyError.self) {
            try connection.step(StepCommand(step: 1, update: update, skip: false, subgroups: [0], payloadBytes: [100]))
        }
        #expect(early?.code == .notConfigured)

        // Still serving, on this and on a new connection.
        #expect(try connection.hello(clientName: "after").protocolVersion == 4)
        #expect(try device.connect().hello(clientName: "new").deviceName == "smartssd")
    }

    @Test func badPayloadsAreRejectedAndStatesStayUntouched() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration(),
                                initial: randomFloats(Self.n, scale: 1, seed: 3))
        let step1 = try host.stage(step: 1, gradient: randomFloats(Self.n, scale: 1, seed: 4), ratio: 0.2, valueEncoding: .fp32)
        let update1 = Self.optimizer.prepare(step: 1, learningRate: 0.1, combinedUnscale: 1)
        try connection.step(StepCommand(step: 1, update: update1, skip: false, subgroups: [0, 1, 2], payloadBytes: step1))
        try host.referenceStep(update: update1, step: 1, sizes: step1)

        let sizes = try host.stage(step: 2, gradient: randomFloats(Self.n, scale: 1, seed: 5), ratio: 0.2, valueEncoding: .fp32)
        let update2 = Self.optimizer.prepare(step: 2, learningRate: 0.1, combinedUnscale: 1)
        // Corrupt one byte of subgroup 1's payload body on the SSD: the CRC must catch it.
        try corruptByte(host: host, subgroup: 1, at: sizes[1] - 3)
        let rejected = #expect(throws: DeviceReplyError.self) {
            try connection.step(StepCommand(step: 2, update: update2, skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
        }
        #expect(rejected?.code == .badPayload)
        #expect(rejected?.message.contains("subgroup 1") == true)
        #expect(try connection.status() == [1, 1, 1])
        #expect(bits(try connection.readState(.parameters, offset: 0, count: Self.n)) == bits(host.referenceVector(0)))
        #expect(bits(try connection.readState(.state1, offset: 0, count: Self.n)) == bits(host.referenceVector(1)))

        // A payload staged for another step is refused as stale.
        let stale = try host.stage(step: 5, gradient: randomFloats(Self.n, scale: 1, seed: 6), ratio: 0.2, valueEncoding: .fp32)
        let staleError = #expect(throws: DeviceReplyError.self) {
            try connection.step(StepCommand(step: 2, update: update2, skip: false, subgroups: [0, 1, 2], payloadBytes: stale))
        }
        #expect(staleError?.code == .outOfRange)
        #expect(staleError?.message.contains("stale") == true)

        // A payload length beyond the gradient slot, and a subgroup that does not exist.
        let tooLong = #expect(throws: DeviceReplyError.self) {
            try connection.step(StepCommand(step: 2, update: update2, skip: false, subgroups: [0], payloadBytes: [1 << 30]))
        }
        #expect(tooLong?.code == .outOfRange)
        let missing = #expect(throws: DeviceReplyError.self) {
            try connection.step(StepCommand(step: 2, update: update2, skip: false, subgroups: [9], payloadBytes: [64]))
        }
        #expect(missing?.code == .outOfRange)
        #expect(try connection.status() == [1, 1, 1])

        // And a good step still works afterwards, bit-identical to the reference.
        let good = try host.stage(step: 2, gradient: randomFloats(Self.n, scale: 1, seed: 7), ratio: 0.2, valueEncoding: .fp32)
        try connection.step(StepCommand(step: 2, update: update2, skip: false, subgroups: [0, 1, 2], payloadBytes: good))
        try host.referenceStep(update: update2, step: 2, sizes: good)
        #expect(bits(try connection.readState(.parameters, offset: 0, count: Self.n)) == bits(host.referenceVector(0)))
    }

    /// A payload whose checksums are valid but whose last index lies past the subgroup: built for
    /// a longer subgroup, then relabelled with the real length and its header CRC recomputed.
    @Test func outOfRangeIndicesWithValidChecksumsAreRejected() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration(),
                                initial: randomFloats(Self.n, scale: 1, seed: 13))
        let n = host.configured.subgroupElements
        let encoder = try GradientPayloadEncoder(options: PayloadOptions(valueEncoding: .fp32, indexEncoding: .deltaVarint))
        let indices: [UInt32] = [3, 700, UInt32(n + 40)]
        let values: [Float] = [1, -2, 3]
        var payload = [UInt8](repeating: 0, count: 4096)
        let bytes = try indices.withUnsafeBufferPointer { i in
            try values.withUnsafeBufferPointer { v in
                try payload.withUnsafeMutableBytes { p in
                    try encoder.encode(indices: i, values: v, elementCount: n + 100, subgroup: 0, step: 1, into: p)
                }
            }
        }
        withUnsafeBytes(of: UInt32(n).littleEndian) { for i in 0..<4 { payload[20 + i] = $0[i] } }
        let headerCRC = CRC32C.checksum(of: Array(payload[0..<60]))
        withUnsafeBytes(of: headerCRC.littleEndian) { for i in 0..<4 { payload[60 + i] = $0[i] } }
        try writePayload(payload, host: host, subgroup: 0)
        let update = Self.optimizer.prepare(step: 1, learningRate: 0.1, combinedUnscale: 1)
        let error = #expect(throws: DeviceReplyError.self) {
            try connection.step(StepCommand(step: 1, update: update, skip: false, subgroups: [0], payloadBytes: [bytes]))
        }
        #expect(error?.code == .badPayload)
        #expect(error?.message.contains("index") == true)
        #expect(try connection.status() == [0, 0, 0])
        #expect(bits(try connection.readState(.parameters, offset: 0, count: Self.n)) == bits(host.referenceVector(0)))
    }

    private func writePayload(_ payload: [UInt8], host: HostSide, subgroup: Int) throws {
        let page = AlignedBuffer<UInt8>(count: (payload.count + 4095) / 4096 * 4096, alignment: 4096)
        try page.withUnsafeMutableBufferPointer { b in
            let raw = UnsafeMutableRawBufferPointer(b)
            raw.copyBytes(from: payload)
            try host.ring.run([BlockTransfer(.write, file: host.ssd,
                                             fileOffset: host.region.slotOffset(subgroup),
                                             memory: raw)], blockSize: 1 << 20)
        }
    }

    private func corruptByte(host: HostSide, subgroup: Int, at offset: Int) throws {
        let page = AlignedBuffer<UInt8>(count: 4096, alignment: 4096)
        let pageStart = host.region.slotOffset(subgroup) + offset / 4096 * 4096
        try page.withUnsafeMutableBufferPointer { b in
            let raw = UnsafeMutableRawBufferPointer(b)
            try host.ring.run([BlockTransfer(.read, file: host.ssd, fileOffset: pageStart, memory: raw)], blockSize: 4096)
            raw[offset % 4096] ^= 0x40
            try host.ring.run([BlockTransfer(.write, file: host.ssd, fileOffset: pageStart, memory: raw)], blockSize: 4096)
        }
    }

    @Test func aDRAMBudgetTooSmallIsRefusedWithTheBytesNeeded() throws {
        let device = try DeviceProcess(dram: "1MiB")
        let connection = try device.connect()
        let wanted = DeviceConfiguration(sliceElements: 1 << 20, subgroupElements: 1 << 18, optimizer: .adamw(AdamWHyperparameters()),
                                         gradientPrecision: .fp16, copyOutPrecision: .fp16, handler: .overlap)
        let error = #expect(throws: DeviceReplyError.self) { _ = try connection.configure(wanted) }
        #expect(error?.code == .outOfDRAM)
        #expect(error?.message.contains("needs") == true)
        #expect(error?.message.contains("3 buffer set(s) of 262144 elements") == true)
        // Letting the device choose D fits the same DRAM.
        var automatic = wanted
        automatic.subgroupElements = 0
        let configured = try connection.configure(automatic)
        #expect(configured.dramNeededBytes <= 1 << 20)
        #expect(configured.subgroupElements >= 1024)
    }

    /// The D a device chooses splits the slice evenly: every subgroup moves a whole slot, so a
    /// short last one would cost a full subgroup's I/O for a sliver of the parameters.
    @Test func theChosenSubgroupSizeSplitsTheSliceEvenly() throws {
        let device = try DeviceProcess(dram: "64MiB")
        let connection = try device.connect()
        let n = 10_000_000
        let configured = try connection.configure(DeviceConfiguration(
            sliceElements: n, subgroupElements: 0, optimizer: .adamw(AdamWHyperparameters()), gradientPrecision: .fp16,
            copyOutPrecision: .fp16, handler: .overlap))
        let d = configured.subgroupElements
        let count = configured.subgroupCount
        #expect(configured.dramNeededBytes <= 64 << 20)
        #expect(count == (n + d - 1) / d && count > 1)
        #expect(d == ((n + count - 1) / count + 1023) / 1024 * 1024)
        #expect(n - (count - 1) * d > d - 1024 * count)
    }

    @Test func anSSDFormattedForSomethingElseIsRefusedSayingWhatWasFound() throws {
        let device = try DeviceProcess()
        var connection = try device.connect()
        _ = try connection.configure(Self.configuration())
        try connection.perform(.shutdown)
        _ = device.waitForExit()
        try device.start()
        connection = try device.connect()
        var other = Self.configuration()
        other.optimizer = .adamw(AdamWHyperparameters())
        let error = #expect(throws: DeviceReplyError.self) { _ = try connection.configure(other) }
        #expect(error?.code == .formatMismatch)
        #expect(error?.message.contains("is formatted for 5000 elements in subgroups of 2048, sgd:torch") == true)
        #expect(try connection.configure(Self.configuration()).subgroupElements == 2048)
    }

    @Test func badFlagsAndAFaultSpecAreRefusedClearly() throws {
        for (flags, message) in [(["--dram", "lots"], "--dram 'lots'"), (["--fault", "crash@phase=read"], "both step= and phase="),
                                 (["--fault", "explode@step=1,phase=read"], "expected crash@"), (["--block-size", "1000"], "multiple of 4096")] {
            let error = #expect(throws: DeviceStartError.self) { _ = try DeviceProcess(extra: flags) }
            #expect(error?.stderr.contains(message) == true, "\(flags): \(error?.stderr ?? "")")
        }
    }
}
