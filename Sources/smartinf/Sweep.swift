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
        The grid is presets × workload what-ifs (state bits, overlap with the backward, host \
        shares, activations on storage) × device counts × host counts × modes × top-k ratios × \
        GPU, host and device profiles × device prices. Each row holds the modeled seconds per \
        phase, the iteration, the speedup over base at the same model, what-ifs, devices, hosts \
        and profiles, the bytes on the shared link, inside each device and over the network \
        (each host's, with several), and, where the device has a price, what every host's devices \
        cost and the iterations per hour per 1000 USD of them (n/a without a price). Feed the CSV \
        to `smartinf report`.
        """)

    /// A what-if that is either applied or not, as an axis (`--overlap-backward off,on`).
    enum Switch: String, CaseIterable, ExpressibleByArgument { case off, on }

    @Option(help: "Model presets, comma-separated.") var presets: String = "gpt2-4.0b,gpt2-8.4b,gpt2-16.6b"
    @Option(help: "Device counts (each host's), comma-separated.") var devices: String = "1,2,4,6,8,10"
    @Option(help: "Host counts, comma-separated: hosts training together, optimizer states partitioned over them.")
    var hosts: String = "1"
    @Option(help: "Modes, comma-separated.") var modes: String = "base,su,su+o,su+o+c"
    @Option(help: "Top-k ratios for su+o+c, comma-separated.") var ratios: String = "0.01"
    @Option(name: .customLong("state-bits"), help: "Optimizer state precisions, comma-separated: 32 (fp32), 8 (block-wise 8-bit).")
    var stateBits: String = "32"
    @Option(name: .customLong("overlap-backward"),
            help: "Update overlapped with the backward pass (Fuyou, Ratel): off, on, or off,on to compare.")
    var overlapBackward: String = "off"
    @Option(name: .customLong("host-shares"),
            help: "Fractions of each subgroup the host CPU updates in the su modes (Twin-Flow), comma-separated, each in [0, 1).")
    var hostShares: String = "0"
    @Option(name: .customLong("activations-to-storage"),
            help: "Activation checkpoints offloaded to the devices (SSDTrain): off, on, or off,on to compare.")
    var activationsToStorage: String = "off"
    @Option(help: "GPU profiles, comma-separated.") var gpus: String = "a5000"
    @Option(name: .customLong("host-profiles"), help: "Host profiles, comma-separated.") var hostProfiles: String = "hpca24-host"
    @Option(help: "Storage device profiles, comma-separated; a plain drive (no FPGA) gives base rows only.")
    var device: String = "smartssd"
    @Option(help: ArgumentHelp("""
        Device prices, comma-separated PROFILE=PRICE (smartssd-gen5=1500USD); a profile named several times is swept \
        over its prices, one not named keeps its own (or n/a).
        """, valueName: "list"))
    var prices: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a profile value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adamw
    @Option(help: "Write the CSV here.") var out: String
    @OptionGroup var output: JSONFlag

    /// One workload what-if point: a setting of each what-if axis.
    struct WhatIf {
        var stateBits: Int
        var overlapBackward: Bool
        var hostShare: Double
        var activationsToStorage: Bool
    }

    func run() throws {
        let presetNames = try CommaList.strings(presets, flag: "--presets")
        let shapes = try presetNames.map { try ModelPreset.named($0).shape() }
        let deviceCounts = try CommaList.integers(devices, flag: "--devices", minimum: 1, maximum: IterationPlanner.maximumDevices)
        let modeList = try CommaList.values(modes, flag: "--modes", as: OffloadMode.self)
        let ratioList = try CommaList.doubles(ratios, flag: "--ratios", range: 1e-6...1)
        let hostCounts = try CommaList.integers(hosts, flag: "--hosts", minimum: 1, maximum: IterationPlanner.maximumHosts)
        let bitsList = try CommaList.integers(stateBits, flag: "--state-bits", minimum: 1)
        for bits in bitsList { _ = try WorkloadOptions.quantizedStates(bits: bits) }
        let overlapList = try CommaList.values(overlapBackward, flag: "--overlap-backward", as: Switch.self)
        let shareList = try CommaList.doubles(hostShares, flag: "--host-shares", range: 0...1)
        if let whole = shareList.first(where: { $0 >= 1 }) {
            throw ValidationError("--host-shares: '\(whole)' is not a fraction in [0, 1): the devices must update some of each subgroup")
        }
        let activationList = try CommaList.values(activationsToStorage, flag: "--activations-to-storage", as: Switch.self)
        let whatIfs = bitsList.flatMap { bits in
            overlapList.flatMap { overlap in
                shareList.flatMap { share in
                    activationList.map { WhatIf(stateBits: bits, overlapBackward: overlap == .on, hostShare: share,
                                                activationsToStorage: $0 == .on) }
                }
            }
        }
        let gpuList = try CommaList.strings(gpus, flag: "--gpus")
        let hostList = try CommaList.strings(hostProfiles, flag: "--host-profiles")
        let deviceList = try CommaList.strings(device, flag: "--device")
        let priceList = try prices.map { try Self.prices($0, devices: deviceList) } ?? [:]
        let library = try ProfileLibrary.locate()
        let parsed = try overrides.map { (text) throws(ProfileError) in try ProfileOverride(parsing: text) }
        // SmartUpdate needs an FPGA: a plain drive runs base only.
        let deviceModes = try deviceList.map { name in
            try DeviceProfile(library.load(name)).fpga == nil ? modeList.filter { $0 == .base } : modeList
        }
        guard deviceModes.contains(where: { !$0.isEmpty }) else {
            throw ValidationError("--modes \(modes) on --device \(device): a plain drive (no fpga section) runs base only; add base to --modes")
        }

        // Base once per (model, what-ifs, devices, hosts, profiles); su+o+c once per ratio; the
        // rest once. Prices change no time: each point is modeled once and written once per price.
        let total = shapes.count * whatIfs.count * deviceCounts.count * hostCounts.count * gpuList.count * hostList.count
            * deviceModes.flatMap { $0 }.reduce(0) { $0 + ($1 == .suOC ? ratioList.count : 1) }
        var rows: [StudyRow] = []
        var done = 0
        let started = ContinuousClock.now
        for host in hostList {
            for gpu in gpuList {
                for (device, modesOfDevice) in zip(deviceList, deviceModes) where !modesOfDevice.isEmpty {
                    let setup = try HardwareSetup(host: host, device: device, gpu: gpu, from: library, overrides: parsed)
                    let devicePrices = priceList[device]?.map { Optional($0) } ?? [setup.device.price]
                    for (name, shape) in zip(presetNames, shapes) {
                        for whatIf in whatIfs {
                            let workload = try IterationWorkload(model: shape, optimizer: optimizer, topkRatio: ratioList[0],
                                                                 quantizedStates: WorkloadOptions.quantizedStates(bits: whatIf.stateBits),
                                                                 overlapsBackward: whatIf.overlapBackward, hostUpdateShare: whatIf.hostShare,
                                                                 activationsOnStorage: whatIf.activationsToStorage)
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
                                    for price in devicePrices {
                                        rows += points.map { point in
                                            StudyRow(point.result, model: name, speedupVsBase: point.speedupVsBase, host: host, device: device,
                                                     gpu: gpu, overrides: overrides, devicePrice: price)
                                        }
                                    }
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
                                  "host_profiles": hostList, "device_profiles": deviceList, "state_bits": bitsList,
                                  "overlap_backward": overlapList.map(\.rawValue), "host_shares": shareList,
                                  "activations_to_storage": activationList.map(\.rawValue),
                                  "prices": priceList,
                                  "overrides": overrides, "optimizer": optimizer.rawValue, "out": out] as [String: Any],
                "points": rows.count,
                "rows": rows.map { row in
                    ["model": row.model, "parameters": row.parameters, "devices": row.devices, "hosts": row.hosts,
                     "mode": row.mode.rawValue, "topk_ratio": row.topkRatio, "host": row.host, "device": row.device, "gpu": row.gpu,
                     "what_ifs": row.whatIfs,
                     "seconds": ["fw": row.fwSeconds, "bw_grad_offload": row.bwGradOffloadSeconds, "update": row.updateSeconds],
                     "iteration_s": row.iterationSeconds, "speedup_vs_base": row.speedupVsBase as Any,
                     "network_busy_s": row.networkSeconds,
                     "bytes": ["shared_link": row.sharedLinkBytes, "shared_link_per_param": row.sharedLinkBytesPerParam,
                               "per_device": row.deviceBytesPerDevice, "network": row.networkBytes],
                     "device_price_usd": StudyOutput.orNull(row.devicePrice), "device_cost_usd": StudyOutput.orNull(row.deviceCost),
                     "steps_per_hour_per_kusd": StudyOutput.orNull(row.stepsPerHourPerThousandUSD)] as [String: Any]
                },
            ] as [String: Any])
        } else {
            FileHandle.standardError.write(Data("\n".utf8))
            print(String(format: "%d points in %.2f s → %@", rows.count,
                         elapsed / .seconds(1), out))
        }
    }

    /// `--prices`: each device profile's prices in the order given. An item that is not
    /// PROFILE=PRICE, names no profile of `--device`, or whose price is not one is refused naming
    /// the flag and the item.
    static func prices(_ text: String, devices: [String]) throws -> [String: [Double]] {
        var prices: [String: [Double]] = [:]
        for item in try CommaList.strings(text, flag: "--prices") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("--prices: '\(item)' is not PROFILE=PRICE, such as smartssd-gen5=1500USD")
            }
            guard devices.contains(parts[0]) else {
                throw ValidationError("--prices: '\(item)' names no profile of --device (\(devices.joined(separator: ", ")))")
            }
            do {
                prices[parts[0], default: []].append(try Quantity.parse(parts[1], as: .price))
            } catch {
                throw ValidationError("--prices: '\(item)': \(error.description); expected \(Quantity.Dimension.price.expectation)")
            }
        }
        return prices
    }
}
