import CMPI
import Glibc
import Synchronization

/// The ranks of this job, as MPI's `MPI_COMM_WORLD` sees them, or this process alone.
///
/// A process launched by `mpirun` (or another MPI launcher) joins the job: MPI is initialised once
/// per process, told to return errors rather than abort, and left at `leave`. Any other process
/// is a world of one: it never calls MPI, so `make run` and every single-process command stay
/// single-process (no MPI daemon, no sockets), though the executable links the MPI library.
///
/// MPI is initialised for `MPI_THREAD_SERIALIZED`, and every call into it is made under one lock,
/// so any thread may run a collective, one at a time.
public final class World: Sendable {
    public let rank: Int
    public let size: Int
    /// The launcher this process was started by, or nil for a process alone.
    public let launcher: String?
    /// The most elements one MPI message carries. MPI's counts and displacements are 32-bit, a
    /// model's vectors are not: every collective moves its data as messages of at most this many
    /// elements, at addresses computed here in 64 bits (`transfer`), so no vector, slice or offset
    /// is too large. The tests lower it to run many messages on small vectors.
    public let maximumCount: Int

    /// Every message below 2 GiB (2³¹ − 1 bytes) for the widest element moved, a double: within
    /// MPI's counts, and within any MPI internals that hold a message's bytes in an `int`.
    public static let defaultMaximumCount = Int(Int32.max) / MemoryLayout<Double>.size

    /// The values `maximumCount` may take: MPI's counts.
    public static let maximumCounts = 1...Int(Int32.max)

    private let state: Mutex<State>

    private struct State {
        var traffic: [CollectiveOperation: CollectiveTraffic] = [:]
        var left = false
    }

    private init(rank: Int, size: Int, launcher: String?, maximumCount: Int) {
        self.rank = rank
        self.size = size
        self.launcher = launcher
        self.maximumCount = maximumCount
        state = Mutex(State())
    }

    /// This process's world: joins the MPI job on the first call if an MPI launcher started the
    /// process, and gives the same world on every later call. `maximumCount` (in `maximumCounts`) is
    /// fixed by the first call (nil: `defaultMaximumCount`); a later call may only repeat it.
    public static func join(maximumCount: Int? = nil) throws(CollectiveError) -> World {
        precondition(maximumCounts.contains(maximumCount ?? 1), "a message carries \(maximumCounts) elements, not \(maximumCount!)")
        return try process.withLock { (membership: inout Membership) throws(CollectiveError) -> World in
            switch membership {
            case .joined(let world):
                precondition(maximumCount == nil || maximumCount == world.maximumCount,
                             "the world was joined with messages of at most \(world.maximumCount) elements, not \(maximumCount!)")
                return world
            case .left(let rank):
                throw .finalized(operation: .join, rank: rank)
            case .none:
                let world = try start(maximumCount: maximumCount ?? defaultMaximumCount)
                membership = .joined(world)
                return world
            }
        }
    }

    /// Runs `body` as this process's part of the job, then leaves the world. In an MPI job any
    /// failure ends the whole job (`abort`) with a message naming this rank, since a rank that
    /// just exited would leave the others waiting in a collective; alone, it is thrown.
    public static func run<Result>(maximumCount: Int? = nil, _ body: (World) throws -> Result) throws -> Result {
        let world = try join(maximumCount: maximumCount)
        do {
            let result = try body(world)
            try world.leave()
            return result
        } catch let error as CollectiveError where world.launcher != nil {
            world.abort(error)
        } catch where world.launcher != nil {
            world.abort("\(error)")
        }
    }

    /// Leaves the job (`MPI_Finalize`), which every rank of a job that ends well must do: MPI
    /// waits there for the others. After it no collective may run, in any thread.
    public func leave() throws(CollectiveError) {
        try state.withLock { (state: inout State) throws(CollectiveError) in
            guard !state.left else { return }
            state.left = true
            guard launcher != nil else { return }
            try check(MPI_Finalize(), .leave, "MPI_Finalize")
        }
        Self.process.withLock { $0 = .left(rank: rank) }
    }

