/// What a collective call can go through.
public enum CollectiveOperation: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Joining the job (`MPI_Init_thread`) and leaving it (`MPI_Finalize`).
    case join
    case leave
    case barrier
    case reduceScatter = "reduce-scatter"
    case allGather = "all-gather"
    /// A few scalars from every rank to every rank (global norm, overflow).
    case scalars

    public var description: String { rawValue }
}

/// Why a collective failed. Every case names the rank that saw it; MPI's own failures keep MPI's
/// error class (compare it with `CMPI`'s `MPI_ERR_*`) and message.
public enum CollectiveError: Error, Equatable, CustomStringConvertible {
    /// An MPI call returned an error on rank `rank` of `size`: most often a rank that died or
    /// ranks that disagree about the slices. MPI is told to return errors, not abort, so that the
    /// rank can say which operation failed before the job stops (`World.abort`).
    case mpiFailed(operation: CollectiveOperation, call: String, rank: Int, size: Int, errorClass: Int32, message: String)
    /// MPI did not start (`MPI_Init_thread` failed) in a process launched by `launcher`.
    case startFailed(launcher: String, errorClass: Int32, message: String)
    /// The MPI library cannot be called from more than one thread, even one at a time.
    case threadSupport(provided: Int32)
    /// The world was finalized: no rank may call a collective after it.
    case finalized(operation: CollectiveOperation, rank: Int)

    public var description: String {
        switch self {
        case .mpiFailed(let operation, let call, let rank, let size, let errorClass, let message):
            "rank \(rank) of \(size): \(operation) failed in \(call) (MPI error class \(errorClass): \(message))"
        case .startFailed(let launcher, let errorClass, let message):
            "MPI did not start under \(launcher) (MPI error class \(errorClass): \(message)); is this mpirun from the same MPI"
                + " as the library (Debian: openmpi-bin with libopenmpi-dev)?"
        case .threadSupport(let provided):
            "the MPI library offers thread level \(provided), below MPI_THREAD_SERIALIZED: calls from the trainer's threads need it"
        case .finalized(let operation, let rank):
            "rank \(rank): \(operation) after the world was finalized"
        }
    }
}
