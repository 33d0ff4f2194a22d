import Optim

/// The shape of a GPT-2 model, in llm.c's terms.
///
/// `paddedVocabSize` (Vp) rounds the vocabulary up so the embedding and LM-head matrices are
/// friendly to matrix kernels; only the first `vocabSize` logits take part in the softmax.
///
/// Shapes come from untrusted input — `--init gpt2:L,H,C,T,V`, a checkpoint's header — so
/// `check()` bounds every dimension (`limit(of:)`) and the parameter count
/// (`maximumParameterCount`) with overflow-checked arithmetic. `init(initSpec:)` and
/// `GPTCheckpoint.read(from:)` both run it; the memberwise `init` does not, for shapes the
/// program builds itself.
public struct GPTConfig: Sendable, Equatable, CustomStringConvertible {
    public var maxSeqLen: Int
    public var vocabSize: Int
    public var paddedVocabSize: Int
    public var layers: Int
    public var heads: Int
    public var channels: Int

    public init(maxSeqLen: Int, vocabSize: Int, paddedVocabSize: Int? = nil, layers: Int, heads: Int, channels: Int) {
        self.maxSeqLen = maxSeqLen
        self.vocabSize = vocabSize
        self.paddedVocabSize = paddedVocabSize ?? (vocabSize + 127) / 128 * 128
        self.layers = layers
        self.heads = heads
        self.channels = channels
    }

    public var description: String {
        "GPT-2 L\(layers) H\(heads) C\(channels) T\(maxSeqLen) V\(vocabSize) (Vp \(paddedVocabSize)), \(parameterCount) parameters"
    }

    /// The `--init` spelling of this shape, `gpt2:L,H,C,T,V` (Vp is implied by V).
    public var initSpec: String { "gpt2:\(layers),\(heads),\(channels),\(maxSeqLen),\(vocabSize)" }

