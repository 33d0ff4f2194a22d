import Optim

/// Sums equally long gradients in `PairwiseTree`'s order, in fp32.
///
/// A rank feeds its micro-batch gradients one at a time, as backward produces them (`add`), and
/// gets its partial sum (`finish`); the owner of a slice sums the ranks' partials of it the same
/// way (`sumChunks`). Together they give the bits of a one-rank sum over all micro-batches
/// whenever `PairwiseTree.ranksReproduceOneRank` says so.
///
/// Memory: at most ⌈log₂ leaves⌉ + 1 buffers of `count` fp32 elements are held at once (the
/// finished left subtrees waiting for their right siblings); they are kept for the next sum.
///
/// Used by one thread.
public final class PairwiseSum {
    /// Gradients per sum.
    public let leaves: Int
    /// Elements of the sum. The leaves may be shorter, all by the same length: the rest counts as
    /// +0 (the partition's padding).
    public let count: Int
    private let events: [PairwiseTree.Event]
    /// The index in `events` of the next leaf expected.
    private var next = 0
    /// The length of the leaves of the sum in progress.
    private var leafElements = 0
    /// Sums of the finished nodes whose parent is not done yet, leftmost first.
    private var pending: [AlignedBuffer<Float>] = []
    private var spare: [AlignedBuffer<Float>] = []
    /// The last finished sum, handed to the caller and taken back when the next sum starts.
    private var handedOut: AlignedBuffer<Float>?

    public init(leaves: Int, count: Int) {
        precondition(count >= 0, "a sum has a non-negative element count, got \(count)")
        self.leaves = leaves
        self.count = count
        events = PairwiseTree.postOrder(leaves: leaves)
    }

    /// Leaves added to the sum in progress.
    public var added: Int {
        events[..<next].count { if case .leaf = $0 { true } else { false } }
    }

    /// Adds the next leaf (widened exactly to fp32), and every sum of two nodes that it completes.
    /// A leaf that is a right child is added straight into its left sibling, without a copy.
    public func add(_ leaf: StreamBuffer) {
        precondition(leaf.count <= count, "a leaf of \(leaf.count) elements is longer than the sum's \(count)")
        if next == events.count { restart() }
        if next == 0 { leafElements = leaf.count }
        precondition(leaf.count == leafElements, "the leaves of one sum have \(leafElements) elements, this one \(leaf.count)")
        guard case .leaf(let index) = events[next] else { preconditionFailure("the tree's next event is not a leaf") }
        next += 1
        if next < events.count, case .merge(_, let right) = events[next], right == index..<(index + 1) {
            ElementwiseSum.add(leaf, into: pending[pending.count - 1])
            next += 1
        } else {
            let buffer = takeBuffer()
            ElementwiseSum.widen(leaf, into: buffer)
            pending.append(buffer)
        }
        mergeCompletedNodes()
    }

    /// The sum of all `leaves` leaves; it stays valid until the next `add`, which starts a new sum
    /// and reuses the buffer.
    public func finish() -> AlignedBuffer<Float> {
        precondition(next == events.count && pending.count == 1,
                     "the sum is finished after all \(leaves) leaves, \(added) were added")
        let sum = pending.removeLast()
        handedOut = sum
        return sum
    }

    /// Sums the `chunks` consecutive chunks of `chunkElements` elements in `buffer` (chunk q is
    /// leaf q) into `output`. The chunks are overwritten with partial sums.
    public static func sumChunks(_ buffer: AlignedBuffer<Float>, chunks: Int, chunkElements: Int,
                                 into output: AlignedBuffer<Float>) {
        precondition(buffer.count >= chunks * chunkElements && output.count >= chunkElements,
                     "\(chunks) chunks of \(chunkElements) elements do not fit the buffers")
        // A node's sum lives in the chunk of its first leaf, so the root's ends in chunk 0.
        for case .merge(let left, let right) in PairwiseTree.postOrder(leaves: chunks) {
            ElementwiseSum.add(chunkAt: right.lowerBound * chunkElements, intoChunkAt: left.lowerBound * chunkElements,
                               count: chunkElements, of: buffer)
        }
        ElementwiseSum.copy(buffer, from: 0, count: chunkElements, into: output)
    }

    private func mergeCompletedNodes() {
        while next < events.count, case .merge = events[next] {
            let right = pending.removeLast()
            ElementwiseSum.add(.fp32(right), into: pending[pending.count - 1])
            spare.append(right)
            next += 1
        }
    }

    private func restart() {
        next = 0
        if let handedOut { spare.append(handedOut) }
        handedOut = nil
    }

    private func takeBuffer() -> AlignedBuffer<Float> {
        spare.popLast() ?? AlignedBuffer(count: count)
    }
}
