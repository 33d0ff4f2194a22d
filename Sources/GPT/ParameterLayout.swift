/// The 16 parameter tensors of a GPT-2 model, in llm.c's checkpoint order.
///
/// The order is part of the file format and of the flat parameter vector that the offload layer
/// slices across devices, so it must never change.
public enum ParameterTensor: Int, CaseIterable, Sendable, CustomStringConvertible {
    case wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb

    /// llm.c's name for the tensor.
    public var description: String {
        switch self {
        case .wte: "wte"
        case .wpe: "wpe"
        case .ln1w: "ln1w"
        case .ln1b: "ln1b"
        case .qkvw: "qkvw"
        case .qkvb: "qkvb"
        case .attprojw: "attprojw"
        case .attprojb: "attprojb"
        case .ln2w: "ln2w"
        case .ln2b: "ln2b"
        case .fcw: "fcw"
        case .fcb: "fcb"
        case .fcprojw: "fcprojw"
        case .fcprojb: "fcprojb"
        case .lnfw: "lnfw"
        case .lnfb: "lnfb"
        }
    }

    /// True for the tensors stored once per transformer layer (layer-major: all of layer 0,
    /// then all of layer 1, ...).
    public var isPerLayer: Bool {
        switch self {
        case .wte, .wpe, .lnfw, .lnfb: false
        default: true
        }
    }
}

/// Where each tensor lives in the one flat fp32 parameter vector (and in the gradient vector,
/// which has the same layout).
///
/// Parameters and gradients are single flat buffers because the offload layer cuts them into
/// equal contiguous slices per device, ignoring tensor boundaries; the model finds its tensors
/// through these offsets.
public struct ParameterLayout: Sendable, Equatable {
    /// Element count of every tensor, indexed by `ParameterTensor.rawValue`.
    public let counts: [Int]
    /// Offset of every tensor's first element in the flat vector.
    public let offsets: [Int]
    /// Elements in the whole vector.
    public let totalCount: Int
    /// Layers, to find one layer's part of a per-layer tensor.
    public let layers: Int

    public init(config: GPTConfig) {
        counts = config.tensorSizes
        var running = 0
        offsets = counts.map { count in
            defer { running += count }
            return running
        }
        totalCount = running
        layers = config.layers
    }

    /// Index of the tensor's first element in the flat vector.
    public func offset(of tensor: ParameterTensor) -> Int { offsets[tensor.rawValue] }

    /// Elements in the tensor (all layers, for a per-layer tensor).
    public func count(of tensor: ParameterTensor) -> Int { counts[tensor.rawValue] }

    /// The tensor's elements in the flat vector.
    public func range(of tensor: ParameterTensor) -> Range<Int> {
        offset(of: tensor)..<(offset(of: tensor) + count(of: tensor))
    }

    /// The elements of one layer's slice of a per-layer tensor.
    public func range(of tensor: ParameterTensor, layer: Int) -> Range<Int> {
        precondition(tensor.isPerLayer, "\(tensor) is not a per-layer tensor")
        precondition(layer >= 0 && layer < layers, "layer \(layer) out of range 0..<\(layers)")
        let perLayer = count(of: tensor) / layers
        let start = offset(of: tensor) + layer * perLayer
        return start..<(start + perLayer)
    }
}

extension GPTConfig {
    /// The flat-vector layout of this model's parameters.
    public var parameterLayout: ParameterLayout { ParameterLayout(config: self) }
}
