import CPosix
import Foundation

/// Peak resident memory of a process (Linux `VmHWM`), for the bigger-than-RAM report: the host
/// and every device must stay far below what the model's optimizer state would need.
public enum ProcessMemory {
    /// Bytes, or nil if the process is gone or /proc cannot be read.
    public static func peakResidentBytes(pid: Int32? = nil) -> Int? { statusBytes("VmHWM:", pid: pid) }

    /// Current resident bytes (`VmRSS`), for leak checks over a long run.
    public static func residentBytes(pid: Int32? = nil) -> Int? { statusBytes("VmRSS:", pid: pid) }

    /// Bytes the C heap holds in live allocations (glibc `mallinfo2().uordblks`): unlike RSS, it
    /// does not count freed memory the allocator keeps, so growth here is live objects.
    public static var heapInUse: Int { Int(si_heap_in_use()) }

    /// Open file descriptors of this process.
    public static var openDescriptors: Int { descriptorTargets.count }

    /// What each open descriptor refers to (`socket:[123]`, a path, `pipe:[456]`), by number.
    public static var descriptorTargets: [Int: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        var targets: [Int: String] = [:]
        for name in names {
            guard let fd = Int(name) else { continue }
            targets[fd] = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) ?? "?"
        }
        return targets
    }

    private static func statusBytes(_ key: String, pid: Int32?) -> Int? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
