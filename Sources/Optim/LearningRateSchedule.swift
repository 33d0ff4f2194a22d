import Foundation

/// The learning rate for each step.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant(Double)
    /// Linear warm-up from lr/warmup to `peak` over `warmupSteps`, then cosine decay to `minimum`
    /// at `totalSteps` (and `minimum` after it).
    case warmupCosine(peak: Double, minimum: Double, warmupSteps: Int, totalSteps: Int)
    /// One of DeepSpeed's schedulers (a config's `scheduler` section), which follows applied
    /// updates rather than steps.
    case deepSpeed(DeepSpeedSchedule)

    /// A schedule's shape, by the name a command line chooses it with.
    public enum Kind: String, Sendable, CaseIterable {
        case constant
        /// Linear warm-up, then cosine decay (`warmupCosine`).
        case cosine
    }

    /// The schedule of `kind` peaking at `peak`; the cosine's warm-up and decay to `minimum`
    /// end at `warmupSteps` and `totalSteps`.
    public init(_ kind: Kind, peak: Double, minimum: Double, warmupSteps: Int, totalSteps: Int) {
        switch kind {
        case .constant: self = .constant(peak)
        case .cosine: self = .warmupCosine(peak: peak, minimum: minimum, warmupSteps: warmupSteps, totalSteps: totalSteps)
        }
    }

    /// The learning rate of `step` (1-based, skipped steps counted), after `appliedSteps` applied
    /// updates, rounded once to fp32 for the kernels. Our schedules follow the step; DeepSpeed's
    /// follow the applied updates, as its engine advances them only after one.
    public func learningRate(step: Int, appliedSteps: Int) -> Float {
        precondition(step >= 1, "steps count from 1, got \(step)")
        switch self {
        case .deepSpeed(let schedule):
            return Float(schedule.learningRate(appliedSteps: appliedSteps))
        case .constant(let lr):
            return Float(lr)
        case .warmupCosine(let peak, let minimum, let warmup, let total):
            if step <= warmup { return Float(peak * Double(step) / Double(warmup)) }
            guard total > warmup else { return Float(minimum) }
            let progress = min(1, Double(step - warmup) / Double(total - warmup))
            return Float(minimum + 0.5 * (1 + cos(Double.pi * progress)) * (peak - minimum))
        }
    }
}
