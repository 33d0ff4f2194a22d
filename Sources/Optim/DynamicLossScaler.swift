/// The dynamic loss scaler of mixed-precision training, with DeepSpeed's semantics.
///
/// fp16 gradients underflow unless the loss is scaled up; too large a scale overflows them.
/// Any non-finite gradient skips the step. Overflows lower the scale, after `hysteresis`
/// tolerated overflows; `window` clean steps since the last overflow raise it.
public struct DynamicLossScaler: Sendable, Equatable {
    public struct Configuration: Sendable, Equatable {
        public var initialScale: Double
        public var factor: Double
        /// Clean steps after which the scale grows by `factor`.
        public var window: Int
        /// Overflows in a row that are absorbed before the scale drops (1 = drop on the first).
        public var hysteresis: Int
        /// When true, any clean step refills the hysteresis budget; otherwise only growth does.
        public var consecutiveHysteresis: Bool
        public var minimumScale: Double

        public init(initialScale: Double = 65536, factor: Double = 2, window: Int = 1000, hysteresis: Int = 2,
                    consecutiveHysteresis: Bool = false, minimumScale: Double = 1) {
            precondition(initialScale > 0 && factor > 1 && window >= 1 && hysteresis >= 1 && minimumScale > 0,
                         "invalid loss scaler configuration")
            self.initialScale = initialScale
            self.factor = factor
            self.window = window
            self.hysteresis = hysteresis
            self.consecutiveHysteresis = consecutiveHysteresis
            self.minimumScale = minimumScale
        }
    }

    /// A static scale (DeepSpeed's fp16 `loss_scale` > 0): it never grows, and overflows only
    /// skip (the hysteresis never runs out).
    public static func fixed(_ scale: Double) -> Configuration {
        Configuration(initialScale: scale, window: Int.max / 2, hysteresis: Int.max / 2, minimumScale: scale)
    }

    /// What the trainer must do with the step just checked.
    public enum Decision: Sendable, Equatable {
        case apply
        case skip
    }

    public let configuration: Configuration
    public private(set) var scale: Double
    public private(set) var remainingHysteresis: Int
    /// Steps seen so far (applied or skipped).
    public private(set) var iteration: Int
    /// The iteration of the last overflow, -1 if none.
    public private(set) var lastOverflowIteration: Int

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.scale = configuration.initialScale
        self.remainingHysteresis = configuration.hysteresis
        self.iteration = 0
        self.lastOverflowIteration = -1
    }

    /// Where a scaler stands, without its configuration (which a resumed run gives again): what
    /// checkpoints and journals keep of it.
    public struct Position: Codable, Sendable, Equatable {
        public var scale: Double
        public var remainingHysteresis: Int
        public var iteration: Int
        public var lastOverflowIteration: Int

        public init(scale: Double, remainingHysteresis: Int, iteration: Int, lastOverflowIteration: Int) {
            self.scale = scale
            self.remainingHysteresis = remainingHysteresis
            self.iteration = iteration
            self.lastOverflowIteration = lastOverflowIteration
        }
    }

    public var position: Position {
        Position(scale: scale, remainingHysteresis: remainingHysteresis, iteration: iteration, lastOverflowIteration: lastOverflowIteration)
    }

    /// A saved position this configuration cannot continue from: it came from a file or a
    /// caller, so it is checked rather than trusted.
    public enum PositionError: Error, Equatable, CustomStringConvertible {
        case scale(Double)
        case remainingHysteresis(Int, configured: Int)
        case iterations(iteration: Int, lastOverflow: Int)

        public var description: String {
            switch self {
            case .scale(let scale): "the loss scaler's scale must be finite and positive, got \(scale)"
            case .remainingHysteresis(let remaining, let configured):
                "the loss scaler's remaining hysteresis must be in 1...\(configured) (its configured hysteresis), got \(remaining)"
            case .iterations(let iteration, let lastOverflow):
                "the loss scaler's iteration must be ≥ 0 and its last overflow iteration in -1...iteration-1 (-1: none), got \(iteration) and \(lastOverflow)"
            }
        }
    }

    /// A scaler continuing from a saved position (a resumed run).
    public init(_ configuration: Configuration, continuing position: Position) throws(PositionError) {
        guard position.scale.isFinite, position.scale > 0 else { throw .scale(position.scale) }
        guard (1...configuration.hysteresis).contains(position.remainingHysteresis) else {
            throw .remainingHysteresis(position.remainingHysteresis, configured: configuration.hysteresis)
        }
        guard position.iteration >= 0, (-1..<position.iteration).contains(position.lastOverflowIteration) else {
            throw .iterations(iteration: position.iteration, lastOverflow: position.lastOverflowIteration)
        }
        self.configuration = configuration
        self.scale = position.scale
        self.remainingHysteresis = position.remainingHysteresis
        self.iteration = position.iteration
        self.lastOverflowIteration = position.lastOverflowIteration
    }

    /// Records one step's overflow check and says whether its update may be applied.
    public mutating func update(overflow: Bool) -> Decision {
        defer { iteration += 1 }
        if overflow {
            if configuration.hysteresis == 1 || remainingHysteresis == 1 {
                scale = max(scale / configuration.factor, configuration.minimumScale)
            } else {
                remainingHysteresis -= 1
            }
            lastOverflowIteration = iteration
            return .skip
        }
        if configuration.consecutiveHysteresis { remainingHysteresis = configuration.hysteresis }
        if (iteration - lastOverflowIteration) % configuration.window == 0 {
            if !configuration.consecutiveHysteresis { remainingHysteresis = configuration.hysteresis }
            scale *= configuration.factor
        }
        return .apply
    }
}
