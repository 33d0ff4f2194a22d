import Checksum
import DeviceProtocol
import Foundation
import Optim
import SeededRandom

/// The device protocol: frame parsing (`Frame.decode`, and `FramedSocket.receive` reading the
/// same bytes from a socket) and message decoding (`Request.decode`, `Reply.decode`).
///
/// Each input is read three ways: as one whole frame; as a byte stream on a socket, frame after
/// frame until the stream ends or is refused; and as a message body behind a header whose CRC
/// is not checked (bytes 16 up to the trailer, with the header's kind), so that mutations of the
/// body reach the message decoders without having to fix the CRC.
///
/// A decoded frame must encode back to exactly its bytes; a decoded message must survive
/// re-encoding: encode(decode(x)) decodes again, to a message that encodes to the same body.
public final class ProtocolTarget: FuzzTarget {
    public let name = "protocol"
    /// Streams longer than this are not sent through a socket (the socket buffer would fill).
    static let streamLimit = 64 << 10

    public init() {}

    public func seeds() throws -> [[UInt8]] {
        let adamw = OptimizerConfig.adamw(AdamWHyperparameters())
        let torchAdamW = OptimizerConfig.adamw(AdamWHyperparameters(weightDecay: 0.1), .torch)
        let sgd = OptimizerConfig.sgd(SGDHyperparameters(momentum: 0.9, dampening: 0.1, nesterov: true, weightDecay: 0.01), .torch)
        let adagrad = OptimizerConfig.adagrad(AdagradHyperparameters(lrDecay: 0.01, initialAccumulatorValue: 0.1), .reference)
        let requests: [Request] = [
            .hello(clientName: "smartinf fuzz"),
            .configure(DeviceConfiguration(sliceElements: 1_000_000, subgroupElements: 4096, optimizer: adamw,
                                           gradientPrecision: .fp16, copyOutPrecision: .bf16, handler: .overlap)),
            .configure(DeviceConfiguration(sliceElements: 5000, subgroupElements: 0, optimizer: sgd,
                                           gradientPrecision: .fp32, copyOutPrecision: .fp32, handler: .naive)),
            .configure(DeviceConfiguration(sliceElements: 77, subgroupElements: 7, optimizer: adagrad,
                                           gradientPrecision: .bf16, copyOutPrecision: .fp16, handler: .overlap)),
            .loadParameters(offset: 4096, count: 8192, path: "/var/tmp/smartinf/params.bin"),
            .step(StepCommand(step: 3, update: adamw.prepare(step: 3, learningRate: 1e-3, combinedUnscale: 0.5), skip: false,
                              subgroups: [0, 1, 5], payloadBytes: [1064, 96, 64])),
            .step(StepCommand(step: 9, update: sgd.prepare(step: 9, learningRate: 0.1, combinedUnscale: 1), skip: true,
                              subgroups: [2], payloadBytes: [0])),
            .step(StepCommand(step: 1, update: adagrad.prepare(step: 1, learningRate: 0.01, combinedUnscale: 1), skip: false,
                              subgroups: [], payloadBytes: [])),
            .status,
            .readState(vector: .state2, offset: 100, count: 32),
            .flush,
            .rollback(step: 4),
            .shutdown,
            .attachHostBuffer(path: "/dev/shm/smartinf-copy-out"),
            // Parameter groups: two ranges with their own scalars (torch's AdamW rule).
            .step(StepCommand(step: 2, update: torchAdamW.prepare(step: 2, learningRate: 1e-3, combinedUnscale: 1),
                              segments: [UpdateSegment(elements: 0..<100, update: torchAdamW.prepare(step: 2, learningRate: 1e-2, combinedUnscale: 1)),
                                         UpdateSegment(elements: 4096..<5000, update: torchAdamW.withWeightDecay(0)
                                             .prepare(step: 2, learningRate: 3e-4, combinedUnscale: 1))],
                              skip: false, subgroups: [0, 1], payloadBytes: [64, 64])),
            .snapshot(step: 40, keep: 2, note: "{\"steps_done\":40}"),
            .listSnapshots,
            .restoreSnapshot(path: "/var/tmp/smartinf/device-0.ssd.snapshots/snapshot-00000003-step-40.snap"),
        ]
        var frames = requests.enumerated().map { i, request in request.frame(requestID: UInt32(i + 1)) }
        let replies: [Reply] = [
            .hello(Reply.Hello(deviceName: "smartssd 0", protocolVersion: Int(Frame.version), capacityBytes: 64 << 30, dramBytes: 4 << 30,
                               threads: 2, ssdPath: "/var/tmp/dev0.ssd", directIO: true)),
            .configured(Reply.Configured(subgroupElements: 4096, subgroupCount: 245, bufferSets: 3, dramNeededBytes: 1 << 24,
                                         gradientOffset: 1 << 20, gradientSlotBytes: 16_448)),
            .done,
            .status(committedSteps: [3, 3, -1, 2]),
            .state(values: [0, 1.5, -2, .infinity, .nan, Float(bitPattern: 0x0000_5555)]),
            .error(code: .badPayload, message: "payload index 3: found 7 after 9, expected strictly increasing indices"),
            .snapshots([]),
            .snapshots([StoredSnapshot(path: "/var/tmp/dev0.ssd.snapshots/snapshot-00000002-step-20.snap", sequence: 2, step: 20, bytes: 1 << 20),
                        StoredSnapshot(path: "/var/tmp/dev0.ssd.snapshots/snapshot-00000003-step-40.snap", sequence: 3, step: 40, bytes: 1 << 20)]),
        ]
        frames += replies.enumerated().map { i, reply in reply.frame(requestID: UInt32(100 + i)) }
        // Step replies, written field by field so that these seeds do not depend on the reply's
        // Swift shape: bytes read, bytes written, then the operations (kind, subgroup, bytes,
        // elements, wall start and end, dependencies).
        for operations in [0, 3] {
            var stepped = WireWriter()
            stepped.u64(1 << 30)
            stepped.u64(1 << 29)
            stepped.u32(UInt32(operations))
            for i in 0..<operations {
                stepped.u8(UInt8(i))
                stepped.u32(7)
                stepped.u64(i == 1 ? 0 : 1 << 20)
                stepped.u64(i == 1 ? 4096 : 0)
                stepped.u64(1_000_000 + UInt64(i) * 1000)
                stepped.u64(1_000_500 + UInt64(i) * 1000)
                stepped.u8(UInt8(i))
                for j in 0..<i { stepped.u32(UInt32(j)) }
            }
            frames.append(Frame(kind: 106, requestID: 200 + UInt32(operations), body: stepped.bytes))
        }
        var seeds = frames.map { $0.encoded() }
        // Two frames back to back: a connection's stream.
        seeds.append(seeds[0] + seeds[8])
        return seeds
    }

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        var outcome: String
        do {
            let frame = try Frame.decode(input)
            guard frame.encoded() == input else {
                throw FuzzViolation(name, "frame decoded from \(input.count) bytes does not encode back to them")
            }
            outcome = "frame ok, " + (try messages(frame))
        } catch let error as ProtocolError {
            outcome = try rejection(name, error)
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation(name, "Frame.decode threw \(type(of: error)): \(error)")
        }
        if input.count >= Frame.headerBytes {
            // The body behind the header, CRC unchecked.
            let kind = input.loadLE(6, as: UInt16.self)!
            let end = input.count >= Frame.headerBytes + Frame.trailerBytes ? input.count - Frame.trailerBytes : input.count
            outcome += " | " + (try messages(Frame(kind: kind, requestID: 0, body: Array(input[Frame.headerBytes..<end]))))
        }
        if input.count <= Self.streamLimit {
            outcome += " | " + (try stream(input))
        }
        return outcome
    }

    /// Decodes `frame` as a request and as a reply, checking that what decodes re-encodes.
    private func messages(_ frame: Frame) throws(FuzzViolation) -> String {
        let request = try roundTrip(frame, "request", decode: Request.decode) { $0.frame(requestID: $1) }
        let reply = try roundTrip(frame, "reply", decode: Reply.decode) { $0.frame(requestID: $1) }
        return request + ", " + reply
    }

    /// "<what> ok" when `frame` decodes into a message that encodes to the same kind and survives
    /// a second round trip; the rejection when it is refused; a violation otherwise.
    private func roundTrip<M>(_ frame: Frame, _ what: String, decode: (Frame) throws(ProtocolError) -> M,
                              encode: (M, UInt32) -> Frame) throws(FuzzViolation) -> String {
        let message: M
        do { message = try decode(frame) } catch { return try rejection(name, error) }
        let encoded = encode(message, frame.requestID)
        guard encoded.kind == frame.kind else {
            throw FuzzViolation(name, "\(what) \(message) decoded from kind \(frame.kind) encodes as kind \(encoded.kind)")
        }
        let again: M
        do { again = try decode(encoded) } catch {
            throw FuzzViolation(name, "\(what) \(message) re-encoded does not decode: \(error)")
        }
        guard encode(again, frame.requestID).body == encoded.body else {
            throw FuzzViolation(name, "\(what) \(message) does not survive re-encoding (now \(again))")
        }
        return "\(what) ok"
    }

    /// Sends `input` through a socket pair and receives frames until the stream ends or a frame
    /// is refused, as a device's connection does.
    private func stream(_ input: [UInt8]) throws(FuzzViolation) -> String {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            return "no socket pair"
        }
        var sent = 0
        while sent < input.count {
            let n = input.withUnsafeBytes { send(pair[1], $0.baseAddress! + sent, input.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        close(pair[1])
        let socket = FramedSocket(descriptor: pair[0])
        socket.setTimeout(seconds: 5)
        var frames = 0
        while true {
            do {
                _ = try socket.receive()
                frames += 1
            } catch let error as ConnectionError {
                if case .timedOut = error { throw FuzzViolation(name, "receive timed out on a closed stream") }
                return "stream: \(frames) frames, " + (try rejection(name, error))
            } catch let error as ProtocolError {
                return "stream: \(frames) frames, " + (try rejection(name, error))
            } catch {
                throw FuzzViolation(name, "FramedSocket.receive threw \(type(of: error)): \(error)")
            }
        }
    }

    /// Sets a header field to an edge value and recomputes the trailer.
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool {
        guard input.count >= Frame.headerBytes + Frame.trailerBytes else { return false }
        switch random.next() % 4 {
        case 0: input.storeLE(UInt16(pick([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 101, 102, 103, 104, 105, 106, 107, 199, 0, 65535],
                                          &random)), at: 6)
        case 1: input.storeLE(UInt32(input.count - Frame.headerBytes - Frame.trailerBytes), at: 12)
        case 2: input.storeLE(UInt32(pick([0, 1, Frame.maximumBodyBytes, Frame.maximumBodyBytes + 1, Int(UInt32.max)], &random)),
                              at: 12)
        default: break
        }
        // Length consistent with the buffer, then a valid CRC: a frame the reader takes apart.
        if random.next() % 4 != 0 { input.storeLE(UInt32(input.count - Frame.headerBytes - Frame.trailerBytes), at: 12) }
        let crc = CRC32C.checksum(of: Array(input[..<(input.count - Frame.trailerBytes)]))
        input.storeLE(crc, at: input.count - Frame.trailerBytes)
        return true
    }
}
