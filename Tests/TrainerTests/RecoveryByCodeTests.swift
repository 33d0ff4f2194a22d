import DeviceProtocol
import Foundation
import Offload
import Testing
import Trainer

/// Stands between the trainer and a real `smartssd` and passes every frame through unchanged,
/// except that each error reply's message is replaced by words that say nothing (its code is
/// kept). What the host decides must not change with the wording of a device's messages.
final class RewordingRelay: @unchecked Sendable {
    static let withheld = "(words withheld by the test relay)"
    let path: String
    private let device: String
    private let listener: SocketListener
    private let lock = NSLock()
    private var rewordedReplies: [(code: Reply.ErrorCode, original: String)] = []

    /// Listens on `path` and relays each connection to a new connection to the device at `device`.
    init(path: String, device: String) throws {
        self.path = path
        self.device = device
        listener = try SocketListener(path: path)
        let accepting = Thread { [self] in
            while let client = try? listener.accept() {
                let relaying = Thread { [self] in relay(client) }
                relaying.start()
            }
        }
        accepting.start()
    }

    /// The error replies reworded so far: their codes and their original messages.
    var reworded: [(code: Reply.ErrorCode, original: String)] {
        lock.lock()
        defer { lock.unlock() }
        return rewordedReplies
    }

    /// Stops accepting (connections already relayed end when either side closes).
    func stop() { listener.interrupt() }

    /// Request by request, until either side hangs up or breaks the protocol.
    private func relay(_ client: FramedSocket) {
        guard let upstream = try? FramedSocket.connect(path: device) else { return }
        while let request = try? client.receive() {
            guard (try? upstream.send(request)) != nil, var reply = try? upstream.receive() else { return }
            if case .error(let code, let message)? = try? Reply.decode(reply) {
                lock.lock()
                rewordedReplies.append((code, message))
                lock.unlock()
                reply = Reply.error(code: code, message: Self.withheld).frame(requestID: reply.requestID)
            }
            guard (try? client.send(reply)) != nil else { return }
        }
    }
}

/// Recovery decides on a failure's code, never on its words: real devices, every error reply's
/// message replaced on its way to the host, and the same decisions as with the words intact
/// (`DeviceRecoveryTests`).
@Suite(.serialized) struct RecoveryByCodeTests {
    /// Two devices started with `faults`, each behind a relay, and options that attach to the relays.
    static func relayedDevices(_ o: inout TrainingOptions, faults: [Int: String]) throws -> (DeviceProcesses, [RewordingRelay]) {
        let processes = try DeviceProcesses(DeviceProcesses.Options(
            count: o.devices, directory: o.ssdDirectory, dram: "\(o.dramBytes)", threads: o.deviceThreads,
            extraArguments: faults.mapValues { ["--fault", $0] }))
        let relays = try processes.socketPaths.enumerated().map { i, socket in
            try RewordingRelay(path: "\(o.ssdDirectory)/relay-\(i).sock", device: socket)
        }
        o.attach = relays.map(\.path)
        return (processes, relays)
    }

    /// Without retry, a device that refuses with the integrity code stops the run with the
    /// checkpoint to resume from, although its message no longer says "integrity".
    @Test func anIntegrityFailureIsKnownByItsCodeAlone() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: .suO, steps: 4)
        o.saveCheckpoint = "\(dir.path)/checkpoint"
        o.checkpointEvery = 1
        let (processes, relays) = try Self.relayedDevices(&o, faults: [0: "corrupt@state,step=3,subgroup=1"])
        defer {
            relays.forEach { $0.stop() }
            processes.terminate()
        }
        let run = try TrainingRun(o)
        defer { run.finish() }
        #expect { try run.run() } throws: { error in
            guard case TrainingError.integrity(let detail, let resume) = error else { return false }
            return resume == "\(dir.path)/checkpoint" && detail.hasSuffix(RewordingRelay.withheld)
        }
        #expect(run.records.count == 2)
        // The device did refuse with the integrity code, in words the host never saw.
        #expect(relays[0].reworded.map(\.code) == [.integrity])
        #expect(relays[0].reworded.first?.original.contains("integrity failure") == true)
    }

    /// Under retry, an I/O failure, a bad payload and a damaged state load are each recovered
    /// (reattached, rolled back, run again) to the fault-free result, whatever their words.
    @Test(arguments: [("eio@read,step=2", Reply.ErrorCode.io), ("corrupt@grad,step=2", .badPayload),
                      ("corrupt@state,step=3", .integrity)])
    func retryRecoversByCodeWhateverTheWords(fault: String, code: Reply.ErrorCode) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let reference = try undisturbedRun(options(dir, data: data, mode: .suO, steps: 4))

        var o = options(dir, data: data, mode: .suO, steps: 4)
        o.onDeviceFailure = .retry(maxRetries: 2)
        o.deviceTimeout = 10
        let (processes, relays) = try Self.relayedDevices(&o, faults: [1: fault])
        defer {
            relays.forEach { $0.stop() }
            processes.terminate()
        }
        let run = try TrainingRun(o)
        defer { run.finish() }
        try run.run()
        #expect(run.recoveries == 1)
        #expect(run.model.parameters.array.map(\.bitPattern) == reference.model.parameters.array.map(\.bitPattern))
        #expect(relays[1].reworded.map(\.code) == [code])
        #expect(relays[0].reworded.isEmpty)
    }
}
