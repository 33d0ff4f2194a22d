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

/// When, during a backward pass, a parameter's gradient is final. Backward visits the LM head and
/// the final LayerNorm first, then the layers from the last to the first, then the embeddings
/// (wte's gradient, tied to the head, gets its last contribution there).
public enum GradientReadiness: Comparable, Sendable {
    /// After the head and the final LayerNorm.
    case afterHead
    /// After layer `l`'s backward (later for smaller `l`).
    case afterLayer(Int)
    /// After the embeddings, at the end of the pass.
    case atEnd

    /// Order in time: afterHead < afterLayer(L-1) < … < afterLayer(0) < atEnd.
    public static func < (a: GradientReadiness, b: GradientReadiness) -> Bool { a.rank < b.rank }

    private var rank: Int {
        switch self {
        case .afterHead: Int.min
        case .afterLayer(let l): -l
        case .atEnd: Int.max
        }
    }
}

extension ParameterLayout {
    /// When every gradient in `range` of the flat vector is final. Elements past the model (the
    /// padding of the last device's slice) are always zero, hence ready at once.
    public func readiness(of range: Range<Int>) -> GradientReadiness {
        var latest = GradientReadiness.afterHead
        for tensor in ParameterTensor.allCases {
            let span = self.range(of: tensor).clamped(to: range)
            guard !span.isEmpty else { continue }
            switch tensor {
            case .wte, .wpe: return .atEnd
            case .lnfw, .lnfb: continue
            default:
                // The lowest layer the span touches is the last one backward finishes.
                let perLayer = count(of: tensor) / layers
                let lowest = (span.lowerBound - offset(of: tensor)) / perLayer
                latest = max(latest, .afterLayer(lowest))
            }
        }
        return latest
    }
}
