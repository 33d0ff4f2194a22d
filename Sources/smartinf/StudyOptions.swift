import ArgumentParser
import DurableWrite
import Foundation
import HardwareModel
import Plan
import Report

/// The machine a study models: three profiles and any overrides, as every study command takes them.
struct MachineOptions: ParsableArguments {
    @Option(help: "Host topology profile (name in Emulator/ or a path).") var host: String = "hpca24-host"
    @Option(help: "Storage device profile.") var device: String = "smartssd"
    @Option(help: "GPU profile: a5000, a100, h100, h200, b200, gh200 (or a path).") var gpu: String = "a5000"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a profile value, e.g. link.shared=12GB/s (repeatable).",
                                                        valueName: "key=value"))
    var overrides: [String] = []

    func setup() throws -> (HardwareSetup, ProfileLibrary) {
        let library = try ProfileLibrary.locate()
        let parsed = try overrides.map { (text) throws(ProfileError) in try ProfileOverride(parsing: text) }
        return (try HardwareSetup(host: host, device: device, gpu: gpu, from: library, overrides: parsed), library)
    }

    /// The configuration as it was given, for `--json` documents.
    var resolved: [String: Any] {
        ["host": host, "device": device, "gpu": gpu, "overrides": overrides]
    }
}

/// `--json`: one machine-readable document on stdout instead of the text.
struct JSONFlag: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout instead of text.") var json = false
}

extension IterationWorkload {
    /// What this workload changes from the paper's, as the flags of synth and sweep that ask for
    /// it, for the study table's `what_ifs` column; empty for the paper's workload.
    var whatIfs: [String] {
        (quantizedStates == nil ? [] : ["state-bits=8"]) + (overlapsBackward ? ["overlap-backward"] : [])
            + (hostUpdateShare > 0 ? ["host-share=\(hostUpdateShare)"] : []) + (activationsOnStorage ? ["activations-to-storage"] : [])
            + (adapters.map { ["lora-rank=\($0.rank)", "lora-targets=" + $0.targets.map(\.rawValue).joined(separator: ",")] } ?? [])
    }
}

extension StudyRow {
    /// A modeled point as a row of the study table, under the names the study gives it; the
    /// price is one device's (the profile's, or the one a sweep gave it), nil where it has none.
    init(_ r: StudyResult, model: String, speedupVsBase: Double?, host: String, device: String, gpu: String, overrides: [String],
         devicePrice: Double?) {
        self.init(model: model, parameters: r.workload.parameters, devices: r.devices, mode: r.mode, topkRatio: r.workload.topkRatio,
                  host: host, device: device, gpu: gpu, overrides: overrides, fwSeconds: r.seconds(.forward),
                  bwGradOffloadSeconds: r.seconds(.backwardAndOffload), updateSeconds: r.seconds(.update),
                  iterationSeconds: r.iterationSeconds, speedupVsBase: speedupVsBase, sharedLinkBytes: r.sharedLinkBytes,
                  sharedLinkBytesPerParam: r.sharedLinkBytesPerParameter,
                  deviceBytesPerDevice: r.deviceBytes.reduce(0, +) / Double(r.devices), hosts: r.hosts, networkBytes: r.networkBytes,
                  networkSeconds: r.networkSeconds, whatIfs: r.workload.whatIfs, devicePrice: devicePrice)
    }
}

/// JSON and text forms of a study's result, shared by replay, synth, sweep and validate.
enum StudyOutput {
    static func document(_ r: StudyResult) -> [String: Any] {
        [
            "mode": r.mode.rawValue,
            "devices": r.devices,
            "hosts": r.hosts,
            "parameters": r.workload.parameters,
            "seconds": [
                "fw": r.seconds(.forward),
                "bw_grad_offload": r.seconds(.backwardAndOffload),
                "update": r.seconds(.update),
            ],
            "iteration_s": r.iterationSeconds,
            "bytes": [
                "shared_link": r.sharedLinkBytes,
                "shared_link_per_param": r.sharedLinkBytesPerParameter,
                "per_device": r.deviceBytes,
                "network": r.networkBytes,
            ] as [String: Any],
            "network_busy_s": r.networkSeconds,
        ]
    }

    static func workloadDocument(_ w: IterationWorkload) -> [String: Any] {
        [
            "model": [
                "family": w.model.family.rawValue, "layers": w.model.layers, "hidden": w.model.hidden,
                "heads": w.model.heads, "kv_heads": w.model.kvHeads, "ffn": w.model.ffn, "experts": w.model.experts,
                "active_experts": w.model.activeExperts, "seq": w.model.sequence, "batch": w.model.batch,
                "vocabulary": w.model.vocabulary, "parameters": w.parameters, "active_parameters": w.model.activeParameters,
            ] as [String: Any],
            "trainable_parameters": w.trainableParameters,
            "bytes_per_state": w.bytesPerState, "overlaps_backward": w.overlapsBackward,
            "host_update_share": w.hostUpdateShare, "activations_on_storage": w.activationsOnStorage,
            "lora": w.adapters.map { ["rank": $0.rank, "targets": $0.targets.map(\.rawValue)] as [String: Any] } as Any,
            "optimizer": w.optimizer.rawValue, "subgroup_elements": w.subgroupElements,
            "topk_ratio": w.topkRatio, "compressed_fraction": w.compressedFraction,
        ]
    }

    /// A number, or JSON's null where there is none (a price a profile does not have).
    static func orNull(_ value: Double?) -> Any { value.map { $0 as Any } ?? NSNull() }

    static func printJSON(_ object: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// Writes `text` durably (`DurableFile`): the whole file or nothing.
    static func write(_ text: String, to path: String) throws {
        do throws(DurableFileError) { try DurableFile.write(text.utf8, to: path) } catch { throw ValidationError(error.description) }
    }

    /// Seconds with two decimals, or four significant digits below 1 s (live runs are small).
    static func seconds(_ value: Double) -> String { String(format: value >= 1 || value == 0 ? "%.2f" : "%.4g", value) }
}
