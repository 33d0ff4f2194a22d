import Optim

/// The shape of a transformer, enough to count its parameters and its FLOPs layer by layer.
///
/// Every family is a stack of identical blocks (attention + MLP, two norms) between an
/// embedding and a head:
///
/// - GPT-2 (and GPT-3, the same block): multi-head attention, a 4h GELU MLP, layer norms, biases
///   everywhere, learned positions; the LM head is tied to the token embedding (its FLOPs
///   count, its parameters do not).
/// - BERT: as GPT-2, plus token-type embeddings, a pooler and an MLM transform whose vocabulary
///   projection is tied to its embedding too.
/// - Llama (Llama 2/3): grouped-query attention (`kvHeads` key/value heads shared by
///   `heads / kvHeads` query heads each), a SwiGLU MLP of width `ffn` (three matrices: gate,
///   up, down), RMSNorm (a weight, no bias), no biases, rotary positions (no parameters) and an
///   untied head.
/// - Mixtral: a Llama block whose MLP is `experts` SwiGLU experts and a router (h × experts);
///   each token is routed to `activeExperts` of them. Every expert's parameters are counted
///   (and so fetched, and their gradients and optimizer states offloaded); only the routed
///   experts' FLOPs are.
///
/// Shapes come from untrusted input — a trace's header, `smartinf synth --layers/--hidden/…` —
/// so every shape is bounded when it is built or decoded (see `maximumLayers` and
/// `maximumElements`), and the counts below are plain `Int` arithmetic that cannot overflow.
/// The fields are read-only for the same reason: a shape is only ever made by the checking
/// initializer.
public struct ModelShape: Sendable, Equatable, Codable {
    public enum Family: String, Sendable, Codable, CaseIterable {
        case gpt2, bert, llama, mixtral

        /// Whether the MLP is SwiGLU (gate, up and down matrices) rather than a GELU MLP (up, down).
        public var gatedMLP: Bool { self == .llama || self == .mixtral }
        /// Whether the linear layers have biases and the norms are layer norms (weight and bias)
        /// rather than RMSNorm (weight only).
        var biasesAndLayerNorm: Bool { self == .gpt2 || self == .bert }
        /// Whether positions are learned embeddings (parameters) rather than rotary.
        var learnedPositions: Bool { self == .gpt2 || self == .bert }

        var defaultVocabulary: Int {
            switch self {
            case .gpt2: 50304
            case .bert: 30522
            case .llama: 128_256  // Llama 3's tokenizer
            case .mixtral: 32000
            }
        }

        /// The most positions the family's published models have, the default bound on `--seq`.
        var defaultPositions: Int {
            switch self {
            case .gpt2: 1024
            case .bert: 512
            case .llama: 131_072  // Llama 3.1's context
            case .mixtral: 32768
            }
        }
    }

    /// The most transformer blocks a shape may have: 65,536 (2^16), about 680 times GPT-3's 96
    /// and the paper's deepest preset's 105. The plan has a handful of operations per block, so
    /// this also keeps a plan's size in the hundreds of thousands of operations.
    public static let maximumLayers = 1 << 16

    /// The most elements any count of a shape may reach: 2^40 ≈ 1.1 × 10^12. It bounds the
    /// parameters (the paper's largest model, `gpt2-33.0b`, has 3.3 × 10^10, so this is 33
    /// times that; Llama 3.1 405B is 4.1 × 10^11) and the activation elements of one
    /// checkpointed block (`tokens × hidden`).
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
    /// Key/value heads (grouped-query attention); `heads` for multi-head attention.
    public private(set) var kvHeads: Int
    /// The MLP's inner width (each expert's, for a mixture of experts); 4·hidden for GPT-2 and BERT.
    public private(set) var ffn: Int
    /// MLP experts per block; 1 for a dense model.
    public private(set) var experts: Int
    /// Experts each token is routed to (top-k routing); 1 for a dense model.
    public private(set) var activeExperts: Int
    /// Tokens per sequence.
    public private(set) var sequence: Int
    /// Sequences per micro-batch (per iteration: the paper runs one micro-batch per step).
    public private(set) var batch: Int
    public private(set) var vocabulary: Int
    /// Positions: learned embeddings for GPT-2 and BERT, the context bound `--seq` must fit in
    /// for the rotary families (no parameters).
    public private(set) var positions: Int

