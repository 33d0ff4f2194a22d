/// The one order in which gradients are summed: a binary tree over the leaves (micro-batch
/// gradients, or ranks' partial sums) that splits every range of leaves at its midpoint, the left
/// half taking the smaller share when the count is odd:
///
///     sum(a..<b) = leaf a                                   when b − a = 1
///                  sum(a..<m) + sum(m..<b), m = a + (b − a)/2 otherwise
///
/// Floating-point addition is commutative but not associative, so this parenthesisation is what
/// makes a sum reproducible. The split depends only on the range's length, so the subtree over
/// any node is itself the tree over that node's leaf count: a rank that owns a node's leaves can
/// sum them alone and hand the node up. docs/SCALE-OUT.md has the rule and its proof.
public enum PairwiseTree {
    /// One step of summing `leaves` leaves in canonical order.
    public enum Event: Sendable, Equatable {
        /// Leaf `index` (counting from 0) enters the sum.
        case leaf(Int)
        /// The sums of two adjacent nodes, `left` before `right`, are added into the left one's.
        case merge(left: Range<Int>, right: Range<Int>)
    }

    /// The events of the tree over `leaves` leaves in post-order: leaves from left to right, each
    /// merge as soon as both its children are done. This is the order a sum can be computed in
    /// while the leaves arrive one at a time.
    public static func postOrder(leaves: Int) -> [Event] {
        precondition(leaves >= 1, "a sum needs at least one leaf, got \(leaves)")
        var events: [Event] = []
        events.reserveCapacity(2 * leaves - 1)
        func visit(_ range: Range<Int>) {
            guard range.count > 1 else {
                events.append(.leaf(range.lowerBound))
                return
            }
            let middle = split(range)
            visit(range.lowerBound..<middle)
            visit(middle..<range.upperBound)
            events.append(.merge(left: range.lowerBound..<middle, right: middle..<range.upperBound))
        }
        visit(0..<leaves)
        return events
    }

    /// Where a range of two or more leaves splits.
    public static func split(_ range: Range<Int>) -> Int {
        range.lowerBound + range.count / 2
    }

    /// Whether R ranks that each sum their `microBatches / ranks` consecutive micro-batches with
    /// this tree, and then sum the R partial sums in rank order with this tree, get exactly the
    /// one-rank tree over all `microBatches`: true when the ranks divide the micro-batches and
    /// either every rank has one micro-batch or R is a power of two. (Proof in
    /// docs/SCALE-OUT.md; `ReductionOrderTests` checks it against the trees' node sets.)
    public static func ranksReproduceOneRank(ranks: Int, microBatches: Int) -> Bool {
        precondition(ranks >= 1 && microBatches >= 1, "ranks and micro-batches must be positive")
        guard microBatches % ranks == 0 else { return false }
        return microBatches == ranks || ranks & (ranks - 1) == 0
    }
}
