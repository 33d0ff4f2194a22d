import Optim

/// What the host decided about one step's gradient before any update: whether it is finite,
/// whether the loss scaler lets the step through, and the one factor (loss-scale removal and
/// clipping) every gradient element is multiplied by.
public struct GradientCheck: Sendable, Equatable {
    /// Of the gradient as stored, still loss-scaled.
    public var statistics: GradientStatistics
    /// The loss scale the gradient was computed under (1 without a scaler).
    public var lossScale: Double
    /// Some element is ±inf or NaN.
    public var overflow: Bool
    /// The step changes nothing on the devices (an overflow, or an external scaler found one).
    public var skip: Bool
    /// 1 / (loss scale × clip factor), rounded once to fp32; 1 on a skipped step.
    public var combinedUnscale: Float

    /// The global L2 norm of the unscaled gradient.
    public var gradientNorm: Double { statistics.norm / lossScale }
}
