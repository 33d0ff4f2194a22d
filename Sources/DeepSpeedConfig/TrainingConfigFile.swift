import Foundation
import OffloadVocabulary
import Optim
import SizeNotation

/// A DeepSpeed-style JSON config (`smartinf train --config FILE`, `smartinfinity.initialize`):
/// the keys DeepSpeed users already write, plus a `smartinf` section for what DeepSpeed has no
/// word for. Every value is optional; flags given on the command line win.
///
/// Read: `train_micro_batch_size_per_gpu`, `gradient_accumulation_steps` and `train_batch_size`
/// (resolved and checked against each other as DeepSpeed does, on one data-parallel rank),
/// `gradient_clipping`, `optimizer.type` (Adam, AdamW, CPUAdam, DeepSpeedCPUAdam, SGD, Adagrad,
/// or one of ours such as `sgd:torch`) and `optimizer.params` (lr, betas, eps, weight_decay,
/// momentum), `scheduler` (WarmupLR, WarmupDecayLR, WarmupCosineLR with DeepSpeed's params),
/// `fp16` (enabled, loss_scale — 0 for dynamic —, initial_scale_power, loss_scale_window,
/// hysteresis, min_loss_scale), `bf16.enabled`, `zero_optimization.sub_group_size`,
/// `zero_optimization.offload_optimizer` (device, nvme_path), `aio` (block_size, queue_depth), and
/// `smartinf` (devices, mode, topk_ratio, error_feedback, dram, ssd_dir, state_precision,
/// state_block). Other top-level
/// DeepSpeed keys are reported as ignored; an unknown key inside a section read here, or a value
/// of the wrong type, or a word that is none of the ones a key takes (an optimizer, a mode, a
/// size), is an error naming the file, the key and what was expected.
public struct TrainingConfigFile: Sendable, Equatable {
    /// The micro-batch size (`train_micro_batch_size_per_gpu`, or what `train_batch_size` and
    /// `gradient_accumulation_steps` leave for it).
    public var batchSize: Int?
    /// Micro-batches per optimizer step (`gradient_accumulation_steps`, or `train_batch_size`
    /// over the micro-batch size).
    public var gradientAccumulationSteps: Int?
    /// DeepSpeed's `scheduler` section. WarmupCosineLR's base is the optimizer's lr, which the
    /// run resolves (`peaking(at:)`); it is 0 here.
    public var scheduler: DeepSpeedSchedule?
    public var gradientClip: Double?
    /// `optimizer.type`, with default hyperparameters (the params section's come separately).
    public var optimizer: OptimizerConfig?
    public var learningRate: Double?
    public var betas: [Double]?
    public var eps: Double?
    public var weightDecay: Double?
    public var momentum: Double?
    public var fp16Enabled: Bool?
    public var bf16Enabled: Bool?
    public var lossScale: Double?
    public var initialScalePower: Int?
    public var lossScaleWindow: Int?
    public var hysteresis: Int?
    public var minimumLossScale: Double?
    public var subGroupSize: Int?
    public var offloadDevice: String?
    public var nvmePath: String?
    public var blockSize: Int?
    public var queueDepth: Int?
    public var devices: Int?
    public var mode: OffloadMode?
    public var topkRatio: Double?
    public var errorFeedback: Bool?
    /// `smartinf.dram` in bytes.
    public var dramBytes: Int?
    public var ssdDirectory: String?
    /// `smartinf.state_precision` (fp32 or 8bit) and `smartinf.state_block`, checked with the flags.
    public var statePrecision: String?
    public var stateBlock: Int?
    /// Top-level keys that were not read (DeepSpeed keys with no meaning here).
    public var ignoredKeys: [String] = []

    public init() {}

    public struct ConfigError: Error, CustomStringConvertible {
        public var path: String
        public var key: String
        public var problem: String
        public var description: String { "config \(path): \(key.isEmpty ? "" : "key '\(key)' ")\(problem)" }
    }

    /// The top-level keys read (every other one is reported as ignored).
    public static let keys = ["train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
                              "gradient_clipping", "optimizer", "scheduler", "fp16", "bf16", "zero_optimization", "aio", "smartinf"]

