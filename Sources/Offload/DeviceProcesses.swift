import DeviceProtocol
import Foundation
import Logging
import Threading

/// Starts and watches `smartssd` processes, one per device, each with its own SSD file and socket
/// in a directory of the trainer's.
///
/// Used by one thread (the fleet's); each process's termination handler and its log drains
/// report to `watch`, where that thread waits for them, so waiting for a device to exit is a
/// wait for its exit, not a poll.
public final class DeviceProcesses {
    public struct Options: Sendable {
        public var count: Int
        public var directory: String
        public var dram: String
        public var threads: Int
        public var buffered: Bool
        /// Extra flags per device index (e.g. a fault to inject into one device).
        public var extraArguments: [Int: [String]]
        /// The `smartssd` executable; nil finds it next to the running program.
        public var executable: String?
        /// The devices' `--log-level`: the host's own, so that one flag sets what the whole run
        /// prints.
        public var logLevel: Logger.Level

        public init(count: Int, directory: String, dram: String = "1GiB", threads: Int = 1, buffered: Bool = false,
                    extraArguments: [Int: [String]] = [:], executable: String? = nil, logLevel: Logger.Level = .info) {
            self.count = count
            self.directory = directory
            self.dram = dram
            self.threads = threads
            self.buffered = buffered
            self.extraArguments = extraArguments
            self.executable = executable
            self.logLevel = logLevel
        }
    }

    public enum LaunchError: Error, CustomStringConvertible {
        case executableNotFound([String])
        case exitedBeforeServing(device: Int, status: Int32, stderr: String)

        public var description: String {
            switch self {
            case .executableNotFound(let tried): "cannot find the smartssd executable (looked for \(tried.joined(separator: ", ")))"
            case .exitedBeforeServing(let i, let status, let stderr):
                "device \(i) (smartssd) exited with status \(status) before serving: \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
            }
        }
    }

    public let options: Options
    public private(set) var processes: [Process] = []
    public let socketPaths: [String]
    public let ssdPaths: [String]
    private let watch: Monitor<Watch>

    /// What the processes' termination handlers and log drains report.
    private struct Watch {
        /// Per device: its current process has exited (set by that process's termination handler).
        var exited: [Bool]
        /// Device log pipes not yet closed (each drain closes its pipe at end of file).
        var openLogs = 0
    }

    /// Launches every device and waits until each one serves.
    public init(_ options: Options) throws {
        self.options = options
        watch = Monitor(Watch(exited: Array(repeating: true, count: options.count)))
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        socketPaths = (0..<options.count).map { "\(options.directory)/device-\($0).sock" }
        ssdPaths = (0..<options.count).map { "\(options.directory)/device-\($0).ssd" }
        let executable = try Self.locate(options.executable)
        for i in 0..<options.count {
            processes.append(try launch(i, executable: executable))
        }
    }

    deinit { terminate() }

    /// Stops every device still running — SIGTERM, then SIGKILL after `grace` seconds — and
    /// waits until each has exited. (Devices normally stop on a shutdown request; this is the
    /// fallback.)
    public func terminate(grace: Double = 2) {
        let running = processes.indices.filter { i in !watch.withLock { $0.exited[i] } }
        running.forEach { kill(processes[$0].processIdentifier, SIGTERM) }
        let allExited = { (w: Watch) in running.allSatisfy { w.exited[$0] } }
        guard !watch.wait(until: allExited, deadline: .now + .seconds(grace)) else { return }
        for i in running where !watch.withLock({ $0.exited[i] }) { kill(processes[i].processIdentifier, SIGKILL) }
        watch.wait(until: allExited)
    }

    /// Kills device `i` if it still runs (a hung or failing device) and starts it again on the
    /// same SSD file and socket, without its `--fault` (an injected fault fires once per run).
    public func restart(_ i: Int) throws {
        if !watch.withLock({ $0.exited[i] }) { kill(processes[i].processIdentifier, SIGKILL) }
        // Also for a device that died on its own: its socket path is free only once it is gone.
        watch.wait { $0.exited[i] }
        try? FileManager.default.removeItem(atPath: socketPaths[i])
        var extra = options.extraArguments[i] ?? []
        if let at = extra.firstIndex(of: "--fault"), at + 1 < extra.count { extra.removeSubrange(at...(at + 1)) }
        processes[i] = try launch(i, executable: try Self.locate(options.executable), extraArguments: extra)
    }

