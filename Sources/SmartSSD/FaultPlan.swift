import Foundation

/// Deterministic fault injection: the device crashes itself (SIGKILL, exactly like `kill -9`) or
/// hangs (stops answering, as a wedged device does) at a named point of a given step, so that
/// recovery can be tested at every point that matters. Off unless `--fault` is given.
///
/// Spec: `crash@step=N,phase=P[,subgroup=S]` or `hang@…` with P one of `read` (after a subgroup's loads),
/// `update` (after its update, before any write-back), `write_p` (after its parameter write,
/// before the states), `write_m` (after its state writes), `before_commit` (all writes synced,
/// journal not yet written), `after_commit` (journal written, reply not yet sent).
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
        case crash
        case hang
    }

    public var kind: Kind
    public var step: Int
    public var phase: Phase
    /// nil: the first subgroup to reach the phase.
    public var subgroup: Int?

    public init(_ kind: Kind = .crash, step: Int, phase: Phase, subgroup: Int? = nil) {
        self.kind = kind
        self.step = step
        self.phase = phase
        self.subgroup = subgroup
    }

    public var description: String {
        "\(kind.rawValue)@step=\(step),phase=\(phase.rawValue)" + (subgroup.map { ",subgroup=\($0)" } ?? "")
    }

    /// Parses a spec, with a message naming what is wrong.
    public init(parsing spec: String) throws(FaultSpecError) {
        let parts = spec.split(separator: "@", maxSplits: 1).map(String.init)
        guard parts.count == 2, let kind = Kind(rawValue: parts[0]) else {
            throw FaultSpecError(spec: spec, problem: "expected 'crash@step=N,phase=P[,subgroup=S]' or 'hang@…'")
        }
        var step: Int?
        var phase: Phase?
        var subgroup: Int?
        for field in parts[1].split(separator: ",") {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw FaultSpecError(spec: spec, problem: "'\(field)' is not key=value") }
            switch kv[0] {
            case "step":
                guard let v = Int(kv[1]), v >= 1 else { throw FaultSpecError(spec: spec, problem: "step must be an integer ≥ 1") }
                step = v
            case "phase":
                guard let p = Phase(rawValue: kv[1]) else {
                    throw FaultSpecError(spec: spec, problem: "phase '\(kv[1])' is not one of \(Phase.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                phase = p
            case "subgroup":
                guard let v = Int(kv[1]), v >= 0 else { throw FaultSpecError(spec: spec, problem: "subgroup must be an integer ≥ 0") }
                subgroup = v
            default:
                throw FaultSpecError(spec: spec, problem: "unknown key '\(kv[0])' (expected step, phase, subgroup)")
            }
        }
        guard let step, let phase else { throw FaultSpecError(spec: spec, problem: "both step= and phase= are required") }
        self.init(kind, step: step, phase: phase, subgroup: subgroup)
    }

    /// Crashes the process if this is the planned point.
    func check(_ phase: Phase, step: Int, subgroup: Int?, log: (String) -> Void) {
        guard phase == self.phase, step == self.step else { return }
        if let wanted = self.subgroup, let subgroup, wanted != subgroup { return }
        switch kind {
        case .crash:
            log("fault \(self) fires: killing the device")
            kill(getpid(), SIGKILL)
        case .hang:
            log("fault \(self) fires: the device stops answering")
            while true { sleep(3600) }
        }
    }
}

public struct FaultSpecError: Error, CustomStringConvertible {
    public var spec: String
    public var problem: String
    public var description: String { "--fault '\(spec)': \(problem)" }
}