    public static func load(path: String) throws -> TrainingConfigFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError(path: path, key: "", problem: "cannot be read (\(error.localizedDescription))")
        }
        return try TrainingConfigFile(json: data, source: path)
    }

    /// A config from its JSON text; `source` names it in errors (a path, or what the caller
    /// calls a config it was handed as text).
    public init(json data: Data, source path: String) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigError(path: path, key: "", problem: "is not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else { throw ConfigError(path: path, key: "", problem: "must be a JSON object") }
        let reader = Reader(path: path)
        var c = TrainingConfigFile()
        c.ignoredKeys = root.keys.filter { !Self.keys.contains($0) }.sorted()
        (c.batchSize, c.gradientAccumulationSteps) = try reader.batchSizes(root)
        c.gradientClip = try reader.number(root, "gradient_clipping", minimum: 0)
        if let optimizer = try reader.section(root, "optimizer", allowed: ["type", "params"]) {
            c.optimizer = try reader.string(optimizer, "type", prefix: "optimizer").map { type in
                guard let config = Self.optimizer(deepSpeedType: type) else {
                    throw ConfigError(path: path, key: "optimizer.type",
                                      problem: "must be one of \(Self.deepSpeedAdamTypes.joined(separator: ", ")), SGD, Adagrad "
                                          + "or \(OptimizerConfig.names.joined(separator: ", ")), found the string \"\(type)\"")
                }
                return config
            }
            if let params = try reader.section(optimizer, "params", prefix: "optimizer",
                                               allowed: ["lr", "betas", "eps", "weight_decay", "momentum"]) {
                c.learningRate = try reader.number(params, "lr", prefix: "optimizer.params", minimum: 0)
                c.betas = try reader.numbers(params, "betas", prefix: "optimizer.params", count: 2)
                c.eps = try reader.number(params, "eps", prefix: "optimizer.params", minimum: 0)
                c.weightDecay = try reader.number(params, "weight_decay", prefix: "optimizer.params", minimum: 0)
                c.momentum = try reader.number(params, "momentum", prefix: "optimizer.params", minimum: 0)
            }
        }
        if let scheduler = try reader.section(root, "scheduler", allowed: ["type", "params"]) {
            c.scheduler = try reader.schedule(scheduler)
        }
        if let fp16 = try reader.section(root, "fp16", allowed: ["enabled", "loss_scale", "initial_scale_power", "loss_scale_window",
                                                               "hysteresis", "min_loss_scale"]) {
            c.fp16Enabled = try reader.bool(fp16, "enabled", prefix: "fp16")
            c.lossScale = try reader.number(fp16, "loss_scale", prefix: "fp16", minimum: 0)
            c.initialScalePower = try reader.integer(fp16, "initial_scale_power", prefix: "fp16", minimum: 0)
            c.lossScaleWindow = try reader.integer(fp16, "loss_scale_window", prefix: "fp16", minimum: 1)
            c.hysteresis = try reader.integer(fp16, "hysteresis", prefix: "fp16", minimum: 1)
            c.minimumLossScale = try reader.number(fp16, "min_loss_scale", prefix: "fp16", minimum: 0)
        }
        if let bf16 = try reader.section(root, "bf16", allowed: ["enabled"]) {
            c.bf16Enabled = try reader.bool(bf16, "enabled", prefix: "bf16")
        }
        if let zero = try reader.section(root, "zero_optimization", allowed: nil) {
            c.subGroupSize = try reader.integer(zero, "sub_group_size", prefix: "zero_optimization", minimum: 0)
            if let offload = try reader.section(zero, "offload_optimizer", prefix: "zero_optimization", allowed: nil) {
                c.offloadDevice = try reader.string(offload, "device", prefix: "zero_optimization.offload_optimizer")
                c.nvmePath = try reader.string(offload, "nvme_path", prefix: "zero_optimization.offload_optimizer")
            }
        }
        if let aio = try reader.section(root, "aio", allowed: nil) {
            c.blockSize = try reader.integer(aio, "block_size", prefix: "aio", minimum: 4096)
            c.queueDepth = try reader.integer(aio, "queue_depth", prefix: "aio", minimum: 1)
        }
        if let own = try reader.section(root, "smartinf", allowed: ["devices", "mode", "topk_ratio", "error_feedback", "dram", "ssd_dir",
                                                                   "state_precision", "state_block"]) {
            c.devices = try reader.integer(own, "devices", prefix: "smartinf", minimum: 1)
            c.mode = try reader.string(own, "mode", prefix: "smartinf").map { name in
                guard let mode = OffloadMode(rawValue: name) else {
                    throw ConfigError(path: path, key: "smartinf.mode", problem: "must be one of "
                                      + "\(OffloadMode.allCases.map(\.rawValue).joined(separator: ", ")), found the string \"\(name)\"")
                }
                return mode
            }
            c.topkRatio = try reader.number(own, "topk_ratio", prefix: "smartinf", minimum: 0)
            c.errorFeedback = try reader.bool(own, "error_feedback", prefix: "smartinf")
            c.dramBytes = try reader.string(own, "dram", prefix: "smartinf").map { text in
                guard let bytes = SizeArgument.parse(text), bytes >= 1 << 20 else {
                    throw ConfigError(path: path, key: "smartinf.dram",
                                      problem: "must be a size of at least 1MiB such as \"1GiB\", found the string \"\(text)\"")
                }
                return bytes
            }
            c.ssdDirectory = try reader.string(own, "ssd_dir", prefix: "smartinf")
            c.statePrecision = try reader.string(own, "state_precision", prefix: "smartinf")
            c.stateBlock = try reader.integer(own, "state_block", prefix: "smartinf", minimum: 1)
        }
        self = c
    }

    /// The fp16 section's loss scaling: dynamic (loss_scale 0) with its knobs and DeepSpeed's
    /// defaults, or static; nil without fp16.
    public var lossScaling: DynamicLossScaler.Configuration? {
        guard fp16Enabled == true else { return nil }
        if let fixed = lossScale, fixed > 0 { return DynamicLossScaler.fixed(fixed) }
        return DynamicLossScaler.Configuration(
            initialScale: Double(1 << min(initialScalePower ?? 16, 62)), window: lossScaleWindow ?? 1000,
            hysteresis: hysteresis ?? 2, minimumScale: max(minimumLossScale ?? 1, 1e-30))
    }

    /// DeepSpeed's names of its Adam optimizers, all AdamW here.
    static let deepSpeedAdamTypes = ["Adam", "AdamW", "CPUAdam", "DeepSpeedCPUAdam"]

    /// DeepSpeed's optimizer type names (any case), as ours; ours are taken as they are.
    static func optimizer(deepSpeedType type: String) -> OptimizerConfig? {
        if deepSpeedAdamTypes.contains(where: { $0.lowercased() == type.lowercased() }) { return .adamw(AdamWHyperparameters()) }
        return try? OptimizerConfig(name: type)
    }

    /// Typed look-ups that name the key path in their errors.
    private struct Reader {
        let path: String

        private func key(_ prefix: String?, _ name: String) -> String { prefix.map { "\($0).\(name)" } ?? name }

        func section(_ object: [String: Any], _ name: String, prefix: String? = nil, allowed: Set<String>?) throws -> [String: Any]? {
            guard let value = object[name] else { return nil }
            guard let section = value as? [String: Any] else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be an object")
            }
            if let allowed, let unknown = section.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw ConfigError(path: path, key: key(key(prefix, name), unknown),
                                  problem: "is not known; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            return section
        }

        /// The micro-batch size and the accumulation steps from DeepSpeed's three batch keys,
        /// resolved as DeepSpeed does on one rank: two of them give the third, `train_batch_size`
        /// alone is one micro-batch, and all given must agree (train = micro × steps).
        func batchSizes(_ root: [String: Any]) throws -> (micro: Int?, steps: Int?) {
            let micro = try integer(root, "train_micro_batch_size_per_gpu", minimum: 1)
            let steps = try integer(root, "gradient_accumulation_steps", minimum: 1)
            guard let train = try integer(root, "train_batch_size", minimum: 1) else { return (micro, steps) }
            let resolved: (micro: Int, steps: Int)
            switch (micro, steps) {
            case let (m?, s?): resolved = (m, s)
            case let (m?, nil): resolved = (m, train / m)
            case let (nil, s?): resolved = (train / s, s)
            case (nil, nil): resolved = (train, 1)
            }
            let product = resolved.micro.multipliedReportingOverflow(by: resolved.steps)
            guard resolved.micro >= 1, resolved.steps >= 1, !product.overflow, product.partialValue == train else {
                throw ConfigError(path: path, key: "train_batch_size",
                                  problem: "must equal train_micro_batch_size_per_gpu × gradient_accumulation_steps (one rank), found "
                                      + "\(train) ≠ \(resolved.micro) × \(resolved.steps)")
            }
            return resolved
        }

        /// The `scheduler` section: one of DeepSpeed's schedulers with its params (DeepSpeed's
        /// defaults for those not given; `total_num_steps` has none).
        func schedule(_ section: [String: Any]) throws -> DeepSpeedSchedule {
            let names = DeepSpeedSchedule.typeNames
            guard let type = try string(section, "type", prefix: "scheduler") else {
                throw ConfigError(path: path, key: "scheduler.type", problem: "is missing; expected one of \(names.joined(separator: ", "))")
            }
            let prefix = "scheduler.params"
            let allowed: Set<String>
            switch type {
            case "WarmupLR": allowed = ["warmup_min_lr", "warmup_max_lr", "warmup_num_steps", "warmup_type"]
            case "WarmupDecayLR": allowed = ["warmup_min_lr", "warmup_max_lr", "warmup_num_steps", "warmup_type", "total_num_steps"]
            case "WarmupCosineLR": allowed = ["warmup_min_ratio", "cos_min_ratio", "warmup_num_steps", "warmup_type", "total_num_steps"]
            default:
                throw ConfigError(path: path, key: "scheduler.type",
                                  problem: "must be one of \(names.joined(separator: ", ")), found the string \"\(type)\"")
            }
            let params = try self.section(section, "params", prefix: "scheduler", allowed: allowed) ?? [:]
            let warmupSteps = try integer(params, "warmup_num_steps", prefix: prefix, minimum: 0) ?? 1000
            let warmupType = try string(params, "warmup_type", prefix: prefix).map { name in
                guard let type = DeepSpeedSchedule.WarmupType(rawValue: name) else {
                    throw ConfigError(path: path, key: "\(prefix).warmup_type", problem: "must be log or linear, found the string \"\(name)\"")
                }
                return type
            } ?? .log
            func total() throws -> Int {
                guard let steps = try integer(params, "total_num_steps", prefix: prefix, minimum: 1) else {
                    throw ConfigError(path: path, key: "\(prefix).total_num_steps", problem: "is missing; \(type) needs the run's total steps")
                }
                return steps
            }
            let shape: DeepSpeedSchedule.Shape
            switch type {
            case "WarmupCosineLR":
                let steps = try total()
                // DeepSpeed divides by total − warm-up after the warm-up.
                guard steps > max(2, warmupSteps) else {
                    throw ConfigError(path: path, key: "\(prefix).total_num_steps",
                                      problem: "must exceed warmup_num_steps (\(max(2, warmupSteps))), found \(steps)")
                }
                shape = .warmupCosine(base: 0, warmupMinimumRatio: try number(params, "warmup_min_ratio", prefix: prefix, minimum: 0) ?? 0,
                                      cosineMinimumRatio: try number(params, "cos_min_ratio", prefix: prefix, minimum: 0) ?? 0.0001,
                                      totalSteps: steps)
            default:
                let minimum = try number(params, "warmup_min_lr", prefix: prefix, minimum: 0) ?? 0
                let maximum = try number(params, "warmup_max_lr", prefix: prefix, minimum: 0) ?? 0.001
                shape = type == "WarmupLR" ? .warmup(minimum: minimum, maximum: maximum)
                    : .warmupDecay(minimum: minimum, maximum: maximum, totalSteps: try total())
            }
            return DeepSpeedSchedule(shape, warmupSteps: warmupSteps, warmupType: warmupType)
        }

        func number(_ object: [String: Any], _ name: String, prefix: String? = nil, minimum: Double) throws -> Double? {
            guard let value = object[name] else { return nil }
            guard let n = value as? NSNumber, !isBoolean(n) else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be a number, found \(describe(value))")
            }
            let d = n.doubleValue
            guard d.isFinite, d >= minimum else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be a number ≥ \(minimum), found \(d)")
            }
            return d
        }

        func integer(_ object: [String: Any], _ name: String, prefix: String? = nil, minimum: Int) throws -> Int? {
            guard let d = try number(object, name, prefix: prefix, minimum: Double(minimum)) else { return nil }
            guard d == d.rounded(), d < 0x1p62 else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be a whole number, found \(d)")
            }
            return Int(d)
        }

        func numbers(_ object: [String: Any], _ name: String, prefix: String, count: Int) throws -> [Double]? {
            guard let value = object[name] else { return nil }
            guard let array = value as? [Any], array.count == count,
                  let values = Optional(array.compactMap { ($0 as? NSNumber).flatMap { isBoolean($0) ? nil : $0.doubleValue } }),
                  values.count == count else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be an array of \(count) numbers, found \(describe(value))")
            }
            return values
        }

        func bool(_ object: [String: Any], _ name: String, prefix: String) throws -> Bool? {
            guard let value = object[name] else { return nil }
            guard let n = value as? NSNumber, isBoolean(n) else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be true or false, found \(describe(value))")
            }
            return n.boolValue
        }

        func string(_ object: [String: Any], _ name: String, prefix: String) throws -> String? {
            guard let value = object[name] else { return nil }
            guard let s = value as? String else {
                throw ConfigError(path: path, key: key(prefix, name), problem: "must be a string, found \(describe(value))")
            }
            return s
        }

        /// JSON true/false arrive as NSNumbers of the char type.
        private func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

        private func describe(_ value: Any) -> String {
            if let s = value as? String { return "the string \"\(s)\"" }
            if let n = value as? NSNumber { return isBoolean(n) ? "\(n.boolValue)" : "the number \(n)" }
            if value is [Any] { return "an array" }
            if value is [String: Any] { return "an object" }
            return "null"
        }
    }
}
