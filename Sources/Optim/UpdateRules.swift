import Glibc

/// One optimizer's per-element update, with its scalars already prepared for the step.
///
/// A rule sees the unscaled gradient `g` and the old values and returns the new ones. It is
/// written once, generically over `FloatLanes`, so the SIMD path and the scalar fallback are the
/// same sequence of IEEE operations (see `FloatLanes`). Rules with one state ignore `state2`.
public protocol UpdateRule: Sendable {
    /// How many fp32 state vectors the rule reads and writes (1 or 2).
    static var stateCount: Int { get }
    /// The factor every raw gradient is multiplied by first: 1 / (loss scale × clip factor).
    var combinedUnscale: Float { get }
    func apply<L: FloatLanes>(gradient g: L, parameter p: L, state1: L, state2: L)
        -> (parameter: L, state1: L, state2: L)
}

/// AdamW exactly as docs/ARCHITECTURE.md, "Update math": `state1` is m, `state2` is v, decay is decoupled and applied
/// to the old parameter.
public struct AdamWRule: UpdateRule, Equatable {
    public static var stateCount: Int { 2 }
    public var combinedUnscale: Float
    public var beta1: Float
    public var beta2: Float
    public var oneMinusBeta1: Float
    public var oneMinusBeta2: Float
    public var eps: Float
    /// 1 / sqrt(1 - β2^t)
    public var biasCorrection2: Float
    /// -lr / (1 - β1^t)
    public var stepSize: Float
    /// 1 + (-lr × wd)
    public var decayFactor: Float

    public init(combinedUnscale: Float, beta1: Float, beta2: Float, oneMinusBeta1: Float, oneMinusBeta2: Float, eps: Float, biasCorrection2: Float, stepSize: Float, decayFactor: Float) {
        self.combinedUnscale = combinedUnscale
        self.beta1 = beta1
        self.beta2 = beta2
        self.oneMinusBeta1 = oneMinusBeta1
        self.oneMinusBeta2 = oneMinusBeta2
        self.eps = eps
        self.biasCorrection2 = biasCorrection2
        self.stepSize = stepSize
        self.decayFactor = decayFactor
    }

    @inlinable @inline(__always)
    public func apply<L: FloatLanes>(gradient g: L, parameter p: L, state1 m: L, state2 v: L)
        -> (parameter: L, state1: L, state2: L) {
        let v2 = (g * g) * L(repeating: oneMinusBeta2) + v * L(repeating: beta2)
        let m2 = g * L(repeating: oneMinusBeta1) + m * L(repeating: beta1)
        let denominator = v2.laneSquareRoot() * L(repeating: biasCorrection2) + L(repeating: eps)
        let p2 = L(repeating: decayFactor) * p + (m2 / denominator) * L(repeating: stepSize)
        return (p2, m2, v2)
    }
}

/// `torch.optim.AdamW` (its single-tensor path, in fp32): the decay first, as its own rounding,
/// then the moments, then the step with the bias corrections where torch puts them:
///
///     p₁ = p·(1 − lr·wd);  m' = m + (1−β1)·(g − m);  v' = v·β2 + ((1−β2)·g)·g
///     p' = p₁ + ((−lr/(1−β1ᵗ))·m') / (sqrt(v') / sqrt(1−β2ᵗ) + eps)
///
/// Torch's CPU kernels contract `m + w·(g − m)` and `v + (c·g)·g` into fused multiply-adds and
/// take an approximate square root; this rule, like every rule here, rounds each operation
/// separately and takes the correctly rounded root, so it agrees with torch to an ulp per
/// operation, not bit for bit (docs/PYTORCH.md).
public struct AdamWTorchRule: UpdateRule, Equatable {
    public static var stateCount: Int { 2 }
    public var combinedUnscale: Float
    /// 1 − lr·wd (computed in fp64, as torch does with Python floats, then rounded)
    public var decayFactor: Float
    /// 1 − β1
    public var oneMinusBeta1: Float
    public var beta2: Float
    /// 1 − β2
    public var oneMinusBeta2: Float
    /// sqrt(1 − β2ᵗ)
    public var biasCorrection2Root: Float
    public var eps: Float
    /// −lr / (1 − β1ᵗ)
    public var stepSize: Float

    public init(combinedUnscale: Float, decayFactor: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float,
                biasCorrection2Root: Float, eps: Float, stepSize: Float) {
        self.combinedUnscale = combinedUnscale
        self.decayFactor = decayFactor
        self.oneMinusBeta1 = oneMinusBeta1
        self.beta2 = beta2
        self.oneMinusBeta2 = oneMinusBeta2
        self.biasCorrection2Root = biasCorrection2Root
        self.eps = eps
        self.stepSize = stepSize
    }