    /// Builds a shape, refusing (with `ShapeError`, naming the field) a size that is not
    /// positive, heads that do not divide hidden, key/value heads that do not divide heads,
    /// more routed experts than experts, a sequence longer than the positions, more than
    /// `maximumLayers` blocks, and sizes that make more than `maximumElements` parameters or
    /// activation elements per block. Every count is computed with overflow checks here, so a
    /// huge value is refused rather than trapping. Left out, `kvHeads` is `heads`, `ffn` is
    /// 4·hidden (GPT-2, BERT) or 8/3·hidden rounded up to 256 (Llama's rule), and the model
    /// is dense (one expert).
    public init(family: Family, layers: Int, hidden: Int, heads: Int, sequence: Int, batch: Int,
                vocabulary: Int? = nil, positions: Int? = nil, kvHeads: Int? = nil, ffn: Int? = nil,
                experts: Int? = nil, activeExperts: Int? = nil) throws(ShapeError) {
        guard layers > 0 else { throw .notPositive(field: "layers", value: layers) }
        guard hidden > 0 else { throw .notPositive(field: "hidden", value: hidden) }
        guard heads > 0 else { throw .notPositive(field: "heads", value: heads) }
        guard sequence > 0 else { throw .notPositive(field: "sequence", value: sequence) }
        guard batch > 0 else { throw .notPositive(field: "batch", value: batch) }
        guard layers <= Self.maximumLayers else {
            throw .aboveMaximum(field: "layers", value: layers, maximum: Self.maximumLayers)
        }
        guard hidden % heads == 0 else { throw .headsDoNotDivideHidden(hidden: hidden, heads: heads) }
        let kvHeads = kvHeads ?? heads
        guard kvHeads > 0 else { throw .notPositive(field: "kvHeads", value: kvHeads) }
        guard heads % kvHeads == 0 else { throw .kvHeadsDoNotDivideHeads(heads: heads, kvHeads: kvHeads) }
        let experts = experts ?? 1
        guard experts > 0 else { throw .notPositive(field: "experts", value: experts) }
        let activeExperts = activeExperts ?? Self.defaultActiveExperts(family, experts: experts)
        guard activeExperts > 0 else { throw .notPositive(field: "activeExperts", value: activeExperts) }
        guard activeExperts <= experts else { throw .moreActiveThanExperts(active: activeExperts, experts: experts) }
        guard experts <= Self.maximumExperts else {
            throw .aboveMaximum(field: "experts", value: experts, maximum: Self.maximumExperts)
        }
        let ffnGiven = ffn != nil
        guard let ffn = ffn ?? Self.defaultFFN(family, hidden: hidden) else {
            throw .tooLarge(field: "hidden", value: hidden, what: "MLP width (ffn)", limit: Self.maximumElements)
        }
        guard ffn > 0 else { throw .notPositive(field: "ffn", value: ffn) }
        let vocabulary = vocabulary ?? family.defaultVocabulary
        let positions = positions ?? max(sequence, family.defaultPositions)
        guard vocabulary > 0 else { throw .notPositive(field: "vocabulary", value: vocabulary) }
        guard positions > 0 else { throw .notPositive(field: "positions", value: positions) }
        guard positions >= sequence else { throw .sequenceLongerThanPositions(sequence: sequence, positions: positions) }
        self.family = family
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads
        self.ffn = ffn
        self.experts = experts
        self.activeExperts = activeExperts
        self.sequence = sequence
        self.batch = batch
        self.vocabulary = vocabulary
        self.positions = positions
        do throws(ShapeError) {
            try checkCounts(ffnGiven: ffnGiven)
        } catch .tooLarge("positions", _, let what, let limit) where positions == sequence {
            // Positions defaulted to (or were given as) the sequence length: name the flag given.
            throw .tooLarge(field: "sequence", value: sequence, what: what, limit: limit)
        }
    }

    /// The MLP width when none is given: 4·hidden (GPT-2, BERT), or Llama's rule (its reference
    /// model.py): 2/3 of 4·hidden, rounded up to a multiple of 256. nil if it overflows (a
    /// hidden size far beyond the bounds, refused as such).
    static func defaultFFN(_ family: Family, hidden: Int) -> Int? {
        let (fourH, overflow) = hidden.multipliedReportingOverflow(by: 4)
        guard !overflow, fourH <= maximumElements else { return nil }
        return family.gatedMLP ? (2 * fourH / 3 + 255) / 256 * 256 : fourH
    }

    /// Routed experts when none are given: Mixtral's top-2, else one (as far as there are experts).
    static func defaultActiveExperts(_ family: Family, experts: Int) -> Int { min(experts, family == .mixtral ? 2 : 1) }

    /// The most experts a block may have: 2^16, far above today's mixtures (8 in Mixtral, 256
    /// routed in DeepSeek-V3); it keeps `experts × ffn × hidden` a product of bounded factors.
    public static let maximumExperts = 1 << 16

