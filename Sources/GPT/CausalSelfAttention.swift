/// Multi-head causal self-attention over the packed Q|K|V rows that the QKV projection makes.
///
/// Per sequence b and head h, the scores, the weighted sum and all four backward products are
/// sgemm calls that read Q, K and V in place (row stride 3C) and write head h's columns of the
/// output in place (row stride C). The scores are computed for all T×T pairs and the causal
/// mask is applied in the softmax; masked weights are exactly zero, so the products that use
/// them see only the allowed positions.
enum CausalSelfAttention {
    struct Shape {
        var batch: Int
        var sequence: Int
        var channels: Int
        var heads: Int
        var headSize: Int { channels / heads }
        /// 1/sqrt(head size), the score scale.
        var scale: Float { 1 / Float(headSize).squareRoot() }
    }

    /// output (B, T, C) and the attention weights (B, NH, T, T), kept for the backward pass,
    /// from qkv (B, T, 3C).
    static func forward(
        output: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Shape, multiplier: MatrixMultiplier
    ) {
        let (t, c, hs) = (shape.sequence, shape.channels, shape.headSize)
        let scale = shape.scale
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let q = qkv + b &* t &* 3 &* c + h &* hs
                let k = q + c
                let v = q + 2 &* c
                let att = weights + (b &* shape.heads &+ h) &* t &* t
                multiplier.multiply(q, transposeA: false, lda: 3 * c, k, transposeB: true, ldb: 3 * c,
                                    into: att, ldc: t, m: t, n: t, k: hs, accumulate: false)
                for row in 0..<t {
                    causalSoftmax(att + row &* t, visible: row &+ 1, width: t, scale: scale)
                }
                multiplier.multiply(att, transposeA: false, lda: t, v, transposeB: false, ldb: 3 * c,
                                    into: output + b &* t &* c + h &* hs, ldc: c, m: t, n: hs, k: t, accumulate: false)
            }
        }
    }

    /// Writes the whole of qkvGradient (B, T, 3C) from the output gradient (B, T, C).
    /// `scratch` holds T×T floats.
    static func backward(
        qkvGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        weights: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, shape: Shape, multiplier: MatrixMultiplier
    ) {
        let (t, c, hs) = (shape.sequence, shape.channels, shape.headSize)
        let scale = shape.scale
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let rowOffset = b &* t &* 3 &* c + h &* hs
                let q = qkv + rowOffset
                let k = q + c
                let v = q + 2 &* c
                let dq = qkvGradient + rowOffset
                let dk = dq + c
                let dv = dq + 2 &* c
                let dy = outputGradient + b &* t &* c + h &* hs
                let att = weights + (b &* shape.heads &+ h) &* t &* t
                // dWeights = dY·Vᵀ and dV = Weightsᵀ·dY.
                multiplier.multiply(dy, transposeA: false, lda: c, v, transposeB: true, ldb: 3 * c,
                                    into: scratch, ldc: t, m: t, n: t, k: hs, accumulate: false)
                multiplier.multiply(att, transposeA: true, lda: t, dy, transposeB: false, ldb: c,
                                    into: dv, ldc: 3 * c, m: t, n: hs, k: t, accumulate: false)
                for row in 0..<t {
                    softmaxBackward(scratch + row &* t, weights: att + row &* t, visible: row &+ 1, width: t, scale: scale)
                }
                // scratch now holds d(Q·Kᵀ): dQ = dS·K and dK = dSᵀ·Q.
                multiplier.multiply(scratch, transposeA: false, lda: t, k, transposeB: false, ldb: 3 * c,
                                    into: dq, ldc: 3 * c, m: t, n: hs, k: t, accumulate: false)
                multiplier.multiply(scratch, transposeA: true, lda: t, q, transposeB: false, ldb: 3 * c,
                                    into: dk, ldc: 3 * c, m: t, n: hs, k: t, accumulate: false)
            }
        }
    }

    /// One row of raw scores → softmax(scale · score) over the first `visible` entries, zero after.
    private static func causalSoftmax(_ row: UnsafeMutablePointer<Float>, visible: Int, width: Int, scale: Float) {
        var i = 0
        while i < visible {
            row[i] *= scale
            i &+= 1
        }
        let shift = SIMD16<Float>(repeating: VectorMath.maximum(row, visible))
        VectorExp.map(count: visible, row, row, into: row) { x, _ in VectorExp.exp(x - shift) }
        let inverse = 1 / VectorMath.sum(row, visible)
        i = 0
        while i < visible {
            row[i] *= inverse
            i &+= 1
        }
        (row + visible).update(repeating: 0, count: width &- visible)
    }

    /// Replaces one row of d(weights) with d(raw scores): softmax's Jacobian, then the scale.
    private static func softmaxBackward(
        _ gradient: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, visible: Int, width: Int, scale: Float
    ) {
        var weighted: Float = 0
        var i = 0
        while i < visible {
            weighted += weights[i] * gradient[i]
            i &+= 1
        }
        i = 0
        while i < visible {
            gradient[i] = scale * weights[i] * (gradient[i] - weighted)
            i &+= 1
        }
        (gradient + visible).update(repeating: 0, count: width &- visible)
    }
}
