/// The shape of a transformer, enough to count its parameters and its FLOPs layer by layer.
///
/// Both families are stacks of identical blocks (attention + 4h MLP, two layer norms) between an
/// embedding and a head. GPT-2 ties its LM head to the token embedding (its FLOPs count, its
/// parameters do not); BERT adds token-type embeddings, a pooler and an MLM transform whose
/// vocabulary projection is tied to its embedding too.
public struct ModelShape: Sendable, Equatable, Codable {
    public enum Family: String, Sendable, Codable, CaseIterable {
        case gpt2, bert
    }

    public var family: Family
    public var layers: Int
    public var hidden: Int
    public var heads: Int
    /// Tokens per sequence.
    public var sequence: Int
    /// Sequences per micro-batch (per iteration: the paper runs one micro-batch per step).
    public var batch: Int
    public var vocabulary: Int
    /// Learned position embeddings.
    public var positions: Int

    public init(family: Family, layers: Int, hidden: Int, heads: Int, sequence: Int, batch: Int,
                vocabulary: Int? = nil, positions: Int? = nil) throws(ShapeError) {
        guard layers > 0 else { throw .notPositive(field: "layers", value: layers) }
        guard hidden > 0 else { throw .notPositive(field: "hidden", value: hidden) }
        guard heads > 0 else { throw .notPositive(field: "heads", value: heads) }
        guard sequence > 0 else { throw .notPositive(field: "seq", value: sequence) }
        guard batch > 0 else { throw .notPositive(field: "batch", value: batch) }
        guard hidden % heads == 0 else { throw .headsDoNotDivideHidden(hidden: hidden, heads: heads) }
        let vocabulary = vocabulary ?? (family == .gpt2 ? 50304 : 30522)
        let positions = positions ?? max(sequence, family == .gpt2 ? 1024 : 512)
        guard vocabulary > 0 else { throw .notPositive(field: "vocabulary", value: vocabulary) }
        guard positions >= sequence else { throw .sequenceLongerThanPositions(sequence: sequence, positions: positions) }
        self.family = family
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.sequence = sequence
        self.batch = batch
        self.vocabulary = vocabulary
        self.positions = positions
    }

    /// Parameters of one transformer block: QKV (3h² + 3h), attention projection (h² + h), MLP
    /// (8h² + 5h), two layer norms (4h): 12h² + 13h.
    public var blockParameters: Int { 12 * hidden * hidden + 13 * hidden }

    /// Parameters outside the blocks: embeddings, final norm, and BERT's pooler and MLM head.
    public var embeddingParameters: Int {
        switch family {
        case .gpt2:
            // Token and position embeddings, final layer norm.
            return (vocabulary + positions) * hidden + 2 * hidden
        case .bert:
            // Token, position and 2 token-type embeddings with their layer norm; pooler (h² + h);
            // MLM transform (h² + h) and its layer norm (2h); output bias (vocabulary).
            return (vocabulary + positions + 2) * hidden + 2 * hidden + 2 * (hidden * hidden + hidden) + 2 * hidden + vocabulary
        }
    }

    public var parameters: Int { layers * blockParameters + embeddingParameters }

    public var tokens: Int { sequence * batch }

    /// Forward FLOPs of one block for the micro-batch: 2 per multiply-add of its matrices
    /// (24h² per token) plus attention scores and their weighted sum (4·s·h per token).
    public var blockForwardFLOPs: Double {
        let h = Double(hidden), s = Double(sequence)
        return Double(tokens) * (24 * h * h + 4 * s * h)
    }

    /// Forward FLOPs outside the blocks: the vocabulary projection (2·V·h per token), plus BERT's
    /// pooler and MLM transform.
    public var headForwardFLOPs: Double {
        let h = Double(hidden), v = Double(vocabulary)
        switch family {
        case .gpt2: return Double(tokens) * 2 * v * h
        case .bert: return Double(tokens) * (2 * v * h + 2 * h * h) + Double(batch) * 2 * h * h
        }
    }

    public var forwardFLOPs: Double { Double(layers) * blockForwardFLOPs + headForwardFLOPs }

    /// Elements of one checkpointed activation (a block's input hidden state).
    public var checkpointElements: Int { tokens * hidden }
}

/// A model shape that cannot be built, named by the field at fault.
public enum ShapeError: Error, Equatable, CustomStringConvertible {
    case notPositive(field: String, value: Int)
    case headsDoNotDivideHidden(hidden: Int, heads: Int)
    case sequenceLongerThanPositions(sequence: Int, positions: Int)
    case unknownPreset(String, known: [String])

    public var description: String {
        switch self {
        case .notPositive(let field, let value): "--\(field) \(value): expected a positive whole number"
        case .headsDoNotDivideHidden(let hidden, let heads):
            "--heads \(heads) does not divide --hidden \(hidden): each head needs hidden/heads dimensions"
        case .sequenceLongerThanPositions(let sequence, let positions):
            "--seq \(sequence) is longer than the \(positions) learned positions"
        case .unknownPreset(let name, let known): "unknown preset '\(name)'; expected one of: \(known.joined(separator: ", "))"
        }
    }
}
