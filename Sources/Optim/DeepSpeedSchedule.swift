import Foundation

/// DeepSpeed's learning-rate schedulers (`deepspeed/runtime/lr_schedules.py`: WarmupLR,
/// WarmupDecayLR, WarmupCosineLR) with DeepSpeed's exact semantics, so that a DeepSpeed config's
/// `scheduler` section trains here with the learning rates it trains with there.
///
/// DeepSpeed's scheduler counts `last_batch_iteration` from −1 (its value when created) and its
/// engine advances it once after every *applied* update (an fp16 overflow skips the update and
/// the scheduler both). So the update that follows `a` applied ones runs at the scheduler's
/// iteration `a − 1`; at iteration −1 DeepSpeed gives WarmupLR's minimum and WarmupCosineLR's 0.
/// Every value is computed in float64 in DeepSpeed's order of operations (libm's `log` and
/// `cos`, as Python's `math` calls them), so it is DeepSpeed's float bit for bit.
public struct DeepSpeedSchedule: Sendable, Equatable {
    /// How the warm-up rises from its start to its peak.
    public enum WarmupType: String, Sendable, CaseIterable {
        /// log(i + 1) / log(W) of the way at iteration i (DeepSpeed's default).
        case log
        /// i / W of the way.
        case linear
    }

    public enum Shape: Sendable, Equatable {
        /// WarmupLR: `minimum` → `maximum` over the warm-up, then `maximum`.
        case warmup(minimum: Double, maximum: Double)
        /// WarmupDecayLR: WarmupLR's warm-up, then linear decay to 0 at `totalSteps`.
        case warmupDecay(minimum: Double, maximum: Double, totalSteps: Int)
        /// WarmupCosineLR: a ratio of `base` (the optimizer's lr) from `warmupMinimumRatio` to 1
        /// over the warm-up, then a cosine from 1 to `cosineMinimumRatio` at `totalSteps`
        /// (DeepSpeed does not stop it there: past `totalSteps` the cosine rises again).
        case warmupCosine(base: Double, warmupMinimumRatio: Double, cosineMinimumRatio: Double, totalSteps: Int)
    }

    /// DeepSpeed's type names, as a config's `scheduler.type` gives them.
    public static let typeNames = ["WarmupLR", "WarmupDecayLR", "WarmupCosineLR"]

    public var shape: Shape
    /// The shape's DeepSpeed type name.
    public var typeName: String {
        switch shape {
        case .warmup: "WarmupLR"
        case .warmupDecay: "WarmupDecayLR"
        case .warmupCosine: "WarmupCosineLR"
        }
    }
    /// DeepSpeed's `max(2, warmup_num_steps)`.
    public let warmupSteps: Int
    public var warmupType: WarmupType

    /// A schedule as DeepSpeed builds it from `warmup_num_steps` (taken as at least 2, as
    /// DeepSpeed does: log(1) would divide by zero).
    public init(_ shape: Shape, warmupSteps: Int, warmupType: WarmupType = .log) {
        self.shape = shape
        self.warmupSteps = max(2, warmupSteps)
        self.warmupType = warmupType
    }

    /// This schedule peaking at `learningRate`: WarmupLR's and WarmupDecayLR's `maximum`, or
    /// WarmupCosineLR's `base` (DeepSpeed takes it from the optimizer's lr).
    public func peaking(at learningRate: Double) -> DeepSpeedSchedule {
        var s = self
        switch shape {
        case let .warmup(minimum, _): s.shape = .warmup(minimum: minimum, maximum: learningRate)
        case let .warmupDecay(minimum, _, total): s.shape = .warmupDecay(minimum: minimum, maximum: learningRate, totalSteps: total)
        case let .warmupCosine(_, warmupMinimumRatio, cosineMinimumRatio, total):
            s.shape = .warmupCosine(base: learningRate, warmupMinimumRatio: warmupMinimumRatio, cosineMinimumRatio: cosineMinimumRatio,
                                    totalSteps: total)
        }
        return s
    }

    /// Whether the optimizer's lr is the schedule's base (WarmupCosineLR), rather than replaced
    /// by the schedule's own `warmup_max_lr`.
    public var scalesTheOptimizersRate: Bool {
        if case .warmupCosine = shape { return true }
        return false
    }

    /// The learning rate of the update that follows `appliedSteps` applied updates, in float64.
    public func learningRate(appliedSteps: Int) -> Double {
        let iteration = appliedSteps - 1
        switch shape {
        case let .warmup(minimum, maximum):
            if iteration < 0 { return minimum }
            return minimum + (maximum - minimum) * (warmupFraction(iteration) ?? 1)
        case let .warmupDecay(minimum, maximum, total):
            if iteration < 0 { return minimum }
            let gamma = warmupFraction(iteration)
                ?? max(0, Double(total - iteration) / max(1, Double(total - warmupSteps)))
            return minimum + (maximum - minimum) * gamma
        case let .warmupCosine(base, warmupMinimumRatio, cosineMinimumRatio, total):
            if iteration < 0 { return 0 }
            let ratio: Double
            if let fraction = warmupFraction(iteration) {
                ratio = warmupMinimumRatio + fraction * (1 - warmupMinimumRatio)
            } else {
                let cosine = (1 + cos(Double.pi * Double(iteration - warmupSteps + 1) / Double(total - warmupSteps))) / 2
                ratio = max(0, cosineMinimumRatio + (1 - cosineMinimumRatio) * cosine)
            }
            return base * ratio
        }
    }

    /// The warm-up's fraction at `iteration`, nil once it is over.
    private func warmupFraction(_ iteration: Int) -> Double? {
        guard iteration < warmupSteps else { return nil }
        switch warmupType {
        case .log: return 1 / Foundation.log(Double(warmupSteps)) * Foundation.log(Double(iteration + 1))
        case .linear: return Double(iteration) / Double(warmupSteps)
        }
    }
}
