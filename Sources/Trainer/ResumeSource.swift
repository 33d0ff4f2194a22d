import Collective
import Foundation
import Logging

/// What `--resume DIR` names, checked against the run's options: the trainer state the run goes
/// on from, and where its states come from.
enum ResumeSource {
    /// An exported checkpoint (`smartinf checkpoint export`): states of its own, laid out over
    /// any number of devices in any mode.
    case exported(directory: String, PortableCheckpoint.Contents)
    /// A checkpoint the run saved: its trainer state names each device's snapshot of its step,
    /// which devices that went past it restore.
    case checkpoint(directory: String, TrainerState)
    /// The run's own SSD directory after the host stopped (a crash, a kill): the journal's last
    /// step, which every device committed (a device one step ahead is rolled back).
    case devices(directory: String, TrainerState)

    /// What `directory` holds, checked against `options`; nil when the run must start again
    /// from its first step (an error-feedback run whose host died before its first checkpoint).
    static func resolve(_ directory: String, options: TrainingOptions, logger: Logger) throws -> ResumeSource? {
        let errorFeedback = options.compression.errorFeedback && options.mode.compresses
        let checkpointState = "\(directory)/\(PortableCheckpoint.stateFile)"
        if PortableCheckpoint.isExported(directory) {
            let hasResiduals = PortableCheckpoint.hasErrorFeedback(directory)
            if errorFeedback && !hasResiduals {
                throw TrainingError.badOption("--resume \(directory): --error-feedback needs the residuals, and this export holds none (no \(PortableCheckpoint.errorFeedbackFile): its run had no --error-feedback, or it was exported from an SSD directory whose last checkpoint is not its step); resume without --error-feedback, or export the run's checkpoint directory")
            }
            if hasResiduals && !errorFeedback {
                logger.notice("--resume \(directory): the export's error-feedback residuals are left unused (this run has no --error-feedback in su+o+c)")
            }
            let portable = try PortableCheckpoint.read(from: directory, optimizer: options.optimizer, errorFeedback: errorFeedback)
            try portable.state.check(against: options, portable: true)
            return .exported(directory: directory, portable)
        } else if FileManager.default.fileExists(atPath: checkpointState) {
            let state = try TrainerState.read(from: checkpointState)
            try state.check(against: options)
            return .checkpoint(directory: directory, state)
        } else if TrainerJournal.exists(in: directory) {
            let state = try TrainerJournal.newest(in: directory)
            try state.check(against: options, mayBeFinished: true)
            guard errorFeedback else { return .devices(directory: directory, state) }
            // The residuals are as large as the model and change every step: writing them every
            // step would cost a model-sized write per step, so only checkpoints keep them.
            guard let checkpoint = state.checkpoint else {
                logger.warning("--resume \(directory): the devices are at step \(state.stepsDone), but the error-feedback residuals are kept only in checkpoints (they are as large as the model) and the run saved none: starting again from step 1")
                return nil
            }
            var saved = try TrainerState.read(from: "\(checkpoint)/\(PortableCheckpoint.stateFile)")
            if options.ranks > 1 {
                // Rank 0 wrote the checkpoint's state naming its own devices' snapshots; each rank
                // (whose own journal named the checkpoint) restores its own, from its directory.
                saved.ssdDirectory = options.ssdDirectory
                saved.snapshots = try DeviceSnapshots.snapshots(ofStep: saved.stepsDone, devices: saved.devices, in: options.ssdDirectory)
                    .map(\.path)
            }
            try saved.check(against: options, mayBeFinished: true)
            logger.notice("--resume \(directory): the devices are at step \(state.stepsDone), but the error-feedback residuals are kept only in checkpoints (they are as large as the model); going back to the last checkpoint, \(checkpoint), at step \(saved.stepsDone)")
            return .checkpoint(directory: checkpoint, saved)
        } else {
            throw TrainingError.badOption("--resume \(directory): expected a checkpoint (with \(PortableCheckpoint.stateFile)), an exported checkpoint (with \(PortableCheckpoint.modelFile)) or a run's SSD directory (with \(TrainerJournal.fileName)); found none of them")
        }
    }

    /// The same resume on every rank of `world`. A job killed as a whole stops its ranks at
    /// slightly different instants, so one rank's journal may hold a step another's has not
    /// settled; every rank keeps the step before its newest too (the journal's other slot, and
    /// the devices' other state slot), so a rank one step ahead goes back to the step all hold,
    /// and its devices roll back to it as a device one step ahead always does. Journals further
    /// apart cannot come from one job's crash: they are refused, rank by rank.
    func agreeing(over world: World, logger: Logger) throws -> ResumeSource {
        let steps = try world.allGather([Double(state.stepsDone)]).map { Int($0) }
        guard world.size > 1, let common = steps.min(), steps.contains(where: { $0 != common }) else { return self }
        guard case .devices(let directory, let newest) = self, steps.allSatisfy({ $0 - common <= 1 }) else {
            throw TrainingError.badOption("--resume: the ranks' journals stand at steps \(steps) (rank by rank); a job resumes only when they agree or stand one step apart in their SSD directories")
        }
        if newest.stepsDone == common { return self }
        guard let previous = try TrainerJournal.entries(in: directory).first(where: { $0.stepsDone == common }) else {
            throw TrainingError.badOption("--resume \(directory): this rank's journal stands at step \(newest.stepsDone) and no longer holds step \(common), where another rank stands")
        }
        logger.notice("--resume \(directory): the ranks' journals stand at steps \(steps) (rank by rank); this rank goes back to step \(common), the last one every rank settled")
        return .devices(directory: directory, previous)
    }

    /// The trainer state the run goes on from.
    var state: TrainerState {
        switch self {
        case .exported(_, let portable): portable.state
        case .checkpoint(_, let state), .devices(_, let state): state
        }
    }

    /// The checkpoint the run could go back to if its devices' states were damaged.
    var checkpoint: String? {
        switch self {
        case .exported(let directory, _), .checkpoint(let directory, _): directory
        case .devices(_, let state): state.checkpoint
        }
    }
}
