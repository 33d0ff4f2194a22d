import Optim
import Testing
import SeededRandom

/// One optimizer configuration under test, with an independent float64 implementation of its
/// rule written from the textbook / PyTorch definitions (not from the kernel's code).
enum RuleCase: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case adamw
    case adamwTorch
    case sgdReference
    case sgdTorchNoMomentum
    case sgdTorchDampening
    case sgdTorchNesterov
    case adagradReference
    case adagradTorch

    var testDescription: String { rawValue }

    var config: OptimizerConfig {
        switch self {
        case .adamw:
            .adamw(AdamWHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01))
        case .adamwTorch:
            .adamw(AdamWHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01), .torch)
        case .sgdReference:
            .sgd(SGDHyperparameters(momentum: 0.9, weightDecay: 0.01), .reference)
        case .sgdTorchNoMomentum:
            .sgd(SGDHyperparameters(momentum: 0, weightDecay: 0.01), .torch)
        case .sgdTorchDampening:
            .sgd(SGDHyperparameters(momentum: 0.9, dampening: 0.25, weightDecay: 0.01), .torch)
        case .sgdTorchNesterov:
            .sgd(SGDHyperparameters(momentum: 0.8, nesterov: true, weightDecay: 0.02), .torch)
        case .adagradReference:
            .adagrad(AdagradHyperparameters(initialAccumulatorValue: 0.05, eps: 1e-10, weightDecay: 0.01), .reference)
        case .adagradTorch:
            .adagrad(AdagradHyperparameters(lrDecay: 0.1, initialAccumulatorValue: 0.1, eps: 1e-10, weightDecay: 0.01),
                     .torch)
        }
    }

    /// Small enough that |update| ≪ |p| for |p| ≥ 0.5 (so p' never comes near cancellation).
    var learningRate: Float {
        switch self {
        case .adamw, .adamwTorch: 1e-3
        default: 1e-2
        }
    }

    /// The value every state vector starts from, as a trainer would initialise it: zero, or
    /// AdaGrad's initial accumulator (taken from the hyperparameters, not from the code).
    var initialState: Float {
        switch config {
        case .adagrad(let h, _): h.initialAccumulatorValue
        default: 0
        }
    }
}

/// The float64 reference. Hyperparameters enter as the fp32 values the kernel receives,
/// widened exactly; everything after that is float64.
struct ReferenceOptimizer {
    let rule: RuleCase
    var p: [Double]
    var s1: [Double]
    var s2: [Double]

    init(rule: RuleCase, parameters: [Float]) {
        self.rule = rule
        p = parameters.map(Double.init)
        s1 = Array(repeating: Double(rule.initialState), count: parameters.count)
        s2 = Array(repeating: Double(rule.initialState), count: parameters.count)
    }

    /// One step `t` (1-based) with raw stored gradients `raw` multiplied by `unscale`.
    mutating func step(_ t: Int, raw: [Float], unscale: Float) {
        let lr = Double(rule.learningRate)
        let u = Double(unscale)
        switch rule.config {
        case .adamw(let h, _):
            // Both flavours are this math, rounded differently. torch.optim.AdamW: p ← p − lr·wd·p; m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
            // p ← p − lr/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + eps).
            let b1 = Double(h.beta1), b2 = Double(h.beta2), eps = Double(h.eps), wd = Double(h.weightDecay)
            let bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t)
            for i in p.indices {
                let g = Double(raw[i]) * u
                let decayed = p[i] - lr * wd * p[i]
                s1[i] = b1 * s1[i] + (1 - b1) * g
                s2[i] = b2 * s2[i] + (1 - b2) * g * g
                p[i] = decayed - (lr / bc1) * s1[i] / (s2[i].squareRoot() / bc2.squareRoot() + eps)
            }
        case .sgd(let h, .reference):
            // docs/ARCHITECTURE.md, "Update math": g ← g + wd·p; m ← (1−β) g + β m; p ← p − lr·m.
            let mu = Double(h.momentum), wd = Double(h.weightDecay)
            for i in p.indices {
                let g = Double(raw[i]) * u + wd * p[i]
                s1[i] = (1 - mu) * g + mu * s1[i]
                p[i] -= lr * s1[i]
            }
        case .sgd(let h, .torch):
            // torch.optim.SGD: d = g + wd·p; if μ ≠ 0: buf = d on the first step, else
            // buf = μ buf + (1 − dampening) d; d = d + μ buf (nesterov) or buf; p ← p − lr·d.
            let mu = Double(h.momentum), damp = Double(h.dampening), wd = Double(h.weightDecay)
            for i in p.indices {
                var d = Double(raw[i]) * u + wd * p[i]
                if mu != 0 {
                    s1[i] = t == 1 ? d : mu * s1[i] + (1 - damp) * d
                    d = h.nesterov ? d + mu * s1[i] : s1[i]
                }
                p[i] -= lr * d
            }
        case .adagrad(let h, .reference):
            // DeepSpeed CPU AdaGrad: v ← v + (g + wd·p)²; p ← p − lr·g/(sqrt(v) + eps), the
            // undecayed g on top.
            let eps = Double(h.eps), wd = Double(h.weightDecay)
            for i in p.indices {
                let g = Double(raw[i]) * u
                let d = g + wd * p[i]
                s1[i] += d * d
                p[i] -= lr * g / (s1[i].squareRoot() + eps)
            }
        case .adagrad(let h, .torch):
            // torch.optim.Adagrad: clr = lr / (1 + (t−1)·lr_decay); d = g + wd·p; v ← v + d²;
            // p ← p − clr·d/(sqrt(v) + eps).
            let eps = Double(h.eps), wd = Double(h.weightDecay), decay = Double(h.lrDecay)
            let clr = lr / (1 + Double(t - 1) * decay)
            for i in p.indices {
                let d = Double(raw[i]) * u + wd * p[i]
                s1[i] += d * d
                p[i] -= clr * d / (s1[i].squareRoot() + eps)
            }
        }
    }
}

