import GPT
import Optim
import Testing

/// Checks of the fp32 backward pass against the forward pass itself: cheap, and they catch sign
/// and factor errors directly in the Swift model.
@Suite struct GradientCheckTests {
    let shape = try! BatchShape(batchSize: 2, sequenceLength: 12, config: smallConfig)

    func modelWithGradients(seed: UInt64) -> (GPTModel, TokenBatch) {
        let model = GPTModel(checkpoint: widened(initialized(smallConfig, seed: seed), factor: 8), shape: shape)
        let tokens = learnableTokens(count: shape.tokenCount + 1, vocabSize: smallConfig.vocabSize, seed: seed)
        let batch = TokenBatch(shape: shape, tokens: tokens[...], start: 0)
        model.zeroGradients()
        _ = model.forward(batch)
        model.backward()
        return (model, batch)
    }

    /// For each tensor, the central difference of the loss along the tensor's own gradient
    /// direction must equal the gradient's norm: (L(p + εu) − L(p − εu)) / 2ε ≈ g·u = ‖g‖ with
    /// u = g/‖g‖. A sign error or a wrong factor in any part of a tensor's gradient makes g·u
    /// differ from the true directional derivative. ε = 1e-2 (a step of norm 0.01 in the tensor)
    /// keeps the fp32 loss noise (~1e-6) small against the change (~1e-4 and up) while the
    /// curvature error stays O(ε²); 2% relative allows for both.
    @Test func directionalDerivativesMatchCentralDifferences() {
        let (model, batch) = modelWithGradients(seed: 21)
        let gradients = model.gradients.array
        let epsilon: Float = 1e-2
        for tensor in ParameterTensor.allCases {
            let range = model.layout.range(of: tensor)
            let gradientNorm = norm(model.gradients, range)
            let saved = Array(model.parameters.array[range])
            func loss(at step: Float) -> Double {
                for (k, i) in range.enumerated() {
                    model.parameters[i] = saved[k] + step * Float(Double(gradients[i]) / gradientNorm)
                }
                return Double(model.forward(batch))
            }
            let difference = (loss(at: epsilon) - loss(at: -epsilon)) / (2 * Double(epsilon))
            for (k, i) in range.enumerated() { model.parameters[i] = saved[k] }
            #expect(abs(difference - gradientNorm) <= 0.02 * gradientNorm,
                    "\(tensor): central difference \(difference), gradient norm \(gradientNorm)")
        }
    }

    /// The loss scale multiplies every gradient by exactly that factor: a power of two commutes
    /// with every rounding in the (linear) backward pass, so the result is bit for bit 8×. Both
    /// passes run with the same BLAS thread count (tests in parallel change it).
    @Test func lossScaleMultipliesGradientsExactly() {
        OpenBLAS.withThreadCount(1) {
            let (model, batch) = modelWithGradients(seed: 22)
            let unscaled = model.gradients.array
            model.zeroGradients()
            _ = model.forward(batch)
            model.backward(lossScale: 8)
            let exactlyEightTimes = model.gradients.array == unscaled.map { $0 * 8 }
            #expect(exactlyEightTimes)
        }
    }

    /// Gradients accumulate across backward passes until zeroed (to rounding: sgemm adds into the
    /// running sum in its own order); the padding rows of wte never receive any.
    @Test func gradientsAccumulateAndPaddingRowsStayZero() {
        let (model, batch) = modelWithGradients(seed: 23)
        let once = model.gradients.array
        _ = model.forward(batch)
        model.backward()
        let twice = model.gradients.array
        let largest = once.map { abs($0) }.max()!
        let worst = zip(twice, once).map { abs($0 - 2 * $1) }.max()!
        #expect(worst <= 1e-5 * largest, "accumulated gradients differ from twice one pass by \(worst)")
        let wte = model.layout.range(of: .wte)
        let padding = (wte.lowerBound + smallConfig.vocabSize * smallConfig.channels)..<wte.upperBound
        #expect(once[padding].allSatisfy { $0 == 0 })
        model.zeroGradients()
        #expect(model.gradients.array.allSatisfy { $0 == 0 })
    }
}
