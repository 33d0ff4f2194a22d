import Optim

/// A GPT-2 model that trains on the CPU, following llm.c's `train_gpt2.c`: token plus position
/// embedding; per layer LayerNorm → QKV → causal self-attention → projection → residual →
/// LayerNorm → FC(4C) → GELU(tanh) → projection → residual; a final LayerNorm; an LM head tied
/// to wte; mean cross-entropy over the B·T positions.
///
/// Parameters and gradients are each one flat vector in checkpoint order (`ParameterLayout`)
/// in the model's precision: the optimizer and the offload layer treat them as plain vectors
/// and slice them freely. In fp16 or bf16 they are the mixed-precision compute copy and
/// gradients, and each layer is widened to fp32 for its math (`ComputeCopyStaging`).
/// Activations are allocated once for the batch shape given at creation and reused by every
/// step. Matrix products run on OpenBLAS (`OpenBLAS.setThreadCount`).
///
/// A step is `zeroGradients()`, `forward(batch)`, `backward()`; gradients accumulate across
/// backward passes until zeroed.
public final class GPTModel {
    public let config: GPTConfig
    public let shape: BatchShape
    public let layout: ParameterLayout
    /// The precision of the parameters and gradients the model keeps (its math is fp32).
    public var precision: Precision { staging.precision }
    /// All parameters, flat, in checkpoint order, in `precision`.
    public var computeParameters: StreamBuffer { staging.parameters }
    /// d(loss)/d(parameters), same layout as the parameters, in `precision`.
    public var computeGradients: StreamBuffer { staging.gradients }

    private let staging: ComputeCopyStaging
    private let activations: ActivationMemory
    private let multiplier = MatrixMultiplier()
    private let inputs: AlignedBuffer<Int32>
    private let targets: AlignedBuffer<Int32>
    /// True between a forward pass and the backward pass that consumes its probabilities.
    private var forwardPending = false

    /// A model over `parameters` for batches of `shape`. In fp32 the model computes on the
    /// buffer itself (shared, not copied); in fp16 or bf16 it keeps their rounding instead, and
    /// the caller may free the fp32 values.
    public init(config: GPTConfig, parameters: AlignedBuffer<Float>, shape: BatchShape, precision: Precision = .fp32) {
        precondition(parameters.count == config.parameterCount,
                     "\(config) needs \(config.parameterCount) parameters, got \(parameters.count)")
        precondition(shape.sequenceLength <= config.maxSeqLen, "\(shape) is longer than the model's \(config.maxSeqLen) positions")
        self.config = config
        self.shape = shape
        layout = config.parameterLayout
        staging = ComputeCopyStaging(layout: layout, parameters: parameters, precision: precision)
        activations = ActivationMemory(config: config, shape: shape)
        inputs = AlignedBuffer(count: shape.tokenCount)
        targets = AlignedBuffer(count: shape.tokenCount)
    }

    /// A model over a checkpoint's parameters (shared with it, not copied, in fp32).
    public convenience init(checkpoint: GPTCheckpoint, shape: BatchShape, precision: Precision = .fp32) {
        self.init(config: checkpoint.config, parameters: checkpoint.parameters, shape: shape, precision: precision)
    }

    /// The parameters of an fp32 model, as fp32 (a mixed-precision model has `computeParameters`).
    public var parameters: AlignedBuffer<Float> { Self.fp32(computeParameters) }
    /// The gradients of an fp32 model, as fp32 (a mixed-precision model has `computeGradients`).
    public var gradients: AlignedBuffer<Float> { Self.fp32(computeGradients) }

    private static func fp32(_ vector: StreamBuffer) -> AlignedBuffer<Float> {
        guard case .fp32(let buffer) = vector else { preconditionFailure("a \(vector.precision) model's vectors are not fp32") }
        return buffer
    }

    /// Seconds spent in `cblas_sgemm` since the last `resetMatrixCounters()`.
    public var matrixSeconds: Double { multiplier.seconds }
    /// Floating-point operations issued to `cblas_sgemm` since the last reset.
    public var matrixOperations: Double { multiplier.operations }
    /// Seconds spent widening a mixed-precision model's tensors to fp32 and rounding its
    /// gradients back, since the last reset (0 in fp32).
    public var conversionSeconds: Double { staging.conversionSeconds }
    public func resetMatrixCounters() {
        multiplier.resetCounters()
        staging.resetCounters()
    }

    /// Clears `gradients` before a step (backward passes add into them).
    public func zeroGradients() { staging.zeroGradients() }

