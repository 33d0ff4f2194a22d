import DeviceProtocol
import SmartSSD

/// A fleet-level failure, naming the device.
public enum FleetError: Error, CustomStringConvertible {
    case incompatible(device: Int, detail: String)
    /// Device `device` failed: `failure` is what the host decides on (retry, stop, resume from a
    /// checkpoint); `detail` says the same in words, for people only.
    case deviceFailed(device: Int, socket: String, failure: DeviceFailure, detail: String)
    /// A checkpoint file of the fleet's own (error-feedback residuals) that cannot be used.
    case checkpoint(path: String, detail: String)

    public var description: String {
        switch self {
        case .incompatible(let i, let detail): "device \(i) is incompatible: it \(detail)"
        case .deviceFailed(let i, let socket, _, let detail): "device \(i) (\(socket)) failed: \(detail)"
        case .checkpoint(let path, let detail): "\(path): \(detail)"
        }
    }

    /// How the device failed, for a device failure.
    public var failure: DeviceFailure? {
        guard case .deviceFailed(_, _, let failure, _) = self else { return nil }
        return failure
    }
}

/// How a device failed, in the terms the host decides on: an error reply by its code, a link that
/// failed without a reply by how it failed. Never by the words of a message, which may change.
public enum DeviceFailure: Sendable, Equatable {
    /// The device answered with an error reply (the table at `Reply.ErrorCode`).
    case refused(Reply.ErrorCode)
    /// No reply came: the device process or its connection is gone, or it fell silent.
    case transport(Transport)
    /// The device's answer broke the protocol: a frame or reply that does not decode, or the
    /// reply to another request.
    case malformedReply
    /// The host's own part of the device's work failed: writing payloads into the device's
    /// gradient region, its scratch and shared-memory files, starting its process.
    case host
    /// The device's subgroups hold committed steps other than the one the fleet resumes or
    /// recovers at (a different run's states, or states lost).
    case unexpectedSteps([Int])

    public enum Transport: Sendable, Equatable {
        /// The device process exited, or exited before it served, with this status.
        case exited(status: Int32)
        /// The connection closed or failed during a call (while a device process the fleet
        /// started still ran: it may yet exit).
        case disconnected
        /// The device did not answer within the fleet's timeout.
        case timedOut
        /// No connection could be made to the device's socket.
        case unreachable
    }
}

extension FleetError {
    /// What a call to device `i` (socket `name`) threw, as a device failure: the device's own
    /// refusal by its code; without a reply, the process's exit (`exitStatus`, nil while it runs)
    /// before what the connection reported; anything else failed on the host's side.
    static func device(_ i: Int, _ name: String, _ error: Error, exitStatus: Int32?) -> FleetError {
        if let error = error as? FleetError { return error }
        func failed(_ failure: DeviceFailure, _ detail: String) -> FleetError {
            .deviceFailed(device: i, socket: name, failure: failure, detail: detail)
        }
        if let refusal = error as? DeviceReplyError { return failed(.refused(refusal.code), refusal.message) }
        // An in-process engine (the baseline's) refuses with the same codes a device process sends.
        if let refusal = error as? DeviceError { return failed(.refused(refusal.code), "\(refusal)") }
        if let launch = error as? DeviceProcesses.LaunchError {
            guard case .exitedBeforeServing(_, let status, _) = launch else { return failed(.host, "\(error)") }
            return failed(.transport(.exited(status: status)), "\(error)")
        }
        if let exitStatus {
            return failed(.transport(.exited(status: exitStatus)), "the device process exited with status \(exitStatus) (\(error))")
        }
        switch error {
        case ConnectionError.timedOut: return failed(.transport(.timedOut), "lost the connection (\(error))")
        case is ConnectionError: return failed(.transport(.disconnected), "lost the connection (\(error))")
        case is ProtocolError: return failed(.malformedReply, "\(error)")
        default: return failed(.host, "\(error)")
        }
    }

}
