import DeviceProtocol
import Foundation
import Synchronization

/// A device engine in the host's own process, reached through the same requests as a device
/// process. The baseline (ZeRO-Infinity style) uses it: the host CPU reads p, m, v and the
/// gradients from its SSD files, runs the update and writes them back — the same code and the
/// same bytes as a device, on the host's side of the link.
public final class InProcessDevice: DeviceLink {
    public let engine: DeviceEngine
    /// One request at a time, as a device's command loop runs them: the engine is single-threaded.
    private let serving = Mutex(())

    public init(_ engine: DeviceEngine) { self.engine = engine }

    public func call(_ request: Request) throws -> Reply {
        let (reply, _) = serving.withLock { _ in engine.respond(to: request) }
        if case .error(let code, let message) = reply { throw DeviceReplyError(code: code, message: message) }
        return reply
    }
}
