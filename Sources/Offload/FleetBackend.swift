import OffloadVocabulary
import Optim
import DeviceProtocol
import Foundation
import Logging
import SmartSSD

/// Where a fleet's update engines live.
public enum FleetBackend: Sendable {
    /// Start `smartssd` processes (su, su+o, su+o+c); a device silent for `timeout` seconds in
    /// a call (0: no limit) is reported as failed.
    case launch(DeviceProcesses.Options, timeout: Double = 0)
    /// Use devices someone else started, by socket path.
    case attach([String], timeout: Double = 0)
    /// Engines in the host process over plain SSD files in `directory` (base): the host's CPU does
    /// the update and the host's io_uring moves gradients and states, as in ZeRO-Infinity.
    /// `pacers[i]` paces engine i under the paced clock (empty: no pacing).
    case inProcess(count: Int, directory: String, dramBytes: Int, threads: Int, buffered: Bool, pacers: [OperationPacer] = [])
}

extension DeviceFleet {
    /// Brings up the backend, then configures the fleet and loads or checks its states (`start`).
    /// `logger` is the host's log, and that of the engines of an in-process backend (with their
    /// `device` number); device processes print their own (`DeviceProcesses.Options.logLevel`).
    public static func start(_ backend: FleetBackend, partition: Partition, configuration: Configuration,
                             start: DeviceFleet.Start, directory: String,
                             logger: Logger = Logger(label: "smartinf.fleet", factory: SwiftLogNoOpLogHandler.init)) throws -> DeviceFleet {
        switch backend {
        case .launch(let options, let timeout):
            let processes = try DeviceProcesses(options)
            let links: [DeviceLink] = try processes.socketPaths.enumerated().map { i, path in
                try DeviceFleet.connect(i, path, timeout: timeout)
            }
            let fleet = try DeviceFleet(links: links, names: processes.socketPaths, partition: partition, configuration: configuration,
                                        start: start, directory: directory, processes: processes, logger: logger)
            fleet.timeout = timeout
            return fleet
        case .attach(let sockets, let timeout):
            let links: [DeviceLink] = try sockets.enumerated().map { i, path in try DeviceFleet.connect(i, path, timeout: timeout) }
            let fleet = try DeviceFleet(links: links, names: sockets, partition: partition, configuration: configuration,
                                        start: start, directory: directory, logger: logger)
            fleet.timeout = timeout
            return fleet
        case .inProcess(let count, let dir, let dram, let threads, let buffered, let pacers):
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let names = (0..<count).map { "\(dir)/base-\($0).ssd" }
            let links: [DeviceLink] = try names.enumerated().map { i, path in
                var engineLogger = logger
                engineLogger[metadataKey: "device"] = "\(i)"
                do {
                    return InProcessDevice(try DeviceEngine(DeviceEngine.Options(
                        deviceName: "base", ssdPath: path, capacityBytes: 1 << 40, dramBytes: dram, threads: threads,
                        ioMode: buffered ? .buffered : .direct, pacer: pacers.indices.contains(i) ? pacers[i] : nil), logger: engineLogger))
                } catch {
                    throw FleetError.device(i, path, error, exitStatus: nil)
                }
            }
            return try DeviceFleet(links: links, names: names, partition: partition, configuration: configuration,
                                   start: start, directory: directory, logger: logger)
        }
    }
}
