import Glibc

/// A failed storage operation, naming the file, the operation, the byte offset where it
/// applies, and the system's reason.
public struct BlockIOError: Error, Equatable, CustomStringConvertible {
    public enum Operation: String, Sendable {
        case open
        case read
        case write
        case sync
        case allocate
        case size
        case lock
        case ringSetup = "io_uring setup"
        case registerBuffers = "io_uring buffer registration"
        case submit = "io_uring submit"
    }

    public var operation: Operation
    public var path: String
    public var offset: Int?
    /// The errno value (positive), or 0 when the failure is not a system error.
    public var code: Int32
    /// Extra words for the user: what to do about it, or what was expected.
    public var detail: String?

    public init(_ operation: Operation, path: String, offset: Int? = nil, code: Int32, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.offset = offset
        self.code = code
        self.detail = detail
    }

    /// The symbolic errno name (EIO, ENOSPC, …) where we know it.
    public var codeName: String {
        switch code {
        case EIO: "EIO"
        case ENOSPC: "ENOSPC"
        case EINVAL: "EINVAL"
        case ENOENT: "ENOENT"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EBADF: "EBADF"
        case EFAULT: "EFAULT"
        case EAGAIN: "EAGAIN"
        case EROFS: "EROFS"
        case EISDIR: "EISDIR"
        case ENOMEM: "ENOMEM"
        case EFBIG: "EFBIG"
        case ENOSYS: "ENOSYS"
        case EOPNOTSUPP: "EOPNOTSUPP"
        default: "errno \(code)"
        }
    }

    public var description: String {
        var text = "\(operation.rawValue) of \(path)"
        if let offset { text += " at offset \(offset)" }
        text += " failed"
        if code != 0 { text += ": \(String(cString: strerror(code))) (\(codeName))" }
        if let detail { text += "; \(detail)" }
        return text
    }
}
