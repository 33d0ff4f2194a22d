/// LayerNorm over the channels of each row: y = (x - mean) / sqrt(var + 1e-5) · w + b, with the
/// biased variance, as GPT-2 and llm.c use it. The forward pass keeps each row's mean and
/// 1/std for the backward pass.
enum LayerNorm {
    static let epsilon: Float = 1e-5

    static func forward(
        output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, reciprocalStd: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, channels c: Int
    ) {
        let count = Float(c)
        var r = 0
        while r < rows {
            let x = input + r &* c
            let y = output + r &* c
            let m = VectorMath.sum(x, c) / count
            let variance = VectorMath.sumOfSquaredDeviations(x, c, from: m) / count
            let s = 1 / (variance + epsilon).squareRoot()
            var i = 0
            while i < c {
                y[i] = (x[i] - m) * s * weight[i] + bias[i]
                i &+= 1
            }
            mean[r] = m
            reciprocalStd[r] = s
            r &+= 1
        }
    }

    /// Adds the input gradient into `inputGradient` (it carries the residual stream's gradient)
    /// and accumulates the weight and bias gradients.
    static func backward(
        inputGradient: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>,
        rows: Int, channels c: Int
    ) {
        let count = Float(c)
        var r = 0
        while r < rows {
            let x = input + r &* c
            let dy = outputGradient + r &* c
            let dx = inputGradient + r &* c
            let m = mean[r]
            let s = reciprocalStd[r]
            // With n = (x - m)·s and dn = w·dy:
            // dx = (dn - mean(dn) - n·mean(dn·n)) · s.
            var dnLanes = SIMD16<Float>()
            var dnTimesNLanes = SIMD16<Float>()
            let mv = SIMD16<Float>(repeating: m)
            let sv = SIMD16<Float>(repeating: s)
            var i = 0
            while i &+ 16 <= c {
                let n = (VectorMath.load16(x, i) - mv) * sv
                let dn = VectorMath.load16(weight, i) * VectorMath.load16(dy, i)
                dnLanes += dn
                dnTimesNLanes += dn * n
                i &+= 16
            }
            var dnSum = dnLanes.sum()
            var dnTimesNSum = dnTimesNLanes.sum()
            while i < c {
                let n = (x[i] - m) * s
                let dn = weight[i] * dy[i]
                dnSum += dn
                dnTimesNSum += dn * n
                i &+= 1
            }
            let dnMean = dnSum / count
            let dnTimesNMean = dnTimesNSum / count
            i = 0
            while i < c {
                let n = (x[i] - m) * s
                biasGradient[i] += dy[i]
                weightGradient[i] += n * dy[i]
                dx[i] += (weight[i] * dy[i] - dnMean - n * dnTimesNMean) * s
                i &+= 1
            }
            r &+= 1
        }
    }
}
