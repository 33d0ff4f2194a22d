import Foundation
import Optim

/// A fleet step under way (`DeviceFleet.beginStep`): the host can take each subgroup's updated
/// compute copy as soon as its device rings the subgroup's doorbell, and run the next forward pass
/// on it, while the devices finish their updates, their state write-backs and their commits.
///
/// Only the thread that began the step calls `awaitParameters`, `copyRemaining` and `settle`.
public final class PendingFleetStep: @unchecked Sendable {
    let fleet: DeviceFleet
    public let step: Int
    public let skip: Bool
    /// Kept alive (and unchanged) until the step is settled: the device threads read it, and a
    /// failed step is run again on it.
    private let gradient: StreamBuffer
    let gradientValues: StoredValues
    private let condition = NSCondition()
    private var results: [Result<MemberStep, Error>?]
    /// Per device, per subgroup: already copied into the host's compute copy.
    private var copied: [[Bool]]
    /// Subgroups whose parameters were taken before the step's replies had all arrived.
    public private(set) var earlySubgroups = 0

    init(fleet: DeviceFleet, step: Int, skip: Bool, gradient: StreamBuffer) {
        self.fleet = fleet
        self.step = step
        self.skip = skip
        self.gradient = gradient
        gradientValues = gradient.withStoredValues { $0 }
        results = Array(repeating: nil, count: fleet.members.count)
        copied = fleet.members.map { Array(repeating: false, count: $0.subgroupCount) }
    }

    func record(_ i: Int, _ result: Result<MemberStep, Error>) {
        condition.lock()
        results[i] = result
        condition.broadcast()
        condition.unlock()
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
        condition.lock()
        while results.contains(where: { $0 == nil }) { condition.wait() }
        let all = results.map { $0! }
        condition.unlock()
        return try fleet.settle(all)
    }

    private enum Upload { case announced, replied, failed }

    /// Waits until device `i` announces subgroup `s` of this step, or replies (a success means
    /// every subgroup is back).
    private func waitForUpload(device i: Int, subgroup s: Int) -> Upload {
        let member = fleet.members[i]
        var pause: UInt32 = 20
        while true {
            condition.lock()
            let result = results[i]
            condition.unlock()
            if result == nil, let doorbell = member.doorbell, doorbell.uploadedStep(subgroup: s) >= step { return .announced }
            switch result {
            case .success: return .replied
            case .failure: return .failed
            case nil:
                // Polling shared memory: back off to a millisecond so that a long wait costs the
                // devices (which share these cores) next to nothing.
                usleep(pause)
                pause = min(pause * 2, 1000)
            }
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
