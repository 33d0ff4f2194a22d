import Foundation

/// Peak resident memory of a process (Linux `VmHWM`), for the bigger-than-RAM report: the host
/// and every device must stay far below what the model's optimizer state would need.
public enum ProcessMemory {
    /// Bytes, or nil if the process is gone or /proc cannot be read.
    public static func peakResidentBytes(pid: Int32? = nil) -> Int? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
