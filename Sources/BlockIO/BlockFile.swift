import CPosix
import Glibc

/// An open file or block device used as an emulated SSD, with direct I/O by default.
///
/// Direct I/O (O_DIRECT) bypasses the page cache, so what we measure and what survives a crash is
/// what the disk holds. Filesystems that refuse it (tmpfs) get a clear error telling the user to
/// choose buffered mode: we never fall back silently, since that would change every figure.
public final class BlockFile: Sendable {
    public enum Mode: String, Sendable {
        case direct
        case buffered
    }

    /// The alignment O_DIRECT requires of offsets, lengths and memory on the disks we target.
    public static var directAlignment: Int { 4096 }

    public let path: String
    public let mode: Mode
    public let isBlockDevice: Bool
    let descriptor: Int32

    /// Opens `path` for reading and writing, creating a regular file if `create` is set.
    public init(path: String, mode: Mode = .direct, create: Bool = false) throws(BlockIOError) {
        let flags = O_RDWR | (create ? O_CREAT : 0)
        let fd = si_open(path, flags, mode == .direct ? 1 : 0, 0o644)
        guard fd >= 0 else {
            let code = si_errno()
            if code == EINVAL && mode == .direct {
                throw BlockIOError(.open, path: path, code: code,
                                   detail: "the filesystem refuses direct I/O (O_DIRECT; tmpfs does); put the SSD file on a disk-backed filesystem or choose buffered mode with --buffered")
            }
            throw BlockIOError(.open, path: path, code: code)
        }
        self.path = path
        self.mode = mode
        self.descriptor = fd
        self.isBlockDevice = si_is_block_device(fd) != 0
    }

    deinit { close(descriptor) }

    /// The current size in bytes (for a block device, its capacity).
    public func size() throws(BlockIOError) -> Int {
        let bytes = si_file_size(descriptor)
        guard bytes >= 0 else { throw BlockIOError(.size, path: path, code: Int32(-bytes)) }
        return Int(bytes)
    }

    /// Reserves `length` bytes from `offset` on disk (fallocate), so that later writes cannot
    /// fail for lack of space. Block devices already have their capacity.
    public func allocate(offset: Int = 0, length: Int) throws(BlockIOError) {
        guard !isBlockDevice else { return }
        let result = si_fallocate(descriptor, Int64(offset), Int64(length))
        guard result == 0 else {
            throw BlockIOError(.allocate, path: path, offset: offset, code: Int32(-result),
                               detail: "could not reserve \(length) bytes")
        }
    }

    /// Flushes written data to stable storage (fdatasync): the ordering point for journals.
    public func sync() throws(BlockIOError) {
        guard fdatasync(descriptor) == 0 else { throw BlockIOError(.sync, path: path, code: errno) }
    }
}
