import Optim

/// The shape of a transformer, enough to count its parameters and its FLOPs layer by layer.
///
/// Both families are stacks of identical blocks (attention + 4h MLP, two layer norms) between an
/// embedding and a head. GPT-2 ties its LM head to the token embedding (its FLOPs count, its
/// parameters do not); BERT adds token-type embeddings, a pooler and an MLM transform whose
/// vocabulary projection is tied to its embedding too.
///
/// Shapes come from untrusted input — a trace's header, `smartinf synth --layers/--hidden/…` —
/// so every shape is bounded when it is built or decoded (see `maximumLayers` and
/// `maximumElements`), and the counts below are plain `Int` arithmetic that cannot overflow.
/// The fields are read-only for the same reason: a shape is only ever made by the checking
/// initializer.
public struct ModelShape: Sendable, Equatable, Codable {
    public enum Family: String, Sendable, Codable, CaseIterable {
        case gpt2, bert
    }

    /// The most transformer blocks a shape may have: 65,536 (2^16), about 680 times GPT-3's 96
    /// and the paper's deepest preset's 105. The plan has a handful of operations per block, so
    /// this also keeps a plan's size in the hundreds of thousands of operations.
    public static let maximumLayers = 1 << 16

    /// The most elements any count of a shape may reach: 2^40 ≈ 1.1 × 10^12. It bounds the
    /// parameters (the paper's largest model, `gpt2-33.0b`, has 3.3 × 10^10, so this is 33
    /// times that) and the activation elements of one checkpointed block (`tokens × hidden`).
    ///
    /// Why 2^40 and not just "what fits in an Int": the planners multiply these counts by bytes
    /// per element (at most 16 for fp32 Adam: p, gradient, m, v), and a layer count (at most
    /// 2^16), so with every count ≤ 2^40 any such product stays below 2^60, far from Int's 2^63,
    /// and exact as a Double up to 2^53 bytes once multiplied by bytes per element. It also
    /// keeps the optimizer step plannable: at 2^40 parameters the shipped SmartSSD profile's
    /// 256 MB chunks make about 65,000 chunk operations, where 2^50 would make 67 million.
    public static let maximumElements = 1 << 40

    public private(set) var family: Family
    public private(set) var layers: Int
    public private(set) var hidden: Int
    public private(set) var heads: Int
    /// Tokens per sequence.
    public private(set) var sequence: Int
    /// Sequences per micro-batch (per iteration: the paper runs one micro-batch per step).
    public private(set) var batch: Int
    public private(set) var vocabulary: Int
    /// Learned position embeddings.
    public private(set) var positions: Int

    /// Builds a shape, refusing (with `ShapeError`, naming the field) a size that is not
    /// positive, heads that do not divide hidden, a sequence longer than the positions, more than
    /// `maximumLayers` blocks, and sizes that make more than `maximumElements` parameters or
    /// activation elements per block. Every count is computed with overflow checks here, so a
    /// huge value is refused rather than trapping.
    public init(family: Family, layers: Int, hidden: Int, heads: Int, sequence: Int, batch: Int,
                vocabulary: Int? = nil, positions: Int? = nil) throws(ShapeError) {
        guard layers > 0 else { throw .notPositive(field: "layers", value: layers) }
        guard hidden > 0 else { throw .notPositive(field: "hidden", value: hidden) }
        guard heads > 0 else { throw .notPositive(field: "heads", value: heads) }
        guard sequence > 0 else { throw .notPositive(field: "sequence", value: sequence) }
        guard batch > 0 else { throw .notPositive(field: "batch", value: batch) }
        guard layers <= Self.maximumLayers else {
            throw .aboveMaximum(field: "layers", value: layers, maximum: Self.maximumLayers)
        }
        guard hidden % heads == 0 else { throw .headsDoNotDivideHidden(hidden: hidden, heads: heads) }
        let vocabulary = vocabulary ?? (family == .gpt2 ? 50304 : 30522)
        let positions = positions ?? max(sequence, family == .gpt2 ? 1024 : 512)
        guard vocabulary > 0 else { throw .notPositive(field: "vocabulary", value: vocabulary) }
        guard positions > 0 else { throw .notPositive(field: "positions", value: positions) }
        guard positions >= sequence else { throw .sequenceLongerThanPositions(sequence: sequence, positions: positions) }
        self.family = family
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.sequence = sequence
        self.batch = batch
        self.vocabulary = vocabulary
        self.positions = positions
        do throws(ShapeError) {
            try checkCounts()
        } catch .tooLarge("positions", _, let what, let limit) where positions == sequence {
            // Positions defaulted to (or were given as) the sequence length: name the flag given.
            throw .tooLarge(field: "sequence", value: sequence, what: what, limit: limit)
        }
    }

    /// The counts, computed with overflow checks before any unchecked use; the error names the
    /// field that drives the count past `maximumElements`.
    private func checkCounts() throws(ShapeError) {
        let limit = Self.maximumElements
        // A block depends on hidden alone.
        guard let block = Self.boundedSum(blockParameterTerms) else {
            throw .tooLarge(field: "hidden", value: hidden, what: "parameters per block (12·hidden² + 13·hidden)", limit: limit)
        }
        // The embeddings grow with vocabulary and positions (hidden is small enough for a block).
        guard let embedding = Self.boundedSum(embeddingParameterTerms) else {
            let (field, value) = vocabulary >= positions ? ("vocabulary", vocabulary) : ("positions", positions)
            throw .tooLarge(field: field, value: value, what: "embedding parameters ((vocabulary + positions) · hidden)", limit: limit)
        }
        guard Self.boundedSum([[layers, block], [embedding]]) != nil else {
            throw .tooLarge(field: "layers", value: layers, what: "parameters (layers · \(block) per block + \(embedding))",
                            limit: limit)
        }
        // sequence ≤ positions and positions · hidden fit, so only the batch can push this over.
        guard Self.boundedSum([[batch, sequence, hidden]]) != nil else {
            throw .tooLarge(field: "batch", value: batch, what: "activation elements per block (batch · seq · hidden)", limit: limit)
        }
    }

