/// A fully connected layer on B·T rows: y = x·Wᵀ + b, with W stored [out × in] row-major as in
/// llm.c. All three products (forward, input gradient, weight gradient) are single sgemm calls
/// with the transposes chosen so that nothing is copied.
enum Linear {
    /// output[r, o] = residual[r, o] (or 0) + bias[o] + Σ_i input[r, i]·weight[o, i].
    ///
    /// With `residual`, the layer's output is added to the residual stream in the same pass,
    /// so the projection output never needs a buffer of its own.
    static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
        rows: Int, inChannels: Int, outChannels: Int, multiplier: MatrixMultiplier
    ) {
        var r = 0
        while r < rows {
            let y = output + r &* outChannels
            if let residual {
                let base = residual + r &* outChannels
                var o = 0
                while o < outChannels {
                    y[o] = base[o] + bias[o]
                    o &+= 1
                }
            } else {
                y.update(from: bias, count: outChannels)
            }
            r &+= 1
        }
        multiplier.multiply(input, transposeA: false, lda: inChannels, weight, transposeB: true, ldb: inChannels,
                            into: output, ldc: outChannels, m: rows, n: outChannels, k: inChannels, accumulate: true)
    }

    /// inputGradient = outputGradient·W (overwritten); weightGradient += outputGradientᵀ·input;
    /// biasGradient += the column sums of outputGradient.
    static func backward(
        inputGradient: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, rows: Int, inChannels: Int, outChannels: Int, multiplier: MatrixMultiplier
    ) {
        multiplier.multiply(outputGradient, transposeA: false, lda: outChannels, weight, transposeB: false, ldb: inChannels,
                            into: inputGradient, ldc: inChannels, m: rows, n: inChannels, k: outChannels, accumulate: false)
        multiplier.multiply(outputGradient, transposeA: true, lda: outChannels, input, transposeB: false, ldb: inChannels,
                            into: weightGradient, ldc: inChannels, m: outChannels, n: inChannels, k: rows, accumulate: true)
        var r = 0
        while r < rows {
            let dy = outputGradient + r &* outChannels
            var o = 0
            while o < outChannels {
                biasGradient[o] += dy[o]
                o &+= 1
            }
            r &+= 1
        }
    }
}