    @inlinable @inline(__always)
    public func apply<L: FloatLanes>(gradient g: L, parameter p: L, state1 m: L, state2 v: L)
        -> (parameter: L, state1: L, state2: L) {
        let decayed = p * L(repeating: decayFactor)
        let m2 = m + L(repeating: oneMinusBeta1) * (g - m)
        let v2 = v * L(repeating: beta2) + (L(repeating: oneMinusBeta2) * g) * g
        let denominator = v2.laneSquareRoot() / L(repeating: biasCorrection2Root) + L(repeating: eps)
        let p2 = decayed + (L(repeating: stepSize) * m2) / denominator
        return (p2, m2, v2)
    }
}

/// Momentum SGD, reference rule: `g += wd·p; m' = (1-β)g + βm; p' = p - lr·m'`.
public struct SGDReferenceRule: UpdateRule, Equatable {
    public static var stateCount: Int { 1 }
    public var combinedUnscale: Float
    public var learningRate: Float
    public var momentum: Float
    public var oneMinusMomentum: Float
    public var weightDecay: Float

    public init(combinedUnscale: Float, learningRate: Float, momentum: Float, oneMinusMomentum: Float, weightDecay: Float) {
        self.combinedUnscale = combinedUnscale
        self.learningRate = learningRate
        self.momentum = momentum
        self.oneMinusMomentum = oneMinusMomentum
        self.weightDecay = weightDecay
    }

    @inlinable @inline(__always)
    public func apply<L: FloatLanes>(gradient g: L, parameter p: L, state1 m: L, state2: L)
        -> (parameter: L, state1: L, state2: L) {
        let decayed = g + L(repeating: weightDecay) * p
        let m2 = L(repeating: oneMinusMomentum) * decayed + L(repeating: momentum) * m
        let p2 = p - L(repeating: learningRate) * m2
        return (p2, m2, state2)
    }
}

/// `torch.optim.SGD`: `d = g + wd·p`; with momentum, `buf = μ·buf + (1-dampening)·d` (on the
/// first step `buf = d`, expressed as `0·buf + 1·d`), then `d = d + μ·buf` (nesterov) or
/// `d = buf`; finally `p' = p - lr·d`. Without momentum the buffer is left untouched.
public struct SGDTorchRule: UpdateRule, Equatable {
    public static var stateCount: Int { 1 }
    public var combinedUnscale: Float
    public var learningRate: Float
    public var momentum: Float
    /// μ, or 0 on the first step.
    public var bufferKeep: Float
    /// 1 - dampening, or 1 on the first step.
    public var gradientWeight: Float
    public var nesterov: Bool
    public var weightDecay: Float

    public init(combinedUnscale: Float, learningRate: Float, momentum: Float, bufferKeep: Float, gradientWeight: Float, nesterov: Bool, weightDecay: Float) {
        self.combinedUnscale = combinedUnscale
        self.learningRate = learningRate
        self.momentum = momentum
        self.bufferKeep = bufferKeep
        self.gradientWeight = gradientWeight
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    @inlinable @inline(__always)
    public func apply<L: FloatLanes>(gradient g: L, parameter p: L, state1 buffer: L, state2: L)
        -> (parameter: L, state1: L, state2: L) {
        let decayed = g + L(repeating: weightDecay) * p
        guard momentum != 0 else {
            return (p - L(repeating: learningRate) * decayed, buffer, state2)
        }
        let buffer2 = L(repeating: bufferKeep) * buffer + L(repeating: gradientWeight) * decayed
        let direction = nesterov ? decayed + L(repeating: momentum) * buffer2 : buffer2
        return (p - L(repeating: learningRate) * direction, buffer2, state2)
    }
}

/// AdaGrad in both flavours, which differ only in the numerator of the step:
///
/// - reference (DeepSpeed's CPU AdaGrad): the decayed gradient feeds the accumulator, the
///   undecayed one the step: `v' = v + (g + wd·p)²; p' = p + (-lr)·(g / (sqrt(v') + eps))`;
/// - `torch.optim.Adagrad`: `d = g + wd·p; v' = v + d²; p' = p + (-clr)·(d / (sqrt(v') + eps))`
///   with `clr = lr / (1 + (t-1)·lr_decay)` prepared on the host.
///
/// (IEEE addition and multiplication commute exactly, so DeepSpeed's `x·(-lr) + p` is the same
/// number as `p + (-lr)·x`.)
public struct AdagradRule: UpdateRule, Equatable {
    public static var stateCount: Int { 1 }
    public var combinedUnscale: Float
    /// -lr (reference) or -clr (torch)
    public var stepSize: Float
    public var eps: Float
    public var weightDecay: Float
    /// true: the step's numerator is the decayed gradient (torch); false: the raw one (reference).
    public var decayedNumerator: Bool

    public init(combinedUnscale: Float, stepSize: Float, eps: Float, weightDecay: Float, decayedNumerator: Bool) {
        self.combinedUnscale = combinedUnscale
        self.stepSize = stepSize
        self.eps = eps
        self.weightDecay = weightDecay
        self.decayedNumerator = decayedNumerator
    }

