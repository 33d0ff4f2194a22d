/// Which variant of an optimizer's update rule to run.
///
/// `reference` follows the DeepSpeed CPU optimizers that Smart-Infinity builds on; `torch`
/// follows `torch.optim` exactly, for users who compare against PyTorch runs.
public enum RuleFlavor: String, Sendable, CaseIterable {
    case reference
    case torch
}

/// AdamW hyperparameters (decoupled weight decay applied to the old parameter).
public struct AdamWHyperparameters: Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// Momentum SGD hyperparameters. `dampening` and `nesterov` apply to the torch flavour only.
public struct SGDHyperparameters: Sendable, Equatable {
    public var momentum: Float
    public var dampening: Float
    public var nesterov: Bool
    public var weightDecay: Float

    public init(momentum: Float = 0.9, dampening: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }
}

/// AdaGrad hyperparameters. `lrDecay` applies to the torch flavour only;
/// `initialAccumulatorValue` is the value the state `v` starts from in both.
public struct AdagradHyperparameters: Sendable, Equatable {
    public var lrDecay: Float
    public var initialAccumulatorValue: Float
    public var eps: Float
    public var weightDecay: Float

    public init(lrDecay: Float = 0, initialAccumulatorValue: Float = 0, eps: Float = 1e-10, weightDecay: Float = 0) {
        self.lrDecay = lrDecay
        self.initialAccumulatorValue = initialAccumulatorValue
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// Which optimizer, apart from its hyperparameters and rule flavour: all the analytic model needs
/// to know of it (its state vectors), and what the study commands choose between.
public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
    case adamw, sgd, adagrad

    /// The fp32 state vectors kept per parameter besides the master copy: AdamW's m and v,
    /// SGD's momentum buffer, AdaGrad's sum of squares.
    public var stateCount: Int { self == .adamw ? 2 : 1 }

    /// The state vectors' names in `torch.optim`'s state dicts, in state order: AdamW's m and
    /// v, SGD's momentum buffer, AdaGrad's sum of squares.
    public var stateNames: [String] {
        switch self {
        case .adamw: ["exp_avg", "exp_avg_sq"]
        case .sgd: ["momentum_buffer"]
        case .adagrad: ["sum"]
        }
    }

    /// Decodes the name, refusing an unknown one with the names it could have been.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let kind = OptimizerKind(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unknown optimizer \"\(name)\"; expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = kind
    }
}

/// An optimizer and its hyperparameters, apart from the learning rate, which the schedule
/// supplies step by step.
public enum OptimizerConfig: Sendable, Equatable {
    case adamw(AdamWHyperparameters, RuleFlavor = .reference)
    case sgd(SGDHyperparameters, RuleFlavor)
    case adagrad(AdagradHyperparameters, RuleFlavor)

    /// The optimizer, whatever its hyperparameters and flavour.
    public var kind: OptimizerKind {
        switch self {
        case .adamw: .adamw
        case .sgd: .sgd
        case .adagrad: .adagrad
        }
    }

    /// The variant of its rule.
    public var flavor: RuleFlavor {
        switch self {
        case .adamw(_, let f), .sgd(_, let f), .adagrad(_, let f): f
        }
    }

    /// The fp32 state vectors kept per parameter besides the master copy (m, v, or both).
    public var stateCount: Int { kind.stateCount }

    /// The value each state vector starts from (AdaGrad's initial accumulator, zero otherwise).
    public var initialStateValue: Float {
        if case .adagrad(let h, _) = self { return h.initialAccumulatorValue }
        return 0
    }

    /// The weight decay, whichever the optimizer.
    public var weightDecay: Float {
        switch self {
        case .adamw(let h, _): h.weightDecay
        case .sgd(let h, _): h.weightDecay
        case .adagrad(let h, _): h.weightDecay
        }
    }

    /// The same optimizer with weight decay `decay` (a parameter group's own).
    public func withWeightDecay(_ decay: Float) -> OptimizerConfig {
        switch self {
        case .adamw(var h, let f):
            h.weightDecay = decay
            return .adamw(h, f)
        case .sgd(var h, let f):
            h.weightDecay = decay
            return .sgd(h, f)
        case .adagrad(var h, let f):
            h.weightDecay = decay
            return .adagrad(h, f)
        }
    }

    /// A short name: "adamw", "adamw:torch", "sgd", "sgd:torch", "adagrad", "adagrad:torch".
    public var name: String {
        switch self {
        case .adamw(_, let f): f == .torch ? "adamw:torch" : "adamw"
        case .sgd(_, let f): f == .torch ? "sgd:torch" : "sgd"
        case .adagrad(_, let f): f == .torch ? "adagrad:torch" : "adagrad"
        }
    }

    /// Every optimizer and flavour by its `name`, as a command line offers them.
    public static let names = ["adamw", "adamw:torch", "sgd", "sgd:torch", "adagrad", "adagrad:torch"]

    /// Parses `adamw`, `sgd`, `adagrad`, optionally suffixed `:torch` or `:reference`, with
    /// default hyperparameters.
    public init(name: String) throws(OptimizerConfigError) {
        let parts = name.lowercased().split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let flavor: RuleFlavor
        if parts.count == 2 {
            guard let f = RuleFlavor(rawValue: parts[1]) else {
                throw .unknownFlavor(parts[1])
            }
            flavor = f
        } else {
            flavor = .reference
        }
        switch parts.first ?? "" {
        case "adamw", "adam": self = .adamw(AdamWHyperparameters(), flavor)
        case "sgd": self = .sgd(SGDHyperparameters(), flavor)
        case "adagrad": self = .adagrad(AdagradHyperparameters(), flavor)
        default: throw .unknownOptimizer(name)
        }
    }
}

/// A bad optimizer name or flavour, with what was expected.
public enum OptimizerConfigError: Error, Equatable, CustomStringConvertible {
    case unknownOptimizer(String)
    case unknownFlavor(String)

    public var description: String {
        switch self {
        case .unknownOptimizer(let n):
            "unknown optimizer '\(n)': expected adamw, adamw:torch, sgd, sgd:torch, adagrad or adagrad:torch"
        case .unknownFlavor(let f):
            "unknown optimizer flavour '\(f)': expected 'torch' or 'reference'"
        }
    }
}
