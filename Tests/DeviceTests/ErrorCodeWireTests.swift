import DeviceProtocol
import Foundation
import Optim
import Testing

/// Error replies carry one code per failure class: every code crosses the wire whatever its
/// message says, a code the host does not know is refused as a malformed reply, and a real
/// device answers each injected fault with its class's code.
@Suite(.serialized) struct ErrorCodeWireTests {
    @Test func everyCodeRoundTripsWithAnyMessage() throws {
        for code in Reply.ErrorCode.allCases {
            for message in ["", "integrity failure", "ünïcödé ✓", String(repeating: "x", count: 5000)] {
                let decoded = try Reply.decode(Reply.error(code: code, message: message).frame(requestID: 3))
                guard case .error(let back, let text) = decoded else { Issue.record("\(code): not an error reply"); continue }
                #expect(back == code)
                #expect(text == String(message.prefix(4000)))
            }
        }
    }

    /// Codes 1...11 are the table; anything else names the field and the range.
    @Test func anUnknownCodeIsAMalformedReply() {
        #expect(Reply.ErrorCode.allCases.map(\.rawValue) == Array(1...11))
        for raw: UInt16 in [0, 12, 199, .max] {
            var body = WireWriter()
            body.u16(raw)
            body.string("whatever")
            #expect(throws: ProtocolError.invalidField(message: "reply 199", field: "error code", found: "\(raw)",
                                                       expected: "an error code 1...11")) {
                _ = try Reply.decode(Frame(kind: 199, requestID: 1, body: body.bytes))
            }
        }
    }

    static let n = 10_000
    static let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())

    /// Runs steps 1, 2, 3 on a device started with `fault` until one is refused; returns the
    /// refusal.
    static func firstRefusal(fault: String) throws -> DeviceReplyError? {
        let device = try DeviceProcess(extra: ["--fault", fault])
        let connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: DeviceConfiguration(
            sliceElements: n, subgroupElements: 4096, optimizer: optimizer, gradientPrecision: .fp32, copyOutPrecision: .fp32,
            handler: .overlap), initial: randomFloats(n, scale: 1, seed: 21))
        for step in 1...3 {
            let sizes = try host.stage(step: step, gradient: randomFloats(n, scale: 1, seed: UInt64(step)), ratio: nil, valueEncoding: .fp32)
            do {
                try connection.step(StepCommand(step: step, update: optimizer.prepare(step: step, learningRate: 1e-3, combinedUnscale: 1),
                                                skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
            } catch let refusal as DeviceReplyError {
                return refusal
            }
        }
        return nil
    }

    @Test(arguments: [("corrupt@state,step=2,subgroup=1", Reply.ErrorCode.integrity), ("eio@read,step=2", .io),
                      ("eio@write,step=2", .io), ("corrupt@grad,step=2,subgroup=0", .badPayload)])
    func aFaultIsRefusedWithItsClassCode(fault: String, code: Reply.ErrorCode) throws {
        let refusal = try Self.firstRefusal(fault: fault)
        #expect(refusal?.code == code, "\(fault): \(String(describing: refusal))")
    }

    /// A host buffer the device cannot open is an I/O failure; one too small for the slice is
    /// out of range.
    @Test func aHostBufferIsRefusedByWhatWentWrong() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        _ = try connection.configure(DeviceConfiguration(sliceElements: 4096, subgroupElements: 1024, optimizer: Self.optimizer,
                                                         gradientPrecision: .fp32, copyOutPrecision: .fp32, handler: .naive))
        let small = "/dev/shm/smartinf-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try Data(count: 100).write(to: URL(fileURLWithPath: small))
        defer { try? FileManager.default.removeItem(atPath: small) }
        let tooSmall = #expect(throws: DeviceReplyError.self) { try connection.perform(.attachHostBuffer(path: small)) }
        #expect(tooSmall?.code == .outOfRange)
        let missing = #expect(throws: DeviceReplyError.self) { try connection.perform(.attachHostBuffer(path: small + "-missing")) }
        #expect(missing?.code == .io)
    }

    /// A layout beyond the SSD's capacity is out of space, not out of DRAM.
    @Test func aCapacityTooSmallIsOutOfSpace() throws {
        let device = try DeviceProcess(dram: "64MiB", capacity: "1MiB")
        let connection = try device.connect()
        let error = #expect(throws: DeviceReplyError.self) {
            _ = try connection.configure(DeviceConfiguration(sliceElements: 1 << 20, subgroupElements: 0, optimizer: Self.optimizer,
                                                             gradientPrecision: .fp32, copyOutPrecision: .fp32, handler: .overlap))
        }
        #expect(error?.code == .outOfSpace)
        #expect(error?.message.contains("--capacity") == true)
    }
}
