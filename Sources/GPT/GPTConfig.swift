/// The shape of a GPT-2 model, in llm.c's terms.
///
/// `paddedVocabSize` (Vp) rounds the vocabulary up so the embedding and LM-head matrices are
/// friendly to matrix kernels; only the first `vocabSize` logits take part in the softmax.
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

    /// Parses `gpt2:L,H,C,T,V` (layers, heads, channels, max sequence length, vocabulary).
    public init(initSpec: String) throws(GPTConfigError) {
        guard initSpec.hasPrefix("gpt2:") else { throw .badSpec(initSpec, "expected gpt2:L,H,C,T,V") }
        let numbers = initSpec.dropFirst(5).split(separator: ",").map { Int($0) }
        guard numbers.count == 5, numbers.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw .badSpec(initSpec, "expected five positive integers: gpt2:L,H,C,T,V")
        }
        let (l, h, c, t, v) = (numbers[0]!, numbers[1]!, numbers[2]!, numbers[3]!, numbers[4]!)
        guard c % h == 0 else { throw .badSpec(initSpec, "channels \(c) must be a multiple of heads \(h)") }
        self.init(maxSeqLen: t, vocabSize: v, layers: l, heads: h, channels: c)
    }

    /// Element counts of the 16 parameter tensors, in llm.c's checkpoint order: wte, wpe, ln1w,
    /// ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb.
    public var tensorSizes: [Int] {
        let (l, c, vp, t) = (layers, channels, paddedVocabSize, maxSeqLen)
        return [vp * c, t * c, l * c, l * c, l * 3 * c * c, l * 3 * c, l * c * c, l * c, l * c, l * c,
                l * 4 * c * c, l * 4 * c, l * c * 4 * c, l * c, c, c]
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
