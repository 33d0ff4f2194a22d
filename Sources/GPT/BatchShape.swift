/// The shape of one training batch: `batchSize` sequences of `sequenceLength` tokens.
///
/// Validated once against the model, so that the data loader and the model's activation
/// buffers (allocated for exactly this shape) agree, and a sequence longer than the model's
/// position table is refused with a clear error instead of reading past it.
public struct BatchShape: Sendable, Equatable, CustomStringConvertible {
    public let batchSize: Int
    public let sequenceLength: Int

    /// The most activation elements a batch may need: 2^40 (4 TiB of fp32), the same bound as
    /// `GPTConfig.maximumParameterCount`. The batch size comes from the command line or a
    /// DeepSpeed config, and the model's activation buffer is one allocation whose size is a sum
    /// of products of B, T, C, NH, Vp and L; bounding it keeps that arithmetic (and every offset
    /// into the buffer) far from overflowing.
    public static let maximumActivationElements = 1 << 40

    /// Refuses non-positive sizes, sequences longer than `config.maxSeqLen`, and shapes whose
    /// activations for `config` would exceed `maximumActivationElements` (checked arithmetic).
    public init(batchSize: Int, sequenceLength: Int, config: GPTConfig) throws(BatchError) {
        guard batchSize >= 1 else { throw .nonPositive(field: "batch size", value: batchSize) }
        guard sequenceLength >= 1 else { throw .nonPositive(field: "sequence length", value: sequenceLength) }
        guard sequenceLength <= config.maxSeqLen else {
            throw .sequenceLongerThanModel(sequenceLength: sequenceLength, maxSeqLen: config.maxSeqLen)
        }
        guard Self.activationElementBound(batchSize: batchSize, sequenceLength: sequenceLength, config: config) != nil else {
            throw .activationsTooLarge(batchSize: batchSize, sequenceLength: sequenceLength, limit: Self.maximumActivationElements)
        }
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
    }

    /// An upper bound on the fp32 elements of the model's activation buffer (every layer's
    /// saved activations, the B·NH·T² attention scores among them, the logits, the backward
    /// scratch, 64-byte alignment), or nil when it exceeds `maximumActivationElements` or
    /// overflows. Generous on purpose: it stays an upper bound if the layout gains a region.
    static func activationElementBound(batchSize b: Int, sequenceLength t: Int, config: GPTConfig) -> Int? {
        let (l, c, nh, vp) = (config.layers, config.channels, config.heads, config.paddedVocabSize)
        return GPTConfig.boundedSum([[l, b, t, c, 20], [l, b, t, 8], [l, b, nh, t, t], [l, 256],
                                     [b, t, c, 16], [b, t, vp], [b, t, 8], [t, t], [256]],
                                    limit: maximumActivationElements)
    }

    /// Token positions in one batch (B·T).
    public var tokenCount: Int { batchSize * sequenceLength }

    public var description: String { "B\(batchSize) T\(sequenceLength)" }
}

/// A batch shape or token stream that cannot make batches, with what was expected.
public enum BatchError: Error, Equatable, CustomStringConvertible {
    case nonPositive(field: String, value: Int)
    case sequenceLongerThanModel(sequenceLength: Int, maxSeqLen: Int)
    case tooFewTokens(available: Int, needed: Int)
    case badValidationFraction(Double)
    /// A batch whose activations for the model would exceed `limit` elements.
    case activationsTooLarge(batchSize: Int, sequenceLength: Int, limit: Int)

    public var description: String {
        switch self {
        case .nonPositive(let field, let value):
            "\(field) is \(value), expected at least 1"
        case .sequenceLongerThanModel(let t, let maxT):
            "sequence length \(t) exceeds the model's maximum sequence length \(maxT) (its position table has \(maxT) rows)"
        case .tooFewTokens(let available, let needed):
            "the token stream has \(available) tokens; one batch needs at least \(needed) (B·T inputs plus the last target)"
        case .activationsTooLarge(let b, let t, let limit):
            "batch size \(b) with sequence length \(t) needs more than \(limit) (2^\(limit.trailingZeroBitCount)) activation "
                + "elements for this model (B·T·C per saved tensor and B·NH·T² attention scores, in every layer); "
                + "expected a smaller batch size or sequence length"
        case .badValidationFraction(let f):
            "validation fraction \(f) must lie strictly between 0 and 1"
        }
    }
}

/// One batch: inputs and the targets the model must predict (the inputs shifted by one
/// token), both B×T, row-major by sequence.
public struct TokenBatch: Sendable, Equatable {
    public let shape: BatchShape
    public var inputs: [Int32]
    public var targets: [Int32]

    /// A batch from explicit inputs and targets, B·T each.
    public init(shape: BatchShape, inputs: [Int32], targets: [Int32]) {
        precondition(inputs.count == shape.tokenCount && targets.count == shape.tokenCount,
                     "a \(shape) batch has \(shape.tokenCount) inputs and targets")
        self.shape = shape
        self.inputs = inputs
        self.targets = targets
    }

    /// The batch that starts at `start` in `tokens`: B·T + 1 consecutive tokens.
    public init(shape: BatchShape, tokens: ArraySlice<UInt16>, start: Int) {
        let n = shape.tokenCount
        let window = tokens[(tokens.startIndex + start)...].prefix(n + 1)
        precondition(window.count == n + 1, "a \(shape) batch needs \(n + 1) tokens from offset \(start)")
        self.init(shape: shape, inputs: window.prefix(n).map(Int32.init), targets: window.dropFirst().map(Int32.init))
    }
}