    /// Runs the model on `batch` and returns the mean cross-entropy loss over its B·T positions.
    /// Every token must be below V (token files are validated on reading; this is checked).
    ///
    /// `awaitingParameters`, if given, is called with the ranges of the flat parameter vector the
    /// pass is about to read, in the order it reads them (the embeddings, each layer's tensors,
    /// the final LayerNorm), before it reads them: a host whose devices are still writing the
    /// parameters back can make the pass wait for exactly what it needs next.
    public func forward(_ batch: TokenBatch, awaitingParameters: ((Range<Int>) -> Void)? = nil) -> Float {
        precondition(batch.shape == shape, "the model was built for \(shape) batches, got \(batch.shape)")
        let v = config.vocabSize
        for (i, (input, target)) in zip(batch.inputs, batch.targets).enumerated() {
            precondition(input >= 0 && Int(input) < v && target >= 0 && Int(target) < v,
                         "token \(input) → \(target) at position \(i) is outside the vocabulary of \(v)")
            inputs[i] = input
            targets[i] = target
        }
        let (rows, c, vp) = (shape.tokenCount, config.channels, config.paddedVocabSize)
        func waitFor(_ tensors: [ParameterTensor], layer: Int? = nil) {
            guard let awaitingParameters else { return }
            for t in tensors { awaitingParameters(layer.map { layout.range(of: t, layer: $0) } ?? layout.range(of: t)) }
        }
        waitFor([.wte, .wpe])
        staging.stageGlobalWeights([.wte, .wpe])
        let global = staging.global
        let a = activations
        Embedding.forward(output: a.encoded, tokens: inputs.address, tokenTable: global.wte,
                          positionTable: global.wpe, batch: shape.batchSize,
                          sequence: shape.sequenceLength, channels: c)
        var residual = UnsafePointer(a.encoded)
        for l in 0..<config.layers {
            waitFor(ParameterTensor.allCases.filter(\.isPerLayer), layer: l)
            let w = staging.weights(layer: l)
            let x = a.layer(l)
            LayerNorm.forward(output: x.ln1, mean: x.ln1Mean, reciprocalStd: x.ln1ReciprocalStd, input: residual,
                              weight: w.ln1w, bias: w.ln1b, rows: rows, channels: c)
            Linear.forward(output: x.qkv, input: x.ln1, weight: w.qkvw, bias: w.qkvb,
                           rows: rows, inChannels: c, outChannels: 3 * c, multiplier: multiplier)
            CausalSelfAttention.forward(output: x.attentionOutput, weights: x.attentionWeights, qkv: x.qkv,
                                        shape: attentionShape, multiplier: multiplier)
            Linear.forward(output: x.residualAfterAttention, input: x.attentionOutput, weight: w.attprojw,
                           bias: w.attprojb, residual: residual, rows: rows, inChannels: c, outChannels: c,
                           multiplier: multiplier)
            LayerNorm.forward(output: x.ln2, mean: x.ln2Mean, reciprocalStd: x.ln2ReciprocalStd,
                              input: x.residualAfterAttention, weight: w.ln2w, bias: w.ln2b, rows: rows, channels: c)
            Linear.forward(output: x.hidden, input: x.ln2, weight: w.fcw, bias: w.fcb,
                           rows: rows, inChannels: c, outChannels: 4 * c, multiplier: multiplier)
            GELU.forward(output: x.hiddenGELU, input: x.hidden, count: rows * 4 * c)
            Linear.forward(output: x.residualAfterMLP, input: x.hiddenGELU, weight: w.fcprojw, bias: w.fcprojb,
                           residual: x.residualAfterAttention, rows: rows, inChannels: 4 * c, outChannels: c,
                           multiplier: multiplier)
            residual = UnsafePointer(x.residualAfterMLP)
        }
        waitFor([.lnfw, .lnfb])
        staging.stageGlobalWeights([.lnfw, .lnfb])
        LayerNorm.forward(output: a.lnf, mean: a.lnfMean, reciprocalStd: a.lnfReciprocalStd, input: residual,
                          weight: global.lnfw, bias: global.lnfb, rows: rows, channels: c)
        multiplier.multiply(a.lnf, transposeA: false, lda: c, global.wte, transposeB: true, ldb: c,
                            into: a.logits, ldc: vp, m: rows, n: vp, k: c, accumulate: false)
        let total = CrossEntropy.forward(probabilities: a.logits, losses: a.losses, targets: targets.address,
                                         rowCount: rows, vocabSize: config.vocabSize, paddedVocabSize: vp)
        forwardPending = true
        return Float(total / Double(rows))
    }

