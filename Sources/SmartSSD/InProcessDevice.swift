import DeviceProtocol
import Foundation

/// A device engine in the host's own process, reached through the same requests as a device
/// process. The baseline (ZeRO-Infinity style) uses it: the host CPU reads p, m, v and the
/// gradients from its SSD files, runs the update and writes them back — the same code and the
/// same bytes as a device, on the host's side of the link.
///
/// A shutdown request ends the engine as it ends a device process: the engine is let go, so its
/// SSD file closes and its lock is free for the next device on that file (a resumed run in the
/// same process); later requests fail as on a closed connection.
public final class InProcessDevice: DeviceLink, @unchecked Sendable {
    private var engine: DeviceEngine?
    private let lock = NSLock()

    public init(_ engine: DeviceEngine) { self.engine = engine }

    public func call(_ request: Request) throws -> Reply {
        lock.lock()
        defer { lock.unlock() }
        guard let engine else { throw ConnectionError.closed }
        let (reply, shutdown) = engine.respond(to: request)
        if shutdown { self.engine = nil }
        if case .error(let code, let message) = reply { throw DeviceReplyError(code: code, message: message) }
        return reply
    }
}