    /// The sum of the products `terms`, or nil beyond `maximumElements` (`CheckedSize`).
    static func boundedSum(_ terms: [[Int]]) -> Int? {
        CheckedSize.sumOfProducts(terms, limit: maximumElements)
    }

    /// Plain sum of products, for shapes whose counts `init` has checked.
    private static func sum(_ terms: [[Int]]) -> Int {
        terms.reduce(0) { $0 + $1.reduce(1, *) }
    }

    enum CodingKeys: String, CodingKey {
        case family, layers, hidden, heads, sequence, batch, vocabulary, positions
    }

    /// Decodes the fields and checks them as `init` does, so a decoded shape holds the same
    /// promises as a built one; the `ShapeError` is thrown as it is.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(family: c.decode(Family.self, forKey: .family), layers: c.decode(Int.self, forKey: .layers),
                      hidden: c.decode(Int.self, forKey: .hidden), heads: c.decode(Int.self, forKey: .heads),
                      sequence: c.decode(Int.self, forKey: .sequence), batch: c.decode(Int.self, forKey: .batch),
                      vocabulary: c.decode(Int.self, forKey: .vocabulary), positions: c.decode(Int.self, forKey: .positions))
    }

    /// Parameters of one transformer block: QKV (3h² + 3h), attention projection (h² + h), MLP
    /// (8h² + 5h), two layer norms (4h): 12h² + 13h.
    var blockParameterTerms: [[Int]] { [[12, hidden, hidden], [13, hidden]] }

    /// Parameters outside the blocks: embeddings, final norm, and BERT's pooler and MLM head.
    var embeddingParameterTerms: [[Int]] {
        switch family {
        case .gpt2:
            // Token and position embeddings, final layer norm.
            return [[vocabulary, hidden], [positions, hidden], [2, hidden]]
        case .bert:
            // Token, position and 2 token-type embeddings with their layer norm; pooler (h² + h);
            // MLM transform (h² + h) and its layer norm (2h); output bias (vocabulary).
            return [[vocabulary, hidden], [positions, hidden], [2, hidden], [2, hidden], [2, hidden, hidden], [2, hidden],
                    [2, hidden], [vocabulary]]
        }
    }

    /// Parameters of one transformer block, 12h² + 13h (`blockParameterTerms`).
    public var blockParameters: Int { Self.sum(blockParameterTerms) }

    /// Parameters outside the blocks (`embeddingParameterTerms`).
    public var embeddingParameters: Int { Self.sum(embeddingParameterTerms) }

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
///
/// `field` is `ModelShape`'s own name for it (`sequence`, `vocabulary`), which is also its key
/// in a trace's `workload.model`; the description spells it as the command-line flag.
public enum ShapeError: Error, Equatable, CustomStringConvertible {
    case notPositive(field: String, value: Int)
    case headsDoNotDivideHidden(hidden: Int, heads: Int)
    case sequenceLongerThanPositions(sequence: Int, positions: Int)
    /// A size above its own bound (`ModelShape.maximumLayers`).
    case aboveMaximum(field: String, value: Int, maximum: Int)
    /// A size that makes a count (`what`) exceed `limit` (`ModelShape.maximumElements`), or overflow.
    case tooLarge(field: String, value: Int, what: String, limit: Int)
    case unknownPreset(String, known: [String])

    /// The field at fault, its value and what was expected; nil for an unknown preset.
    public var fieldProblem: (field: String, value: Int, expected: String)? {
        switch self {
        case .notPositive(let field, let value): (field, value, "a positive whole number")
        case .headsDoNotDivideHidden(let hidden, let heads): ("heads", heads, "a divisor of hidden (\(hidden))")
        case .sequenceLongerThanPositions(let sequence, let positions):
            ("sequence", sequence, "at most the \(positions) learned positions")
        case .aboveMaximum(let field, let value, let maximum): (field, value, "at most \(maximum)")
        case .tooLarge(let field, let value, let what, let limit):
            (field, value, "a value that keeps the model's \(what) at most \(limit) (2^\(limit.trailingZeroBitCount))")
        case .unknownPreset: nil
        }
    }

    /// The command-line spelling of a field.
    static func flag(_ field: String) -> String { "--" + (field == "sequence" ? "seq" : field) }

    public var description: String {
        switch self {
        case .headsDoNotDivideHidden(let hidden, let heads):
            "--heads \(heads) does not divide --hidden \(hidden): each head needs hidden/heads dimensions"
        case .sequenceLongerThanPositions(let sequence, let positions):
            "--seq \(sequence) is longer than the \(positions) learned positions"
        case .unknownPreset(let name, let known): "unknown preset '\(name)'; expected one of: \(known.joined(separator: ", "))"
        case .notPositive, .aboveMaximum, .tooLarge:
            fieldProblem.map { "\(Self.flag($0.field)) \($0.value): expected \($0.expected)" } ?? ""
        }
    }
}