    /// The counts, computed with overflow checks before any unchecked use; the error names the
    /// field that drives the count past `maximumElements`.
    private func checkCounts(ffnGiven: Bool) throws(ShapeError) {
        let limit = Self.maximumElements
        // Attention and norms depend on hidden alone (kvHeads ≤ heads).
        guard Self.boundedSum(attentionParameterTerms) != nil else {
            throw .tooLarge(field: "hidden", value: hidden, what: "attention parameters per block (\(attentionFormula))", limit: limit)
        }
        // One expert's MLP grows with ffn (with hidden when ffn follows it).
        guard Self.boundedSum(expertParameterTerms) != nil else {
            let (field, value) = ffnGiven ? ("ffn", ffn) : ("hidden", hidden)
            throw .tooLarge(field: field, value: value, what: "MLP parameters per block (\(mlpFormula))", limit: limit)
        }
        guard let block = Self.boundedSum(blockParameterTerms) else {
            throw .tooLarge(field: "experts", value: experts, what: "parameters per block (experts · MLP + attention)", limit: limit)
        }
        // The embeddings grow with vocabulary and positions (hidden is small enough for a block).
        guard let embedding = Self.boundedSum(embeddingParameterTerms) else {
            let (field, value) = vocabulary >= positions || !family.learnedPositions
                ? ("vocabulary", vocabulary) : ("positions", positions)
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
        case family, layers, hidden, heads, kvHeads, ffn, experts, activeExperts, sequence, batch, vocabulary, positions
    }

    /// Decodes the fields and checks them as `init` does, so a decoded shape holds the same
    /// promises as a built one; the `ShapeError` is thrown as it is. `kvHeads`, `ffn`,
    /// `experts` and `activeExperts` may be absent (traces written before they existed): they
    /// take the family's defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(family: c.decode(Family.self, forKey: .family), layers: c.decode(Int.self, forKey: .layers),
                      hidden: c.decode(Int.self, forKey: .hidden), heads: c.decode(Int.self, forKey: .heads),
                      sequence: c.decode(Int.self, forKey: .sequence), batch: c.decode(Int.self, forKey: .batch),
                      vocabulary: c.decode(Int.self, forKey: .vocabulary), positions: c.decode(Int.self, forKey: .positions),
                      kvHeads: c.decodeIfPresent(Int.self, forKey: .kvHeads), ffn: c.decodeIfPresent(Int.self, forKey: .ffn),
                      experts: c.decodeIfPresent(Int.self, forKey: .experts),
                      activeExperts: c.decodeIfPresent(Int.self, forKey: .activeExperts))
    }

    /// Encodes every field, except that `kvHeads`, `ffn`, `experts` and `activeExperts` are left
    /// out where they are the family's defaults: a GPT-2 or BERT shape is written exactly as
    /// before they existed, and decodes back to itself.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family, forKey: .family)
        try c.encode(layers, forKey: .layers)
        try c.encode(hidden, forKey: .hidden)
        try c.encode(heads, forKey: .heads)
        if kvHeads != heads { try c.encode(kvHeads, forKey: .kvHeads) }
        if ffn != Self.defaultFFN(family, hidden: hidden) { try c.encode(ffn, forKey: .ffn) }
        if experts != 1 { try c.encode(experts, forKey: .experts) }
        if activeExperts != Self.defaultActiveExperts(family, experts: experts) { try c.encode(activeExperts, forKey: .activeExperts) }
        try c.encode(sequence, forKey: .sequence)
        try c.encode(batch, forKey: .batch)
        try c.encode(vocabulary, forKey: .vocabulary)
        try c.encode(positions, forKey: .positions)
    }

    /// Width of the key and value projections: kvHeads × (hidden ÷ heads).
    public var kvWidth: Int { kvHeads * (hidden / heads) }

    /// Matrices of one MLP: gate, up and down (SwiGLU) or up and down (GELU).
    private var mlpMatrices: Int { family.gatedMLP ? 3 : 2 }

    /// Attention and the two norms: Q and O (h × h each), K and V (h × kvWidth each), their
    /// biases (GPT-2, BERT), and two norms of 2h (layer norm) or h (RMSNorm). For GPT-2 and BERT
    /// (kvWidth = h): 4h² + 4h + 4h.
    var attentionParameterTerms: [[Int]] {
        var terms = [[2, hidden, hidden], [2, hidden, kvWidth]]
        if family.biasesAndLayerNorm {
            terms += [[2, hidden], [2, kvWidth], [4, hidden]]
        } else {
            terms += [[2, hidden]]
        }
        return terms
    }

    /// One expert's MLP: 2 or 3 matrices of h × ffn, and for GPT-2 and BERT the biases ffn + h
    /// (at ffn = 4h: 8h² + 5h).
    var expertParameterTerms: [[Int]] {
        [[mlpMatrices, hidden, ffn]] + (family.biasesAndLayerNorm ? [[ffn], [hidden]] : [])
    }

    /// The router of a mixture of experts, h × experts; none for a dense model.
    private var routerParameterTerms: [[Int]] { experts > 1 ? [[hidden, experts]] : [] }

    /// Parameters of one transformer block: attention and norms, every expert, the router. For
    /// GPT-2 and BERT 12h² + 13h.
    var blockParameterTerms: [[Int]] {
        attentionParameterTerms + expertParameterTerms.map { [experts] + $0 } + routerParameterTerms
    }

    private var attentionFormula: String {
        family.biasesAndLayerNorm ? "4·hidden² + 8·hidden at kvHeads = heads" : "2·hidden² + 2·hidden·kvWidth + 2·hidden"
    }

    private var mlpFormula: String { family.biasesAndLayerNorm ? "2·hidden·ffn + ffn + hidden" : "3·hidden·ffn" }

    /// Parameters outside the blocks: embeddings, final norm, the head where it is not tied,
    /// and BERT's pooler and MLM head.
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
        case .llama, .mixtral:
            // Token embedding and the untied head (V·h each), final RMSNorm (h).
            return [[2, vocabulary, hidden], [hidden]]
        }
    }

    /// Parameters of one transformer block (`blockParameterTerms`).
    public var blockParameters: Int { Self.sum(blockParameterTerms) }

    /// Parameters of one block that a token's computation uses: attention, norms, router and
    /// the `activeExperts` experts it is routed to (all of `blockParameters` for a dense model).
    public var activeBlockParameters: Int {
        Self.sum(attentionParameterTerms + expertParameterTerms.map { [activeExperts] + $0 } + routerParameterTerms)
    }

    /// Parameters outside the blocks (`embeddingParameterTerms`).
    public var embeddingParameters: Int { Self.sum(embeddingParameterTerms) }

    public var parameters: Int { layers * blockParameters + embeddingParameters }

    /// Parameters one token's forward uses: the blocks' active parameters and the embeddings
    /// (Mixtral 8x7B: 12.9 B of 46.7 B).
    public var activeParameters: Int { layers * activeBlockParameters + embeddingParameters }

    /// Multiply-adds per token of one block's matrices, as used by one token: Q, K, V, O, the
    /// routed experts' matrices and the router. GPT-2 and BERT: 12h².
    public var blockMatrixElementsPerToken: Int {
        Self.sum([[2, hidden, hidden], [2, hidden, kvWidth], [activeExperts, mlpMatrices, hidden, ffn]] + routerParameterTerms)
    }

    public var tokens: Int { sequence * batch }

    /// Forward FLOPs of one block for the micro-batch: 2 per multiply-add of the matrices a
    /// token uses (24h² per token for GPT-2 and BERT) plus attention scores and their weighted
    /// sum (4·s·h per token).
    public var blockForwardFLOPs: Double {
        let h = Double(hidden), s = Double(sequence)
        return Double(tokens) * (2 * Double(blockMatrixElementsPerToken) + 4 * s * h)
    }

    /// Forward FLOPs outside the blocks: the vocabulary projection (2·V·h per token), plus BERT's
    /// pooler and MLM transform.
    public var headForwardFLOPs: Double {
        let h = Double(hidden), v = Double(vocabulary)
        switch family {
        case .gpt2, .llama, .mixtral: return Double(tokens) * 2 * v * h
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
    case kvHeadsDoNotDivideHeads(heads: Int, kvHeads: Int)
    case moreActiveThanExperts(active: Int, experts: Int)
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
            ("sequence", sequence, "at most the \(positions) positions")
        case .kvHeadsDoNotDivideHeads(let heads, let kvHeads): ("kvHeads", kvHeads, "a divisor of heads (\(heads))")
        case .moreActiveThanExperts(let active, let experts): ("activeExperts", active, "at most the \(experts) experts")
        case .aboveMaximum(let field, let value, let maximum): (field, value, "at most \(maximum)")
        case .tooLarge(let field, let value, let what, let limit):
            (field, value, "a value that keeps the model's \(what) at most \(limit) (2^\(limit.trailingZeroBitCount))")
        case .unknownPreset: nil
        }
    }

    /// The command-line spelling of a field.
    static func flag(_ field: String) -> String {
        switch field {
        case "sequence": "--seq"
        case "kvHeads": "--kv-heads"
        case "activeExperts": "--active-experts"
        default: "--" + field
        }
    }

    public var description: String {
        switch self {
        case .headsDoNotDivideHidden(let hidden, let heads):
            "--heads \(heads) does not divide --hidden \(hidden): each head needs hidden/heads dimensions"
        case .sequenceLongerThanPositions(let sequence, let positions):
            "--seq \(sequence) is longer than the \(positions) positions"
        case .unknownPreset(let name, let known): "unknown preset '\(name)'; expected one of: \(known.joined(separator: ", "))"
        case .notPositive, .aboveMaximum, .tooLarge, .kvHeadsDoNotDivideHeads, .moreActiveThanExperts:
            fieldProblem.map { "\(Self.flag($0.field)) \($0.value): expected \($0.expected)" } ?? ""
        }
    }
}
