import ArgumentParser
import Benchmarking
import Collective
import SizeNotation

struct BenchCollective: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collective",
        abstract: "Reduce-scatter (fp32 gradient) and all-gather (fp16 copy) over MPI ranks: time and bytes per rank against 2(R−1)/R.",
        discussion: "Run it under MPI: mpirun -np 2 smartinf bench collective. Alone it is a world of one rank, which moves nothing. Rank 0 prints every rank's row.")

    @Option(help: "Elements of the gradient and of the copy, e.g. 4M (binary suffixes).")
    var elements: String = "4M"

    @Option(help: "Timed repetitions (the median is reported).")
    var repetitions: Int = 5

    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        guard let n = SizeArgument.parse(elements), n >= 1 else {
            throw ValidationError("--elements '\(elements)' is not a count of at least 1 (examples: 1000003, 4M)")
        }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        try World.run { world in
            let rows = try CollectiveBenchmark(CollectiveBenchmark.Options(elements: n, repetitions: repetitions)).run(in: world)
            if world.rank == 0 { try output.emit(benchmark: "collective", rows: rows, table: CollectiveBenchmark.table(rows)) }
        }
    }
}
