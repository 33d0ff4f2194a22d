/// GPT-2's GELU, the tanh approximation: y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
///
/// Computed through the identity ½(1 + tanh u) = σ(2u) = 1 / (1 + e^(−2u)), which needs one
/// vector exp instead of a scalar `tanhf` call per element, and whose derivative reuses σ:
/// y′ = σ + 2·x·σ·(1 − σ)·√(2/π)·(1 + 3·0.044715·x²), the same value as llm.c's
/// ½(1 + tanh u) + ½·x·sech²(u)·u′.
enum GELU {
    static let scale = Float((2 / Double.pi).squareRoot())
    static let cubic: Float = 0.044715

    /// σ(2u) for u = √(2/π)·(x + 0.044715·x³).
    @inline(__always)
    static func gate(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let u = SIMD16<Float>(repeating: scale) * (x + SIMD16<Float>(repeating: cubic) * x * x * x)
        let one = SIMD16<Float>(repeating: 1)
        return one / (one + VectorExp.exp(SIMD16<Float>(repeating: -2) * u))
    }

    static func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        VectorExp.map(count: count, input, input, into: output) { x, _ in x * gate(x) }
    }

    /// gradient[i] ← gradient[i] · y′(input[i]), in place.
    static func backward(gradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        VectorExp.map(count: count, input, gradient, into: gradient) { x, dy in
            let sigma = gate(x)
            let one = SIMD16<Float>(repeating: 1)
            let du = SIMD16<Float>(repeating: 2 * scale) * (one + SIMD16<Float>(repeating: 3 * cubic) * x * x)
            let slope = sigma + x * sigma * (one - sigma) * du
            return dy * slope
        }
    }
}
