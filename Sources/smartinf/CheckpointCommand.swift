import ArgumentParser
import Foundation
import Trainer

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Work with saved checkpoints.",
        subcommands: [CheckpointExport.self])
}

struct CheckpointExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Gather a checkpoint's model and optimizer states from the devices' snapshots into safetensors files (and its error-feedback residuals, if it has them), with its trainer state: a directory that `train --resume` continues on any number of devices (and of ranks), in any mode.")

    @Argument(help: "A checkpoint directory (train --save-checkpoint), or the devices' SSD directory (train --ssd-dir: its newest checkpoint every device holds); of a run over ranks, every rank's devices.")
    var source: String

    @Option(help: "Directory to write model.safetensors, optimizer.safetensors, error-feedback.safetensors (residuals of a run with --error-feedback) and trainer-state.json into.")
    var out: String

    func run() throws {
        let summary: PortableCheckpoint.Summary
        do { summary = try PortableCheckpoint.export(from: source, to: out) } catch {
            FileHandle.standardError.write(Data("smartinf checkpoint export: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let residuals = summary.errorFeedback ? ", with the error-feedback residuals" : ""
        print("exported step \(summary.step) from \(summary.devices) device(s)\(residuals): \(summary.tensors) tensors, \(summary.bytes) bytes")
        summary.files.forEach { print("  \($0)") }
    }
}
