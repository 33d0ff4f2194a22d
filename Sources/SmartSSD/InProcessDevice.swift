import DeviceProtocol
import Foundation

/// A device engine in the host's own process, reached through the same requests as a device
/// process. The baseline (ZeRO-Infinity style) uses it: the host CPU reads p, m, v and the
/// gradients from its SSD files, runs the update and writes them back — the same code and the
/// same bytes as a device, on the host's side of the link.
public final class InProcessDevice: DeviceLink, @unchecked Sendable {
    public let engine: DeviceEngine
    private let lock = NSLock()

    public init(_ engine: DeviceEngine) { self.engine = engine }

    public func call(_ request: Request) throws -> Reply {
        lock.lock()
        let (reply, _) = engine.respond(to: request)
        lock.unlock()
        if case .error(let code, let message) = reply { throw DeviceReplyError(code: code, message: message) }
        return reply
    }
}
