import Foundation
import Logging
import Synchronization

/// Deterministic fault injection, off unless `--fault` is given. Each fault fires once, at a
/// named point, and is logged when it does:
///
/// - `crash@step=N,phase=P[,subgroup=S]`: the device kills itself (SIGKILL, exactly like
///   `kill -9`) at phase P of step N. P is one of `read` (after a subgroup's loads), `update`
///   (after its update, before any write-back), `write_p` (after its parameter write, before the
///   states), `write_m` (after its state writes), `before_commit` (all writes synced, journal
///   not yet written), `after_commit` (journal written, reply not yet sent).
/// - `torn@step=N`: step N's journal commit lands torn, as a write cut off by a power loss does
///   (the changed journal blocks before the middle one whole; the middle one new only up to
///   halfway into its first changed record, old after it; the rest not at all), then the device
///   kills itself. Nothing committed may be lost: every subgroup reopens at step N−1, or at N
///   where its journal block landed whole.
/// - `hang@step=N[,phase=P][,subgroup=S]`: the device stops answering there (as a wedged device
///   does); P defaults to `read`.
/// - `eio@read|write[,step=N][,offset=O]`: the device's next SSD read (or write), in step N if
///   given, covering byte offset O if given, fails with an I/O error (EIO).
/// - `corrupt@grad[,step=N][,subgroup=S][,byte=B]`: one bit of byte B (default 80, past the
///   64-byte header: the payload body) of a subgroup's gradient payload flips in DRAM after it
///   is loaded, so the payload's checksum no longer matches.
/// - `corrupt@state[,step=N][,subgroup=S][,byte=B]`: the same to a loaded state slot (p and its
///   states), which then fails the checksum its commit recorded.
/// - `slow@link=SECONDS`: every reply to the host leaves SECONDS late (a slow link).
public struct FaultPlan: Sendable, Equatable, CustomStringConvertible {
    public enum Phase: String, Sendable, CaseIterable {
        case read
        case update
        case writeParameters = "write_p"
        case writeStates = "write_m"
        case beforeCommit = "before_commit"
        case afterCommit = "after_commit"
    }

    public enum Kind: String, Sendable, CaseIterable {
        case crash, torn, hang, eio, corrupt, slow
    }

    /// What a `corrupt` fault damages.
    public enum Target: String, Sendable {
        case gradient = "grad"
        case state
    }

    /// Which SSD transfers an `eio` fault hits.
    public enum Direction: String, Sendable {
        case read, write
    }

    public var kind: Kind
    /// The step it fires in (nil: any step, for eio and corrupt).
    public var step: Int?
    public var phase: Phase
    /// nil: the first subgroup to get there.
    public var subgroup: Int?
    public var direction: Direction = .read
    public var target: Target = .gradient
    public var offset: Int?
    public var byte: Int = 80
    public var delay: Double = 0

    public init(_ kind: Kind = .crash, step: Int?, phase: Phase = .read, subgroup: Int? = nil) {
        self.kind = kind
        self.step = step
        self.phase = phase
        self.subgroup = subgroup
    }

    public var description: String {
        switch kind {
        case .crash, .hang:
            "\(kind.rawValue)@step=\(step ?? 0),phase=\(phase.rawValue)" + (subgroup.map { ",subgroup=\($0)" } ?? "")
        case .torn:
            "torn@step=\(step ?? 0)"
        case .eio:
            "eio@\(direction.rawValue)" + (step.map { ",step=\($0)" } ?? "") + (offset.map { ",offset=\($0)" } ?? "")
        case .corrupt:
            "corrupt@\(target.rawValue)" + (step.map { ",step=\($0)" } ?? "") + (subgroup.map { ",subgroup=\($0)" } ?? "") + ",byte=\(byte)"
        case .slow:
            "slow@link=\(delay)"
        }
    }

    static let usage = "expected crash@step=N,phase=P[,subgroup=S], torn@step=N, hang@step=N[,phase=P], eio@read|write[,step=N][,offset=O], corrupt@grad|state[,step=N][,subgroup=S][,byte=B] or slow@link=SECONDS"

