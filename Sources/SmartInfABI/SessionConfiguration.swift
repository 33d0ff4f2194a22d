import Foundation
import Offload
import OffloadStep
import OffloadVocabulary
import Optim
import SizeNotation

/// What `smartinf_create` is given, as JSON (docs/PYTORCH.md lists the keys): everything `smartinf
/// train`'s flags say about the optimizer and its devices. Keys are torch's hyperparameter names
/// where torch has one. An unknown key, a value of the wrong type or out of range is refused
/// with a message naming the key.
struct SessionConfiguration {
    var placement: FleetPlacement
    var optimizer: OptimizerConfig
    var learningRate: Float
    var compression: GradientCompressionSettings
    var precision: Precision
    var clipping: GradientClipping
    var lossScaling: DynamicLossScaler.Configuration?
    var onDeviceFailure: DeviceFailurePolicy
    var subgroupElements: Int
    var queueDepth: Int
    var blockSize: Int
    /// Go on from the devices' states and the journal in the SSD directory, if there are any.
    var resume: Bool
    /// `state_precision` ("fp32" or "8bit") and `state_block`: how the devices store the states.
    var statePrecision: StatePrecision

    static let keys: Set<String> = [
        "devices", "mode", "optimizer", "flavour", "lr", "betas", "eps", "weight_decay", "momentum", "dampening", "nesterov",
        "lr_decay", "initial_accumulator_value", "topk_ratio", "error_feedback", "ssd_dir", "dram", "max_grad_norm",
        "on_device_failure", "max_retries", "precision", "smartssd", "subgroup_elements", "device_timeout", "device_faults",
        "loss_scaling", "queue_depth", "block_size", "resume", "state_precision", "state_block",
    ]

