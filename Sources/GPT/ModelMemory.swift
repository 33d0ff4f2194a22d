import Optim

extension AlignedBuffer {
    /// The first element's address. It stays valid for the buffer's lifetime: an
    /// `AlignedBuffer` never moves or frees its storage before it is deinitialised, so the model
    /// keeps these addresses next to the buffers it owns.
    var address: UnsafeMutablePointer<Element> { withUnsafeMutableBufferPointer { $0.baseAddress! } }
}

/// One layer's per-layer tensors, in the parameter or gradient vector or in a staging scratch.
struct LayerTensors {
    let ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb: UnsafeMutablePointer<Float>

    /// Layer `layer`'s slices of a flat vector in checkpoint order.
    init(_ base: UnsafeMutablePointer<Float>, layout: ParameterLayout, layer: Int) {
        self.init { base + layout.range(of: $0, layer: layer).lowerBound }
    }

    /// The tensors of one layer packed in a staging scratch.
    init(_ base: UnsafeMutablePointer<Float>, packing: Packing) {
        self.init { base + packing.offset(of: $0) }
    }

    private init(_ slice: (ParameterTensor) -> UnsafeMutablePointer<Float>) {
        ln1w = slice(.ln1w)
        ln1b = slice(.ln1b)
        qkvw = slice(.qkvw)
        qkvb = slice(.qkvb)
        attprojw = slice(.attprojw)
        attprojb = slice(.attprojb)
        ln2w = slice(.ln2w)
        ln2b = slice(.ln2b)
        fcw = slice(.fcw)
        fcb = slice(.fcb)
        fcprojw = slice(.fcprojw)
        fcprojb = slice(.fcprojb)
    }
}

/// What the forward pass of one layer keeps for the backward pass.
struct LayerActivations {
    /// LayerNorm 1 output, row means and 1/std: (B·T, C), (B·T), (B·T).
    let ln1, ln1Mean, ln1ReciprocalStd: UnsafeMutablePointer<Float>
    /// Packed Q|K|V: (B·T, 3C).
    let qkv: UnsafeMutablePointer<Float>
    /// Softmax weights per sequence and head: (B, NH, T, T).
    let attentionWeights: UnsafeMutablePointer<Float>
    /// Heads' outputs, concatenated: (B·T, C).
    let attentionOutput: UnsafeMutablePointer<Float>
    /// The residual stream after the attention block: (B·T, C).
    let residualAfterAttention: UnsafeMutablePointer<Float>
    let ln2, ln2Mean, ln2ReciprocalStd: UnsafeMutablePointer<Float>
    /// MLP hidden layer before and after GELU: (B·T, 4C) each.
    let hidden, hiddenGELU: UnsafeMutablePointer<Float>
    /// The residual stream after the MLP block, the next layer's input: (B·T, C).
    let residualAfterMLP: UnsafeMutablePointer<Float>
}

/// All activation and scratch memory of a model, allocated once for one batch shape and
/// reused by every step.
///
/// It is a single allocation carved into regions, each starting on a 64-byte boundary.
final class ActivationMemory {
    private let storage: AlignedBuffer<Float>
    private let layerBase: [UnsafeMutablePointer<Float>]
    private let layerRegionOffsets: [Int]

    /// Token embeddings plus positions: (B·T, C).
    let encoded: UnsafeMutablePointer<Float>
    let lnf, lnfMean, lnfReciprocalStd: UnsafeMutablePointer<Float>
    /// Logits, then probabilities, then (in the backward pass) their gradient: (B·T, Vp).
    let logits: UnsafeMutablePointer<Float>
    /// Per-position loss: (B·T).
    let losses: UnsafeMutablePointer<Float>
    /// Backward scratch: the residual stream's gradient (B·T, C), a channel-sized gradient
    /// reused by every sub-block (B·T, C), the QKV gradient (B·T, 3C), the MLP hidden gradient
    /// (B·T, 4C), and one attention matrix's gradient (T, T).
    let residualGradient, channelGradient, qkvGradient, hiddenGradient, attentionGradient: UnsafeMutablePointer<Float>

    init(config: GPTConfig, shape: BatchShape) {
        let rows = shape.tokenCount
        let (c, t) = (config.channels, shape.sequenceLength)
        func aligned(_ n: Int) -> Int { (n + 15) & ~15 }

        let layerSizes = [rows * c, rows, rows, rows * 3 * c, shape.batchSize * config.heads * t * t, rows * c,
                          rows * c, rows * c, rows, rows, rows * 4 * c, rows * 4 * c, rows * c]
        var offsets: [Int] = []
        var cursor = 0
        for size in layerSizes {
            offsets.append(cursor)
            cursor += aligned(size)
        }
        let stride = cursor
        layerRegionOffsets = offsets

        let sharedSizes = [rows * c, rows * c, rows, rows, rows * config.paddedVocabSize, rows,
                           rows * c, rows * c, rows * 3 * c, rows * 4 * c, t * t]
        var sharedOffsets: [Int] = []
        cursor = stride * config.layers
        for size in sharedSizes {
            sharedOffsets.append(cursor)
            cursor += aligned(size)
        }
        storage = AlignedBuffer(count: cursor)
        let base = storage.address
        layerBase = (0..<config.layers).map { base + $0 * stride }
        let shared = sharedOffsets.map { base + $0 }
        (encoded, lnf, lnfMean, lnfReciprocalStd, logits, losses) = (shared[0], shared[1], shared[2], shared[3], shared[4], shared[5])
        (residualGradient, channelGradient, qkvGradient, hiddenGradient, attentionGradient) =
            (shared[6], shared[7], shared[8], shared[9], shared[10])
    }

    func layer(_ l: Int) -> LayerActivations {
        let r = layerRegionOffsets.map { layerBase[l] + $0 }
        return LayerActivations(
            ln1: r[0], ln1Mean: r[1], ln1ReciprocalStd: r[2], qkv: r[3], attentionWeights: r[4], attentionOutput: r[5],
            residualAfterAttention: r[6], ln2: r[7], ln2Mean: r[8], ln2ReciprocalStd: r[9], hidden: r[10],
            hiddenGELU: r[11], residualAfterMLP: r[12])
    }
}
