import ArgumentParser
import Collective

/// The rank side of the multi-rank tests: `mpirun -np R smartinf collective-check …`. Hidden: it
/// is a test harness, not a user command.
struct CollectiveCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collective-check",
        abstract: "Run one data-parallel step's collectives on seeded data and write what this rank saw (for the tests).",
        shouldDisplay: false)

    @Option(help: "Elements of the gradient.") var elements: Int
    @Option(name: .customLong("micro-batches"), help: "Micro-batches of the step, shared evenly by the ranks.") var microBatches: Int
    @Option(help: "Seed of the micro-batch gradients.") var seed: UInt64 = 1
    @Option(help: "Each rank's slice, comma-separated (default: an even split).") var slices: String?
    @Option(help: "Directory each rank writes rank-R.json into.") var out: String
    @Option(name: .customLong("kill-rank"), help: "This rank SIGKILLs itself before the reduce-scatter.") var killRank: Int?
    @Flag(name: .customLong("disagree-on-slices"), help: "Rank 0 gives one element of its slice to rank 1.") var disagreeOnSlices = false
    @Option(name: .customLong("mpi-max-count"), help: "Elements per MPI message at most (World.maximumCount).") var maximumCount: Int?

    func run() throws {
        guard elements >= 1, microBatches >= 1 else { throw ValidationError("--elements and --micro-batches must be at least 1") }
        guard World.maximumCounts.contains(maximumCount ?? 1) else {
            throw ValidationError("--mpi-max-count must be in \(World.maximumCounts) (an MPI count), got \(maximumCount!)")
        }
        let counts = try slices.map { try CommaList.integers($0, flag: "--slices", minimum: 0) }
        let fault: CollectiveCheck.Fault? = killRank.map { .killRank($0) } ?? (disagreeOnSlices ? .disagreeOnSlices : nil)
        do {
            _ = try CollectiveCheck.run(CollectiveCheck.Options(elements: elements, microBatches: microBatches, seed: seed,
                                                                slices: counts, directory: out, fault: fault,
                                                                maximumCount: maximumCount))
        } catch let error as CollectiveCheck.OptionsError {
            throw ValidationError(error.description)
        }
    }
}
