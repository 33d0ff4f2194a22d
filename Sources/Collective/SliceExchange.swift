import CMPI
import Optim
import ReductionOrder

/// The two collectives of a data-parallel step over a flat vector split into `RankSlices`:
/// gradients reduce-scattered to the owner of each slice, and the new values of every slice
/// gathered into every rank.
///
/// The reduce-scatter sums in a fixed order that does not depend on MPI: each rank receives
/// every rank's copy of its slice (`MPI_Alltoallv`) and sums them in `PairwiseTree`'s order over
/// rank numbers. With each rank's copy being its `PairwiseSum` over its own share of the
/// micro-batches, the result has the bits of one rank summing all of them, whenever
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
    public init(world: World, slices: RankSlices) throws(CollectiveError) {
        precondition(slices.ranks == world.size, "\(slices.ranks) slices for a world of \(world.size) ranks")
        // Every count and offset MPI sees, in elements: the whole vector and the receive buffer.
        let largest = max(slices.total, world.size * slices.counts[world.rank])
        guard largest <= Int(Int32.max) else {
            throw .countOutOfRange(operation: .reduceScatter, rank: world.rank, elements: largest)
        }
        self.world = world
        self.slices = slices
    }

    /// Sums `partial`, this rank's partial sum of the whole vector, with every other rank's, and
    /// writes this rank's slice of the sum into `own`.
    public func reduceScatter(_ partial: AlignedBuffer<Float>, into own: AlignedBuffer<Float>) throws(CollectiveError) {
        precondition(partial.count == slices.total, "the partial sum has \(partial.count) elements, the slices \(slices.total)")
        precondition(own.count == ownElements, "rank \(world.rank)'s slice has \(ownElements) elements, its buffer \(own.count)")
        let ranks = world.size
        guard ranks > 1 else {
            PairwiseSum.sumChunks(partial, chunks: 1, chunkElements: ownElements, into: own)
            return
        }
        let floatBytes = MemoryLayout<Float>.size
        let sent = (slices.total - ownElements) * floatBytes
        let receivedBytes = (ranks - 1) * ownElements * floatBytes
        let sendCounts = slices.counts.map { Int32($0) }
        let sendOffsets = slices.offsets.map { Int32($0) }
        let receiveCounts = Array(repeating: Int32(ownElements), count: ranks)
        let receiveOffsets = (0..<ranks).map { Int32($0 * ownElements) }
        let received = received
        try world.exchange(.reduceScatter, sent: sent, received: receivedBytes) { () throws(CollectiveError) in
            let code = partial.withUnsafeBufferPointer { send in
                received.withUnsafeMutableBufferPointer { receive in
                    MPI_Alltoallv(send.baseAddress, sendCounts, sendOffsets, cmpi_float(),
                                  receive.baseAddress, receiveCounts, receiveOffsets, cmpi_float(), cmpi_comm_world())
                }
            }
            try world.check(code, .reduceScatter, "MPI_Alltoallv")
        }
        PairwiseSum.sumChunks(received, chunks: ranks, chunkElements: ownElements, into: own)
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
        let counts = slices.counts.map { Int32($0) }
        let offsets = slices.offsets.map { Int32($0) }
        try world.exchange(.allGather, sent: (ranks - 1) * ownElements * elementBytes,
                           received: (slices.total - ownElements) * elementBytes) { () throws(CollectiveError) in
            let code = vector.withUnsafeMutableRawPointer { buffer in
                MPI_Allgatherv(cmpi_in_place(), 0, datatype, buffer, counts, offsets, datatype, cmpi_comm_world())
            }
            try world.check(code, .allGather, "MPI_Allgatherv")
        }
    }
}