private func pow(_ x: Double, _ n: Int) -> Double {
    var r = 1.0
    for _ in 0..<n { r *= x }
    return r
}

/// Runs `rule` through `UpdateKernel` for 3 chained steps and compares p and the states with the
/// float64 reference after every step.
///
/// Data: every element has a fixed sign s; p = s·U[0.5, 2); raw gradients are s·M·2^e, exactly
/// representable in the gradient precision, with |raw| in [2^-4, 2^4) (so with unscale 1/8,
/// |g| in [2^-7, 2)). Gradient, decayed gradient, momentum and parameter therefore share a sign:
/// no sum in any rule is a near-cancellation, v and the denominators stay far from zero, and a
/// relative bound is meaningful on every value. Signs still vary across elements.
func runAgainstReference(_ rule: RuleCase, gradientPrecision: Precision, count n: Int, seed: UInt64,
                         kernel: UpdateKernel, unscale: Float = 1.0 / 8,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    var rng = SplitMix64(seed: seed)
    let signs: [Float] = (0..<n).map { _ in Bool.random(using: &rng) ? 1 : -1 }
    let initial: [Float] = signs.map { $0 * Float.random(in: 0.5..<2, using: &rng) }
    let p = AlignedBuffer<Float>(initial)
    let states = (0..<rule.config.stateCount).map { _ in
        AlignedBuffer<Float>(repeating: rule.initialState, count: n)
    }
    #expect(rule.config.initialStateValue == rule.initialState, sourceLocation: sourceLocation)
    var reference = ReferenceOptimizer(rule: rule, parameters: initial)

    for t in 1...3 {
        let raw: [Float] = signs.map { $0 * representable(gradientPrecision, exponents: -4...3, using: &rng) }
        let gradient = StreamBuffer(precision: gradientPrecision, values: raw)
        let update = rule.config.prepare(step: t, learningRate: rule.learningRate, combinedUnscale: unscale)
        kernel.run(update, parameters: p, states: states, gradient: gradient)
        reference.step(t, raw: raw, unscale: unscale)

        var failures: [String] = []
        var failureCount = 0
        func compare(_ name: String, _ actual: AlignedBuffer<Float>, _ expected: [Double]) {
            actual.withUnsafeBufferPointer { a in
                for i in 0..<n where !withinRelative(a[i], expected[i]) {
                    failureCount += 1
                    if failures.count < 5 {
                        let rel = abs(Double(a[i]) - expected[i]) / max(abs(expected[i]), 1e-30)
                        failures.append("\(name)[\(i)] = \(a[i]), reference \(expected[i]), rel \(rel)")
                    }
                }
            }
        }
        compare("p", p, reference.p)
        compare("state1", states[0], reference.s1)
        if states.count > 1 { compare("state2", states[1], reference.s2) }
        #expect(failureCount == 0,
                "\(rule) grad=\(gradientPrecision) n=\(n) t=\(t) \(kernel.path) threads=\(kernel.threads): \(failureCount) values off; \(failures.joined(separator: "; "))",
                sourceLocation: sourceLocation)
        if failureCount > 0 { return }
    }
}

@Suite("update rules against float64 references")
struct ReferenceRuleTests {
    @Test("small odd lengths, both paths", arguments: RuleCase.allCases, Precision.allCases)
    func smallLengths(rule: RuleCase, gradientPrecision: Precision) {
        for (k, n) in [1, 15, 16, 17, 67].enumerated() {
            for path in UpdateKernel.Path.allCases {
                runAgainstReference(rule, gradientPrecision: gradientPrecision, count: n,
                                    seed: 0x5EED_0000 + UInt64(k), kernel: UpdateKernel(threads: 1, path: path))
            }
        }
    }

    @Test("a non-power-of-two combined_unscale", arguments: RuleCase.allCases)
    func irregularUnscale(rule: RuleCase) {
        // 1/(8·1.37) is not a power of two, so g = raw·unscale rounds in fp32 too.
        runAgainstReference(rule, gradientPrecision: .fp32, count: 67, seed: 77,
                            kernel: UpdateKernel(threads: 1, path: .simd), unscale: Float(1 / (8 * 1.37)))
    }

    // A million-element run per rule family, across the gradient precisions and with the work
    // split over 2 threads. Few on purpose: the suite runs as a debug build.
    @Test("n = 1000003", arguments: [
        (RuleCase.adamw, Precision.fp16),
        (RuleCase.sgdTorchNesterov, Precision.bf16),
        (RuleCase.adagradTorch, Precision.fp32),
    ])
    func largeLength(rule: RuleCase, gradientPrecision: Precision) {
        runAgainstReference(rule, gradientPrecision: gradientPrecision, count: 1_000_003, seed: 0xB16,
                            kernel: UpdateKernel(threads: 2, path: .simd))
    }
}
