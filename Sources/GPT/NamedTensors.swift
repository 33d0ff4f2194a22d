/// One tensor of the flat parameter vector under the name and shape PyTorch's GPT-2 gives it.
public struct NamedTensor: Sendable, Equatable {
    /// `wte.weight`, `h.3.attn.c_attn.weight`, `ln_f.bias`, …
    public var name: String
    public var shape: [Int]
    /// Its elements in the flat vector.
    public var range: Range<Int>
}

extension ParameterTensor {
    /// The name of the tensor (of layer `layer` for a per-layer one) in a GPT-2 state dict
    /// (Hugging Face's `GPT2Model`, llm.c's `train_gpt2.py` without its `transformer.` prefix).
    public func portableName(layer: Int) -> String {
        switch self {
        case .wte: "wte.weight"
        case .wpe: "wpe.weight"
        case .ln1w: "h.\(layer).ln_1.weight"
        case .ln1b: "h.\(layer).ln_1.bias"
        case .qkvw: "h.\(layer).attn.c_attn.weight"
        case .qkvb: "h.\(layer).attn.c_attn.bias"
        case .attprojw: "h.\(layer).attn.c_proj.weight"
        case .attprojb: "h.\(layer).attn.c_proj.bias"
        case .ln2w: "h.\(layer).ln_2.weight"
        case .ln2b: "h.\(layer).ln_2.bias"
        case .fcw: "h.\(layer).mlp.c_fc.weight"
        case .fcb: "h.\(layer).mlp.c_fc.bias"
        case .fcprojw: "h.\(layer).mlp.c_proj.weight"
        case .fcprojb: "h.\(layer).mlp.c_proj.bias"
        case .lnfw: "ln_f.weight"
        case .lnfb: "ln_f.bias"
        }
    }

    /// The shape of the tensor (one layer's, for a per-layer one) as llm.c lays it out, which
    /// is `torch.nn.Linear`'s [out, in] for the matrices (Hugging Face's `Conv1D` stores them
    /// transposed, [in, out]); `wte` has the padded vocabulary's rows.
    public func portableShape(_ config: GPTConfig) -> [Int] {
        let c = config.channels
        return switch self {
        case .wte: [config.paddedVocabSize, c]
        case .wpe: [config.maxSeqLen, c]
        case .ln1w, .ln1b, .attprojb, .ln2w, .ln2b, .fcprojb, .lnfw, .lnfb: [c]
        case .qkvw: [3 * c, c]
        case .qkvb: [3 * c]
        case .attprojw: [c, c]
        case .fcw: [4 * c, c]
        case .fcb: [4 * c]
        case .fcprojw: [c, 4 * c]
        }
    }
}

extension ParameterLayout {
    /// Every tensor of the flat vector by its portable name, in flat order (each per-layer
    /// tensor split into its layers): the tensors tile the vector exactly.
    public func namedTensors(_ config: GPTConfig) -> [NamedTensor] {
        ParameterTensor.allCases.flatMap { tensor -> [NamedTensor] in
            let shape = tensor.portableShape(config)
            guard tensor.isPerLayer else { return [NamedTensor(name: tensor.portableName(layer: 0), shape: shape, range: range(of: tensor))] }
            return (0..<layers).map { l in NamedTensor(name: tensor.portableName(layer: l), shape: shape, range: range(of: tensor, layer: l)) }
        }
    }
}
