/// What the host must know about a step's gradients before any update may start: whether they
/// are all finite (else the step is skipped) and their global L2 norm (for clipping).
public struct GradientStatistics: Sendable, Equatable {
    /// Σ g² over everything scanned, accumulated in fp64 so that large models and large values
    /// neither lose precision nor overflow.
    public var sumOfSquares: Double
    /// False when any element is ±inf or NaN.
    public var allFinite: Bool

    public init(sumOfSquares: Double = 0, allFinite: Bool = true) {
        self.sumOfSquares = sumOfSquares
        self.allFinite = allFinite
    }

    /// The L2 norm of everything scanned (of the gradients as stored, i.e. still loss-scaled).
    public var norm: Double { sumOfSquares.squareRoot() }

    /// Combines the statistics of two disjoint parts (layers, ranks, slices).
    public mutating func merge(_ other: GradientStatistics) {
        sumOfSquares += other.sumOfSquares
        allFinite = allFinite && other.allFinite
    }

    /// Scans a gradient stream in any precision.
    public static func scan(_ gradient: StreamBuffer) -> GradientStatistics {
        gradient.withUnsafeMutableRawPointer { scan(UnsafeRawPointer($0), count: gradient.count, precision: gradient.precision) }
    }

    /// Scans `range` of a gradient stream: one device's slice, whose statistics a data-parallel
    /// run folds in device order (the fp64 lanes make the scan of a whole differ in its last bits
    /// from the sum of its parts' scans).
    public static func scan(_ gradient: StreamBuffer, range: Range<Int>) -> GradientStatistics {
        precondition(range.lowerBound >= 0 && range.upperBound <= gradient.count, "\(range) is outside 0..<\(gradient.count)")
        let precision = gradient.precision
        return gradient.withUnsafeMutableRawPointer {
            scan(UnsafeRawPointer($0 + range.lowerBound * precision.byteWidth), count: range.count, precision: precision)
        }
    }

    /// Scans `count` elements at `base` stored in `precision`.
    public static func scan(_ base: UnsafeRawPointer, count: Int, precision: Precision) -> GradientStatistics {
        switch precision {
        case .fp32: scanElements(FP32Elements.self, base, count)
        case .fp16: scanElements(FP16Elements.self, base, count)
        case .bf16: scanElements(BF16Elements.self, base, count)
        }
    }

    private static func scanElements<G: ElementReader>(_ g: G.Type, _ base: UnsafeRawPointer, _ count: Int) -> GradientStatistics {
        var low = SIMD8<Double>()
        var high = SIMD8<Double>()
        // x·0 is 0 for every finite x and NaN for ±inf and NaN, so one NaN test at the end
        // replaces a branch per element.
        var poison = SIMD16<Float>()
        var i = 0
        while i &+ 16 <= count {
            let x = G.load16(base, i)
            poison += x * 0
            let lo = SIMD8<Double>(x.lowHalf)
            let hi = SIMD8<Double>(x.highHalf)
            low += lo * lo
            high += hi * hi
            i &+= 16
        }
        var sum = (low + high).sum()
        var tailPoison: Float = 0
        while i < count {
            let x = G.load(base, i)
            tailPoison += x * 0
            sum += Double(x) * Double(x)
            i &+= 1
        }
        let finite = !(poison.sum() + tailPoison).isNaN
        return GradientStatistics(sumOfSquares: sum, allFinite: finite)
    }
}

/// Gradient clipping by global norm, folded with loss-scale removal into the one factor the
/// update multiplies every gradient by (u, `combined_unscale`, in docs/ARCHITECTURE.md, "Update math").
public struct GradientClipping: Sendable, Equatable {
    /// The maximum global norm, or nil for no clipping.
    public var maxNorm: Double?

    public init(maxNorm: Double?) {
        if let m = maxNorm { precondition(m > 0, "max norm must be positive, got \(m)") }
        self.maxNorm = maxNorm
    }

    /// `clip = max(1, (‖g‖/loss_scale + 1e-6) / max_norm)` when clipping is on, else 1, where
    /// ‖g‖ is the norm of the still-scaled gradients.
    public func clipFactor(scaledNorm: Double, lossScale: Double) -> Double {
        guard let maxNorm else { return 1 }
        return max(1, (scaledNorm / lossScale + 1e-6) / maxNorm)
    }

    /// `1 / (loss_scale × clip)`, rounded once to fp32.
    public func combinedUnscale(scaledNorm: Double, lossScale: Double) -> Float {
        Float(1 / (lossScale * clipFactor(scaledNorm: scaledNorm, lossScale: lossScale)))
    }
}
