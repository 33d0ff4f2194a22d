import ArgumentParser
import Benchmarking
import Optim
import SizeNotation

struct BenchTopK: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topk",
        abstract: "Top-k selection, payload encoding and decode + scatter throughput, and bytes on the wire per kept element.")

    @Option(help: "Gradient elements, e.g. 64M (binary suffixes).")
    var elements: String = "64M"

    @Option(help: "Fraction of elements kept, in (0, 1].")
    var ratio: Double = 0.01

    /// Optional only so that the help shows the default by name (a precision's raw value is its wire code).
    @Option(help: "Value precision in the payload (default fp16).")
    var values: Precision?

    @Flag(help: "Compress the index stream with zstd (kept only when it shrinks).")
    var zstd = false

    @Option(help: "Timed repetitions (the median is reported).")
    var repetitions: Int = 5

    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        guard let n = SizeArgument.parse(elements), n >= 1, n <= Int(UInt32.max) else {
            throw ValidationError("--elements '\(elements)' is not a count between 1 and 4294967295 (examples: 1000003, 64M)")
        }
        guard ratio > 0, ratio <= 1 else { throw ValidationError("--ratio \(ratio) is outside (0, 1]: expected e.g. 0.01") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        let row = try TopKBenchmark(TopKBenchmark.Options(elements: n, ratio: ratio, valueEncoding: values ?? .fp16, zstd: zstd,
                                                          repetitions: repetitions)).run()
        try output.emit(benchmark: "topk", rows: [row], table: TopKBenchmark.table([row]))
    }
}
