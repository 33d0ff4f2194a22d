/// SmartComp on the host side: what fraction of each subgroup's gradient crosses the link, and
/// whether the dropped part is carried to the next step.
public struct GradientCompressionSettings: Sendable, Equatable {
    /// Fraction of elements kept per subgroup, in (0, 1].
    public var ratio: Double
    /// Keep what top-k drops (and the value rounding) and add it to the next step's gradient.
    public var errorFeedback: Bool
    /// Steps sent dense before compression starts (with error feedback).
    public var denseWarmUpSteps: Int

    public init(ratio: Double = 0.01, errorFeedback: Bool = false, denseWarmUpSteps: Int = 0) {
        self.ratio = ratio
        self.errorFeedback = errorFeedback
        self.denseWarmUpSteps = denseWarmUpSteps
    }
}
