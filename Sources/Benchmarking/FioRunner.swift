import Foundation

/// Runs `fio` (when installed) with the same engine, file, block size and queue depth as our own
/// measurement, so that every I/O figure comes with the ratio to an independent tool.
public struct FioRunner: Sendable {
    public let executable: String

    /// Finds `fio` on PATH; nil when it is not installed.
    public init?() {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        guard let found = path.split(separator: ":").map({ "\($0)/fio" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        executable = found
    }

    public enum FioError: Error, CustomStringConvertible {
        case failed(status: Int32, output: String)
        case unreadable(String)

        public var description: String {
            switch self {
            case .failed(let status, let output): "fio exited with status \(status): \(output.suffix(400))"
            case .unreadable(let why): "fio's JSON output could not be read: \(why)"
            }
        }
    }

    /// Sequential bandwidth in bytes per second over `size` bytes of `file`.
    public func sequentialBandwidth(file: String, write: Bool, size: Int, blockSize: Int, queueDepth: Int,
                                    direct: Bool) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--name=smartinf", "--filename=\(file)", "--ioengine=io_uring", "--direct=\(direct ? 1 : 0)",
            "--rw=\(write ? "write" : "read")", "--bs=\(blockSize)", "--iodepth=\(queueDepth)", "--size=\(size)",
            "--end_fsync=\(write ? 1 : 0)", "--fixedbufs=1", "--output-format=json",
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FioError.failed(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
        }
        // fio may print notes before the JSON document.
        guard let start = data.firstIndex(of: UInt8(ascii: "{")) else { throw FioError.unreadable("no JSON object") }
        guard let json = try JSONSerialization.jsonObject(with: data[start...]) as? [String: Any],
              let jobs = json["jobs"] as? [[String: Any]], let job = jobs.first,
              let side = job[write ? "write" : "read"] as? [String: Any],
              let bandwidth = (side["bw_bytes"] as? NSNumber)?.doubleValue else {
            throw FioError.unreadable("no jobs[0].\(write ? "write" : "read").bw_bytes")
        }
        return bandwidth
    }
}
