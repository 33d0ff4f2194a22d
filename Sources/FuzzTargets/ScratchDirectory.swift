import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private directory for the readers that take a path: each input is written to one file in
/// it (in memory under /dev/shm when that is available), and the directory goes away with this
/// object.
final class ScratchDirectory {
    let path: String

    init(_ tag: String) throws {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NSTemporaryDirectory()
        Self.removeOrphans(in: base)
        path = "\(base)/smartinf-fuzz-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Removes the directories of fuzz processes that are gone: a crash, or libFuzzer's `exit`,
    /// ends a process without running this object's deinit.
    private static func removeOrphans(in base: String) {
        let prefix = "smartinf-fuzz-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: "\(base)/\(name)") }
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` as the whole content of `name` in the directory and returns its path.
    func write(_ bytes: [UInt8], to name: String) -> String {
        let file = "\(path)/\(name)"
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(descriptor >= 0, "cannot create the fuzz scratch file \(file): \(String(cString: strerror(errno)))")
        defer { close(descriptor) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, bytes.count - done) }
            precondition(n > 0 || errno == EINTR, "cannot write the fuzz scratch file \(file): \(String(cString: strerror(errno)))")
            if n > 0 { done += n }
        }
        return file
    }

    /// The bytes of `name` in the directory.
    func read(_ name: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(path)/\(name)")))) ?? []
    }
}
