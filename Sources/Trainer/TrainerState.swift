import DurableWrite
import Foundation
import GPT
import Optim

/// What a checkpoint records beside the model: where the run stands and what it ran on, so that
/// a resumed run continues exactly (same batches, same bias corrections, same loss scale) and
/// refuses to continue on anything else.
public struct TrainerState: Codable, Sendable, Equatable {
    /// Data-parallel ranks of the run, each with `devices` devices (nil in files from before
    /// ranks existed: 1).
    public var ranks: Int?
    public var stepsDone: Int
    public var appliedSteps: Int
    public var mode: String
    public var optimizer: String
    public var devices: Int
    public var ssdDirectory: String
    public var subgroupElements: Int
    public var shuffleSeed: UInt64?
    /// Micro-batches per step (`--grad-accum`): with the step, where the data stands (nil in
    /// files from before accumulation existed: 1).
    public var gradientAccumulationSteps: Int?
    public var lossScaler: DynamicLossScaler.Position?
    /// The model's shape, so that a checkpoint's snapshots can be exported without its
    /// model file (nil in checkpoints saved before snapshots existed).
    public var model: SavedModel?
    /// Each device's snapshot of this checkpoint's step (`DeviceFleet.snapshot`), which a
    /// resumed run restores when its devices have gone past the checkpoint.
    public var snapshots: [String]?
    /// The last checkpoint the run saved (or resumed from): where a resume from the devices
    /// goes back to when what it needs is only kept in checkpoints (error-feedback residuals).
    public var checkpoint: String?
    /// The checkpoint's error-feedback residuals file (in its directory): named after the step,
    /// so that a crash while a checkpoint is written never leaves a trainer state beside the
    /// residuals of another step (nil: `error-feedback.bin`, as checkpoints once named it).
    public var errorFeedback: String?

    /// llm.c's dimensions of the model (`GPTConfig`).
    public struct SavedModel: Codable, Sendable, Equatable {
        public var maxSeqLen: Int
        public var vocabSize: Int
        public var paddedVocabSize: Int
        public var layers: Int
        public var heads: Int
        public var channels: Int

        public init(_ config: GPTConfig) {
            maxSeqLen = config.maxSeqLen
            vocabSize = config.vocabSize
            paddedVocabSize = config.paddedVocabSize
            layers = config.layers
            heads = config.heads
            channels = config.channels
        }

        /// The shape, checked as a model file's header is (`GPTConfig.check()`).
        public func config(in path: String) throws -> GPTConfig {
            let config = GPTConfig(maxSeqLen: maxSeqLen, vocabSize: vocabSize, paddedVocabSize: paddedVocabSize, layers: layers,
                                   heads: heads, channels: channels)
            do throws(GPTConfig.DimensionError) { try config.check() } catch {
                throw TrainingError.badOption("\(path): the model's \(error.dimension) is \(error.value), expected \(error.expected)")
            }
            return config
        }

        enum CodingKeys: String, CodingKey {
            case maxSeqLen = "max_seq_len", vocabSize = "vocab_size", paddedVocabSize = "padded_vocab_size", layers, heads, channels
        }
    }

    enum CodingKeys: String, CodingKey {
        case ranks, stepsDone = "steps_done", appliedSteps = "applied_steps", mode, optimizer, devices
        case ssdDirectory = "ssd_dir", subgroupElements = "subgroup_elements", shuffleSeed = "shuffle_seed"
        case gradientAccumulationSteps = "gradient_accumulation_steps"
        case lossScaler = "loss_scaler", model, snapshots, checkpoint, errorFeedback = "error_feedback"
    }

    /// Where checkpoints saved before the residuals were named after their step kept them.
    static let unnamedErrorFeedbackFile = "error-feedback.bin"

    /// The error-feedback residuals file of the checkpoint in `directory` whose state this is:
    /// the one it names, or one of the name checkpoints once used; nil if it has none.
    func errorFeedbackFile(in directory: String) -> String? {
        if let name = errorFeedback { return "\(directory)/\(name)" }
        let unnamed = "\(directory)/\(Self.unnamedErrorFeedbackFile)"
        return FileManager.default.fileExists(atPath: unnamed) ? unnamed : nil
    }

    public static func read(from path: String) throws -> TrainerState {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TrainingError.badOption("--resume: cannot read \(path) (\(error.localizedDescription))")
        }
        return try decode(data, from: path)
    }

    /// A trainer state from its JSON (`path` names where it came from in errors).
    public static func decode(_ data: Data, from path: String) throws -> TrainerState {
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TrainingError.badOption("--resume: \(path) is not a trainer state: \(error)")
        }
    }

    /// The JSON a checkpoint holds (pretty-printed, sorted keys).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public func write(to path: String) throws { try DurableFile.write(encoded(), to: path) }

    /// Refuses to resume on a different setup, naming the field. An exported checkpoint
    /// (`portable`) resumes on any devices, in any mode, in any SSD directory. A run resumed
    /// from its devices may stand at its last step (`mayBeFinished`): its host died after the
    /// last step, before or while it wrote the final checkpoint, which the resumed run writes.
    func check(against options: TrainingOptions, portable: Bool = false, mayBeFinished: Bool = false) throws {
        func seed(_ value: UInt64?) -> String { value.map { "\($0)" } ?? "none (file order)" }
        var fields: [(String, String, String)] = []
        if !portable { fields.append(("mode", mode, options.mode.rawValue)) }
        fields.append(("optimizer", optimizer, options.optimizer.name))
        if !portable {
            fields.append(("ranks", "\(ranks ?? 1)", "\(options.ranks)"))
            fields.append(("devices", "\(devices)", "\(options.devices)"))
            fields.append(("ssd_dir", ssdDirectory, options.ssdDirectory))
        }
        fields.append(("shuffle_seed", seed(shuffleSeed), seed(options.shuffleSeed)))
        fields.append(("gradient_accumulation_steps", "\(gradientAccumulationSteps ?? 1)", "\(options.gradientAccumulationSteps)"))
        let mismatches = fields.filter { $0.1 != $0.2 }
        if let (field, saved, given) = mismatches.first {
            throw TrainingError.badOption("--resume: the checkpoint's \(field) is '\(saved)', but this run asks for '\(given)'")
        }
        guard stepsDone < options.steps || (mayBeFinished && stepsDone == options.steps) else {
            throw TrainingError.badOption("--resume: the run stands at step \(stepsDone); --steps \(options.steps) leaves nothing to run")
        }
    }
}
