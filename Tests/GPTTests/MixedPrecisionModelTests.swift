import GPT
import Optim
import Testing

/// A mixed-precision model keeps only its 16-bit compute copy and 16-bit gradients and widens
/// one layer at a time for the math. The reference is the plain fp32 model run on the rounded
/// parameters, whose gradients are then rounded as a whole: the two must agree bit for bit.
@Suite struct MixedPrecisionModelTests {
    let shape = try! BatchShape(batchSize: 2, sequenceLength: 12, config: smallConfig)

    func rounded(_ values: [Float], to precision: Precision) -> [Float] {
        values.map { precision == .fp16 ? Float(Float16($0)) : Float(BFloat16($0)) }
    }

    @Test(arguments: [Precision.fp16, .bf16])
    func sixteenBitModelMatchesFP32OnTheRoundedParameters(precision: Precision) {
        // Both models' passes with the same BLAS thread count (tests in parallel change it).
        OpenBLAS.withThreadCount(1) {
            let checkpoint = widened(initialized(smallConfig, seed: 31), factor: 8)
            let initial = checkpoint.parameters.array
            let sixteen = GPTModel(checkpoint: checkpoint, shape: shape, precision: precision)
            let reference = GPTModel(config: smallConfig, parameters: AlignedBuffer(rounded(initial, to: precision)), shape: shape)
            #expect(sixteen.computeParameters.precision == precision)
            #expect(sixteen.computeGradients.precision == precision)
            #expect(sixteen.computeParameters.floats.map(\.bitPattern) == reference.parameters.array.map(\.bitPattern))

            let tokens = learnableTokens(count: shape.tokenCount + 1, vocabSize: smallConfig.vocabSize, seed: 31)
            let batch = TokenBatch(shape: shape, tokens: tokens[...], start: 0)
            // fp16 runs scale the loss so that small gradients survive the rounding.
            let scale: Float = precision == .fp16 ? 1024 : 1
            for model in [sixteen, reference] { model.zeroGradients() }
            #expect(sixteen.forward(batch).bitPattern == reference.forward(batch).bitPattern)
            sixteen.backward(lossScale: scale)
            reference.backward(lossScale: scale)
            let expected = rounded(reference.gradients.array, to: precision)
            #expect(sixteen.computeGradients.floats.map(\.bitPattern) == expected.map(\.bitPattern))
            #expect(expected.contains { $0 != 0 })
            // The model did not keep (or change) the fp32 values it was built from.
            #expect(checkpoint.parameters.array.map(\.bitPattern) == initial.map(\.bitPattern))
        }
    }

    /// When backward reports gradients final, they are already in the 16-bit vector with their
    /// final values (the host compresses and sends them from there at once).
    @Test func gradientsReportedReadyAreFiledInSixteenBits() {
        let model = GPTModel(checkpoint: widened(initialized(smallConfig, seed: 32), factor: 8), shape: shape, precision: .bf16)
        let tokens = learnableTokens(count: shape.tokenCount + 1, vocabSize: smallConfig.vocabSize, seed: 32)
        model.zeroGradients()
        _ = model.forward(TokenBatch(shape: shape, tokens: tokens[...], start: 0))
        var snapshots: [(GradientReadiness, [Float])] = []
        model.backward { ready in snapshots.append((ready, model.computeGradients.floats)) }
        let final = model.computeGradients.floats
        #expect(snapshots.count == smallConfig.layers + 2)
        for (ready, snapshot) in snapshots {
            for tensor in ParameterTensor.allCases {
                let ranges = tensor.isPerLayer ? (0..<smallConfig.layers).map { model.layout.range(of: tensor, layer: $0) }
                    : [model.layout.range(of: tensor)]
                for range in ranges where model.layout.readiness(of: range) <= ready {
                    #expect(snapshot[range] == final[range], "\(tensor) \(range) reported ready at \(ready) but changed later")
                    #expect(snapshot[range].contains { $0 != 0 }, "\(tensor) \(range) reported ready at \(ready) but not filed")
                }
            }
        }
    }

    /// The in-process trainer updates a mixed-precision model as a device would: fp32 masters
    /// move, and the model's compute copy is their rounding.
    @Test func inProcessTrainerWritesTheRoundedMastersBack() {
        let checkpoint = initialized(smallConfig, seed: 34)
        let initial = checkpoint.parameters.array
        let model = GPTModel(checkpoint: checkpoint, shape: shape, precision: .bf16)
        let trainer = AdamWTrainer(model: model, hyperparameters: AdamWHyperparameters(), masters: checkpoint.parameters)
        let tokens = learnableTokens(count: shape.tokenCount + 1, vocabSize: smallConfig.vocabSize, seed: 34)
        trainer.step(on: TokenBatch(shape: shape, tokens: tokens[...], start: 0), learningRate: 1e-3)
        let masters = trainer.masters.array
        #expect(masters != initial)
        #expect(model.computeParameters.floats.map(\.bitPattern) == rounded(masters, to: .bf16).map(\.bitPattern))
    }

    /// A second backward pass without zeroing adds onto the filed 16-bit gradients: twice one
    /// pass, to bf16 rounding (each element rounded once more, 2⁻⁸ relative) and, as in fp32,
    /// sgemm's summation order (elements that are sums of cancelling terms: 1e-5 of the largest).
    @Test func sixteenBitGradientsAccumulateAcrossPasses() {
        let model = GPTModel(checkpoint: widened(initialized(smallConfig, seed: 35), factor: 8), shape: shape, precision: .bf16)
        let tokens = learnableTokens(count: shape.tokenCount + 1, vocabSize: smallConfig.vocabSize, seed: 35)
        let batch = TokenBatch(shape: shape, tokens: tokens[...], start: 0)
        model.zeroGradients()
        _ = model.forward(batch)
        model.backward()
        let once = model.computeGradients.floats
        _ = model.forward(batch)
        model.backward()
        let twice = model.computeGradients.floats
        let largest = once.map { abs($0) }.max()!
        for (a, b) in zip(twice, once) where abs(a - 2 * b) > 2 * abs(2 * b) / 256 + 1e-5 * largest {
            Issue.record("accumulated \(a), one pass \(b)")
            return
        }
        #expect(twice != once)
    }

    /// Zeroing clears the 16-bit gradients.
    @Test func zeroingClearsSixteenBitGradients() {
        let model = GPTModel(checkpoint: initialized(smallConfig, seed: 33), shape: shape, precision: .fp16)
        let tokens = learnableTokens(count: shape.tokenCount + 1, vocabSize: smallConfig.vocabSize, seed: 33)
        model.zeroGradients()
        _ = model.forward(TokenBatch(shape: shape, tokens: tokens[...], start: 0))
        model.backward(lossScale: 1024)
        #expect(model.computeGradients.floats.contains { $0 != 0 })
        model.zeroGradients()
        #expect(model.computeGradients.floats.allSatisfy { $0 == 0 })
    }
}
