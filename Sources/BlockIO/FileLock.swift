import CPosix
import Glibc

/// One owner per emulated SSD: an exclusive `flock` on the open file.
///
/// Two devices writing one SSD file would each trust a journal the other rewrites, and each
/// would overwrite the state slots the other's journal names as committed; nothing on the disk
/// could tell afterwards which bytes belong to which step. The lock makes the second opener fail
/// at once instead.
///
/// Why `flock` and not a POSIX (`fcntl`) lock:
/// - A classic POSIX lock belongs to the *process*: a second open of the file in the same
///   process (two in-process devices of a base-mode run pointed at one file) would not conflict,
///   and closing *any* descriptor of the file drops the lock silently. `flock` belongs to the
///   open file description, so a second open conflicts even in the same process.
/// - The kernel drops it when the last reference to that description goes, which includes
///   every way a process ends (SIGKILL too). That last reference may outlive the process by a
///   moment: an io_uring instance holds the files of its requests, and the kernel tears a dead
///   process's rings down in a work queue after the process has been reaped. /proc/locks then
///   still names the ended pid. So a lock whose holder has ended is waited for (briefly), and
///   only a live holder is refused at once: a device restarted right after a crash opens its SSD.
/// - Across fork a child shares the description and so the lock; the SSD is opened O_CLOEXEC,
///   so a program the device executes does not inherit it.
/// - Open-file-description `fcntl` locks (F_OFD_SETLK) would share these properties, but the
///   kernel reports no owner for them (F_OFD_GETLK and /proc/locks give pid −1), while a
///   `flock`'s line in /proc/locks names the pid that took it, so a refusal can name the holder.
/// - Over NFS, Linux emulates `flock` with a whole-file byte-range lock; device files are local.
extension BlockFile {
    /// The result of `lockExclusively()`.
    public enum LockOutcome: Sendable, Equatable {
        case acquired
        /// Another open of the file holds the lock: the pid of the process that took it, nil
        /// when the kernel's lock table does not say (it is in another pid namespace, or it let
        /// go between our attempt and our look).
        case held(by: Int32?)
    }

    /// Takes an exclusive lock on the file. It lasts until this file is closed. A live holder is
    /// reported at once; a holder that has ended (or that the lock table no longer names) is
    /// waited for up to `release`, the time the kernel may take to drop a dead process's files.
    public func lockExclusively(release: Duration = .seconds(10)) throws(BlockIOError) -> LockOutcome {
        let clock = ContinuousClock()
        let deadline = clock.now + release
        while true {
            let result = si_lock_exclusive(descriptor)
            if result == 0 { return .acquired }
            guard -result == EWOULDBLOCK else { throw BlockIOError(.lock, path: path, code: -result) }
            let holder = lockHolder()
            if let holder, Self.isRunning(holder) { return .held(by: holder) }
            if clock.now >= deadline { return .held(by: holder) }
            usleep(10_000)
        }
    }

    /// Whether `pid` names a process that has not ended: it exists and is not a zombie (a zombie
    /// has closed its files; what still holds them is the kernel's clean-up).
    private static func isRunning(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        guard let stat = readWhole("/proc/\(pid)/stat") else { return true }
        // "pid (comm) S ...": the state follows the last ')', as comm may hold spaces and parentheses.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }

    /// The pid /proc/locks gives for the `flock` on this file.
    private func lockHolder() -> Int32? {
        var major: UInt32 = 0, minor: UInt32 = 0, inode: UInt64 = 0
        guard si_file_identity(descriptor, &major, &minor, &inode) == 0, let table = Self.readWhole("/proc/locks") else { return nil }
        // Each line: "ID: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE START END", with MAJ and MIN in
        // hex; a blocked waiter's line has "->" after the ID, and we never wait.
        let wanted = String(major, radix: 16).leftPadded(to: 2) + ":" + String(minor, radix: 16).leftPadded(to: 2) + ":\(inode)"
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == wanted, let pid = Int32(fields[4]), pid > 0 else { continue }
            return pid
        }
        return nil
    }

    /// The text of a /proc file (the kernel's table of locks, a process's state), nil if it
    /// cannot be opened.
    private static func readWhole(_ procPath: String) -> String? {
        let fd = open(procPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
