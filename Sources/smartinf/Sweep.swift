import ArgumentParser
import Foundation
import HardwareModel
import OffloadVocabulary
import Optim
import Plan
import Report

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Model a grid of configurations and write one CSV row per point.",
        discussion: """
        The grid is presets × device counts × host counts × modes × top-k ratios × GPU, host and \
        device profiles. Each row holds the modeled seconds per phase, the iteration, the speedup \
        over base at the same model, devices, hosts and profiles, and the bytes on the shared \
        link, inside each device and over the network (each host's, with several). Feed the CSV \
        to `smartinf report`.
        """)

    @Option(help: "Model presets, comma-separated.") var presets: String = "gpt2-4.0b,gpt2-8.4b,gpt2-16.6b"
    @Option(help: "Device counts (each host's), comma-separated.") var devices: String = "1,2,4,6,8,10"
    @Option(help: "Host counts, comma-separated: hosts training together, optimizer states partitioned over them.")
    var hosts: String = "1"
    @Option(help: "Modes, comma-separated.") var modes: String = "base,su,su+o,su+o+c"
    @Option(help: "Top-k ratios for su+o+c, comma-separated.") var ratios: String = "0.01"
    @Option(help: "GPU profiles, comma-separated.") var gpus: String = "a5000"
    @Option(name: .customLong("host-profiles"), help: "Host profiles, comma-separated.") var hostProfiles: String = "hpca24-host"
    @Option(help: "Storage device profiles, comma-separated; a plain drive (no FPGA) gives base rows only.")
    var device: String = "smartssd"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a profile value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adamw
    @Option(help: "Write the CSV here.") var out: String
    @OptionGroup var output: JSONFlag

    func run() throws {
        let presetNames = try CommaList.strings(presets, flag: "--presets")
        let shapes = try presetNames.map { try ModelPreset.named($0).shape() }
        let deviceCounts = try CommaList.integers(devices, flag: "--devices", minimum: 1, maximum: IterationPlanner.maximumDevices)
        let modeList = try CommaList.values(modes, flag: "--modes", as: OffloadMode.self)
        let ratioList = try CommaList.doubles(ratios, flag: "--ratios", range: 1e-6...1)
        let hostCounts = try CommaList.integers(hosts, flag: "--hosts", minimum: 1, maximum: IterationPlanner.maximumHosts)
        let gpuList = try CommaList.strings(gpus, flag: "--gpus")
        let hostList = try CommaList.strings(hostProfiles, flag: "--host-profiles")
        let deviceList = try CommaList.strings(device, flag: "--device")
        let library = try ProfileLibrary.locate()
        let parsed = try overrides.map { (text) throws(ProfileError) in try ProfileOverride(parsing: text) }
        // SmartUpdate needs an FPGA: a plain drive runs base only.
        let deviceModes = try deviceList.map { name in
            try DeviceProfile(library.load(name)).fpga == nil ? modeList.filter { $0 == .base } : modeList
        }
        guard deviceModes.contains(where: { !$0.isEmpty }) else {
            throw ValidationError("--modes \(modes) on --device \(device): a plain drive (no fpga section) runs base only; add base to --modes")
        }

        // Base once per (model, devices, hosts, profiles); su+o+c once per ratio; the rest once.
        let total = shapes.count * deviceCounts.count * hostCounts.count * gpuList.count * hostList.count
            * deviceModes.flatMap { $0 }.reduce(0) { $0 + ($1 == .suOC ? ratioList.count : 1) }
        var rows: [StudyRow] = []
        var done = 0
        let started = ContinuousClock.now
        for host in hostList {
            for gpu in gpuList {
                for (device, modesOfDevice) in zip(deviceList, deviceModes) where !modesOfDevice.isEmpty {
                    let setup = try HardwareSetup(host: host, device: device, gpu: gpu, from: library, overrides: parsed)
                    for (name, shape) in zip(presetNames, shapes) {
                        let workload = try IterationWorkload(model: shape, optimizer: optimizer, topkRatio: ratioList[0])
                        for count in deviceCounts {
                            for hostCount in hostCounts {
                                let points = try StudyResult.grid(workload, modes: modesOfDevice, ratios: ratioList, devices: count,
                                                                  hosts: hostCount, on: setup) { r in
                                    done += 1
                                    if !output.json {
                                        FileHandle.standardError.write(Data(String(format: "\r[%d/%d] %@ %d devices × %d hosts %@ r=%g   ",
                                                                                   done, total, name, count, hostCount, r.mode.rawValue,
                                                                                   r.workload.topkRatio).utf8))
                                    }
                                }
                                rows += points.map { point in
                                    StudyRow(point.result, model: name, speedupVsBase: point.speedupVsBase, host: host, device: device,
                                             gpu: gpu, overrides: overrides)
                                }
                            }
                        }
                    }
                }
            }
        }
        try StudyOutput.write(StudyTable.csv(rows: rows), to: out)
        let elapsed = ContinuousClock.now - started
        if output.json {
            try StudyOutput.printJSON([
                "configuration": ["presets": presetNames, "devices": deviceCounts, "hosts": hostCounts,
                                  "modes": modeList.map(\.rawValue), "ratios": ratioList, "gpus": gpuList,
                                  "host_profiles": hostList, "device_profiles": deviceList,
                                  "overrides": overrides, "optimizer": optimizer.rawValue, "out": out] as [String: Any],
                "points": rows.count,
                "rows": rows.map { row in
                    ["model": row.model, "parameters": row.parameters, "devices": row.devices, "hosts": row.hosts,
                     "mode": row.mode.rawValue, "topk_ratio": row.topkRatio, "host": row.host, "device": row.device, "gpu": row.gpu,
                     "seconds": ["fw": row.fwSeconds, "bw_grad_offload": row.bwGradOffloadSeconds, "update": row.updateSeconds],
                     "iteration_s": row.iterationSeconds, "speedup_vs_base": row.speedupVsBase as Any,
                     "network_busy_s": row.networkSeconds,
                     "bytes": ["shared_link": row.sharedLinkBytes, "shared_link_per_param": row.sharedLinkBytesPerParam,
                               "per_device": row.deviceBytesPerDevice, "network": row.networkBytes]] as [String: Any]
                },
            ] as [String: Any])
        } else {
            FileHandle.standardError.write(Data("\n".utf8))
            print(String(format: "%d points in %.2f s → %@", rows.count,
                         elapsed / .seconds(1), out))
        }
    }
}
