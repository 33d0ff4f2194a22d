import DeviceProtocol
import Foundation
import Synchronization

/// A device engine in the host's own process, reached through the same requests as a device
/// process. The baseline (ZeRO-Infinity style) uses it: the host CPU reads p, m, v and the
/// gradients from its SSD files, runs the update and writes them back — the same code and the
/// same bytes as a device, on the host's side of the link.
///
/// A shutdown request ends the engine as it ends a device process: the engine is let go, so its
/// SSD file closes and its lock is free for the next device on that file (a resumed run in the
/// same process); later requests fail as on a closed connection.
public final class InProcessDevice: DeviceLink {
    /// The engine until a shutdown lets it go; one request at a time, as a device's command loop
    /// runs them: the engine is single-threaded.
    private let serving: Mutex<DeviceEngine?>

    public init(_ engine: DeviceEngine) { serving = Mutex(engine) }

    public func call(_ request: Request) throws -> Reply {
        let reply = try serving.withLock { engine throws -> Reply in
            guard let current = engine else { throw ConnectionError.closed }
            let (reply, shutdown) = current.respond(to: request)
            if shutdown { engine = nil }
            return reply
        }
        if case .error(let code, let message) = reply { throw DeviceReplyError(code: code, message: message) }
        return reply
    }
}