    init(json: String) throws(SessionError) {
        guard let data = json.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw .badArgument("the configuration is not a JSON object")
        }
        if let unknown = fields.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw .badArgument("unknown configuration key '\(unknown)'; expected one of \(Self.keys.sorted().joined(separator: ", "))")
        }
        let c = Fields(fields)
        let devices = try c.int("devices", default: 1, in: 1...64)
        let modeName = try c.string("mode", default: "su+o")
        guard let mode = OffloadMode(rawValue: modeName) else {
            throw .badArgument("mode '\(modeName)' is not one of \(OffloadMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let flavourName = try c.string("flavour", default: "torch")
        guard let flavour = RuleFlavor(rawValue: flavourName) else {
            throw .badArgument("flavour '\(flavourName)' is not one of torch, reference")
        }
        let kindName = try c.string("optimizer", default: "adamw")
        guard let kind = OptimizerKind(rawValue: kindName) else {
            throw .badArgument("optimizer '\(kindName)' is not one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        learningRate = try c.float("lr", default: 1e-3, in: 0...Float.greatestFiniteMagnitude)
        let weightDecay = try c.float("weight_decay", default: kind == .adamw ? 1e-2 : 0, in: 0...Float.greatestFiniteMagnitude)
        switch kind {
        case .adamw:
            let betas = try c.floats("betas", default: [0.9, 0.999], count: 2, in: 0...0.999_999_94)
            optimizer = .adamw(AdamWHyperparameters(beta1: betas[0], beta2: betas[1], eps: try c.float("eps", default: 1e-8, in: 0...1),
                                                    weightDecay: weightDecay), flavour)
        case .sgd:
            let h = SGDHyperparameters(momentum: try c.float("momentum", default: 0, in: 0...1),
                                       dampening: try c.float("dampening", default: 0, in: 0...1),
                                       nesterov: try c.bool("nesterov", default: false), weightDecay: weightDecay)
            if h.nesterov && (h.momentum == 0 || h.dampening != 0) {
                throw .badArgument("nesterov needs a momentum and zero dampening (momentum \(h.momentum), dampening \(h.dampening))")
            }
            optimizer = .sgd(h, flavour)
        case .adagrad:
            optimizer = .adagrad(AdagradHyperparameters(
                lrDecay: try c.float("lr_decay", default: 0, in: 0...Float.greatestFiniteMagnitude),
                initialAccumulatorValue: try c.float("initial_accumulator_value", default: 0, in: 0...Float.greatestFiniteMagnitude),
                eps: try c.float("eps", default: 1e-10, in: 0...1), weightDecay: weightDecay), flavour)
        }
        let ratio = try c.double("topk_ratio", default: 0.01, in: 0...1)
        guard ratio > 0 else { throw .badArgument("topk_ratio must be in (0, 1], got 0") }
        compression = GradientCompressionSettings(ratio: ratio, errorFeedback: try c.bool("error_feedback", default: false))
        resume = try c.bool("resume", default: false)
        if resume && compression.errorFeedback && mode == .suOC {
            throw .badArgument("resume cannot go on with error_feedback: its residuals are as large as the model and are not kept per step (the trainer keeps them in checkpoints); resume without error_feedback, or load a state_dict")
        }
        let precisionName = try c.string("precision", default: "fp32")
        guard let precision = Precision(name: precisionName) else {
            throw .badArgument("precision '\(precisionName)' is not one of fp32, fp16, bf16")
        }
        self.precision = precision
        let maxNorm = try c.optionalDouble("max_grad_norm")
        if let maxNorm, !(maxNorm > 0) { throw .badArgument("max_grad_norm must be positive, got \(maxNorm)") }
        clipping = GradientClipping(maxNorm: maxNorm)
        lossScaling = precision == .fp16 ? try Self.lossScaling(try c.object("loss_scaling") ?? Fields([:])) : nil
        let policy = try c.string("on_device_failure", default: "abort")
        switch DeviceFailurePolicy.Kind(rawValue: policy) {
        case .abort: onDeviceFailure = .abort
        case .retry: onDeviceFailure = .retry(maxRetries: try c.int("max_retries", default: 3, in: 1...100))
        case nil: throw .badArgument("on_device_failure '\(policy)' is not one of abort, retry")
        }
        let dramText = try c.string("dram", default: "1GiB")
        guard let dram = SizeArgument.parse(dramText), dram > 0 else {
            throw .badArgument("dram '\(dramText)' is not a size (e.g. 64MiB, 1GiB)")
        }
        subgroupElements = try c.int("subgroup_elements", default: 0, in: 0...(1 << 40))
        queueDepth = try c.int("queue_depth", default: 16, in: 1...4096)
        blockSize = try c.int("block_size", default: 1 << 20, in: 4096...(1 << 30))
        let stateName = try c.string("state_precision", default: "fp32")
        let stateBlock = try c.int("state_block", default: StatePrecision.defaultBlockSize, in: 1...(1 << 20))
        do { statePrecision = try StatePrecision(name: stateName, blockSize: stateBlock) } catch {
            switch error {
            case .unknown: throw .badArgument("state_precision '\(stateName)' is not one of fp32, 8bit")
            case .badBlockSize: throw .badArgument("state_block must be a power of two in 64...65536, got \(stateBlock)")
            }
        }
        if let block = statePrecision.blockSize, subgroupElements % block != 0 {
            throw .badArgument("subgroup_elements \(subgroupElements) is not a multiple of state_block \(block) (or 0: the devices choose)")
        }
        let faults = try c.stringMap("device_faults")
        var arguments: [Int: [String]] = [:]
        for (key, spec) in faults {
            guard let i = Int(key), (0..<devices).contains(i) else {
                throw .badArgument("device_faults names device '\(key)'; devices are 0...\(devices - 1)")
            }
            arguments[i] = ["--fault", spec]
        }
        placement = FleetPlacement(mode: mode, devices: devices, ssdDirectory: try c.string("ssd_dir", default: "/var/tmp/smartinfinity"),
                                   dramBytes: dram, deviceTimeout: try c.double("device_timeout", default: 600, in: 0...1e9),
                                   executable: try c.optionalString("smartssd"), deviceArguments: arguments)
    }
}

extension SessionConfiguration {
    /// The fp16 loss scaler from `loss_scaling` (DeepSpeed's defaults for what it leaves out):
    /// `initial_scale`, `dynamic` (false: a static scale), `window`, `hysteresis`, `min_scale`.
    static let lossScalingKeys: Set<String> = ["initial_scale", "dynamic", "window", "hysteresis", "min_scale"]

    static func lossScaling(_ c: Fields) throws(SessionError) -> DynamicLossScaler.Configuration {
        if let unknown = c.values.keys.sorted().first(where: { !lossScalingKeys.contains($0) }) {
            throw .badArgument("unknown loss_scaling key '\(unknown)'; expected one of \(lossScalingKeys.sorted().joined(separator: ", "))")
        }
        let largest = Double(Float.greatestFiniteMagnitude)
        let initial = try c.double("initial_scale", default: 65536, in: 1...largest, prefix: "loss_scaling")
        guard try c.bool("dynamic", default: true, prefix: "loss_scaling") else { return DynamicLossScaler.fixed(initial) }
        return DynamicLossScaler.Configuration(
            initialScale: initial, window: try c.int("window", default: 1000, in: 1...(1 << 40), prefix: "loss_scaling"),
            hysteresis: try c.int("hysteresis", default: 2, in: 1...(1 << 40), prefix: "loss_scaling"),
            minimumScale: try c.double("min_scale", default: 1, in: 1e-30...largest, prefix: "loss_scaling"))
    }
}

/// Typed reads of a JSON object's fields, each error naming the key.
struct Fields {
    let values: [String: Any]
    init(_ values: [String: Any]) { self.values = values }

    /// A nested object's fields, nil if the key is absent.
    func object(_ key: String) throws(SessionError) -> Fields? {
        guard let v = present(key) else { return nil }
        guard let object = v as? [String: Any] else { throw .badArgument("\(key) must be an object, got \(v)") }
        return Fields(object)
    }

    /// A JSON number (Foundation decodes true and false as a subclass of NSNumber, which is not one).
    private static func numeric(_ v: Any) -> NSNumber? {
        guard let n = v as? NSNumber, type(of: n) == NSNumber.self else { return nil }
        return n
    }

    private func present(_ key: String) -> Any? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        return v
    }

    private func number(_ key: String, _ name: String) throws(SessionError) -> Double? {
        guard let v = present(key) else { return nil }
        guard let n = Self.numeric(v) else { throw .badArgument("\(name) must be a number, got \(v)") }
        let d = n.doubleValue
        guard d.isFinite else { throw .badArgument("\(name) must be finite, got \(d)") }
        return d
    }

    /// `key` as errors name it: inside `prefix` if there is one.
    private func name(_ key: String, _ prefix: String?) -> String { prefix.map { "\($0).\(key)" } ?? key }

    func double(_ key: String, default value: Double, in range: ClosedRange<Double>, prefix: String? = nil) throws(SessionError) -> Double {
        let label = name(key, prefix)
        let d = try number(key, label) ?? value
        guard range.contains(d) else { throw .badArgument("\(label) must be in \(range.lowerBound)...\(range.upperBound), got \(d)") }
        return d
    }

    func optionalDouble(_ key: String) throws(SessionError) -> Double? { try number(key, key) }

    func float(_ key: String, default value: Float, in range: ClosedRange<Float>) throws(SessionError) -> Float {
        Float(try double(key, default: Double(value), in: Double(range.lowerBound)...Double(range.upperBound)))
    }

    func floats(_ key: String, default value: [Float], count: Int, in range: ClosedRange<Float>) throws(SessionError) -> [Float] {
        guard let v = present(key) else { return value }
        guard let list = v as? [Any], list.count == count else { throw .badArgument("\(key) must be a list of \(count) numbers, got \(v)") }
        return try list.enumerated().map { i, item throws(SessionError) in
            guard let n = Self.numeric(item), range.contains(n.floatValue) else {
                throw .badArgument("\(key)[\(i)] must be a number in \(range.lowerBound)...\(range.upperBound), got \(item)")
            }
            return n.floatValue
        }
    }

    func int(_ key: String, default value: Int, in range: ClosedRange<Int>, prefix: String? = nil) throws(SessionError) -> Int {
        let label = name(key, prefix)
        guard let d = try number(key, label) else { return value }
        guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw .badArgument("\(label) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(d)")
        }
        return Int(d)
    }

    func bool(_ key: String, default value: Bool, prefix: String? = nil) throws(SessionError) -> Bool {
        guard let v = present(key) else { return value }
        guard Self.numeric(v) == nil, let b = v as? Bool else { throw .badArgument("\(name(key, prefix)) must be true or false, got \(v)") }
        return b
    }

    func optionalString(_ key: String) throws(SessionError) -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v as? String else { throw .badArgument("\(key) must be a string, got \(v)") }
        return s
    }

    func string(_ key: String, default value: String) throws(SessionError) -> String { try optionalString(key) ?? value }

    func stringMap(_ key: String) throws(SessionError) -> [String: String] {
        guard let v = present(key) else { return [:] }
        guard let map = v as? [String: String] else { throw .badArgument("\(key) must map device numbers to strings, got \(v)") }
        return map
    }
}