    /// Adds d(loss · lossScale)/d(parameters) for the last forward pass into `computeGradients`.
    /// In fp16 or bf16 each layer's gradients are rounded into them as soon as that layer is
    /// done (a second backward pass without zeroing adds to the rounded values).
    ///
    /// `lossScale` is the mixed-precision loss scale: gradients come out multiplied by it, and
    /// the optimizer's `combinedUnscale` divides it out again. It is 1 in fp32 training.
    ///
    /// `progress` is told each time more gradients become final (`ParameterLayout.readiness`),
    /// so that the host can offload them while backward goes on.
    public func backward(lossScale: Float = 1, progress: ((GradientReadiness) -> Void)? = nil) {
        precondition(forwardPending, "backward() needs a forward pass first (each forward pass feeds one backward pass)")
        forwardPending = false
        let (rows, c, vp) = (shape.tokenCount, config.channels, config.paddedVocabSize)
        // The global tensors' weights are still staged from the forward pass.
        let global = staging.global
        let dGlobal = staging.globalGradientAccumulators()
        let a = activations
        let dResidual = a.residualGradient

        CrossEntropy.backward(probabilities: a.logits, targets: targets.address, rowCount: rows,
                              vocabSize: config.vocabSize, paddedVocabSize: vp, lossGradient: lossScale / Float(rows))
        // LM head tied to wte: d(wte) += dLogitsᵀ·lnf, d(lnf) = dLogits·wte.
        multiplier.multiply(a.logits, transposeA: true, lda: vp, a.lnf, transposeB: false, ldb: c,
                            into: dGlobal.wte, ldc: c, m: vp, n: c, k: rows, accumulate: true)
        multiplier.multiply(a.logits, transposeA: false, lda: vp, global.wte, transposeB: false, ldb: c,
                            into: a.channelGradient, ldc: c, m: rows, n: c, k: vp, accumulate: false)
        dResidual.update(repeating: 0, count: rows * c)
        let lastResidual = a.layer(config.layers - 1).residualAfterMLP
        LayerNorm.backward(inputGradient: dResidual, weightGradient: dGlobal.lnfw,
                           biasGradient: dGlobal.lnfb, outputGradient: a.channelGradient,
                           input: lastResidual, weight: global.lnfw, mean: a.lnfMean,
                           reciprocalStd: a.lnfReciprocalStd, rows: rows, channels: c)
        staging.fileGlobalGradients([.lnfw, .lnfb])
        progress?(.afterHead)

        // dResidual holds the gradient of the residual stream leaving the layer being visited.
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let w = staging.weights(layer: l)
            let dw = staging.gradientAccumulators(layer: l)
            let x = a.layer(l)
            let layerInput = l == 0 ? a.encoded : a.layer(l - 1).residualAfterMLP

            // MLP block: out = r + fcproj(gelu(fc(ln2(r)))), r = residual after attention.
            Linear.backward(inputGradient: a.hiddenGradient, weightGradient: dw.fcprojw, biasGradient: dw.fcprojb,
                            outputGradient: dResidual, input: x.hiddenGELU, weight: w.fcprojw,
                            rows: rows, inChannels: 4 * c, outChannels: c, multiplier: multiplier)
            GELU.backward(gradient: a.hiddenGradient, input: x.hidden, count: rows * 4 * c)
            Linear.backward(inputGradient: a.channelGradient, weightGradient: dw.fcw, biasGradient: dw.fcb,
                            outputGradient: a.hiddenGradient, input: x.ln2, weight: w.fcw,
                            rows: rows, inChannels: c, outChannels: 4 * c, multiplier: multiplier)
            LayerNorm.backward(inputGradient: dResidual, weightGradient: dw.ln2w, biasGradient: dw.ln2b,
                               outputGradient: a.channelGradient, input: x.residualAfterAttention, weight: w.ln2w,
                               mean: x.ln2Mean, reciprocalStd: x.ln2ReciprocalStd, rows: rows, channels: c)

            // Attention block: r = in + attproj(attention(qkv(ln1(in)))).
            Linear.backward(inputGradient: a.channelGradient, weightGradient: dw.attprojw, biasGradient: dw.attprojb,
                            outputGradient: dResidual, input: x.attentionOutput, weight: w.attprojw,
                            rows: rows, inChannels: c, outChannels: c, multiplier: multiplier)
            CausalSelfAttention.backward(qkvGradient: a.qkvGradient, outputGradient: a.channelGradient, qkv: x.qkv,
                                         weights: x.attentionWeights, scratch: a.attentionGradient,
                                         shape: attentionShape, multiplier: multiplier)
            Linear.backward(inputGradient: a.channelGradient, weightGradient: dw.qkvw, biasGradient: dw.qkvb,
                            outputGradient: a.qkvGradient, input: x.ln1, weight: w.qkvw,
                            rows: rows, inChannels: c, outChannels: 3 * c, multiplier: multiplier)
            LayerNorm.backward(inputGradient: dResidual, weightGradient: dw.ln1w, biasGradient: dw.ln1b,
                               outputGradient: a.channelGradient, input: layerInput, weight: w.ln1w,
                               mean: x.ln1Mean, reciprocalStd: x.ln1ReciprocalStd, rows: rows, channels: c)
            staging.fileLayerGradients(l)
            progress?(.afterLayer(l))
        }
        Embedding.backward(tokenTableGradient: dGlobal.wte, positionTableGradient: dGlobal.wpe,
                           outputGradient: dResidual, tokens: inputs.address, batch: shape.batchSize,
                           sequence: shape.sequenceLength, channels: c)
        staging.fileGlobalGradients([.wte, .wpe])
        staging.backwardFinished()
        progress?(.atEnd)
    }

    private var attentionShape: CausalSelfAttention.Shape {
        CausalSelfAttention.Shape(batch: shape.batchSize, sequence: shape.sequenceLength,
                                  channels: config.channels, heads: config.heads)
    }
}
