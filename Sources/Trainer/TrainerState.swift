import DurableWrite
import Foundation
import Optim

/// What a checkpoint records beside the model: where the run stands and what it ran on, so that
/// a resumed run continues exactly (same batches, same bias corrections, same loss scale) and
/// refuses to continue on anything else.
public struct TrainerState: Codable, Sendable, Equatable {
    public var stepsDone: Int
    public var appliedSteps: Int
    public var mode: String
    public var optimizer: String
    public var devices: Int
    public var ssdDirectory: String
    public var subgroupElements: Int
    public var shuffleSeed: UInt64?
    public var lossScaler: SavedLossScaler?

    public struct SavedLossScaler: Codable, Sendable, Equatable {
        public var scale: Double
        public var remainingHysteresis: Int
        public var iteration: Int
        public var lastOverflowIteration: Int
    }

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", appliedSteps = "applied_steps", mode, optimizer, devices
        case ssdDirectory = "ssd_dir", subgroupElements = "subgroup_elements", shuffleSeed = "shuffle_seed"
        case lossScaler = "loss_scaler"
    }

    static func read(from path: String) throws -> TrainerState {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TrainingError.badOption("--resume: cannot read \(path) (\(error.localizedDescription))")
        }
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TrainingError.badOption("--resume: \(path) is not a trainer state: \(error)")
        }
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(encoder.encode(self), to: path)
    }

    /// Refuses to resume on a different setup, naming the field.
    func check(against options: TrainingOptions) throws {
        func seed(_ value: UInt64?) -> String { value.map { "\($0)" } ?? "none (file order)" }
        var fields: [(String, String, String)] = []
        fields.append(("mode", mode, options.mode.rawValue))
        fields.append(("optimizer", optimizer, options.optimizer.name))
        fields.append(("devices", "\(devices)", "\(options.devices)"))
        fields.append(("ssd_dir", ssdDirectory, options.ssdDirectory))
        fields.append(("shuffle_seed", seed(shuffleSeed), seed(options.shuffleSeed)))
        let mismatches = fields.filter { $0.1 != $0.2 }
        if let (field, saved, given) = mismatches.first {
            throw TrainingError.badOption("--resume: the checkpoint's \(field) is '\(saved)', but this run asks for '\(given)'")
        }
        guard stepsDone < options.steps else {
            throw TrainingError.badOption("--resume: the checkpoint is at step \(stepsDone); --steps \(options.steps) leaves nothing to run")
        }
    }
}
