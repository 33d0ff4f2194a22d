import DeviceProtocol
import Foundation
import Logging
import Synchronization

/// The device's command loop: every connection is served on its own thread and commands run one
/// at a time against the engine, one reply per request. A bad message gets an error reply and the
/// device keeps serving; a connection whose byte stream is out of step (bad magic, checksum,
/// version) is answered and closed. A client that stalls or hangs up never blocks the others.
public final class DeviceServer: @unchecked Sendable {
    // Safe to share with the connection threads: the engine is reached only through `serving`,
    // and `stallTimeout` is set before `serve()` starts them.
    let engine: DeviceEngine
    let listener: SocketListener
    /// Serialises commands: the engine is single-threaded by design.
    private let serving = Mutex(())
    /// Set once a shutdown request has been answered: the accept loop then ends.
    private let stopped = Atomic(false)
    /// Seconds a peer may stall in the middle of a message before it is dropped.
    public var stallTimeout: Double = 30
    /// The device's log (its engine's).
    private var logger: Logger { engine.logger }

    public init(engine: DeviceEngine, listener: SocketListener) {
        self.engine = engine
        self.listener = listener
    }

    /// Serves until a shutdown request.
    public func serve() throws {
        while true {
            let connection: FramedSocket
            do {
                connection = try listener.accept()
            } catch {
                if isStopped { return }
                throw error
            }
            // A thread for as long as the connection lasts (the host keeps one per device for
            // the whole run).
            let thread = Thread { [self] in
                if serve(connection) { stop() }
            }
            thread.start()
        }
    }

    private var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Ends the accept loop (after a shutdown request has been answered).
    private func stop() {
        stopped.store(true, ordering: .releasing)
        listener.interrupt()
    }

    /// Serves one connection; true when it asked the device to shut down.
    private func serve(_ connection: FramedSocket) -> Bool {
        while true {
            connection.setTimeout(seconds: 0)
            let frame: Frame
            do {
                frame = try connection.receive()
            } catch let error as ProtocolError {
                logger.warning("dropping connection: \(error)")
                try? connection.send(Reply.error(code: .malformedRequest, message: "\(error)").frame(requestID: 0))
                return false
            } catch {
                if case ConnectionError.closed = error { return false }
                logger.warning("dropping connection: \(error)")
                return false
            }
            let (reply, shutdown) = serving.withLock { _ in handle(frame) }
            // An injected slow link (`--fault slow@link`): a deliberate pause before replying.
            if let delay = engine.fault?.replyDelay, delay > 0 { Thread.sleep(forTimeInterval: min(delay, 4000)) }
            do {
                try connection.send(reply.frame(requestID: frame.requestID))
            } catch {
                logger.warning("could not reply: \(error)")
                return shutdown
            }
            if shutdown { return true }
        }
    }

    /// Decodes and runs one request; errors become error replies.
    func handle(_ frame: Frame) -> (Reply, shutdown: Bool) {
        do {
            return engine.respond(to: try Request.decode(frame))
        } catch {
            return (.error(code: .malformedRequest, message: "\(error)"), false)
        }
    }
}

extension DeviceEngine {
    /// Runs one decoded request: the device's whole command set, whether it arrived on a socket
    /// or from an in-process host (the baseline runs its engines in the host process). Errors
    /// become error replies; none stops the device.
    public func respond(to request: Request) -> (Reply, shutdown: Bool) {
        do {
            switch request {
            case .hello: return (.hello(hello()), false)
            case .configure(let c): return (.configured(try configure(c)), false)
            case .attachHostBuffer(let path):
                try attachHostBuffer(path: path)
                return (.done, false)
            case .loadParameters(let offset, let count, let path):
                try loadParameters(offset: offset, count: count, path: path)
                return (.done, false)
            case .step(let command):
                try step(command)
                return (.stepped(lastReport), false)
            case .status: return (.status(committedSteps: try status()), false)
            case .readState(let vector, let offset, let count):
                return (.state(values: try readState(vector: vector, offset: offset, count: count)), false)
            case .flush:
                try flush()
                return (.done, false)
            case .rollback(let step):
                try rollback(to: step)
                return (.done, false)
            case .shutdown:
                try shutdown()
                return (.done, true)
            case .snapshot(let step, let keep, let note):
                return (.snapshots([try snapshot(step: step, keep: keep, note: note)]), false)
            case .listSnapshots: return (.snapshots(listSnapshots()), false)
            case .restoreSnapshot(let path):
                try restoreSnapshot(path: path)
                return (.done, false)
            }
        } catch {
            // The host hears of it in the error reply and decides; the device keeps serving.
            var at: Logger.Metadata = [:]
            if case .step(let command) = request { at["step"] = "\(command.step)" }
            logger.warning("\(request.name) \(error is DeviceError || error is SnapshotError ? "refused" : "failed"): \(error)", metadata: at)
            return (.error(code: DeviceError.code(of: error), message: "\(error)"), false)
        }
    }
}
