import Foundation
import Optim
import Threading

/// Writes gradient payloads while backward is still running: as the model reports more of its
/// gradients final, each device subgroup whose elements are all final is compressed and written
/// into its device's gradient region by that device's worker (`DeviceFleet.workers`, the thread
/// that then runs the step). `DeviceFleet.step` then writes only what is left and sends the step
/// command.
///
/// Only subgroups wholly inside the real parameters are written early (the padded tail of the
/// last slice waits for the step). A run with error feedback does not use a session: an early
/// write advances the residuals, and a step that is then skipped (overflow) must not.
public final class GradientOffloadSession {
    private let fleet: DeviceFleet
    private let step: Int
    private let gradient: StreamBuffer
    /// Subgroups not yet handed to a worker: (device, subgroup, flat range).
    private var pending: [(device: Int, subgroup: Int, range: Range<Int>)]
    private let progress: Monitor<Progress>

    /// What the workers did with the subgroups handed to them.
    private struct Progress {
        /// Handed over and not yet written.
        var outstanding = 0
        /// Per device, the payload bytes of each subgroup written.
        var written: [[Int: Int]]
        var failure: Error?
    }

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
        progress = Monitor(Progress(written: Array(repeating: [:], count: fleet.members.count)))
    }

    /// Hands every pending subgroup whose range `isReady` says is final to its device's worker.
    public func offload(whereReady isReady: (Range<Int>) -> Bool) {
        var remaining: [(device: Int, subgroup: Int, range: Range<Int>)] = []
        for item in pending {
            guard isReady(item.range) else { remaining.append(item); continue }
            let (i, s) = (item.device, item.subgroup)
            let member = fleet.members[i]
            let (gradient, step, progress) = (self.gradient, self.step, self.progress)
            let slice = fleet.partition.slice(i).clamped(to: 0..<gradient.count)
            progress.withLock { $0.outstanding += 1 }
            fleet.workers[i].submit {
                let bytes = Result {
                    try gradient.withStoredValues { g in try member.writePayload(step, subgroup: s, from: g.slice(slice)) }
                }
                progress.change { p in
                    p.outstanding -= 1
                    switch bytes {
                    case .success(let bytes): p.written[i][s] = bytes
                    case .failure(let error): if p.failure == nil { p.failure = error }
                    }
                }
            }
        }
        pending = remaining
    }

    /// Waits for the subgroups handed over (again is harmless); returns per device the sizes of
    /// the payloads written early, or throws the first write error.
    @discardableResult
    public func finish() throws -> [[Int: Int]] {
        let done = progress.wait { $0.outstanding == 0 ? $0 : nil }
        if let failure = done.failure { throw failure }
        return done.written
    }

    /// Subgroups written before the step was sent, over all devices.
    public var earlyPayloads: Int { progress.withLock { $0.written.reduce(0) { $0 + $1.count } } }
}
