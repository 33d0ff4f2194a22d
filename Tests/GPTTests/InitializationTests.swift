import GPT
import Optim
import Testing

@Suite struct InitializationTests {
    /// Big enough for tight statistics: the projections have 8·64·256 = 131072 weights.
    let config = GPTConfig(maxSeqLen: 256, vocabSize: 1000, layers: 8, heads: 4, channels: 64)

    func values(_ checkpoint: GPTCheckpoint, _ tensor: ParameterTensor) -> [Float] {
        Array(checkpoint.parameters.array[checkpoint.config.parameterLayout.range(of: tensor)])
    }

    func standardDeviation(_ x: [Float]) -> Double {
        let mean = x.reduce(0) { $0 + Double($1) } / Double(x.count)
        return (x.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(x.count)).squareRoot()
    }

    @Test func sameSeedSameModelOtherSeedOtherModel() {
        let a = initialized(config, seed: 1).parameters.array.map(\.bitPattern)
        #expect(initialized(config, seed: 1).parameters.array.map(\.bitPattern) == a)
        #expect(initialized(config, seed: 2).parameters.array.map(\.bitPattern) != a)
    }

    /// GPT-2's scheme: N(0, 0.02²), the residual projections scaled by 1/√(2L).
    @Test func weightsHaveGPT2Scales() {
        let checkpoint = initialized(config, seed: 3)
        let residualStd = 0.02 / (2.0 * Double(config.layers)).squareRoot()
        for tensor in [ParameterTensor.wpe, .qkvw, .fcw] {
            let std = standardDeviation(values(checkpoint, tensor))
            #expect(abs(std - 0.02) < 0.02 * 0.03, "\(tensor) std \(std)")
        }
        for tensor in [ParameterTensor.attprojw, .fcprojw] {
            let std = standardDeviation(values(checkpoint, tensor))
            #expect(abs(std - residualStd) < residualStd * 0.03, "\(tensor) std \(std), expected \(residualStd)")
        }
        let usedRows = Array(values(checkpoint, .wte).prefix(config.vocabSize * config.channels))
        #expect(abs(standardDeviation(usedRows) - 0.02) < 0.02 * 0.03)
    }

    @Test func biasesZeroGainsOnePaddingRowsZero() {
        let checkpoint = initialized(config, seed: 4)
        for tensor in [ParameterTensor.ln1b, .qkvb, .attprojb, .ln2b, .fcb, .fcprojb, .lnfb] {
            #expect(values(checkpoint, tensor).allSatisfy { $0 == 0 }, "\(tensor)")
        }
        for tensor in [ParameterTensor.ln1w, .ln2w, .lnfw] {
            #expect(values(checkpoint, tensor).allSatisfy { $0 == 1 }, "\(tensor)")
        }
        #expect(config.paddedVocabSize == 1024)
        let padding = values(checkpoint, .wte).dropFirst(config.vocabSize * config.channels)
        #expect(padding.count == 24 * config.channels)
        #expect(padding.allSatisfy { $0 == 0 })
    }

    @Test func layoutCoversTheVectorInCheckpointOrder() {
        let layout = config.parameterLayout
        var next = 0
        for tensor in ParameterTensor.allCases {
            #expect(layout.range(of: tensor).lowerBound == next)
            next = layout.range(of: tensor).upperBound
        }
        #expect(next == config.parameterCount && layout.totalCount == next)
        #expect(layout.range(of: .fcw, layer: 1) == layout.offset(of: .fcw) + 4 * 64 * 64..<layout.offset(of: .fcw) + 8 * 64 * 64)
    }
}
