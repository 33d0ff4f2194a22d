import Collective
import Optim
import SeededRandom

/// `mpirun -np R smartinf bench collective`: the two collectives of a data-parallel step at a
/// given size, each rank's time and bytes, against the theory: a reduce-scatter of the fp32
/// gradient and an all-gather of the fp16 compute copy each move (R − 1)/R of their vector into
/// and out of every rank, 2(R − 1)/R of the gradient and parameter bytes in all.
public struct CollectiveBenchmark: Sendable {
    public struct Options: Sendable {
        public var elements: Int
        public var repetitions: Int

        public init(elements: Int = 4 << 20, repetitions: Int = 5) {
            self.elements = elements
            self.repetitions = repetitions
        }
    }

    /// One rank's figures for one step (one reduce-scatter and one all-gather).
    public struct Row: Codable, Sendable, Equatable {
        public var rank: Int
        public var ranks: Int
        public var elements: Int
        /// Median seconds of the reduce-scatter (the exchange and the fixed-order sum of the
        /// ranks' copies) and of the all-gather, each started after a barrier.
        public var reduceScatterSeconds: Double
        public var allGatherSeconds: Double
        /// Bytes this rank sent and received per step, both collectives, counted by `World`.
        public var bytesSent: Int
        public var bytesReceived: Int
        /// (R − 1)/R × (4 + 2) × elements: the theory's bytes each way per rank.
        public var theoryBytes: Double
        /// Bytes received per second of the two collectives together.
        public var receivedGigabytesPerSecond: Double
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// Runs on every rank of `world`; every rank gets every rank's row.
    public func run(in world: World) throws(CollectiveError) -> [Row] {
        let n = options.elements
        let slices = RankSlices(splitting: n, ranks: world.size)
        let exchange = SliceExchange(world: world, slices: slices)
        let partial = AlignedBuffer<Float>(count: n)
        var random = SplitMix64(seed: UInt64(world.rank) + 1)
        partial.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = Float(Int32(truncatingIfNeeded: random.next() >> 32)) * 0x1p-31 }
        }
        let own = AlignedBuffer<Float>(count: slices.counts[world.rank])
        let copy = StreamBuffer(precision: .fp16, count: n)

        let before = (world.traffic(of: .reduceScatter), world.traffic(of: .allGather))
        var reduceScatter: [Double] = []
        var allGather: [Double] = []
        // One untimed round first: MPI sets its connections up on first use.
        for round in 0...options.repetitions {
            try world.barrier()
            var failure: CollectiveError?
            let reduceSeconds = Timing.seconds { do throws(CollectiveError) { try exchange.reduceScatter(partial, into: own) } catch { failure = error } }
            try world.barrier()
            let gatherSeconds = Timing.seconds { do throws(CollectiveError) { try exchange.allGather(copy) } catch { failure = error } }
            if let failure { throw failure }
            if round > 0 {
                reduceScatter.append(reduceSeconds)
                allGather.append(gatherSeconds)
            }
        }
        let steps = options.repetitions + 1
        let sent = (world.traffic(of: .reduceScatter).bytesSent - before.0.bytesSent
            + world.traffic(of: .allGather).bytesSent - before.1.bytesSent) / steps
        let received = (world.traffic(of: .reduceScatter).bytesReceived - before.0.bytesReceived
            + world.traffic(of: .allGather).bytesReceived - before.1.bytesReceived) / steps
        let mine = [Timing.median(reduceScatter), Timing.median(allGather), Double(sent), Double(received)]
        let all = try world.allGather(mine)
        let ranks = world.size
        return (0..<ranks).map { r in
            let figures = all[(r * mine.count)..<((r + 1) * mine.count)].map { $0 }
            return Row(rank: r, ranks: ranks, elements: n, reduceScatterSeconds: figures[0], allGatherSeconds: figures[1],
                       bytesSent: Int(figures[2]), bytesReceived: Int(figures[3]),
                       theoryBytes: Double(ranks - 1) / Double(ranks) * 6 * Double(n),
                       receivedGigabytesPerSecond: figures[3] / (figures[0] + figures[1]) / 1e9)
        }
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["rank", "of", "elements", "reduce-scatter ms", "all-gather ms", "sent MB", "received MB",
                               "theory MB", "received ÷ theory", "received GB/s"])
        for row in rows {
            table.append(["\(row.rank)", "\(row.ranks)", Figures.count(Double(row.elements)),
                          Figures.fixed(row.reduceScatterSeconds * 1e3, 2), Figures.fixed(row.allGatherSeconds * 1e3, 2),
                          Figures.fixed(Double(row.bytesSent) / 1e6, 2), Figures.fixed(Double(row.bytesReceived) / 1e6, 2),
                          Figures.fixed(row.theoryBytes / 1e6, 2),
                          row.theoryBytes > 0 ? Figures.fixed(Double(row.bytesReceived) / row.theoryBytes, 3) : "-",
                          Figures.fixed(row.receivedGigabytesPerSecond, 2)])
        }
        return table.rendered
    }
}
