import ArgumentParser
import Benchmarking
import Optim

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

    @Option(help: "Gradient precision: fp32, fp16 or bf16.")
    var grad: String = "fp16"

    @Option(help: "Compute-copy precision written out: fp32, fp16, bf16 or none.")
    var copyOut: String = "fp16"

    @Option(help: "Kernel path: simd or scalar.")
    var path: String = "simd"

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
        let optimizers = try CommaList.items(optimizer).map { name in
            do { return try OptimizerConfig(name: name) } catch { throw ValidationError("--optimizer: \(error)") }
        }
        guard let gradient = Precision(name: grad) else {
            throw ValidationError("--grad '\(grad)' is not a precision: expected fp32, fp16 or bf16")
        }
        let copy: Precision?
        if copyOut.lowercased() == "none" { copy = nil } else {
            guard let p = Precision(name: copyOut) else {
                throw ValidationError("--copy-out '\(copyOut)' is not a precision: expected fp32, fp16, bf16 or none")
            }
            copy = p
        }
        guard let kernelPath = UpdateKernel.Path(rawValue: path) else {
            throw ValidationError("--path '\(path)' is not a kernel path: expected simd or scalar")
        }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        return OptimBenchmark.Options(parameters: n, threadCounts: threadCounts, optimizers: optimizers,
                                      gradientPrecision: gradient, copyOutPrecision: copy, path: kernelPath,
                                      repetitions: repetitions)
    }
}
