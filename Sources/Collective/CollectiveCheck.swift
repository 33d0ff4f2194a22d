import DurableWrite
import Foundation
import Optim
import ReductionOrder
import SeededRandom

/// What every rank of `smartinf collective-check` runs, for the multi-rank tests
/// (`CollectiveTests`): one data-parallel step's collectives on seeded data, with the results
/// written for the test to check against sums it computes itself.
///
/// Micro-batch m's gradient is drawn from a generator seeded by m alone, so it is the same
/// whichever rank computes it and however many ranks there are. Rank r sums its share of the
/// micro-batches (`PairwiseSum`), the ranks reduce-scatter the partial sums, gather the summed
/// slices back into a whole fp32 vector and a whole fp16 copy, and exchange a few scalars.
public enum CollectiveCheck {
    public struct Options: Sendable {
        public var elements: Int
        public var microBatches: Int
        public var seed: UInt64
        /// Each rank's slice; nil splits the elements evenly.
        public var slices: [Int]?
        /// Where each rank writes `rank-R.json`.
        public var directory: String
        public var fault: Fault?
        /// The world's `maximumCount` (nil: its default).
        public var maximumCount: Int?

        public init(elements: Int, microBatches: Int, seed: UInt64, slices: [Int]? = nil, directory: String, fault: Fault? = nil,
                    maximumCount: Int? = nil) {
            self.elements = elements
            self.microBatches = microBatches
            self.seed = seed
            self.slices = slices
            self.directory = directory
            self.fault = fault
            self.maximumCount = maximumCount
        }
    }

    /// A failure made to happen, to see how the job ends.
    public enum Fault: Sendable, Equatable {
        /// The rank SIGKILLs itself just before the reduce-scatter.
        case killRank(Int)
        /// Rank 0 moves one element of its slice to rank 1's (its counts no longer match the
        /// others'), so MPI refuses the reduce-scatter.
        case disagreeOnSlices
    }

    /// Refusals of the options, before any collective.
    public enum OptionsError: Error, Equatable, CustomStringConvertible {
        case microBatchesNotShared(microBatches: Int, ranks: Int)
        case slicesMismatch(slices: [Int], elements: Int, ranks: Int)

        public var description: String {
            switch self {
            case .microBatchesNotShared(let m, let r):
                "--micro-batches \(m) cannot be shared by \(r) ranks: each rank takes an equal share, so it must be a multiple of \(r)"
            case .slicesMismatch(let slices, let elements, let ranks):
                "--slices \(slices.map(String.init).joined(separator: ",")) must give one count per rank (\(ranks)) adding up to --elements \(elements)"
            }
        }
    }

    /// What a rank saw, written to `rank-R.json`.
    public struct Report: Codable, Equatable, Sendable {
        public var rank: Int
        public var size: Int
        public var launcher: String?
        /// The micro-batches this rank summed.
        public var firstMicroBatch: Int
        public var microBatchCount: Int
        /// The whole summed gradient after the all-gather, as fp32 bit patterns.
        public var sum: [UInt32]
        /// The whole fp16 copy of it after the all-gather, as bit patterns.
        public var copy: [UInt16]
        /// `allReduceSum` of `checkScalars(rank:seed:)` followed by this rank's slice's Σ x².
        public var scalarSums: [Double]
        /// `anyRank` with the last rank's flag raised, then with none.
        public var anyRaised: Bool
        public var anyQuiet: Bool
        public var traffic: [String: CollectiveTraffic]
    }

    /// Micro-batch `index`'s gradient: values of both signs over magnitudes 2⁻⁸ to 2⁸, so that the
    /// order of a sum shows in its bits.
    public static func microBatchGradient(_ index: Int, elements: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        return (0..<elements).map { _ in
            let bits = random.next()
            let significand = 1 + Float(bits >> 40) / Float(1 << 24)
            return Float(sign: bits & 1 == 0 ? .plus : .minus, exponent: Int(bits >> 1 & 15) - 8, significand: significand)
        }
    }

    /// The scalars rank `rank` contributes to the all-reduce.
    public static func checkScalars(rank: Int, seed: UInt64) -> [Double] {
        var random = SplitMix64(seed: seed &+ UInt64(rank))
        return (0..<3).map { _ in Double(random.next() >> 11) / Double(1 << 53) * 1e3 }
    }

    /// Runs the check on this rank (`World.run`: in an MPI job any failure ends the job naming
    /// this rank) and writes the report.
    public static func run(_ options: Options) throws -> Report {
        try World.run(maximumCount: options.maximumCount) { world in
            let report = try run(options, in: world)
            try DurableFile.write(JSONEncoder().encode(report), to: "\(options.directory)/rank-\(world.rank).json")
            return report
        }
    }

    private static func run(_ options: Options, in world: World) throws -> Report {
        let ranks = world.size
        guard options.microBatches % ranks == 0 else {
            throw OptionsError.microBatchesNotShared(microBatches: options.microBatches, ranks: ranks)
        }
        let slices = options.slices.map(RankSlices.init(counts:)) ?? RankSlices(splitting: options.elements, ranks: ranks)
        guard slices.ranks == ranks, slices.total == options.elements else {
            throw OptionsError.slicesMismatch(slices: slices.counts, elements: options.elements, ranks: ranks)
        }
        let share = options.microBatches / ranks
        let first = world.rank * share
        let sum = PairwiseSum(leaves: share, count: options.elements)
        for m in first..<(first + share) {
            sum.add(.fp32(AlignedBuffer(microBatchGradient(m, elements: options.elements, seed: options.seed))))
        }
        let partial = sum.finish()

        var exchangeSlices = slices
        if options.fault == .disagreeOnSlices, world.rank == 0, ranks > 1 {
            var counts = slices.counts
            counts[0] -= 1
            counts[1] += 1
            exchangeSlices = RankSlices(counts: counts)
        }
        if options.fault == .killRank(world.rank) { raise(SIGKILL) }
        let exchange = SliceExchange(world: world, slices: exchangeSlices)
        let own = AlignedBuffer<Float>(count: exchangeSlices.counts[world.rank])
        try exchange.reduceScatter(partial, into: own)

        let ownRange = slices.range(ofRank: world.rank)
        let whole = AlignedBuffer<Float>(count: options.elements)
        let copy = AlignedBuffer<Float16>(count: options.elements)
        for (element, i) in zip(ownRange, 0..<own.count) {
            whole[element] = own[i]
            copy[element] = Float16(own[i])
        }
        try exchange.allGather(.fp32(whole))
        try exchange.allGather(.fp16(copy))

        let sliceSquares = (0..<own.count).reduce(0.0) { $0 + Double(own[$1]) * Double(own[$1]) }
        let scalarSums = try world.allReduceSum(checkScalars(rank: world.rank, seed: options.seed) + [sliceSquares])
        let anyRaised = try world.anyRank(world.rank == ranks - 1)
        let anyQuiet = try world.anyRank(false)
        try world.barrier()
        let traffic = Dictionary(uniqueKeysWithValues: CollectiveOperation.allCases.map { ($0.rawValue, world.traffic(of: $0)) })
        return Report(rank: world.rank, size: ranks, launcher: world.launcher, firstMicroBatch: first, microBatchCount: share,
                      sum: whole.array.map(\.bitPattern), copy: copy.array.map(\.bitPattern), scalarSums: scalarSums,
                      anyRaised: anyRaised, anyQuiet: anyQuiet, traffic: traffic)
    }
}
