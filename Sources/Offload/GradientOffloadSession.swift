import Foundation
import Optim

/// Writes gradient payloads while backward is still running: as the model reports more of its
/// gradients final, each device subgroup whose elements are all final is compressed and written
/// into its device's gradient region by that device's own worker thread. `DeviceFleet.step` then writes only what is left and sends the step command.
///
/// Only subgroups wholly inside the real parameters are written early (the padded tail of the
/// last slice waits for the step). A run with error feedback does not use a session: an early
/// write advances the residuals, and a step that is then skipped (overflow) must not.
public final class GradientOffloadSession: @unchecked Sendable {
    private let fleet: DeviceFleet
    private let step: Int
    private let gradient: StreamBuffer
    /// Subgroups not yet handed to a worker: (device, subgroup, flat range).
    private var pending: [(device: Int, subgroup: Int, range: Range<Int>)]
    private let workers: [SerialWorker]
    private let lock = NSLock()
    private var written: [[Int: Int]]
    private var failure: Error?

    /// Nil when the fleet cannot write early (error feedback).
    public init?(fleet: DeviceFleet, step: Int, gradient: StreamBuffer) {
        guard !fleet.members.contains(where: \.usesErrorFeedback) else { return nil }
        self.fleet = fleet
        self.step = step
        self.gradient = gradient
        let real = min(gradient.count, fleet.partition.parameterCount)
        pending = fleet.members.enumerated().flatMap { i, member in
            let base = fleet.partition.slice(i).lowerBound
            return (0..<member.subgroupCount).compactMap { s -> (Int, Int, Range<Int>)? in
                let local = member.subgroupRange(s)
                let global = (base + local.lowerBound)..<(base + local.upperBound)
                return global.upperBound <= real ? (i, s, global) : nil
            }
        }
        workers = fleet.members.indices.map { SerialWorker(name: "offload-\($0)") }
        written = Array(repeating: [:], count: fleet.members.count)
    }

    /// Hands every pending subgroup whose range `isReady` says is final to its device's worker.
    public func offload(whereReady isReady: (Range<Int>) -> Bool) {
        var remaining: [(device: Int, subgroup: Int, range: Range<Int>)] = []
        for item in pending {
            guard isReady(item.range) else { remaining.append(item); continue }
            let (i, s) = (item.device, item.subgroup)
            let member = fleet.members[i]
            let (gradient, step) = (self.gradient, self.step)
            let slice = fleet.partition.slice(i).clamped(to: 0..<gradient.count)
            workers[i].submit { [self] in
                do {
                    let bytes = try gradient.withStoredValues { g in
                        try member.writePayload(step, subgroup: s, from: g.slice(slice))
                    }
                    lock.withLock { written[i][s] = bytes }
                } catch {
                    lock.withLock { if failure == nil { failure = error } }
                }
            }
        }
        pending = remaining
    }

    /// Waits for the workers (again is harmless); returns per device the sizes of the payloads
    /// written early, or throws the first write error.
    @discardableResult
    public func finish() throws -> [[Int: Int]] {
        workers.forEach { $0.finish() }
        return try lock.withLock {
            if let failure { throw failure }
            return written
        }
    }

    /// Subgroups written before the step was sent, over all devices.
    public var earlyPayloads: Int { lock.withLock { written.reduce(0) { $0 + $1.count } } }
}

/// One thread running submitted jobs in order.
final class SerialWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var closing = false
    private var done = false

    /// The thread is not kept: its block holds the worker until `run` returns, and Foundation
    /// keeps a Thread's block as long as the Thread, so a worker that held its Thread would never
    /// be freed (each session's workers leaked about 500 bytes per device, every step).
    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs what was submitted, then stops the thread; returns when it has.
    func finish() {
        condition.lock()
        closing = true
        condition.broadcast()
        while !done { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !closing { condition.wait() }
            if jobs.isEmpty {
                done = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
