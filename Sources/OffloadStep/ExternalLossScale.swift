/// A loss scale kept outside the optimizer (torch.amp.GradScaler's, handed over by the C ABI's
/// `smartinf_step_scaled`): the scale the step's gradient carries, and what that scaler's own
/// overflow check found in it.
public struct ExternalLossScale: Sendable, Equatable {
    /// The factor the gradient carries (finite, > 0).
    public var scale: Double
    /// The outside scaler found a non-finite gradient element: the step is skipped, as that
    /// scaler skips it and lowers its scale.
    public var overflowFound: Bool

    public init(scale: Double, overflowFound: Bool) {
        self.scale = scale
        self.overflowFound = overflowFound
    }
}
