/// An error reply from a device, as the host sees it.
public struct DeviceReplyError: Error, Equatable, CustomStringConvertible {
    public var code: Reply.ErrorCode
    public var message: String
    public var description: String { message }

    public init(code: Reply.ErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}

/// Something the host can send requests to: a device process over its socket, or a device
/// engine in the host's own process (the baseline). Error replies are thrown as
/// `DeviceReplyError`.
public protocol DeviceLink: AnyObject, Sendable {
    func call(_ request: Request) throws -> Reply
}

/// The host's end of one device connection: numbered requests, checked replies.
public final class DeviceConnection: DeviceLink, @unchecked Sendable {
    // Safe to share: one call at a time (`nextID` changes per call) — the fleet's worker for its
    // device during a step, the fleet's own thread only once the step has settled.
    public let socket: FramedSocket
    public let path: String
    private var nextID: UInt32 = 1

    /// Connects; a reply that takes longer than `timeout` seconds (0: wait forever) fails the
    /// call with `ConnectionError.timedOut`, so a hung device is noticed, not waited on forever.
    public init(path: String, timeout: Double = 0) throws(ConnectionError) {
        self.path = path
        socket = try FramedSocket.connect(path: path)
        if timeout > 0 { socket.setTimeout(seconds: timeout) }
    }

    /// Sends `request` and returns the device's reply; an error reply is thrown as
    /// `DeviceReplyError`, a reply to some other request as `ProtocolError`.
    public func call(_ request: Request) throws -> Reply {
        let id = nextID
        nextID &+= 1
        try socket.send(request.frame(requestID: id))
        let frame = try socket.receive()
        let reply = try Reply.decode(frame)
        if case .error(let code, let message) = reply { throw DeviceReplyError(code: code, message: message) }
        guard frame.requestID == id else {
            throw ProtocolError.badFrame(field: "request id", found: "\(frame.requestID)", expected: "\(id)")
        }
        return reply
    }

}

extension DeviceLink {
    public func hello(clientName: String) throws -> Reply.Hello {
        guard case .hello(let h) = try call(.hello(clientName: clientName)) else { throw unexpected("hello") }
        return h
    }

    public func configure(_ configuration: DeviceConfiguration) throws -> Reply.Configured {
        guard case .configured(let c) = try call(.configure(configuration)) else { throw unexpected("configure") }
        return c
    }

    public func status() throws -> [Int] {
        guard case .status(let steps) = try call(.status) else { throw unexpected("status") }
        return steps
    }

    /// Reads `count` committed values of `vector` from `offset`, in as many requests as the
    /// message cap needs.
    public func readState(_ vector: StateVector, offset: Int, count: Int) throws -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(count)
        while values.count < count {
            let chunk = min(Request.maximumReadCount, count - values.count)
            guard case .state(let part) = try call(.readState(vector: vector, offset: offset + values.count, count: chunk)) else {
                throw unexpected("read-state")
            }
            values += part
        }
        return values
    }

    /// Runs a step; returns the bytes the device moved between its SSD and its DRAM, and its
    /// operations.
    @discardableResult
    public func step(_ command: StepCommand) throws -> StepReport {
        guard case .stepped(let report) = try call(.step(command)) else { throw unexpected("step") }
        return report
    }

    /// Asks the device to snapshot its committed states at `step` inside itself, keeping the
    /// newest `keep`; returns the snapshot taken.
    public func snapshot(step: Int, keep: Int, note: String) throws -> StoredSnapshot {
        guard case .snapshots(let taken) = try call(.snapshot(step: step, keep: keep, note: note)), taken.count == 1 else {
            throw unexpected("snapshot")
        }
        return taken[0]
    }

    /// The snapshots the device keeps, oldest first.
    public func listSnapshots() throws -> [StoredSnapshot] {
        guard case .snapshots(let list) = try call(.listSnapshots) else { throw unexpected("list-snapshots") }
        return list
    }

    /// Sends a request whose reply carries nothing.
    public func perform(_ request: Request) throws {
        guard case .done = try call(request) else { throw unexpected(request.name) }
    }

    private func unexpected(_ request: String) -> ProtocolError {
        .invalidField(message: "reply", field: "kind", found: "another reply", expected: "the reply to \(request)")
    }
}
