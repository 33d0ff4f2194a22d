import ArgumentParser
import Foundation
import Logging

/// `--log-level`, for every command that logs: `smartssd`, and `smartinf train`, `soak`,
/// `bench device` and `bench clock`.
public struct LogLevelOption: ParsableArguments {
    @Option(name: .customLong("log-level"),
            help: "The least severe log lines printed: trace, debug, info, notice, warning, error or critical. At debug and trace each line also shows its level and metadata.")
    public var level: Logger.Level = .info

    public init() {}

    /// Sends every `Logger` of this process to a `ConsoleLogHandler` at the chosen level, each
    /// line led by `prefix`. Once per process (swift-log allows one bootstrap): the command's
    /// `run()` calls it before it logs.
    public func bootstrap(prefix: String = "") {
        let level = level
        LoggingSystem.bootstrap { _ in ConsoleLogHandler(prefix: prefix, logLevel: level) }
    }
}

/// `--log-level trace|debug|…`: refused by the argument parser with the valid levels.
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Prints log lines on standard error as the project always has: the message alone, after the
/// process's prefix (`smartssd[device-0]: opened …`; none for `smartinf`), so that the default
/// output reads the same as before swift-log and scripts that read it keep working. At `debug`
/// and `trace` — where a person is looking at why something happens — a line also says its
/// level and carries its metadata (device, step, subgroup), sorted by key:
/// `smartssd[device-0]: debug: step 3: … [device=0 step=3]`.
///
/// Each line goes out in one `write`, so lines of different threads (and, through the
/// trainer's passthrough, of different device processes) never interleave mid-line.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let prefix: String

    public init(prefix: String, logLevel: Logger.Level) {
        self.prefix = prefix
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        FileHandle.standardError.write(Data((line(event) + "\n").utf8))
    }

    /// The line `event` prints as (without its newline).
    func line(_ event: LogEvent) -> String {
        guard logLevel <= .debug else { return prefix + event.message.description }
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let given = event.metadata { all.merge(given) { $1 } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return prefix + "\(event.level): \(event.message)" + (fields.isEmpty ? "" : " [\(fields.joined(separator: " "))]")
    }
}
