import ArgumentParser
import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Report
import Trace

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML page with SVG charts from a sweep CSV or a trace.",
        discussion: """
        From a CSV (smartinf sweep): the charts of that study. From a trace: the trace's workload \
        is re-planned in every mode at 1, 2, 4, 6, 8 and 10 devices and at top-k ratios 0.001 to \
        0.1 on the trace's profiles and hosts, and those rows are drawn. Charts: phase breakdown per mode, \
        speedup vs devices, compression-ratio sensitivity, shared-link bytes per parameter, the update \
        phase and the network's busy time per host vs hosts, seconds per iteration vs the \
        storage devices' cost (rows whose device has a price), and the model against the \
        reference sets (the paper's Fig. 9 and Fig. 3b unless --reference or --no-reference) on \
        the profiles given; each is also written as its own SVG.
        """)

    @Argument(help: "A sweep CSV or a trace (JSON Lines).") var input: String
    @Option(help: "Directory to write index.html and the SVGs into.") var out: String
    @Option(help: "Page title.") var title: String?
    @OptionGroup var machine: MachineOptions
    @OptionGroup var references: ReferenceOptions
    @Flag(name: .customLong("no-reference"), help: "Leave out the model-vs-reference chart.") var noReference = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: input), let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("cannot read \(input): expected a sweep CSV or a trace")
        }
        let rows: [StudyRow]
        if text.first == "{" {
            rows = try Self.rows(around: try TraceFile.read(from: input))
        } else {
            rows = try StudyTable.parseCSV(text, source: input)
        }
        guard !rows.isEmpty else { throw ValidationError("\(input) holds no study rows") }
        var reference: [ReferenceComparison] = []
        if !noReference {
            let (setup, library) = try machine.setup()
            for set in try references.sets(library: library) {
                reference += try ReferencePredictor.predict(set.points, on: setup).flatMap { $0.comparisons(set: set.name) }
            }
        }
        let paths = try StudyReport.write(rows: rows, title: title ?? "SmartInfinity study: \(input)", reference: reference, to: out)
        print("\(rows.count) rows → " + paths.joined(separator: ", "))
    }

    /// The study around a trace's workload, on its profiles.
    static func rows(around trace: TraceFile) throws -> [StudyRow] {
        let h = trace.header
        let setup = try HardwareSetup(host: h.profile.host, device: h.profile.device, gpu: h.profile.gpu,
                                      from: try ProfileLibrary.locate(),
                                      overrides: try h.profile.overrides.map { (t) throws(ProfileError) in try ProfileOverride(parsing: t) })
        let label = "\(h.workload.model.family.rawValue) L\(h.workload.model.layers) h\(h.workload.model.hidden)"
        return try [1, 2, 4, 6, 8, 10].flatMap { devices in
            try StudyResult.grid(h.workload, modes: OffloadMode.allCases, ratios: [0.001, 0.003, 0.01, 0.03, 0.1], devices: devices,
                                 hosts: h.config.hosts, on: setup).map { point in
                StudyRow(point.result, model: label, speedupVsBase: point.speedupVsBase, host: h.profile.host, device: h.profile.device,
                         gpu: h.profile.gpu, overrides: h.profile.overrides, devicePrice: setup.device.price)
            }
        }
    }
}