    /// Device `i`'s process id while it runs.
    public func processIdentifier(_ i: Int) -> Int32? {
        guard processes.indices.contains(i), !watch.withLock({ $0.exited[i] }) else { return nil }
        return processes[i].processIdentifier
    }

    /// Whether device `i` is alive, and its exit status if not.
    public func exitStatus(_ i: Int) -> Int32? { watch.withLock { $0.exited[i] } ? processes[i].terminationStatus : nil }

    private func launch(_ i: Int, executable: String, extraArguments: [String]? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = ["--ssd", ssdPaths[i], "--socket", socketPaths[i], "--dram", options.dram, "--capacity", "1TiB",
                         "--threads", "\(options.threads)", "--name", "device-\(i)", "--fleet-index", "\(i)",
                         "--log-level", options.logLevel.rawValue, "--exit-with-parent"]
        if options.buffered { arguments.append("--buffered") }
        arguments += extraArguments ?? options.extraArguments[i] ?? []
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let watch = self.watch
        // Foundation calls it on a thread of its own once it has reaped the process.
        process.terminationHandler = { _ in watch.change { $0.exited[i] = true } }
        watch.withLock { $0.exited[i] = false }
        do { try process.run() } catch {
            watch.withLock { $0.exited[i] = true }
            throw error
        }
        try Self.waitUntilServing(process, stdout: out, stderr: err, device: i)
        // Keep draining the device's log so it never blocks on a full pipe; pass it through as
        // it is: the device prints its own lines at the level it was given (`logLevel`), so the
        // host does not log them again (it could only guess their levels, and would filter them
        // twice). Drained by threads that end, and close the pipe, when the device exits: a
        // restarted device leaves no descriptors behind. (Foundation's readability handlers
        // cannot be torn down from inside themselves.)
        drain(err.fileHandleForReading, into: FileHandle.standardError)
        drain(out.fileHandleForReading, into: nil)
        return process
    }

    /// Reads `pipe` until end of file, passing what arrives to `sink` (or dropping it), then
    /// closes it and says so to `watch`.
    private func drain(_ pipe: FileHandle, into sink: FileHandle?) {
        let watch = self.watch
        watch.withLock { $0.openLogs += 1 }
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(pipe.fileDescriptor, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                sink?.write(Data(buffer[0..<n]))
            }
            try? pipe.close()
            watch.change { $0.openLogs -= 1 }
        }
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Waits up to `grace` seconds for every device to exit on its own (after a shutdown
    /// request), then stops the rest (`terminate`). Then waits, for up to `grace` seconds more,
    /// until the devices' log pipes are closed: each drain sees its end of file once its device
    /// has exited (bounded all the same, so that nothing else holding a pipe open, such as a
    /// device's own child, could hold up the host's shutdown).
    public func waitForExit(grace: Double = 2) {
        _ = watch.wait(until: { $0.exited.allSatisfy { $0 } }, deadline: .now + .seconds(grace))
        terminate()
        _ = watch.wait(until: { $0.openLogs == 0 }, deadline: .now + .seconds(grace))
    }

    /// Waits for a started `smartssd` to print its ready line; throws with its exit status and
    /// log if it exits first.
    public static func waitUntilServing(_ process: Process, stdout: Pipe, stderr: Pipe, device: Int) throws {
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                throw LaunchError.exitedBeforeServing(device: device, status: process.terminationStatus,
                                                      stderr: String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
            }
            line.append(chunk)
        }
    }

    private static func locate(_ explicit: String?) throws -> String {
        var candidates: [String] = []
        if let explicit { candidates.append(explicit) }
        // A program embedding the library (python3 through libsmartinfinity) may have no argv.
        if let program = CommandLine.arguments.first {
            candidates.append(URL(fileURLWithPath: program).deletingLastPathComponent().appendingPathComponent("smartssd").path)
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(dir)/smartssd")
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw LaunchError.executableNotFound(Array(candidates.prefix(3)))
        }
        return found
    }
}
