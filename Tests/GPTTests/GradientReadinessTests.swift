import GPT
import SeededRandom
import Testing

/// When backward makes each gradient final, against the order llm.c's backward visits tensors.
@Suite struct GradientReadinessTests {
    let layout = ParameterLayout(config: GPTConfig(maxSeqLen: 16, vocabSize: 50, paddedVocabSize: 64, layers: 3, heads: 2, channels: 8))

    @Test func everyPerLayerElementIsReadyAfterItsLayer() {
        for tensor in ParameterTensor.allCases where tensor.isPerLayer {
            for layer in 0..<3 {
                let r = layout.range(of: tensor, layer: layer)
                #expect(layout.readiness(of: r) == .afterLayer(layer), "\(tensor) layer \(layer)")
                #expect(layout.readiness(of: r.lowerBound..<(r.lowerBound + 1)) == .afterLayer(layer))
            }
        }
    }

    @Test func rangesAcrossTensorsWaitForTheirLatestPart() {
        // The end of qkvw (layer 2) and the start of qkvb (layer 0): ready only after layer 0.
        let qkvw = layout.range(of: .qkvw), qkvb = layout.range(of: .qkvb)
        #expect(layout.readiness(of: (qkvw.upperBound - 1)..<(qkvb.lowerBound + 1)) == .afterLayer(0))
        // Layers 1 and 2 of one tensor: after layer 1.
        #expect(layout.readiness(of: layout.range(of: .fcw, layer: 1).lowerBound..<layout.range(of: .fcw).upperBound) == .afterLayer(1))
        // The embeddings are final only at the end; the final LayerNorm right after the head.
        #expect(layout.readiness(of: layout.range(of: .wte)) == .atEnd)
        #expect(layout.readiness(of: (layout.range(of: .wpe).upperBound - 1)..<(layout.range(of: .ln1w).lowerBound + 1)) == .atEnd)
        #expect(layout.readiness(of: layout.range(of: .lnfw).lowerBound..<layout.range(of: .lnfb).upperBound) == .afterHead)
        // Past the model (padding): ready at once.
        #expect(layout.readiness(of: layout.totalCount..<(layout.totalCount + 64)) == .afterHead)
        #expect(GradientReadiness.afterHead < .afterLayer(2) && .afterLayer(2) < .afterLayer(0) && .afterLayer(0) < .atEnd)
    }

    /// The model reports readiness in that order, once per event.
    @Test func backwardReportsProgressInOrder() throws {
        let config = GPTConfig(maxSeqLen: 16, vocabSize: 50, paddedVocabSize: 64, layers: 3, heads: 2, channels: 8)
        var rng = SplitMix64(seed: 1)
        let checkpoint = GPTCheckpoint(gpt2Initialization: config, using: &rng)
        let shape = try BatchShape(batchSize: 1, sequenceLength: 4, config: config)
        let model = GPTModel(checkpoint: checkpoint, shape: shape)
        _ = model.forward(TokenBatch(shape: shape, inputs: [1, 2, 3, 4], targets: [2, 3, 4, 5]))
        var events: [GradientReadiness] = []
        model.backward { events.append($0) }
        #expect(events == [.afterHead, .afterLayer(2), .afterLayer(1), .afterLayer(0), .atEnd])
    }
}
