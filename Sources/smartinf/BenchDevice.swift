import ArgumentParser
import Benchmarking
import ConsoleLog
import DeviceProtocol
import Foundation
import Logging
import Optim
import SizeNotation

struct BenchDevice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "One emulated device's optimizer step on this disk (wall clock): naive vs overlap, against the I/O floor.")

    @Option(help: "Parameters on the device, e.g. 256M.")
    var params: String = "256M"

    @Option(help: "Handlers to measure: naive, overlap, or naive,overlap.")
    var handler: String = "naive,overlap"

    @Option(help: "Directory for the devices' SSD files and the raw replay's (disk-backed; about 3 × 28 bytes per AdamW parameter).")
    var dir: String = "/var/tmp/smartinf-bench"

    @Option(help: "Device DRAM (sets the subgroup size).")
    var dram: String = "1GiB"

    @Option(help: "Optimizer.")
    var optimizer: OptimizerConfig = .adamw(AdamWHyperparameters())

    @Option(help: "Gradient precision the device reads (fp32 to compare with peers that offload fp32 gradients).")
    var grad: Precision = .fp16

    @Option(name: .customLong("topk-ratio"), help: "Send top-k payloads at this ratio instead of dense gradients.")
    var topkRatio: Double?

    @Option(help: "Update-kernel threads on the device.")
    var threads: Int = 1

    @Option(name: .customLong("queue-depth"), help: "io_uring queue depth of the devices' rings and the raw replay's (DeepSpeed aio.queue_depth).")
    var queueDepth: Int = 16

    @Option(name: .customLong("block-size"), help: "I/O block size of the devices and the raw replay, e.g. 1MiB (DeepSpeed aio.block_size).")
    var blockSize: String = "1MiB"

    @Option(help: "Timed steps per handler (the median is reported).")
    var repetitions: Int = 3

    @OptionGroup var states: StatePrecisionOptions
    @OptionGroup var output: BenchOutputOptions
    @OptionGroup var logging: LogLevelOption

    func run() throws {
        logging.bootstrap()
        let n = try SizeFlags.parameters(params, example: "256M")
        let dramBytes = try SizeFlags.dram(dram)
        let handlers = try CommaList.values(handler, flag: "--handler", as: HandlerMode.self)
        guard Set(handlers).count == handlers.count else { throw ValidationError("--handler '\(handler)' names a handler twice: expected naive, overlap or naive,overlap") }
        if let r = topkRatio, !(r > 0 && r <= 1) { throw ValidationError("--topk-ratio \(r) is outside (0, 1]") }
        guard threads >= 1, repetitions >= 1 else { throw ValidationError("--threads and --repetitions must be at least 1") }
        guard (1...4096).contains(queueDepth) else { throw ValidationError("--queue-depth \(queueDepth) is outside 1...4096") }
        guard let block = SizeArgument.parse(blockSize), block >= 4096, block % 4096 == 0, block <= 64 << 20 else {
            throw ValidationError("--block-size '\(blockSize)' is not a multiple of 4KiB between 4KiB and 64MiB (example: 1MiB)")
        }
        let statePrecision = try states.precision()
        let options = DeviceBenchmark.Options(parameters: n, directory: dir, dramBytes: dramBytes, handlers: handlers,
                                              optimizer: optimizer, gradientPrecision: grad, topkRatio: topkRatio, threads: threads, queueDepth: queueDepth,
                                              blockSize: block, repetitions: repetitions, statePrecision: statePrecision)
        let rows = try output.reportingFailure("bench device") { try DeviceBenchmark(options, logger: Logger(label: "smartinf.bench")).run(progress: output.progress) }
        try output.emit(benchmark: "device", rows: rows, table: DeviceBenchmark.table(rows))
    }
}