    /// Ends the whole job because this rank cannot go on: prints `reason` naming this rank, then
    /// has MPI stop every rank (`MPI_Abort`; mpirun reports it). Alone, just exits.
    public func abort(_ reason: String, status: Int32 = 1) -> Never {
        stop(launcher == nil ? reason : "rank \(rank) of \(size): \(reason)", status: status)
    }

    /// Ends the whole job over a failed collective, whose message names this rank already.
    public func abort(_ error: CollectiveError, status: Int32 = 1) -> Never {
        stop(error.description, status: status)
    }

    private func stop(_ message: String, status: Int32) -> Never {
        _ = (message + "\n").utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
        if launcher != nil { _ = MPI_Abort(cmpi_comm_world(), status) }
        exit(status)
    }

    /// Waits until every rank has called it.
    public func barrier() throws(CollectiveError) {
        guard size > 1 else { return }
        try exchange(.barrier, sent: 0, received: 0) { () throws(CollectiveError) -> Int in
            try check(MPI_Barrier(cmpi_comm_world()), .barrier, "MPI_Barrier")
            return 0
        }
    }

    /// What this rank has moved in `operation` so far.
    public func traffic(of operation: CollectiveOperation) -> CollectiveTraffic {
        state.withLock { $0.traffic[operation] ?? CollectiveTraffic() }
    }

    /// Runs `body`, which moves `sent` and `received` bytes between this rank and the others and
    /// returns the messages it sent, under the lock every MPI call is made under, and records the
    /// traffic.
    func exchange(_ operation: CollectiveOperation, sent: Int, received: Int,
                  _ body: () throws(CollectiveError) -> Int) throws(CollectiveError) {
        try state.withLock { (state: inout State) throws(CollectiveError) in
            guard !state.left else { throw .finalized(operation: operation, rank: rank) }
            let messages = try body()
            state.traffic[operation, default: CollectiveTraffic()].record(sent: sent, received: received, messages: messages)
        }
    }

    /// Throws the typed error for an MPI return code other than `MPI_SUCCESS`.
    func check(_ code: Int32, _ operation: CollectiveOperation, _ call: String) throws(CollectiveError) {
        guard code != MPI_SUCCESS else { return }
        let (errorClass, message) = Self.describe(code)
        throw .mpiFailed(operation: operation, call: call, rank: rank, size: size, errorClass: errorClass, message: message)
    }

    // MARK: - Joining

    private enum Membership {
        case none
        case joined(World)
        case left(rank: Int)
    }

    private static let process = Mutex<Membership>(.none)

    /// The environment variables MPI launchers give their ranks: Open MPI's mpirun, PMIx-based
    /// launchers (Open MPI 5, Slurm's srun), and MPICH's Hydra (PMI).
    static let launcherVariables = [
        ("OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun"),
        ("PMIX_RANK", "a PMIx launcher"),
        ("PMI_SIZE", "a PMI launcher (MPICH's mpiexec)"),
    ]

    private static func start(maximumCount: Int) throws(CollectiveError) -> World {
        guard let launcher = launcherVariables.first(where: { getenv($0.0) != nil })?.1 else {
            return World(rank: 0, size: 1, launcher: nil, maximumCount: maximumCount)
        }
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
        guard code == MPI_SUCCESS else {
            let (errorClass, message) = describe(code)
            throw .startFailed(launcher: launcher, errorClass: errorClass, message: message)
        }
        guard provided >= Int32(MPI_THREAD_SERIALIZED) else { throw .threadSupport(provided: provided) }
        // The default handler aborts the job on the first error, before anyone can say what failed.
        _ = MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return())
        var rank: Int32 = 0
        var size: Int32 = 0
        _ = MPI_Comm_rank(cmpi_comm_world(), &rank)
        _ = MPI_Comm_size(cmpi_comm_world(), &size)
        return World(rank: Int(rank), size: Int(size), launcher: launcher, maximumCount: maximumCount)
    }

    private static func describe(_ code: Int32) -> (errorClass: Int32, message: String) {
        var errorClass: Int32 = 0
        _ = MPI_Error_class(code, &errorClass)
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        _ = MPI_Error_string(code, &text, &length)
        return (errorClass, String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