    /// Parses a spec, with a message naming what is wrong.
    public init(parsing spec: String) throws(FaultSpecError) {
        let parts = spec.split(separator: "@", maxSplits: 1).map(String.init)
        guard parts.count == 2, let kind = Kind(rawValue: parts[0]) else { throw FaultSpecError(spec: spec, problem: Self.usage) }
        self.init(kind, step: nil)
        var fields = parts[1].split(separator: ",").map(String.init)
        // The word right after the kind: eio's direction, corrupt's target.
        switch kind {
        case .eio:
            guard let first = fields.first, let direction = Direction(rawValue: first) else {
                throw FaultSpecError(spec: spec, problem: "eio needs read or write first: eio@read[,step=N][,offset=O]")
            }
            self.direction = direction
            fields.removeFirst()
        case .corrupt:
            guard let first = fields.first, let target = Target(rawValue: first) else {
                throw FaultSpecError(spec: spec, problem: "corrupt needs a target: corrupt@grad|state[,step=N][,subgroup=S][,byte=B]")
            }
            self.target = target
            fields.removeFirst()
        default: break
        }
        var phaseGiven = false
        for field in fields {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw FaultSpecError(spec: spec, problem: "'\(field)' is not key=value") }
            func integer(minimum: Int) throws(FaultSpecError) -> Int {
                guard let v = Int(kv[1]), v >= minimum else {
                    throw FaultSpecError(spec: spec, problem: "\(kv[0]) must be an integer ≥ \(minimum), got '\(kv[1])'")
                }
                return v
            }
            switch (kind, kv[0]) {
            case (.crash, "step"), (.torn, "step"), (.hang, "step"), (.eio, "step"), (.corrupt, "step"):
                step = try integer(minimum: 1)
            case (.crash, "phase"), (.hang, "phase"):
                guard let p = Phase(rawValue: kv[1]) else {
                    throw FaultSpecError(spec: spec, problem: "phase '\(kv[1])' is not one of \(Phase.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                phase = p
                phaseGiven = true
            case (.crash, "subgroup"), (.hang, "subgroup"), (.corrupt, "subgroup"):
                subgroup = try integer(minimum: 0)
            case (.eio, "offset"):
                offset = try integer(minimum: 0)
            case (.corrupt, "byte"):
                byte = try integer(minimum: 0)
            case (.slow, "link"):
                guard let v = Double(kv[1]), v >= 0, v <= 3600 else {
                    throw FaultSpecError(spec: spec, problem: "link must be a delay in seconds, 0...3600, got '\(kv[1])'")
                }
                delay = v
            default:
                throw FaultSpecError(spec: spec, problem: "'\(kv[0])' is not a key of \(kind.rawValue) (\(Self.usage))")
            }
        }
        switch kind {
        case .crash where step == nil || !phaseGiven:
            throw FaultSpecError(spec: spec, problem: "both step= and phase= are required")
        case .hang where step == nil, .torn where step == nil:
            throw FaultSpecError(spec: spec, problem: "step= is required")
        case .slow where !fields.contains(where: { $0.hasPrefix("link=") }):
            throw FaultSpecError(spec: spec, problem: "slow needs link=SECONDS")
        default: break
        }
    }
}

/// A fault plan as one device process runs it: fires at most once, and logs when it does (a
/// notice: the fault was asked for, but what follows in the log is its doing).
public final class ArmedFault: Sendable {
    public let plan: FaultPlan
    private let fired = Atomic(false)
    /// The device's logger.
    let logger: Logger

    public init(_ plan: FaultPlan, logger: Logger) {
        self.plan = plan
        self.logger = logger
    }

    /// True once, for the first call that `matches`.
    private func fire(_ matches: Bool) -> Bool {
        matches && fired.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    /// Crashes or hangs the device if this is the planned point.
    func check(_ phase: FaultPlan.Phase, step: Int, subgroup: Int?) {
        guard plan.kind == .crash || plan.kind == .hang else { return }
        var matches = phase == plan.phase && step == plan.step
        if let wanted = plan.subgroup, let subgroup, wanted != subgroup { matches = false }
        guard fire(matches) else { return }
        var at: Logger.Metadata = ["step": "\(step)"]
        if let subgroup { at["subgroup"] = "\(subgroup)" }
        if plan.kind == .crash {
            logger.notice("fault \(plan) fires: killing the device", metadata: at)
            killDevice()
        }
        logger.notice("fault \(plan) fires: the device stops answering", metadata: at)
        while true { sleep(3600) }
    }

    /// Whether step `step`'s journal commit is to land torn (`torn@step`); the caller writes it
    /// torn, then calls `killDevice()`.
    func tearsCommit(step: Int) -> Bool {
        guard plan.kind == .torn, fire(step == plan.step) else { return false }
        logger.notice("fault \(plan) fires: the journal commit lands torn, then the device is killed", metadata: ["step": "\(step)"])
        return true
    }

    /// Ends the device at once, exactly as `kill -9` does.
    func killDevice() -> Never {
        kill(getpid(), SIGKILL)
        while true { pause() }
    }

    /// Whether an SSD transfer of `direction` over `range` (file bytes) in `step` must fail.
    func failsIO(_ direction: FaultPlan.Direction, step: Int, range: Range<Int>) -> Bool {
        guard plan.kind == .eio, plan.direction == direction else { return false }
        let matches = (plan.step.map { $0 == step } ?? true) && (plan.offset.map { range.contains($0) } ?? true)
        guard fire(matches) else { return false }
        logger.notice("fault \(plan) fires: \(direction.rawValue) of bytes \(range.lowerBound)..<\(range.upperBound) fails with EIO",
                      metadata: ["step": "\(step)"])
        return true
    }

    /// Flips one bit of a loaded payload if this is the planned one; returns the byte flipped.
    func corrupt(_ payload: UnsafeMutableRawBufferPointer, step: Int, subgroup: Int) -> Int? {
        flip(payload, .gradient, step: step, subgroup: subgroup, what: "payload")
    }

    /// Flips one bit of a loaded state slot (`corrupt@state`) if this is the planned one.
    func corruptState(_ slot: UnsafeMutableRawBufferPointer, step: Int, subgroup: Int) -> Int? {
        flip(slot, .state, step: step, subgroup: subgroup, what: "loaded state")
    }

    private func flip(_ buffer: UnsafeMutableRawBufferPointer, _ target: FaultPlan.Target, step: Int, subgroup: Int,
                      what: String) -> Int? {
        guard plan.kind == .corrupt, plan.target == target else { return nil }
        let matches = (plan.step.map { $0 == step } ?? true) && (plan.subgroup.map { $0 == subgroup } ?? true)
            && plan.byte < buffer.count
        guard fire(matches) else { return nil }
        buffer[plan.byte] ^= 0x10
        logger.notice("fault \(plan) fires: byte \(plan.byte) of subgroup \(subgroup)'s \(what) flipped",
                      metadata: ["step": "\(step)", "subgroup": "\(subgroup)"])
        return plan.byte
    }

    /// The delay before each reply (`slow@link`).
    var replyDelay: Double { plan.kind == .slow ? plan.delay : 0 }
}

public struct FaultSpecError: Error, CustomStringConvertible {
    public var spec: String
    public var problem: String
    public var description: String { "--fault '\(spec)': \(problem)" }
}
