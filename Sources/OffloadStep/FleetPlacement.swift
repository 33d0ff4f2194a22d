import DeviceProtocol
import Foundation
import Logging
import Offload
import OffloadVocabulary

/// Where a run's devices are and how they are started: what the trainer's flags (`--devices`,
/// `--ssd-dir`, `--dram`, `--attach`, …) and the C ABI's create call both describe, turned into
/// the fleet's backend in one place.
public struct FleetPlacement: Sendable {
    public var mode: OffloadMode
    public var devices: Int
    public var ssdDirectory: String
    /// Each device's DRAM (or, in base mode, the host's staging memory per stripe).
    public var dramBytes: Int
    public var deviceThreads: Int
    /// Sockets of devices someone else started (empty: start our own).
    public var attach: [String]
    /// Seconds a device may take to answer one request before it is reported as failed.
    public var deviceTimeout: Double
    /// The `smartssd` executable; nil finds it next to the running program.
    public var executable: String?
    /// Extra `smartssd` flags per device index (injected faults, the paced clock's table).
    public var deviceArguments: [Int: [String]]
    /// Paces in-process engine i under the paced clock (base mode; empty: no pacing).
    public var inProcessPacers: [OperationPacer]
    /// The level device processes log at (`--log-level`): the host's own.
    public var deviceLogLevel: Logger.Level

    public init(mode: OffloadMode, devices: Int, ssdDirectory: String, dramBytes: Int, deviceThreads: Int = 1,
                attach: [String] = [], deviceTimeout: Double = 600, executable: String? = nil,
                deviceArguments: [Int: [String]] = [:], inProcessPacers: [OperationPacer] = [], deviceLogLevel: Logger.Level = .info) {
        self.mode = mode
        self.devices = devices
        self.ssdDirectory = ssdDirectory
        self.dramBytes = dramBytes
        self.deviceThreads = deviceThreads
        self.attach = attach
        self.deviceTimeout = deviceTimeout
        self.executable = executable
        self.deviceArguments = deviceArguments
        self.inProcessPacers = inProcessPacers
        self.deviceLogLevel = deviceLogLevel
    }

    /// Refuses a placement that cannot work, naming the setting (`flag` spells each one as the
    /// caller's user knows it).
    public func validate(flag: (String) -> String = { "--\($0)" }) throws(OffloadStepError) {
        guard devices >= 1 else { throw .badSetting("\(flag("devices")) must be at least 1, got \(devices)") }
        if !attach.isEmpty && attach.count != devices {
            throw .badSetting("\(flag("attach")) names \(attach.count) socket(s) but \(flag("devices")) is \(devices)")
        }
        if !attach.isEmpty && mode == .base {
            throw .badSetting("\(flag("attach")) needs an offload mode (su, su+o, su+o+c); base updates on the host")
        }
    }

    /// The backend: in-process engines (base), attached devices, or `smartssd` processes.
    public var backend: FleetBackend {
        if mode == .base {
            return .inProcess(count: devices, directory: ssdDirectory, dramBytes: dramBytes, threads: deviceThreads,
                              buffered: false, pacers: inProcessPacers)
        }
        if !attach.isEmpty { return .attach(attach, timeout: deviceTimeout) }
        return .launch(DeviceProcesses.Options(count: devices, directory: ssdDirectory, dram: "\(dramBytes)", threads: deviceThreads,
                                               extraArguments: deviceArguments, executable: executable,
                                               logLevel: deviceLogLevel),
                       timeout: deviceTimeout)
    }

    /// A new run starts its devices on fresh SSD files: removes the ones it would use, and only
    /// those, with their snapshots (attached devices keep theirs).
    public func removeStaleDeviceFiles() {
        guard attach.isEmpty else { return }
        for i in 0..<devices {
            for name in ["device-\(i).ssd", "base-\(i).ssd"] {
                let path = "\(ssdDirectory)/\(name)"
                try? FileManager.default.removeItem(atPath: path)
                try? FileManager.default.removeItem(atPath: SnapshotStore(ssdPath: path).directory)
            }
        }
    }
}

/// A setting of an offloaded optimizer that cannot work, with what was expected.
public enum OffloadStepError: Error, Equatable, CustomStringConvertible {
    case badSetting(String)

    public var description: String {
        switch self {
        case .badSetting(let detail): detail
        }
    }
}
