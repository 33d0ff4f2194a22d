/// Which contiguous range of a flat vector each rank owns, in rank order from element 0: the
/// slice a rank's devices update, whose summed gradient it receives and whose new values it hands
/// to every other rank. Slices may differ in size, and may be empty.
public struct RankSlices: Sendable, Equatable {
    /// Elements of each rank's slice.
    public let counts: [Int]
    /// Where each rank's slice starts.
    public let offsets: [Int]

    public init(counts: [Int]) {
        precondition(!counts.isEmpty && counts.allSatisfy { $0 >= 0 }, "slices need one non-negative count per rank, got \(counts)")
        self.counts = counts
        offsets = counts.reduce(into: [0]) { $0.append($0.last! + $1) }.dropLast()
    }

    /// `total` elements split as evenly as counts allow: the first `total % ranks` ranks take one
    /// more.
    public init(splitting total: Int, ranks: Int) {
        precondition(total >= 0 && ranks >= 1, "cannot split \(total) elements over \(ranks) ranks")
        self.init(counts: (0..<ranks).map { total / ranks + ($0 < total % ranks ? 1 : 0) })
    }

    public var ranks: Int { counts.count }

    /// Elements of the whole vector.
    public var total: Int { offsets.last! + counts.last! }

    public func range(ofRank rank: Int) -> Range<Int> {
        offsets[rank]..<(offsets[rank] + counts[rank])
    }
}
