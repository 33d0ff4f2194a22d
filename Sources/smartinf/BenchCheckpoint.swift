import ArgumentParser
import Benchmarking
import Optim

struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "A checkpoint's optimizer states (wall clock): each device snapshotting inside itself vs the host gathering them over its link.")

    @Option(help: "Parameters over all devices, e.g. 124M.")
    var params: String = "124M"

    @Option(help: "Devices (started as smartssd processes).")
    var devices: Int = 4

    @Option(help: "Directory for the devices' SSD files, their snapshots and the host's files (disk-backed; about 52 bytes per AdamW parameter: the SSD files 28, the snapshots 12, the host's files 12).")
    var dir: String = "/var/tmp/smartinf-bench"

    @Option(help: "DRAM per device (sets the subgroup size).")
    var dram: String = "1GiB"

    @Option(help: "Optimizer (its states are what a checkpoint copies).")
    var optimizer: OptimizerConfig = .adamw(AdamWHyperparameters())

    @Option(help: "Timed checkpoints per method (the median is reported).")
    var repetitions: Int = 3

    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        let n = try SizeFlags.parameters(params, example: "124M")
        guard (1...64).contains(devices) else { throw ValidationError("--devices \(devices) is outside 1...64") }
        let dramBytes = try SizeFlags.dram(dram)
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        let options = CheckpointBenchmark.Options(parameters: n, devices: devices, directory: dir, dramBytes: dramBytes,
                                                  optimizer: optimizer, repetitions: repetitions)
        let rows = try output.reportingFailure("bench checkpoint") { try CheckpointBenchmark(options).run(progress: output.progress) }
        try output.emit(benchmark: "checkpoint", rows: rows, table: CheckpointBenchmark.table(rows))
    }
}
