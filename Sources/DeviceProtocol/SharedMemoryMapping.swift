import Glibc

/// A file in shared memory mapped by both the host and a device: the host's "pinned" buffer that
/// a device writes each updated compute copy into, as the FPGA DMAs to host memory.
public final class SharedMemoryMapping: @unchecked Sendable {
    // Safe to share: its fields never change, and the bytes it maps are shared with another
    // process anyway; they are reached through `UploadDoorbell`'s atomics, or read once the
    // doorbell or the step's reply says the device has written them.
    public let path: String
    public let bytes: Int
    public let base: UnsafeMutableRawPointer

    public enum MappingError: Error, CustomStringConvertible {
        case failed(path: String, operation: String, code: Int32)
        case tooSmall(path: String, bytes: Int, needed: Int)

        public var description: String {
            switch self {
            case .failed(let path, let op, let code): "cannot \(op) \(path): \(String(cString: strerror(code)))"
            case .tooSmall(let path, let bytes, let needed): "\(path) holds \(bytes) bytes; \(needed) are needed"
            }
        }
    }

    /// Creates (or truncates) `path` to `bytes` zero bytes and maps it: the host's side.
    public static func create(path: String, bytes: Int) throws(MappingError) -> SharedMemoryMapping {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .failed(path: path, operation: "create", code: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(bytes)) == 0 else { throw .failed(path: path, operation: "size", code: errno) }
        return try SharedMemoryMapping(path: path, fd: fd, bytes: bytes)
    }

    /// Maps an existing file of at least `minimumBytes`: the device's side.
    public static func open(path: String, minimumBytes: Int) throws(MappingError) -> SharedMemoryMapping {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .failed(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .failed(path: path, operation: "stat", code: errno) }
        guard Int(st.st_size) >= minimumBytes else { throw .tooSmall(path: path, bytes: Int(st.st_size), needed: minimumBytes) }
        return try SharedMemoryMapping(path: path, fd: fd, bytes: Int(st.st_size))
    }

    private init(path: String, fd: Int32, bytes: Int) throws(MappingError) {
        guard let mapped = mmap(nil, max(bytes, 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw .failed(path: path, operation: "map", code: errno)
        }
        self.path = path
        self.bytes = bytes
        self.base = mapped
    }

    deinit { munmap(base, max(bytes, 1)) }
}
