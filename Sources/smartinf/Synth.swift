import ArgumentParser
import Benchmarking
import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Trace

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Model one iteration of a model too big to run here, in one or all modes.",
        discussion: """
        Builds the workload of a GPT-2, BERT, Llama or Mixtral shape (or a preset: the paper's \
        sizes, Llama 3, Mixtral 8x7B, GPT-3), optionally LoRA fine-tuning of it, plans it \
        for the devices, mode and hardware profiles given, and prints the per-phase breakdown: FW, \
        BW + gradient offload, update + optimizer I/O. Without --mode, all four modes are shown \
        with speedups over base. With --hosts N, N such hosts train data parallel with the \
        optimizer states partitioned over them (ZeRO), and every figure is one host's.
        """)

    @OptionGroup var workloadOptions: WorkloadOptions
    @Option(help: "Storage devices (each host's).") var devices: Int = 10
    @Option(help: "Hosts training together, data parallel, each with a GPU and --devices devices; the optimizer states are partitioned over them.")
    var hosts: Int = 1
    @Option(help: "base, su, su+o or su+o+c (default: all four).") var mode: OffloadMode?
    @OptionGroup var machine: MachineOptions
    @Option(help: "Keep the synthesized trace (JSON Lines) in this file; needs --mode.") var save: String?
    @OptionGroup var output: JSONFlag

    func run() throws {
        let (setup, _) = try machine.setup()
        let workload = try workloadOptions.workload()
        if save != nil, mode == nil { throw ValidationError("--save keeps one iteration's trace: give --mode too") }
        let modes = mode.map { [$0] } ?? OffloadMode.allCases
        var results: [StudyResult] = []
        for m in modes {
            let timeline = try IterationPlanner.timeline(m, workload, devices: devices, hosts: hosts, on: setup)
            results.append(StudyResult(mode: m, devices: devices, hosts: hosts, workload: workload, timeline: timeline))
            if let save {
                try TraceFile(timeline, workload: workload, mode: m, devices: devices, hosts: hosts,
                              profile: TraceProfile(host: machine.host, device: machine.device, gpu: machine.gpu,
                                                    overrides: machine.overrides),
                              source: .synth).write(to: save)
            }
        }
        let base = results.first { $0.mode == .base }?.iterationSeconds
        if output.json {
            try StudyOutput.printJSON([
                "configuration": machine.resolved.merging([
                    "workload": StudyOutput.workloadDocument(workload), "devices": devices, "hosts": hosts,
                    "modes": modes.map(\.rawValue), "preset": workloadOptions.preset as Any,
                ]) { a, _ in a },
                "results": results.map { r in
                    StudyOutput.document(r).merging(["speedup_vs_base": base.map { $0 / r.iterationSeconds } as Any]) { a, _ in a }
                },
            ] as [String: Any])
            return
        }
        print(StudyText.header(workload, label: workloadOptions.label, devices: devices, hosts: hosts, setup: setup))
        print(StudyText.breakdown(results, base: base))
        if let save { print("trace saved to \(save)") }
    }
}

/// Text renderings shared by synth and replay.
enum StudyText {
    static func header(_ w: IterationWorkload, label: String, devices: Int, hosts: Int, setup: HardwareSetup) -> String {
        let m = w.model
        // The shape's extras only where they differ from a plain GPT-2 block.
        let heads = m.kvHeads == m.heads ? "\(m.heads)" : "\(m.heads)/\(m.kvHeads)kv"
        let experts = m.experts > 1
            ? String(format: " experts=%d top-%d (%.2f B active)", m.experts, m.activeExperts, Double(m.activeParameters) / 1e9) : ""
        let trained = w.adapters.map { a in
            String(format: ", LoRA r=%d on %@: %.1f M trained", a.rank, a.targets.map(\.rawValue).joined(separator: ","),
                   Double(w.trainableParameters) / 1e6)
        } ?? ""
        let states = (w.quantizedStates.map { String(format: " with %.3f-byte states", $0.bytesPerState) } ?? "")
            + (w.overlapsBackward ? ", update overlapping backward" : "")
            + (w.hostUpdateShare > 0 ? String(format: ", host CPU updates %g of each subgroup", w.hostUpdateShare) : "")
            + (w.activationsOnStorage ? ", activation checkpoints on storage" : "")
        let network = hosts > 1
            ? String(format: "; %d such hosts (figures per host), network %@ each way", hosts, bandwidth(setup.host.network ?? 0)) : ""
        return String(format: "%@: %@ L=%d h=%d heads=%@ ffn=%d%@ seq=%d batch=%d, %.2f B parameters%@, %@%@, top-k r=%g; %d × %@ behind %@, GPU %@%@",
                      label, m.family.rawValue, m.layers, m.hidden, heads, m.ffn, experts, m.sequence, m.batch,
                      Double(w.parameters) / 1e9, trained, w.optimizer.rawValue, states, w.topkRatio, devices, setup.device.profile.name,
                      setup.host.profile.name, setup.gpu.profile.name, network)
    }

    /// `48 GB/s`.
    static func bandwidth(_ bytesPerSecond: Double) -> String { String(format: "%g GB/s", bytesPerSecond / 1e9) }

    /// The breakdown per mode; with many hosts also each host's network traffic (each way) and
    /// the seconds it keeps the network busy, to set beside the phases it falls in.
    static func breakdown(_ results: [StudyResult], base: Double?) -> String {
        let manyHosts = results.contains { $0.hosts > 1 }
        var table = TextTable(["mode", "FW s", "BW+grad offload s", "update+opt I/O s", "iteration s", "speedup",
                               "shared link B/param", "device GB"] + (manyHosts ? ["network GB", "network busy s"] : []))
        for r in results {
            let network = manyHosts
                ? [String(format: "%.1f", r.networkBytes / 1e9), StudyOutput.seconds(r.networkSeconds)] : []
            table.append([r.mode.rawValue, StudyOutput.seconds(r.seconds(.forward)), StudyOutput.seconds(r.seconds(.backwardAndOffload)),
                          StudyOutput.seconds(r.seconds(.update)), StudyOutput.seconds(r.iterationSeconds),
                          base.map { String(format: "%.2f×", $0 / r.iterationSeconds) } ?? "-",
                          String(format: "%.2f", r.sharedLinkBytesPerParameter),
                          String(format: "%.1f", (r.deviceBytes.first ?? 0) / 1e9)] + network)
        }
        return table.rendered
    }
}