    @inlinable @inline(__always)
    public func apply<L: FloatLanes>(gradient g: L, parameter p: L, state1 v: L, state2: L)
        -> (parameter: L, state1: L, state2: L) {
        let decayed = g + L(repeating: weightDecay) * p
        let v2 = v + decayed * decayed
        let numerator = decayedNumerator ? decayed : g
        let p2 = p + L(repeating: stepSize) * (numerator / (v2.laneSquareRoot() + L(repeating: eps)))
        return (p2, v2, state2)
    }
}

/// The update of one step, its scalars prepared once on the host and shipped to every device, so
/// that all of them (and the baseline's CPU update) compute with identical fp32 constants.
public enum PreparedUpdate: Sendable, Equatable {
    case adamw(AdamWRule)
    case adamwTorch(AdamWTorchRule)
    case sgdReference(SGDReferenceRule)
    case sgdTorch(SGDTorchRule)
    case adagrad(AdagradRule)

    public var stateCount: Int {
        switch self {
        case .adamw, .adamwTorch: 2
        default: 1
        }
    }

    public var combinedUnscale: Float {
        switch self {
        case .adamw(let r): r.combinedUnscale
        case .adamwTorch(let r): r.combinedUnscale
        case .sgdReference(let r): r.combinedUnscale
        case .sgdTorch(let r): r.combinedUnscale
        case .adagrad(let r): r.combinedUnscale
        }
    }
}

extension OptimizerConfig {
    /// Prepares step `step` (1-based, as bias correction counts it) at `learningRate`, for
    /// gradients that must be multiplied by `combinedUnscale`.
    ///
    /// Every scalar is computed in fp32 in the order docs/ARCHITECTURE.md, "Update math" gives (β^t with `powf`), which
    /// is what makes the published test vectors reproduce bit for bit.
    public func prepare(step: Int, learningRate: Float, combinedUnscale: Float) -> PreparedUpdate {
        precondition(step >= 1, "optimizer steps count from 1, got \(step)")
        let t = Float(step)
        switch self {
        case .adamw(let h, .torch):
            // Torch computes these with Python floats (fp64) and rounds them once where the
            // tensor kernels take them.
            let (lr, t64) = (Double(learningRate), Double(step))
            let (beta1, beta2) = (Double(h.beta1), Double(h.beta2))
            return .adamwTorch(AdamWTorchRule(
                combinedUnscale: combinedUnscale,
                decayFactor: Float(1 - lr * Double(h.weightDecay)),
                oneMinusBeta1: Float(1 - beta1), beta2: h.beta2, oneMinusBeta2: Float(1 - beta2),
                biasCorrection2Root: Float((1 - pow(beta2, t64)).squareRoot()),
                eps: h.eps,
                stepSize: Float(-(lr / (1 - pow(beta1, t64))))))
        case .adamw(let h, .reference):
            let one: Float = 1
            let biasCorrection1 = one - powf(h.beta1, t)
            let biasCorrection2 = one / (one - powf(h.beta2, t)).squareRoot()
            return .adamw(AdamWRule(
                combinedUnscale: combinedUnscale,
                beta1: h.beta1, beta2: h.beta2,
                oneMinusBeta1: one - h.beta1, oneMinusBeta2: one - h.beta2,
                eps: h.eps,
                biasCorrection2: biasCorrection2,
                stepSize: -learningRate / biasCorrection1,
                decayFactor: one + (-learningRate * h.weightDecay)))
        case .sgd(let h, .reference):
            return .sgdReference(SGDReferenceRule(
                combinedUnscale: combinedUnscale, learningRate: learningRate,
                momentum: h.momentum, oneMinusMomentum: 1 - h.momentum, weightDecay: h.weightDecay))
        case .sgd(let h, .torch):
            let first = step == 1
            return .sgdTorch(SGDTorchRule(
                combinedUnscale: combinedUnscale, learningRate: learningRate,
                momentum: h.momentum,
                bufferKeep: first ? 0 : h.momentum,
                gradientWeight: first ? 1 : 1 - h.dampening,
                nesterov: h.nesterov, weightDecay: h.weightDecay))
        case .adagrad(let h, .reference):
            return .adagrad(AdagradRule(combinedUnscale: combinedUnscale, stepSize: -learningRate, eps: h.eps,
                                        weightDecay: h.weightDecay, decayedNumerator: false))
        case .adagrad(let h, .torch):
            let clr = learningRate / (1 + (t - 1) * h.lrDecay)
            return .adagrad(AdagradRule(combinedUnscale: combinedUnscale, stepSize: -clr, eps: h.eps,
                                        weightDecay: h.weightDecay, decayedNumerator: true))
        }
    }
}
