import ArgumentParser
import Benchmarking
import GPT
import Optim
import SeededRandom

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training-step throughput of the CPU GPT-2 (in process), with the shares of time in sgemm and in mixed-precision conversions.")

    @Option(parsing: .upToNextOption, help: "Models as gpt2:L,H,C,T,V.")
    var models: [String] = ["gpt2:2,4,128,64,50257", "gpt2:12,12,768,64,50257"]
    @Option(help: "Batch size B.") var batch: Int = 4
    @Option(help: "Sequence length T.") var seq: Int = 64
    @Option(help: "BLAS thread counts, comma-separated.") var threads: String = "1,2"
    @Option(help: "Parameter and gradient precisions, comma-separated (fp32, fp16, bf16).") var precisions: String = "fp32"
    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        let threadCounts = try CommaList.integers(threads, flag: "--threads", minimum: 1)
        let precisionList = try CommaList.values(precisions, flag: "--precisions", as: Precision.self)
        var rows: [TrainingBenchmark.Row] = []
        for spec in models {
            let config: GPTConfig
            do { config = try GPTConfig(initSpec: spec) } catch { throw ValidationError("--models: \(error)") }
            var rng = SplitMix64(seed: 1)
            output.progress("\(config)")
            for precision in precisionList {
                rows += try output.reportingFailure("bench train") {
                    try TrainingBenchmark(TrainingBenchmark.Options(config: config, batchSize: batch, sequenceLength: seq,
                                                                    threadCounts: threadCounts, precision: precision)).run(using: &rng)
                }
            }
        }
        var table = TextTable(["model", "params", "precision", "B", "T", "threads", "s/step", "tok/s", "fw s", "bw s", "update s", "sgemm share",
                               "sgemm GFLOP/s", "conversion share"])
        for r in rows {
            table.append([r.model, Figures.count(Double(r.parameters)), r.precision, "\(r.batchSize)", "\(r.sequenceLength)", "\(r.blasThreads)",
                          Figures.fixed(r.secondsPerStep, 3), Figures.fixed(r.tokensPerSecond, 0), Figures.fixed(r.forwardSeconds, 3),
                          Figures.fixed(r.backwardSeconds, 3), Figures.fixed(r.updateSeconds, 3),
                          Figures.fixed(r.sgemmShare * 100, 1) + "%", Figures.fixed(r.sgemmGigaflopsPerSecond, 1),
                          Figures.fixed(r.conversionShare * 100, 1) + "%"])
        }
        try output.emit(benchmark: "train", rows: rows, table: table.rendered)
    }
}
