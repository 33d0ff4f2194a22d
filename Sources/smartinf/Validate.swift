import ArgumentParser
import Foundation
import Benchmarking
import HardwareModel
import Plan

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay the paper's Fig. 9 configurations on the calibrated profiles and compare.",
        discussion: """
        Synthesizes GPT-2 4.0B and 8.4B, plans them at 6 and 10 devices in every mode on the \
        given profiles, and prints each modeled total and speedup beside the paper's. Goals: \
        every speedup within ±10 %, every total within ±15 %. Exits non-zero when a goal is missed.
        """)

    @OptionGroup var machine: MachineOptions
    @Option(help: "The reference table (default: traces/reference/hpca24-fig9.json).") var reference: String?
    @OptionGroup var output: JSONFlag

    func run() throws {
        let (setup, library) = try machine.setup()
        let path = reference ?? PaperReference.locate(nextTo: library.directory.path)
        let validation = try Validation(reference: try PaperReference(path: path), setup: setup)
        if output.json {
            try StudyOutput.printJSON([
                "configuration": machine.resolved.merging(["reference": path]) { a, _ in a },
                "rows": validation.rows.map { row in
                    StudyOutput.document(row.modeled).merging([
                        "model": row.reference.preset,
                        "paper": ["iteration_s": row.reference.totalSeconds, "fw_plus_bw_s": row.reference.forwardBackwardSeconds,
                                  "speedup": row.reference.speedup],
                        "speedup": row.modeledSpeedup, "speedup_error": row.speedupError, "total_error": row.totalError,
                    ]) { a, _ in a }
                },
                "worst_speedup_error": validation.worstSpeedupError, "worst_total_error": validation.worstTotalError,
                "goals": ["speedup": Validation.speedupTolerance, "total": Validation.totalTolerance],
                "goals_met": validation.goalsMet,
            ] as [String: Any])
        } else {
            var table = TextTable(["model", "dev", "mode", "fw", "bw+off", "update", "total", "paper", "err",
                                   "fw+bw paper", "speedup", "paper", "err"])
            for row in validation.rows {
                let m = row.modeled
                table.append([row.reference.preset, "\(m.devices)", m.mode.rawValue,
                              StudyOutput.seconds(m.seconds(.forward)), StudyOutput.seconds(m.seconds(.backwardAndOffload)),
                              StudyOutput.seconds(m.seconds(.update)), StudyOutput.seconds(m.iterationSeconds),
                              StudyOutput.seconds(row.reference.totalSeconds), String(format: "%+.1f%%", row.totalError * 100),
                              StudyOutput.seconds(row.reference.forwardBackwardSeconds),
                              String(format: "%.2f", row.modeledSpeedup), String(format: "%.2f", row.reference.speedup),
                              String(format: "%+.1f%%", row.speedupError * 100)])
            }
            print("Fig. 9 (HPCA'24) vs the model on \(setup.host.profile.name) + \(setup.device.profile.name) + \(setup.gpu.profile.name); seconds per iteration")
            print(table.rendered)
            print(String(format: "worst speedup error %.1f%% (goal ±%.0f%%), worst total error %.1f%% (goal ±%.0f%%): %@",
                         validation.worstSpeedupError * 100, Validation.speedupTolerance * 100,
                         validation.worstTotalError * 100, Validation.totalTolerance * 100,
                         validation.goalsMet ? "goals met" : "GOALS MISSED"))
        }
        if !validation.goalsMet { throw ExitCode(1) }
    }
}
