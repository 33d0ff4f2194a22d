import CPosix
import Glibc
import Synchronization

/// A failure of the connection itself (as opposed to a bad message on it).
public enum ConnectionError: Error, Equatable, CustomStringConvertible {
    case closed
    case closedMidMessage(receivedBytes: Int, expectedBytes: Int)
    case timedOut(operation: String)
    case system(operation: String, path: String, code: Int32)
    case pathTooLong(String)
    case insecureDirectory(String)

    public var description: String {
        switch self {
        case .closed: "the peer closed the connection"
        case .closedMidMessage(let got, let want): "the peer closed the connection in the middle of a message (\(got) of \(want) bytes)"
        case .timedOut(let op): "timed out waiting to \(op)"
        case .system(let op, let path, let code): "\(op) \(path) failed: \(String(cString: strerror(code)))"
        case .pathTooLong(let p): "socket path '\(p)' is longer than the 107 bytes a Unix socket address holds"
        case .insecureDirectory(let d):
            "socket directory '\(d)' is writable by other users; use a directory only you can write (mode 0700)"
        }
    }
}

/// One end of a Unix stream socket carrying `Frame`s.
public final class FramedSocket: Sendable {
    public let descriptor: Int32
    private let sent = Atomic<Int>(0)
    private let received = Atomic<Int>(0)

    /// Bytes of whole frames this end has sent and received: what the connection moved over
    /// the host link (the shared-link traffic benchmarks report).
    public var bytesSent: Int { sent.load(ordering: .relaxed) }
    public var bytesReceived: Int { received.load(ordering: .relaxed) }

    public init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }

    /// Connects to a listening device.
    public static func connect(path: String) throws(ConnectionError) -> FramedSocket {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(operation: "socket for", path: path, code: errno) }
        let socket = FramedSocket(descriptor: fd)
        try withAddress(path) { address, length throws(ConnectionError) in
            guard Glibc.connect(fd, address, length) == 0 else { throw .system(operation: "connect to", path: path, code: errno) }
        }
        return socket
    }

    /// Gives up on a read or write that makes no progress for `seconds` (0 = wait forever), so
    /// that a peer that stalls mid-message cannot hold the other end hostage.
    public func setTimeout(seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ frame: Frame) throws(ConnectionError) {
        let bytes = frame.encoded()
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .timedOut(operation: "send a message") }
                throw .system(operation: "send on", path: "socket", code: errno)
            }
            sent += n
        }
        self.sent.add(bytes.count, ordering: .relaxed)
    }

    /// Receives one frame. Connection failures throw `ConnectionError`; a frame that arrives
    /// whole but is malformed throws `ProtocolError` (the stream is then out of step, and the
    /// caller should answer and close).
    public func receive() throws -> Frame {
        let head = try read(Frame.headerBytes, allowCleanClose: true)
        let header = try Frame.decodeHeader(head)
        let body = try read(header.bodyBytes, allowCleanClose: false, alreadyReceived: Frame.headerBytes)
        let trailer = try read(Frame.trailerBytes, allowCleanClose: false, alreadyReceived: Frame.headerBytes + header.bodyBytes)
        received.add(head.count + body.count + trailer.count, ordering: .relaxed)
        return try Frame.decode(header: header, headerBytes: head, body: body, trailer: trailer)
    }

    private func read(_ count: Int, allowCleanClose: Bool, alreadyReceived: Int = 0) throws(ConnectionError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + got, count - got, 0) }
            if n == 0 {
                if allowCleanClose && got == 0 { throw .closed }
                throw .closedMidMessage(receivedBytes: alreadyReceived + got, expectedBytes: alreadyReceived + count)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .timedOut(operation: "receive a message") }
                throw .system(operation: "receive on", path: "socket", code: errno)
            }
            got += n
        }
        return buffer
    }
}

/// A listening Unix socket that only the user who started it can use.
///
/// The socket's directory is created with mode 0700 if missing (an existing directory must not
/// be writable by others), the socket file gets mode 0600, and every connection's peer
/// credentials are checked: a process of another user is turned away before it can send a byte.
public final class SocketListener: Sendable {
    public let path: String
    let descriptor: Int32

    /// Binds `path` (removing a stale socket file left by a dead device) and listens.
    public init(path: String) throws(ConnectionError) {
        self.path = path
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var dirStat = stat()
        if stat(directory.isEmpty ? "/" : directory, &dirStat) != 0 {
            guard mkdir(directory, 0o700) == 0 else { throw .system(operation: "create the socket directory", path: directory, code: errno) }
        } else if dirStat.st_mode & 0o022 != 0 && dirStat.st_mode & S_ISVTX == 0 {
            throw .insecureDirectory(directory)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(operation: "socket for", path: path, code: errno) }
        descriptor = fd
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let previous = umask(0o077)
        defer { umask(previous) }
        try withAddress(path) { address, length throws(ConnectionError) in
            guard bind(fd, address, length) == 0 else { throw .system(operation: "bind", path: path, code: errno) }
        }
        guard listen(fd, 16) == 0 else { throw .system(operation: "listen on", path: path, code: errno) }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// Wakes a thread blocked in `accept` (which then throws): used to stop serving.
    public func interrupt() { shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// Waits for the next connection from a process of this user (others are closed at once).
    public func accept() throws(ConnectionError) -> FramedSocket {
        while true {
            let fd = Glibc.accept(descriptor, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                guard si_peer_uid(fd) == Int64(getuid()) else {
                    close(fd)
                    continue
                }
                return FramedSocket(descriptor: fd)
            }
            if errno == EINTR { continue }
            throw .system(operation: "accept on", path: path, code: errno)
        }
    }
}

private func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(ConnectionError) -> R)
    throws(ConnectionError) -> R {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard bytes.count < capacity else { throw .pathTooLong(path) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return try withUnsafePointer(to: &address) { pointer throws(ConnectionError) in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(ConnectionError) in
            try body(sa, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
}
