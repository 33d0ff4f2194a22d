import Glibc
import Optim

extension GPTCheckpoint {
    /// A fresh model with GPT-2's initialisation, reproducible from the generator's seed.
    ///
    /// Weights are drawn from N(0, 0.02²), except the two projections that write into the
    /// residual stream in every layer (attprojw, fcprojw), whose std is 0.02/√(2L) so that the
    /// stream's variance does not grow with depth. Biases start at 0, LayerNorm gains at 1. The
    /// wte rows beyond V (the padding to Vp) are zero: no token ever selects them and the LM
    /// head's padded logits are ignored, so they stay zero for good.
    ///
    /// Values are drawn tensor by tensor in checkpoint order, row-major, by Box–Muller from the
    /// generator's 64-bit outputs, so the same seed gives the same model on every run.
    public init(gpt2Initialization config: GPTConfig, using generator: inout some RandomNumberGenerator) {
        let layout = config.parameterLayout
        let parameters = AlignedBuffer<Float>(count: config.parameterCount)
        let standard = 0.02
        let residualProjection = standard / (2 * Double(config.layers)).squareRoot()
        parameters.withUnsafeMutableBufferPointer { values in
            for tensor in ParameterTensor.allCases {
                let range = layout.range(of: tensor)
                switch tensor {
                case .wte:
                    let used = range.lowerBound..<(range.lowerBound + config.vocabSize * config.channels)
                    Self.fillNormal(values, used, std: standard, using: &generator)
                case .attprojw, .fcprojw:
                    Self.fillNormal(values, range, std: residualProjection, using: &generator)
                case .wpe, .qkvw, .fcw:
                    Self.fillNormal(values, range, std: standard, using: &generator)
                case .ln1w, .ln2w, .lnfw:
                    values[range].update(repeating: 1)
                case .ln1b, .qkvb, .attprojb, .ln2b, .fcb, .fcprojb, .lnfb:
                    break // the buffer starts zeroed
                }
            }
        }
        self.init(config: config, parameters: parameters)
    }

    /// Fills `range` with N(0, std²) samples, two per Box–Muller draw.
    private static func fillNormal(
        _ values: UnsafeMutableBufferPointer<Float>, _ range: Range<Int>, std: Double,
        using generator: inout some RandomNumberGenerator
    ) {
        var i = range.lowerBound
        while i < range.upperBound {
            // u1 in (0, 1] keeps the logarithm finite; u2 in [0, 1).
            let u1 = (Double(generator.next() >> 11) + 1) * 0x1p-53
            let u2 = Double(generator.next() >> 11) * 0x1p-53
            let radius = std * (-2 * log(u1)).squareRoot()
            let angle = 2 * Double.pi * u2
            values[i] = Float(radius * cos(angle))
            if i + 1 < range.upperBound { values[i + 1] = Float(radius * sin(angle)) }
            i += 2
        }
    }
}
