import ArgumentParser
import ChakraExport
import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Trace

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-plan a recorded trace's workload for another configuration and print the breakdown.",
        discussion: """
        The trace keeps the logical workload (model shape, subgroups, achieved compression), so \
        it can be re-planned for any device count, mode, top-k ratio or profile with the same \
        planners the live run uses. Unchanged, a replay reproduces the trace's own timeline \
        exactly, and says so.
        """)

    @Argument(help: "A trace written by train --trace or synth --save.") var trace: String
    @Option(help: "Storage devices of each host (default: the trace's).") var devices: Int?
    @Option(help: "Hosts training together (default: the trace's; 1 for a trace that names none).") var hosts: Int?
    @Option(help: "base, su, su+o or su+o+c (default: the trace's).") var mode: OffloadMode?
    @Option(name: .customLong("topk-ratio"), help: "Top-k ratio (default: the trace's; the payload becomes 2r).")
    var topkRatio: Double?
    @Option(help: "Host profile (default: the trace's).") var host: String?
    @Option(help: "Device profile (default: the trace's).") var device: String?
    @Option(help: "GPU profile (default: the trace's).") var gpu: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a profile value, after the trace's own overrides (repeatable).",
                                                        valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "Save the replayed trace here.") var save: String?
    @OptionGroup var output: JSONFlag

    func run() throws {
        let recorded = try TraceFile.read(from: trace)
        let header = recorded.header
        var workload = header.workload
        if let topkRatio { workload = try workload.withTopkRatio(topkRatio) }
        let allOverrides = header.profile.overrides + overrides
        let profile = TraceProfile(host: host ?? header.profile.host, device: device ?? header.profile.device,
                                   gpu: gpu ?? header.profile.gpu, overrides: allOverrides)
        let library = try ProfileLibrary.locate()
        let setup = try HardwareSetup(host: profile.host, device: profile.device, gpu: profile.gpu, from: library,
                                      overrides: try allOverrides.map { (t) throws(ProfileError) in try ProfileOverride(parsing: t) })
        let targetMode = mode ?? header.config.mode
        let targetDevices = devices ?? header.config.devices
        let targetHosts = hosts ?? header.config.hosts
        let unchanged = devices == nil && hosts == nil && mode == nil && topkRatio == nil && host == nil && device == nil && gpu == nil
            && overrides.isEmpty
        // Unchanged, the recorded operations are timed again as they are (every step of a
        // training trace); otherwise the logical workload is planned for the new target.
        let retimed = unchanged ? recorded.retimed() : []
        let timeline = try retimed.last
            ?? IterationPlanner.timeline(targetMode, workload, devices: targetDevices, hosts: targetHosts, on: setup)
        let result = StudyResult(mode: targetMode, devices: targetDevices, hosts: targetHosts, workload: workload, timeline: timeline)
        let reproduces = unchanged && recorded.reproducesItsTimeline
        if let save {
            try TraceFile(timeline, workload: workload, mode: targetMode, devices: targetDevices, hosts: targetHosts, profile: profile,
                          source: .replay).write(to: save)
        }
        if output.json {
            try StudyOutput.printJSON([
                "configuration": ["trace": trace, "mode": targetMode.rawValue, "devices": targetDevices, "hosts": targetHosts,
                                  "host": profile.host, "device": profile.device, "gpu": profile.gpu,
                                  "overrides": allOverrides, "workload": StudyOutput.workloadDocument(workload)] as [String: Any],
                "result": StudyOutput.document(result),
                "recorded": recorded.summary.map { s in
                    ["iteration_s": s.iteration, "seconds": Dictionary(uniqueKeysWithValues: s.phases.map { ($0.key.rawValue, $0.value) })] as [String: Any]
                } as Any,
                "reproduces_recorded_timeline": reproduces,
                "replanned": !unchanged,
            ] as [String: Any])
            return
        }
        print(StudyText.header(workload, label: "replay of \(trace)", devices: targetDevices, hosts: targetHosts, setup: setup))
        print(StudyText.breakdown([result], base: nil))
        if let s = recorded.summary {
            let hosts = header.config.hosts > 1 ? ", \(header.config.hosts) hosts" : ""
            print("recorded (\(header.config.mode.rawValue), \(header.config.devices) devices\(hosts)): \(StudyOutput.seconds(s.iteration)) s per iteration")
        }
        if unchanged {
            print(reproduces ? "the replay reproduces the recorded timeline exactly (\(retimed.count) step(s), \(recorded.operations.count) operations)"
                             : "timed again, the recorded operations do NOT reproduce the recorded timeline")
        } else {
            print("re-planned for the new configuration with the planners")
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a trace for Perfetto (ui.perfetto.dev) or as Chakra execution traces (ASTRA-sim).",
        discussion: """
        --chakra PREFIX writes one Chakra ET file per rank, PREFIX.0.et (the trainer: GPU, host \
        CPU, host memory) and PREFIX.<1+i>.et (device i), then the next host's ranks for a \
        many-host trace, with PREFIX.comm_group.json naming the trainers; ASTRA-sim reads them \
        with --workload-configuration=PREFIX. docs/FORMATS.md ("Chakra export") has the mapping.
        """)

    @Argument(help: "A trace (JSON Lines).") var trace: String
    @Option(help: "Write the Perfetto JSON here.") var perfetto: String?
    @Option(help: ArgumentHelp("Write Chakra execution traces as PREFIX.<rank>.et.", valueName: "prefix")) var chakra: String?

    func validate() throws {
        guard perfetto != nil || chakra != nil else {
            throw ValidationError("nothing to write; expected --perfetto FILE, --chakra PREFIX or both")
        }
    }

    func run() throws {
        let file = try TraceFile.read(from: trace)
        if let perfetto {
            try PerfettoExport(file).write(to: perfetto)
            print("\(file.operations.count) operations → \(perfetto) (open it in https://ui.perfetto.dev)")
        }
        if let chakra {
            let export = try ChakraExport(file, file: trace)
            let paths = try export.write(prefix: chakra)
            let ranks = export.rankCount
            let files = ranks > 2 ? "\(paths[0]) … \(paths[ranks - 1])" : paths[0..<ranks].joined(separator: ", ")
            let groups = export.communicatorGroups == nil ? "" : ", the trainers' group in \(paths[ranks])"
            print("\(file.operations.count) operations → \(export.hosts * export.nodeCounts.reduce(0, +)) Chakra nodes in \(ranks) files, "
                  + files + groups + " (\(export.hosts * export.dependencyMessages) one-byte messages carry dependencies between ranks)")
        }
    }
}
