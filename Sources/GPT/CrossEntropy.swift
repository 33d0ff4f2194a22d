import Glibc

/// The LM head's loss: softmax over the first V of the Vp logits per position, and the
/// cross-entropy of the target token. Padded logits (V..<Vp) take no part; their probability
/// is zero and so is their gradient, which keeps wte's padding rows untouched by training.
enum CrossEntropy {
    /// Turns each row of logits into probabilities in place and writes each row's loss,
    /// −log p(target) computed as log Σ exp(z − max) − (z_target − max) so that it stays finite
    /// even when p(target) underflows. Returns the sum of the losses.
    static func forward(
        probabilities rows: UnsafeMutablePointer<Float>, losses: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
        rowCount: Int, vocabSize v: Int, paddedVocabSize vp: Int
    ) -> Double {
        var total: Double = 0
        var r = 0
        while r < rowCount {
            let z = rows + r &* vp
            let top = VectorMath.maximum(z, v)
            let targetLogit = z[Int(targets[r])]
            let shift = SIMD16<Float>(repeating: top)
            VectorExp.map(count: v, z, z, into: z) { x, _ in VectorExp.exp(x - shift) }
            let sum = VectorMath.sum(z, v)
            let inverse = 1 / sum
            var i = 0
            while i < v {
                z[i] *= inverse
                i &+= 1
            }
            (z + v).update(repeating: 0, count: vp &- v)
            let loss = logf(sum) - (targetLogit - top)
            losses[r] = loss
            total += Double(loss)
            r &+= 1
        }
        return total
    }

    /// Replaces probabilities with d(loss)/d(logits): (p − onehot(target))·lossGradient for the
    /// first V entries; padded entries stay zero.
    static func backward(
        probabilities rows: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rowCount: Int,
        vocabSize v: Int, paddedVocabSize vp: Int, lossGradient: Float
    ) {
        var r = 0
        while r < rowCount {
            let z = rows + r &* vp
            z[Int(targets[r])] -= 1
            var i = 0
            while i < v {
                z[i] *= lossGradient
                i &+= 1
            }
            r &+= 1
        }
    }
}
