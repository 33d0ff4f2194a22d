import ArgumentParser
import Foundation
import Benchmarking
import HardwareModel
import Plan

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit named physical quantities of the profiles to reference points.",
        discussion: """
        Least squares over the points' relative errors (iteration times and speedups), each \
        quantity kept within the range its profile entry gives from its sources. Prints the fitted \
        values with their uncertainty and sensitivity, the in-sample error and a leave-one-group-out \
        cross-validated error, and writes each profile it changed as a new profile file whose fitted \
        values say what they were fitted to. Reference sets: the paper's Fig. 9 and Fig. 3b by \
        default, or your own measurements (--reference, format in docs/REFERENCE-SETS.md).
        """)

    @OptionGroup var machine: MachineOptions
    @OptionGroup var references: ReferenceOptions
    @Option(help: "Quantities to fit, comma-separated profile keys (each needs a range in its profile).")
    var fit: String = ShippedCalibration.keyPaths.joined(separator: ",")
    @Option(help: "Cross-validation groups: devices, model, or none.") var folds: String = "devices"
    @Option(help: "Directory for the fitted profiles (<profile>-calibrated.json).") var out: String = "out/calibrated"
    @OptionGroup var output: JSONFlag

    func run() throws {
        let (setup, library) = try machine.setup()
        let sets = try references.sets(library: library)
        let points = sets.flatMap(\.points)
        let calibration = try Calibration(setup: setup, fitting: try CommaList.strings(fit, flag: "--fit"))
        let result = try calibration.fit(points)
        var folds: [Calibration.Fold] = []
        if self.folds != "none" {
            guard let grouping = Calibration.Grouping(rawValue: self.folds) else {
                throw ValidationError("--folds \(self.folds): expected devices, model or none")
            }
            folds = try calibration.crossValidate(points, by: grouping)
        }
        let crossValidated = folds.isEmpty ? nil : ErrorSummary(folds.flatMap { $0.predictions.flatMap(\.errors) })
        let written = try writeProfiles(result, original: setup, sets: sets, crossValidated: crossValidated)
        if output.json {
            try StudyOutput.printJSON([
                "configuration": machine.resolved.merging(["references": sets.map(\.name), "fit": fit, "folds": self.folds]) { a, _ in a },
                "parameters": result.parameters.indices.map { k in
                    ["key": result.parameters[k].keyPath, "start": result.parameters[k].start, "value": result.values[k],
                     "range": [result.parameters[k].range.lowerBound, result.parameters[k].range.upperBound],
                     "relative_standard_error": result.standardErrors[k] as Any, "sensitivity": result.sensitivities[k],
                     "at_bound": result.atBound[k]] as [String: Any]
                },
                "in_sample": ["mape": result.summary.meanAbsolute, "worst": result.summary.worst, "count": result.summary.count],
                "cross_validated": crossValidated.map { ["mape": $0.meanAbsolute, "worst": $0.worst, "count": $0.count] } as Any,
                "folds": folds.map { f in
                    let s = ErrorSummary(f.predictions.flatMap(\.errors))
                    return ["left_out": f.group, "values": f.fit.values, "mape": s.meanAbsolute, "worst": s.worst] as [String: Any]
                },
                "profiles_written": written,
            ] as [String: Any])
            return
        }
        print("Fitted to \(sets.map(\.name).joined(separator: " + ")) (\(result.summary.count) errors) on \(setup.host.profile.name) + "
              + "\(setup.device.profile.name) + \(setup.gpu.profile.name), \(result.iterations) iterations")
        var table = TextTable(["quantity", "start", "fitted", "±1σ", "range", "sensitivity", ""])
        for k in result.parameters.indices {
            let p = result.parameters[k]
            table.append([p.keyPath, Self.show(p.start, p), Self.show(result.values[k], p),
                          result.standardErrors[k].map { String(format: "±%.1f%%", $0 * 100) } ?? "-",
                          Self.show(p.range.lowerBound, p) + " … " + Self.show(p.range.upperBound, p),
                          String(format: "%.2f", result.sensitivities[k]), result.atBound[k] ? "at a bound" : ""])
        }
        print(table.rendered)
        print("sensitivity: mean |Δ prediction| in % per 1 % of the value, over the fitted errors")
        print(String(format: "in-sample: MAPE %.1f%%, worst %.1f%%", result.summary.meanAbsolute * 100, result.summary.worst * 100))
        if let crossValidated {
            let groups = folds.map { f in
                String(format: "%@ %.1f%%", f.group, ErrorSummary(f.predictions.flatMap(\.errors)).meanAbsolute * 100)
            }.joined(separator: ", ")
            print(String(format: "cross-validated (leave one %@ out): MAPE %.1f%%, worst %.1f%% (%@)",
                         self.folds == "model" ? "model" : "device count", crossValidated.meanAbsolute * 100,
                         crossValidated.worst * 100, groups))
        }
        for path in written { print("wrote \(path)") }
    }

    /// A value in the unit people read it in.
    static func show(_ value: Double, _ p: Calibration.Parameter) -> String {
        p.isFraction ? String(format: "%.3g", value) : humanQuantity(value, keyPath: p.keyPath)
    }

    static func humanQuantity(_ value: Double, keyPath: String) -> String {
        if keyPath.hasSuffix("atency") { return String(format: "%.3gus", value * 1e6) }
        if keyPath == "compute.peak" { return String(format: "%.4gTFLOP/s", value / 1e12) }
        if ["fpga.dram", "fpga.chunk", "ssd.capacity", "memory.capacity"].contains(keyPath) { return String(format: "%.4gGB", value / 1e9) }
        return String(format: "%.4gGB/s", value / 1e9)
    }

    /// Writes each profile holding a fitted value under `<name>-calibrated`, the fitted values
    /// with their new sources; returns the paths.
    private func writeProfiles(_ fit: Calibration.Fit, original setup: HardwareSetup, sets: [ReferenceSet],
                               crossValidated: ErrorSummary?) throws -> [String] {
        var written: [String] = []
        let what = sets.map(\.name).joined(separator: " + ")
        let quality = String(format: "in-sample MAPE %.1f%%", fit.summary.meanAbsolute * 100)
            + (crossValidated.map { String(format: ", cross-validated %.1f%%", $0.meanAbsolute * 100) } ?? "")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let pairs = [(setup.host.profile, fit.setup.host.profile), (setup.device.profile, fit.setup.device.profile),
                     (setup.gpu.profile, fit.setup.gpu.profile)]
        for (before, after) in pairs {
            let keys = fit.parameters.indices.filter { before[fit.parameters[$0].keyPath] != nil }
            guard !keys.isEmpty else { continue }
            var profile = after
            for k in keys {
                let p = fit.parameters[k]
                guard let old = before[p.keyPath] else { continue }
                profile = try profile.setting(p.keyPath, to: Self.show(fit.values[k], p), source:
                    "fitted by smartinf calibrate (--fit \(fit.parameters.map(\.keyPath).joined(separator: ","))) to \(what), "
                    + "\(fit.summary.count) errors, \(quality), within its range \(old.rangeText?.joined(separator: " to ") ?? ""); "
                    + "before: \(old.text) from \(old.source)")
            }
            let name = before.name + "-calibrated"
            profile = profile.renamed(name, summary: before.summary + " Calibrated by smartinf calibrate to \(what).")
            let path = URL(fileURLWithPath: out).appendingPathComponent(name + ".json").path
            try StudyOutput.write(profile.document, to: path)
            written.append(path)
        }
        return written
    }
}
