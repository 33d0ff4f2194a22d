import OffloadVocabulary
import ArgumentParser
import Foundation
import Benchmarking
import HardwareModel
import Plan
import Report

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the model with reference sets: the paper's Fig. 9 and Fig. 3b by default.",
        discussion: """
        Predicts every reference point on the given profiles and prints it beside the reference, \
        with the mean absolute percentage error (MAPE) and the worst error, in-sample (the shipped \
        profiles were calibrated on these points) and cross-validated: each device count (or, with \
        --folds model, each model size) is left out in turn, the --fit quantities are refitted on the \
        rest, and the left-out points are predicted. Goals: every speedup within ±10 %, every total \
        within ±15 %, cross-validated MAPE ≤ 8 %. Exits non-zero when a goal is missed.
        """)

    @OptionGroup var machine: MachineOptions
    @OptionGroup var references: ReferenceOptions
    @Option(help: "Quantities refitted in each cross-validation fold (comma-separated).")
    var fit: String = ShippedCalibration.keyPaths.joined(separator: ",")
    @Option(help: "Cross-validation groups: devices, model, or none.") var folds: String = "devices"
    @Option(help: "Also write the model-vs-reference chart (SVG) to this file.") var chart: String?
    @OptionGroup var output: JSONFlag

    func run() throws {
        let (setup, library) = try machine.setup()
        let sets = try references.sets(library: library)
        let points = sets.flatMap(\.points)
        let grouping: Calibration.Grouping?
        switch folds {
        case "none": grouping = nil
        default:
            guard let g = Calibration.Grouping(rawValue: folds) else {
                throw ValidationError("--folds \(folds): expected devices, model or none")
            }
            grouping = g
        }
        let calibration = try grouping.map { _ in try Calibration(setup: setup, fitting: try CommaList.strings(fit, flag: "--fit")) }
        let validation = try Validation(points: points, setup: setup, crossValidation: calibration, grouping: grouping ?? .devices)
        var heldOut: [String: PointPrediction] = [:]
        for fold in validation.folds { for p in fold.predictions { heldOut[p.point.label] = p } }
        let singleDevice = try Self.singleDevice(setup)
        if let chart {
            let comparisons = validation.predictions.flatMap { $0.comparisons(set: $0.point.setName) }
            try StudyOutput.write(ReferenceChart.svg(comparisons), to: chart)
        }
        if output.json {
            try printJSON(validation, heldOut: heldOut, singleDevice: singleDevice, sets: sets, grouping: grouping)
        } else {
            printText(validation, heldOut: heldOut, singleDevice: singleDevice, setup: setup, sets: sets, grouping: grouping)
        }
        if !validation.goalsMet { throw ExitCode(1) }
    }

    /// The paper's one-device claim (Section VII-E): with one CSD, Smart-Infinity is slightly
    /// slower than base. Speedups of su+o and su+o+c over base at one device, GPT-2 4.0B.
    static func singleDevice(_ setup: HardwareSetup) throws -> [(OffloadMode, Double)] {
        let workload = try IterationWorkload(model: try ModelPreset.named("gpt2-4.0b").shape())
        let base = try StudyResult.run(.base, workload, devices: 1, on: setup).iterationSeconds
        return try [OffloadMode.suO, .suOC].map { ($0, base / (try StudyResult.run($0, workload, devices: 1, on: setup).iterationSeconds)) }
    }

    private func printText(_ v: Validation, heldOut: [String: PointPrediction], singleDevice: [(OffloadMode, Double)],
                           setup: HardwareSetup, sets: [ReferenceSet], grouping: Calibration.Grouping?) {
        var table = TextTable(["point", "model", "dev", "mode", "fw", "bw+off", "update", "total", "ref", "err", "cv err",
                               "speedup", "ref", "err", "cv err"])
        for p in v.predictions {
            let m = p.result
            let cv = heldOut[p.point.label]
            table.append([p.point.label, p.point.modelName, "\(p.point.devices)", p.point.mode.rawValue,
                          StudyOutput.seconds(m.seconds(.forward)), StudyOutput.seconds(m.seconds(.backwardAndOffload)),
                          StudyOutput.seconds(m.seconds(.update)), StudyOutput.seconds(m.iterationSeconds),
                          p.point.iterationSeconds.map(StudyOutput.seconds) ?? "-", percent(p.totalError), percent(cv?.totalError),
                          p.speedup.map { String(format: "%.2f", $0) } ?? "-", p.point.speedup.map { String(format: "%.2f", $0) } ?? "-",
                          percent(p.speedupError), percent(cv?.speedupError)])
        }
        print("The model vs \(sets.map(\.name).joined(separator: " and ")) on \(setup.host.profile.name) + "
              + "\(setup.device.profile.name) + \(setup.gpu.profile.name); seconds per iteration; speedups over the point's "
              + "reference configuration (Fig. 9: base at the same devices; Fig. 3b: base at 1 SSD)")
        print(table.rendered)
        func line(_ name: String, _ s: ErrorSummary) -> String {
            String(format: "%@ MAPE %.1f%%, worst %.1f%% (%d errors)", name, s.meanAbsolute * 100, s.worst * 100, s.count)
        }
        print(line("in-sample: totals", v.totalErrors) + "; " + line("speedups", v.speedupErrors) + "; " + line("all", v.inSample))
        if let cv = v.crossValidated, let grouping {
            print(line("cross-validated (leave one \(grouping == .devices ? "device count" : "model") out, refitting \(fit)):", cv))
        }
        print("one device, GPT-2 4.0B (the paper: Smart-Infinity slightly slower than base): "
              + singleDevice.map { String(format: "%@ %.2f×", $0.0.rawValue, $0.1) }.joined(separator: ", "))
        print(String(format: "goals: speedups within ±%.0f%% (worst %.1f%%), totals within ±%.0f%% (worst %.1f%%), cross-validated MAPE ≤ %.0f%%%@: %@",
                     Validation.speedupTolerance * 100, v.worstSpeedupError * 100, Validation.totalTolerance * 100,
                     v.worstTotalError * 100, Validation.crossValidatedMeanTolerance * 100,
                     v.crossValidated.map { String(format: " (%.1f%%)", $0.meanAbsolute * 100) } ?? " (not run)",
                     v.goalsMet ? "met" : "MISSED"))
    }

    private func printJSON(_ v: Validation, heldOut: [String: PointPrediction], singleDevice: [(OffloadMode, Double)],
                           sets: [ReferenceSet], grouping: Calibration.Grouping?) throws {
        func summary(_ s: ErrorSummary) -> [String: Any] { ["mape": s.meanAbsolute, "worst": s.worst, "count": s.count] }
        try StudyOutput.printJSON([
            "configuration": machine.resolved.merging([
                "references": sets.map(\.name), "fit": fit, "folds": grouping?.rawValue ?? "none",
            ]) { a, _ in a },
            "points": v.predictions.map { p in
                StudyOutput.document(p.result).merging([
                    "point": p.point.label, "model": p.point.modelName,
                    "reference": [
                        "iteration_s": p.point.iterationSeconds as Any, "fw_plus_bw_s": p.point.forwardBackwardSeconds as Any,
                        "speedup": p.point.speedup as Any,
                        "relative_to": p.point.baseline.map { ["devices": $0.devices, "mode": $0.mode.rawValue] } as Any,
                    ] as [String: Any],
                    "speedup": p.speedup as Any, "total_error": p.totalError as Any, "speedup_error": p.speedupError as Any,
                    "cross_validated": heldOut[p.point.label].map { cv in
                        ["iteration_s": cv.result.iterationSeconds, "speedup": cv.speedup as Any,
                         "total_error": cv.totalError as Any, "speedup_error": cv.speedupError as Any] as [String: Any]
                    } as Any,
                ]) { a, _ in a }
            },
            "in_sample": ["totals": summary(v.totalErrors), "speedups": summary(v.speedupErrors), "all": summary(v.inSample)],
            "cross_validated": v.crossValidated.map(summary) as Any,
            "single_device_speedup_vs_base": Dictionary(uniqueKeysWithValues: singleDevice.map { ($0.0.rawValue, $0.1) }),
            "goals": ["speedup": Validation.speedupTolerance, "total": Validation.totalTolerance,
                      "cross_validated_mape": Validation.crossValidatedMeanTolerance],
            "goals_met": v.goalsMet,
        ] as [String: Any])
    }
}
