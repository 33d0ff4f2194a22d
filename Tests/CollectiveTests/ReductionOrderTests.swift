import Optim
import ReductionOrder
import SeededRandom
import Testing

/// The reference every sum here is checked against, written as the rule reads (docs/SCALE-OUT.md):
/// split at the midpoint, left half smaller when odd, add left + right in fp32.
func midpointSum(_ leaves: [[Float]], _ range: Range<Int>) -> [Float] {
    if range.count == 1 { return leaves[range.lowerBound] }
    let middle = range.lowerBound + range.count / 2
    let left = midpointSum(leaves, range.lowerBound..<middle)
    let right = midpointSum(leaves, middle..<range.upperBound)
    return zip(left, right).map { $0 + $1 }
}

/// Values of both signs over 2⁻⁸…2⁸, so that the order of a sum shows in its bits.
func orderSensitiveValues(_ count: Int, seed: UInt64) -> [Float] {
    var random = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let bits = random.next()
        return Float(sign: bits & 1 == 0 ? .plus : .minus, exponent: Int(bits >> 1 & 15) - 8,
                     significand: 1 + Float(bits >> 40) / Float(1 << 24))
    }
}

@Suite struct ReductionOrderTests {
    @Test func fiveLeavesSplitTwoAndThree() {
        #expect(PairwiseTree.postOrder(leaves: 5) == [
            .leaf(0), .leaf(1), .merge(left: 0..<1, right: 1..<2),
            .leaf(2), .leaf(3), .leaf(4), .merge(left: 3..<4, right: 4..<5), .merge(left: 2..<3, right: 3..<5),
            .merge(left: 0..<2, right: 2..<5),
        ])
        #expect(PairwiseTree.postOrder(leaves: 1) == [.leaf(0)])
    }

    /// Which ranges of micro-batches a sum adds as one node. Bits agree for all data exactly when
    /// the parenthesisations (these node sets) agree.
    static func nodes(of range: Range<Int>) -> Set<Range<Int>> {
        guard range.count > 1 else { return [range] }
        let middle = range.lowerBound + range.count / 2
        return nodes(of: range.lowerBound..<middle).union(nodes(of: middle..<range.upperBound)).union([range])
    }

    /// R ranks, each summing its k = M/R micro-batches with the tree, then the owner summing the R
    /// partials with the tree over rank numbers.
    static func composedNodes(ranks: Int, microBatches: Int) -> Set<Range<Int>> {
        let k = microBatches / ranks
        let withinRanks = (0..<ranks).map { r in Set(nodes(of: 0..<k).map { ($0.lowerBound + r * k)..<($0.upperBound + r * k) }) }
        let acrossRanks = nodes(of: 0..<ranks).map { ($0.lowerBound * k)..<($0.upperBound * k) }
        return withinRanks.reduce(Set(acrossRanks)) { $0.union($1) }
    }

    @Test func ranksReproduceOneRankExactlyWhenTheTreesCompose() {
        for microBatches in 1...24 {
            for ranks in 1...microBatches where microBatches % ranks == 0 {
                let composes = Self.composedNodes(ranks: ranks, microBatches: microBatches) == Self.nodes(of: 0..<microBatches)
                #expect(PairwiseTree.ranksReproduceOneRank(ranks: ranks, microBatches: microBatches) == composes,
                        "R = \(ranks), M = \(microBatches)")
            }
        }
        #expect(!PairwiseTree.ranksReproduceOneRank(ranks: 4, microBatches: 6), "uneven shares are not a composition")
    }

    @Test(arguments: [Precision.fp32, .fp16, .bf16])
    func streamedSumHasTheBitsOfTheTree(precision: Precision) {
        for leafCount in 1...9 {
            // Leaves shorter than the sum by 5 elements: those are +0 (the partition's padding).
            let values = (0..<leafCount).map { StreamBuffer(precision: precision, values: orderSensitiveValues(133, seed: UInt64($0))) }
            let sum = PairwiseSum(leaves: leafCount, count: 138)
            // Twice: the second sum runs on the buffers the first left behind.
            for _ in 0..<2 {
                for leaf in values { sum.add(leaf) }
                let expected = midpointSum(values.map(\.floats), 0..<leafCount) + Array(repeating: 0, count: 5)
                #expect(sum.finish().array.map(\.bitPattern) == expected.map(\.bitPattern), "\(leafCount) leaves, \(precision)")
            }
        }
    }

    @Test func chunksSumInTheSameOrder() {
        for chunks in 1...6 {
            let leaves = (0..<chunks).map { orderSensitiveValues(37, seed: 100 + UInt64($0)) }
            let buffer = AlignedBuffer(leaves.flatMap { $0 })
            let output = AlignedBuffer<Float>(count: 37)
            PairwiseSum.sumChunks(buffer, chunks: chunks, chunkElements: 37, into: output)
            #expect(output.array.map(\.bitPattern) == midpointSum(leaves, 0..<chunks).map(\.bitPattern), "\(chunks) chunks")
        }
    }

    /// Each rank's `PairwiseSum` over its share, then `sumChunks` over the ranks' partials, against
    /// one rank summing all micro-batches.
    func composedSum(ranks: Int, leaves: [[Float]]) -> [UInt32] {
        let share = leaves.count / ranks
        let partials = (0..<ranks).flatMap { r in
            let sum = PairwiseSum(leaves: share, count: leaves[0].count)
            for leaf in leaves[(r * share)..<((r + 1) * share)] { sum.add(.fp32(AlignedBuffer(leaf))) }
            return sum.finish().array
        }
        let output = AlignedBuffer<Float>(count: leaves[0].count)
        PairwiseSum.sumChunks(AlignedBuffer(partials), chunks: ranks, chunkElements: leaves[0].count, into: output)
        return output.array.map(\.bitPattern)
    }

    @Test func oneTwoAndFourRanksGiveTheBitsOfOneRankThreeDoNot() {
        let eight = (0..<8).map { orderSensitiveValues(500, seed: 7 + UInt64($0)) }
        let oneRank = composedSum(ranks: 1, leaves: eight)
        #expect(composedSum(ranks: 2, leaves: eight) == oneRank)
        #expect(composedSum(ranks: 4, leaves: eight) == oneRank)
        #expect(composedSum(ranks: 8, leaves: eight) == oneRank)
        // Six micro-batches: the one-rank tree splits 3 + 3, three ranks hold 2 + 2 + 2.
        let six = Array(eight.prefix(6))
        #expect(composedSum(ranks: 3, leaves: six) != composedSum(ranks: 1, leaves: six))
        #expect(composedSum(ranks: 6, leaves: six) == composedSum(ranks: 1, leaves: six))
    }
}
