import CMPI

/// A run of elements this rank sends to, or receives from, one other rank: elements of the
/// buffer the exchange sends from or receives into.
struct Transfer {
    var peer: Int
    var elements: Range<Int>
}

/// How the collectives move their data: as point-to-point messages of at most `maximumCount`
/// elements, at addresses computed here.
///
/// MPI's collectives take 32-bit counts and 32-bit displacements (`MPI_Alltoallv`,
/// `MPI_Allgatherv`); cutting the counts would not be enough, since the displacements of the
/// slices of one call span the whole vector, and Open MPI 4.1 has no large-count (`_c`) calls.
/// Messages start at any 64-bit address instead. A collective's data is this rank's runs to and
/// from every other rank, all in flight at once: what Open MPI's linear `MPI_Alltoallv` does, and
/// an all-gather moves the same bytes per rank as a ring. MPI only moves bytes, so the results
/// are bit for bit what one call would give, and the sums stay in our fixed order.
extension World {
    /// Sends each of `sends` (elements of `source`) to its peer and receives each of `receives`
    /// (elements of `destination`) from its peer, `elementBytes`-byte elements of MPI type
    /// `type`; each run goes as messages of at most `maximumCount` elements, cut from its start,
    /// so a run one rank sends and the run its peer receives are cut alike, and messages between
    /// two ranks arrive in the order they were sent. Waits for all of them; returns the messages
    /// sent. Called under `exchange`'s lock.
    ///
    /// A failure ends the job (`World.run`), so messages still in flight are not waited for.
    func transfer(_ operation: CollectiveOperation, of type: MPI_Datatype, elementBytes: Int,
                  sends: [Transfer], from source: UnsafeRawPointer,
                  receives: [Transfer], into destination: UnsafeMutableRawPointer) throws(CollectiveError) -> Int {
        let tag = Int32(CollectiveOperation.allCases.firstIndex(of: operation)!)
        let incoming = receives.flatMap { run in messages(run.elements).map { (run.peer, $0) } }
        let outgoing = sends.flatMap { run in messages(run.elements).map { (run.peer, $0) } }
        var requests = [MPI_Request?](repeating: nil, count: incoming.count + outgoing.count)
        // Receives first, so that a message finds its buffer rather than being held by MPI.
        for (i, (peer, elements)) in incoming.enumerated() {
            try check(MPI_Irecv(destination + elements.lowerBound * elementBytes, Int32(elements.count), type, Int32(peer), tag,
                                cmpi_comm_world(), &requests[i]), operation, "MPI_Irecv")
        }
        for (i, (peer, elements)) in outgoing.enumerated() {
            try check(MPI_Isend(source + elements.lowerBound * elementBytes, Int32(elements.count), type, Int32(peer), tag,
                                cmpi_comm_world(), &requests[incoming.count + i]), operation, "MPI_Isend")
        }
        var statuses = [MPI_Status](repeating: MPI_Status(), count: requests.count)
        let code = MPI_Waitall(Int32(requests.count), &requests, &statuses)
        // Which message failed, and why (a truncated one: ranks that disagree about the slices).
        let failed = code == MPI_ERR_IN_STATUS
            ? statuses.first { $0.MPI_ERROR != MPI_SUCCESS && $0.MPI_ERROR != MPI_ERR_PENDING }?.MPI_ERROR : nil
        try check(failed ?? code, operation, "MPI_Waitall")
        return outgoing.count
    }

    /// `elements` cut into runs of at most `maximumCount`, from its start.
    private func messages(_ elements: Range<Int>) -> [Range<Int>] {
        stride(from: elements.lowerBound, to: elements.upperBound, by: maximumCount).map {
            $0..<min($0 + maximumCount, elements.upperBound)
        }
    }

    /// Fills every other rank's slice of `vector` with that rank's, sending this rank's slice to
    /// each of them: an all-gather in place.
    func allGather(_ slices: RankSlices, of type: MPI_Datatype, elementBytes: Int, in vector: UnsafeMutableRawPointer,
                   _ operation: CollectiveOperation) throws(CollectiveError) -> Int {
        let peers = (0..<size).filter { $0 != rank }
        return try transfer(operation, of: type, elementBytes: elementBytes,
                            sends: peers.map { Transfer(peer: $0, elements: slices.range(ofRank: rank)) }, from: vector,
                            receives: peers.map { Transfer(peer: $0, elements: slices.range(ofRank: $0)) }, into: vector)
    }
}
