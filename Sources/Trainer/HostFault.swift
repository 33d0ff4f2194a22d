import Dispatch
import Glibc

/// The trainer killing itself at a chosen point of a chosen step (`smartinf train --host-fault
/// crash@step=N,phase=P[,rank=R]`, a hidden flag; with `rank`, only that rank of a
/// data-parallel job dies): how the host chaos test (`HostChaos`) reaches every
/// phase of a step, including the middle of a checkpoint, which random kills from outside hit
/// only by luck. SIGKILL, as a crashing machine or the OOM killer would: no handler runs, no
/// buffer is flushed, the devices are left as they are.
public struct HostFault: Sendable, Equatable {
    /// Where in step `step` the trainer dies.
    public enum Phase: String, Sendable, CaseIterable {
        /// After the forward pass.
        case forward
        /// After the backward pass (the early gradient payloads are on the devices).
        case backward
        /// While the devices run the step: the kill comes from another thread as the update
        /// starts, and lands wherever the step has got to.
        case update
        /// The devices committed the step; the host has not recorded it.
        case committed
        /// In the middle of the journal's write of the step (half of it written).
        case journal
        /// In a checkpoint: the devices took their snapshots, the host wrote nothing yet.
        case snapshot
        /// In a checkpoint: the host's files before the trainer state are written (the
        /// residuals, the llm.c model file when the checkpoint writes one), the trainer state is not.
        case modelFile = "model-file"
    }

    public var step: Int
    public var phase: Phase
    /// The one rank of a data-parallel job that dies (nil: every rank, or the process alone).
    public var rank: Int?

    public init(step: Int, phase: Phase, rank: Int? = nil) {
        self.step = step
        self.phase = phase
        self.rank = rank
    }

    /// Parses `crash@step=N,phase=P[,rank=R]`.
    public init(parsing spec: String) throws(TrainingFlagError) {
        let phases = Phase.allCases.map(\.rawValue).joined(separator: ", ")
        let bad = TrainingFlagError.badValue(option: "--host-fault", found: "'\(spec)'",
                                             expected: "crash@step=N,phase=P[,rank=R] with N ≥ 1, P one of \(phases) and R ≥ 0")
        guard spec.hasPrefix("crash@") else { throw bad }
        var fields: [String: String] = [:]
        for pair in spec.dropFirst("crash@".count).split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, fields[parts[0]] == nil else { throw bad }
            fields[parts[0]] = parts[1]
        }
        let rank = fields["rank"].map { Int($0) ?? -1 }
        guard fields.count == (rank == nil ? 2 : 3), let step = fields["step"].flatMap({ Int($0) }), step >= 1,
              let phase = fields["phase"].flatMap(Phase.init(rawValue:)), (rank ?? 0) >= 0 else { throw bad }
        self.init(step: step, phase: phase, rank: rank)
    }

    /// Dies here if this is the fault's step and phase.
    func strike(_ phase: Phase, step: Int) {
        guard phase == self.phase, step == self.step else { return }
        if phase == .update {
            DispatchQueue.global().async { raise(SIGKILL) }
        } else {
            raise(SIGKILL)
        }
    }

    /// The journal write of this fault's step is torn here (half of a slot written), then the
    /// trainer dies.
    func tearsJournal(atStep step: Int) -> Bool { phase == .journal && step == self.step }
}

extension Optional where Wrapped == HostFault {
    func strike(_ phase: HostFault.Phase, step: Int) { self?.strike(phase, step: step) }
}
