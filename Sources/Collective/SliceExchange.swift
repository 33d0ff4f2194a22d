import CMPI
import Optim
import ReductionOrder

/// The two collectives of a data-parallel step over a flat vector split into `RankSlices`:
/// gradients reduce-scattered to the owner of each slice, and the new values of every slice
/// gathered into every rank. Any sizes: each rank's runs go as messages of at most
/// `World.maximumCount` elements (`World.transfer`).
///
/// The reduce-scatter sums in a fixed order that does not depend on MPI: each rank receives
/// every rank's copy of its slice and sums them in `PairwiseTree`'s order over rank numbers.
/// With each rank's copy being its `PairwiseSum` over its own share of the micro-batches, the
/// result has the bits of one rank summing all of them, whenever
/// `PairwiseTree.ranksReproduceOneRank` says so (docs/SCALE-OUT.md).
///
/// Used by one thread (it keeps the buffer the ranks' copies are received into).
public final class SliceExchange {
    public let world: World
    public let slices: RankSlices
    /// Every rank's copy of this rank's slice, rank by rank.
    private lazy var received = AlignedBuffer<Float>(count: world.size * ownElements)

    private var ownElements: Int { slices.counts[world.rank] }

    /// An exchange over `slices`, which every rank must give alike (one count per rank).
    public init(world: World, slices: RankSlices) {
        precondition(slices.ranks == world.size, "\(slices.ranks) slices for a world of \(world.size) ranks")
        self.world = world
        self.slices = slices
    }

    /// Sums `partial`, this rank's partial sum of the whole vector, with every other rank's, and
    /// writes this rank's slice of the sum into `own`.
    public func reduceScatter(_ partial: AlignedBuffer<Float>, into own: AlignedBuffer<Float>) throws(CollectiveError) {
        precondition(partial.count == slices.total, "the partial sum has \(partial.count) elements, the slices \(slices.total)")
        precondition(own.count == ownElements, "rank \(world.rank)'s slice has \(ownElements) elements, its buffer \(own.count)")
        let (ranks, rank, n) = (world.size, world.rank, ownElements)
        guard ranks > 1 else {
            PairwiseSum.sumChunks(partial, chunks: 1, chunkElements: n, into: own)
            return
        }
        let floatBytes = MemoryLayout<Float>.size
        let peers = (0..<ranks).filter { $0 != rank }
        // To each peer its slice of my partial sum; from each its copy of my slice, in rank order.
        let sends = peers.map { Transfer(peer: $0, elements: slices.range(ofRank: $0)) }
        let receives = peers.map { Transfer(peer: $0, elements: ($0 * n)..<(($0 + 1) * n)) }
        let mine = slices.range(ofRank: rank)
        let received = received
        try world.exchange(.reduceScatter, sent: (slices.total - n) * floatBytes, received: (ranks - 1) * n * floatBytes) {
            () throws(CollectiveError) -> Int in
            try partial.withUnsafeBufferPointer { send in
                received.withUnsafeMutableBufferPointer { receive in
                    // My own copy of my slice, which no message carries.
                    _ = UnsafeMutableBufferPointer(rebasing: receive[(rank * n)..<((rank + 1) * n)]).update(fromContentsOf: send[mine])
                    return Result { () throws(CollectiveError) in
                        try world.transfer(.reduceScatter, of: cmpi_float(), elementBytes: floatBytes,
                                           sends: sends, from: UnsafeRawPointer(send.baseAddress!),
                                           receives: receives, into: UnsafeMutableRawPointer(receive.baseAddress!))
                    }
                }
            }.get()
        }
        PairwiseSum.sumChunks(received, chunks: ranks, chunkElements: n, into: own)
    }

    /// Fills every other rank's slice of `vector` with that rank's, this rank's slice being in
    /// place already: the new compute copy, in its precision (16-bit ones move as raw bits).
    public func allGather(_ vector: StreamBuffer) throws(CollectiveError) {
        precondition(vector.count == slices.total, "the vector has \(vector.count) elements, the slices \(slices.total)")
        let ranks = world.size
        guard ranks > 1 else { return }
        let (datatype, elementBytes) = switch vector.precision {
        case .fp32: (cmpi_float(), 4)
        case .fp16, .bf16: (cmpi_uint16(), 2)
        }
        let (slices, world, n) = (slices, world, ownElements)
        try world.exchange(.allGather, sent: (ranks - 1) * n * elementBytes, received: (slices.total - n) * elementBytes) {
            () throws(CollectiveError) -> Int in
            try vector.withUnsafeMutableRawPointer { buffer in
                Result { () throws(CollectiveError) in
                    try world.allGather(slices, of: datatype!, elementBytes: elementBytes, in: buffer, .allGather)
                }
            }.get()
        }
    }
}
