import ArgumentParser
import Benchmarking
import Optim
import SizeNotation

struct BenchOptim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optim",
        abstract: "Update-kernel throughput (params/s, GB/s) and its ratio to memcpy bandwidth.")

    @Option(help: "Parameters per update, e.g. 1000003, 64M (binary suffixes).")
    var params: String = "64M"

    @Option(help: "Thread counts to measure, comma-separated.")
    var threads: String = "1,2"

    @Option(help: "Optimizers, comma-separated: adamw, sgd, sgd:torch, adagrad, adagrad:torch.")
    var optimizer: String = "adamw"

    /// Optional only so that the help shows the default by name (a precision's raw value is its wire code).
    @Option(help: "Gradient precision (default fp16).")
    var grad: Precision?

    @Option(help: "Compute-copy precision written out, or none.")
    var copyOut: OptimBenchmark.CopyOut = OptimBenchmark.CopyOut(.fp16)

    @Option(help: "Kernel path.")
    var path: UpdateKernel.Path = .simd

    @OptionGroup var states: StatePrecisionOptions

    @Option(help: "Timed repetitions (the median is reported).")
    var repetitions: Int = 5

    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        let options = try resolvedOptions()
        let rows = OptimBenchmark(options).run()
        try output.emit(benchmark: "optim", rows: rows, table: OptimBenchmark.table(rows))
    }

    func resolvedOptions() throws -> OptimBenchmark.Options {
        guard let n = SizeArgument.parse(params), n >= 1 else {
            throw ValidationError("--params '\(params)' is not a positive count (examples: 1000003, 64M)")
        }
        let threadCounts = try CommaList.integers(threads, flag: "--threads", minimum: 1)
        let optimizers = try CommaList.values(optimizer, flag: "--optimizer", as: OptimizerConfig.self)
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        return OptimBenchmark.Options(parameters: n, threadCounts: threadCounts, optimizers: optimizers,
                                      gradientPrecision: grad ?? .fp16, copyOutPrecision: copyOut.precision, path: path,
                                      statePrecisions: try states.precisions(), repetitions: repetitions)
    }
}
