import DeviceProtocol
import Foundation
import Optim
import Threading

/// A fleet step under way (`DeviceFleet.beginStep`): the host can take each subgroup's updated
/// compute copy as soon as its device rings the subgroup's doorbell, and run the next forward pass
/// on it, while the devices finish their updates, their state write-backs and their commits.
///
/// Only the thread that began the step calls `awaitParameters`, `copyRemaining` and `settle`;
/// the devices' workers touch only `replies`.
public final class PendingFleetStep {
    let fleet: DeviceFleet
    public let step: Int
    public let skip: Bool
    /// Kept alive (and unchanged) until the step is settled: the device workers read it, and a
    /// failed step is run again on it.
    private let gradient: StreamBuffer
    let gradientValues: StoredValues
    let replies: StepReplies
    /// Per device, per subgroup: already copied into the host's compute copy.
    private var copied: [[Bool]]
    /// Subgroups whose parameters were taken before the step's replies had all arrived.
    public private(set) var earlySubgroups = 0

    /// The longest a wait for an upload sleeps before it looks again. A backstop only: every
    /// upload, reply and failure rings the bell the wait sleeps on, and a device that dies is
    /// reported by its worker (the connection closes, or the fleet's `timeout` passes), which
    /// rings too; were a ring ever lost, the forward pass would go on a second later, not hang.
    static let recheckInterval: Duration = .seconds(1)

    init(fleet: DeviceFleet, step: Int, skip: Bool, gradient: StreamBuffer) {
        self.fleet = fleet
        self.step = step
        self.skip = skip
        self.gradient = gradient
        gradientValues = gradient.withStoredValues { $0 }
        replies = StepReplies(doorbells: fleet.members.map(\.doorbell))
        copied = fleet.members.map { Array(repeating: false, count: $0.subgroupCount) }
    }

    /// Waits until the new compute copy of the flat parameters `range` is back and copies it into
    /// `destination` (the host's copy: the copy-out precision, or fp32), whole subgroups at a
    /// time. A skipped step changes nothing and returns at once. If a device fails first, this
    /// returns without its values: `settle()` then throws, and whatever was computed meanwhile
    /// must be discarded.
    public func awaitParameters(_ range: Range<Int>, into destination: StreamBuffer) {
        guard !skip else { return }
        let partition = fleet.partition
        for (i, member) in fleet.members.enumerated() {
            let own = partition.parameters(ofDevice: i)
            let wanted = range.clamped(to: own)
            guard !wanted.isEmpty else { continue }
            let d = member.configured.subgroupElements
            let base = own.lowerBound
            for s in ((wanted.lowerBound - base) / d)...((wanted.upperBound - 1 - base) / d) where !copied[i][s] {
                let upload = waitForUpload(device: i, subgroup: s)
                guard upload != .failed else { return }
                copy(device: i, subgroup: s, into: destination)
                if upload == .announced { earlySubgroups += 1 }
            }
        }
    }

    /// Copies every subgroup not yet taken (call after `settle()` succeeded).
    public func copyRemaining(into destination: StreamBuffer) {
        guard !skip else { return }
        for i in fleet.members.indices {
            for s in copied[i].indices where !copied[i][s] { copy(device: i, subgroup: s, into: destination) }
        }
    }

    /// Waits for every device's reply: the step's traffic, or the first device's failure.
    public func settle() throws -> StepTraffic {
        try fleet.settle(replies.waitForAll())
    }

    private enum Upload { case announced, replied, failed }

    /// Waits until device `i` announces subgroup `s` of this step, or replies (a success means
    /// every subgroup is back): asleep on the device's doorbell, which its uploads and its reply
    /// both ring.
    private func waitForUpload(device i: Int, subgroup s: Int) -> Upload {
        guard let doorbell = fleet.members[i].doorbell else {
            // No marks: only the reply says the compute copy is back.
            if case .success = replies.waitForReply(i) { return .replied }
            return .failed
        }
        while true {
            // The count first, then the look: a ring after the look ends the sleep at once.
            let seen = doorbell.rings
            switch replies.arrived(i) {
            case .success: return .replied
            case .failure: return .failed
            case nil: if doorbell.uploadedStep(subgroup: s) >= step { return .announced }
            }
            _ = doorbell.wait(afterRings: seen, timeout: Self.recheckInterval)
        }
    }

    private func copy(device i: Int, subgroup s: Int, into destination: StreamBuffer) {
        let member = fleet.members[i]
        let own = fleet.partition.parameters(ofDevice: i)
        let range = member.subgroupRange(s).clamped(to: 0..<own.count)
        copied[i][s] = true
        guard !range.isEmpty else { return }
        destination.withUnsafeMutableRawPointer { base in
            member.readComputeCopy(range, into: base + own.lowerBound * destination.precision.byteWidth, precision: destination.precision)
        }
    }
}

/// The devices' replies to one step, recorded by their workers as they arrive. Recording a reply
/// also rings that device's upload doorbell: a host thread asleep on the doorbell, waiting for
/// an upload, wakes on the reply or the failure too.
final class StepReplies: Sendable {
    private let results: Monitor<[Result<MemberStep, Error>?]>
    private let doorbells: [UploadDoorbell?]

    init(doorbells: [UploadDoorbell?]) {
        self.doorbells = doorbells
        results = Monitor(Array(repeating: nil, count: doorbells.count))
    }

    func record(_ i: Int, _ result: Result<MemberStep, Error>) {
        results.change { $0[i] = result }
        doorbells[i]?.ring()
    }

    /// Device `i`'s reply, if it has arrived.
    func arrived(_ i: Int) -> Result<MemberStep, Error>? { results.withLock { $0[i] } }

    /// Waits for device `i`'s reply.
    func waitForReply(_ i: Int) -> Result<MemberStep, Error> { results.wait { $0[i] } }

    /// Waits for every device's reply.
    func waitForAll() -> [Result<MemberStep, Error>] {
        results.wait { r in r.contains { $0 == nil } ? nil : r.map { $0! } }
    }
}