    /// Parses `gpt2:L,H,C,T,V` (layers, heads, channels, max sequence length, vocabulary) and
    /// runs `check()`, so that a spec whose sizes would overflow is refused, naming the letter.
    public init(initSpec: String) throws(GPTConfigError) {
        guard initSpec.hasPrefix("gpt2:") else { throw .badSpec(initSpec, "expected gpt2:L,H,C,T,V") }
        let numbers = initSpec.dropFirst(5).split(separator: ",").map { Int($0) }
        guard numbers.count == 5, numbers.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw .badSpec(initSpec, "expected five positive integers: gpt2:L,H,C,T,V")
        }
        let (l, h, c, t, v) = (numbers[0]!, numbers[1]!, numbers[2]!, numbers[3]!, numbers[4]!)
        // V first: Vp is derived from it by rounding up to a multiple of 128, which must not
        // overflow and must fit the header's int32.
        let vocabularyLimit = Self.limit(of: .paddedVocabSize) / 128 * 128
        guard v <= vocabularyLimit else { throw .badSpec(initSpec, "V is \(v), expected 1...\(vocabularyLimit)") }
        guard c % h == 0 else { throw .badSpec(initSpec, "channels \(c) must be a multiple of heads \(h)") }
        let config = GPTConfig(maxSeqLen: t, vocabSize: v, layers: l, heads: h, channels: c)
        do throws(DimensionError) {
            try config.check()
        } catch {
            let letter = switch error.dimension {
            case .maxSeqLen: "T"
            case .vocabSize, .paddedVocabSize: "V"
            case .layers: "L"
            case .heads: "H"
            case .channels: "C"
            }
            let value = error.dimension == .paddedVocabSize ? "\(v) (padded to Vp = \(config.paddedVocabSize))" : "\(error.value)"
            throw .badSpec(initSpec, "\(letter) is \(value), expected \(error.expected)")
        }
        self = config
    }

    /// A dimension, as `check()` names it; callers spell it their way (`--init`'s letters, the
    /// checkpoint header's field names).
    public enum Dimension: Sendable, Equatable, CaseIterable {
        case maxSeqLen, vocabSize, paddedVocabSize, layers, heads, channels
    }

    /// A dimension outside its bounds, or one that makes the parameter count exceed
    /// `maximumParameterCount`.
    public struct DimensionError: Error, Equatable, Sendable {
        public var dimension: Dimension
        public var value: Int
        public var expected: String
    }

    /// The most parameters a model may have: 2^40 ≈ 1.1 × 10^12 — 33 times the paper's largest
    /// model (33B), 8,800 times GPT-2 small. With at most 2^40 elements, the flat fp32 parameter,
    /// gradient and optimizer-state buffers are at most 2^42 bytes each, every offset and byte
    /// count (and a checkpoint's length, 1024 + 4 · count) is far inside Int, and a per-device
    /// slice stays a valid Int count. The same bound holds for `ModelShape` (module Plan), which
    /// the trainer's modeled clock builds from this config.
    public static let maximumParameterCount = 1 << 40

    /// The largest value each dimension may take. V and Vp must fit the checkpoint header's
    /// int32 fields; the others are far beyond any real GPT-2 (1024 positions, 48 layers, 25
    /// heads, 1600 channels for GPT-2 XL) and keep each factor of a tensor size small enough
    /// that the products are checked against `maximumParameterCount` one at a time.
    public static func limit(of dimension: Dimension) -> Int {
        switch dimension {
        case .maxSeqLen: 1 << 24
        case .vocabSize, .paddedVocabSize: Int(Int32.max)
        case .layers, .heads: 1 << 16
        case .channels: 1 << 20
        }
    }

    /// Checks every dimension against `limit(of:)`, in the checkpoint header's order (maxT, V,
    /// L, NH, C, Vp); then that heads divide channels and Vp ≥ V; then the parameter count with
    /// overflow-checked arithmetic, naming the dimension that drives it past
    /// `maximumParameterCount`: C for one layer, Vp for the token embedding, maxT for the
    /// position embedding, L for the whole.
    public func check() throws(DimensionError) {
        let fields: [(Dimension, Int)] = [(.maxSeqLen, maxSeqLen), (.vocabSize, vocabSize), (.layers, layers),
                                          (.heads, heads), (.channels, channels), (.paddedVocabSize, paddedVocabSize)]
        for (dimension, value) in fields where value < 1 || value > Self.limit(of: dimension) {
            throw DimensionError(dimension: dimension, value: value, expected: "1...\(Self.limit(of: dimension))")
        }
        guard channels % heads == 0 else {
            throw DimensionError(dimension: .channels, value: channels, expected: "a multiple of NH = \(heads)")
        }
        guard paddedVocabSize >= vocabSize else {
            throw DimensionError(dimension: .paddedVocabSize, value: paddedVocabSize, expected: "at least V = \(vocabSize)")
        }
        let bound = "small enough for at most \(Self.maximumParameterCount) (2^40) parameters"
        let (c, vp, t) = (channels, paddedVocabSize, maxSeqLen)
        guard let perLayer = Self.boundedSum(Self.layerTensorFactors(channels: c)) else {
            throw DimensionError(dimension: .channels, value: c, expected: bound)
        }
        guard let tokenEmbedding = Self.boundedSum([[vp, c]]) else {
            throw DimensionError(dimension: .paddedVocabSize, value: vp, expected: bound)
        }
        guard let positionEmbedding = Self.boundedSum([[t, c]]) else {
            throw DimensionError(dimension: .maxSeqLen, value: t, expected: bound)
        }
        let all = Self.tensorFactors(layers: layers, channels: c, paddedVocab: vp, maxSeqLen: t)
        guard Self.boundedSum(all) != nil else {
            // Each part fits; blame the largest.
            let blocks = Self.boundedSum([[layers, perLayer]]) ?? Int.max
            let (dimension, value) = blocks >= max(tokenEmbedding, positionEmbedding) ? (Dimension.layers, layers)
                : tokenEmbedding >= positionEmbedding ? (.paddedVocabSize, vp) : (.maxSeqLen, t)
            throw DimensionError(dimension: dimension, value: value, expected: bound)
        }
    }

    /// The factors of one layer's 12 tensors' element counts: ln1w, ln1b, qkvw, qkvb, attprojw,
    /// attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb.
    static func layerTensorFactors(channels c: Int) -> [[Int]] {
        [[c], [c], [3, c, c], [3, c], [c, c], [c], [c], [c], [4, c, c], [4, c], [c, 4, c], [c]]
    }

    /// The factors of the 16 parameter tensors' element counts, in llm.c's checkpoint order:
    /// wte, wpe, the per-layer tensors (each for all layers), lnfw, lnfb. One formula for
    /// `tensorSizes` and for `check()`.
    static func tensorFactors(layers l: Int, channels c: Int, paddedVocab vp: Int, maxSeqLen t: Int) -> [[Int]] {
        [[vp, c], [t, c]] + layerTensorFactors(channels: c).map { [l] + $0 } + [[c], [c]]
    }

    /// The sum of the products `terms`, or nil beyond `limit` (`CheckedSize`).
    static func boundedSum(_ terms: [[Int]], limit: Int = maximumParameterCount) -> Int? {
        CheckedSize.sumOfProducts(terms, limit: limit)
    }

    /// Element counts of the 16 parameter tensors, in llm.c's checkpoint order (`tensorFactors`).
    public var tensorSizes: [Int] {
        Self.tensorFactors(layers: layers, channels: channels, paddedVocab: paddedVocabSize, maxSeqLen: maxSeqLen)
            .map { $0.reduce(1, *) }
    }

    public var parameterCount: Int { tensorSizes.reduce(0, +) }
}

public enum GPTConfigError: Error, Equatable, CustomStringConvertible {
    case badSpec(String, String)

    public var description: String {
        switch self {
        case .badSpec(let spec, let why): "--init '\(spec)': \(why)"
        }
    }
}
