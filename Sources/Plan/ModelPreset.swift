/// Named model shapes: the model sizes of the paper's evaluation, and today's models.
///
/// The paper gives sizes, not shapes; its presets are inferences that reproduce each size
/// within 1% with the counting of `ModelShape`:
///
/// | preset      | layers | hidden | heads | parameters |
/// |-------------|-------:|-------:|------:|-----------:|
/// | gpt2-2.5b   |     30 |   2560 |    20 |     2.49 B |
/// | gpt2-4.0b   |     49 |   2560 |    20 |     3.99 B |
/// | gpt2-8.4b   |    105 |   2560 |    20 |     8.39 B |
/// | gpt2-16.6b  |     52 |   5120 |    40 |    16.62 B |
/// | gpt2-24.8b  |     78 |   5120 |    40 |    24.80 B |
/// | gpt2-33.0b  |    104 |   5120 |    40 |    32.98 B |
/// | bert-0.34b  |     24 |   1024 |    16 |     0.34 B |  (BERT-large, seq 512)
/// | bert-4.0b   |     50 |   2560 |    40 |     4.01 B |  (Megatron-BERT's width)
/// | bert-8.3b   |     72 |   3072 |    32 |     8.25 B |  (Megatron's 8.3B width and depth)
///
/// GPT-2 at hidden 2560 with 49 and 105 layers is what reference/hpca24-fig9.json infers for the
/// 4.0B and 8.4B models; the larger GPT-2 sizes keep 128-wide heads at hidden 5120. All of them
/// use the paper's micro-batch 4 at sequence 1024 (BERT 512).
///
/// Today's models are published shapes, and their counts are checked against the published
/// ones (PlanTests/ModelPresetTests):
///
/// | preset        | layers | hidden | heads (kv) | ffn   | vocabulary | parameters | published |
/// |---------------|-------:|-------:|-----------:|------:|-----------:|-----------:|----------:|
/// | llama3-8b     |     32 |   4096 |     32 (8) | 14336 |     128256 |     8.03 B | 8.03 B    |
/// | llama3-70b    |     80 |   8192 |     64 (8) | 28672 |     128256 |    70.55 B | 70.6 B    |
/// | llama3.1-405b |    126 |  16384 |    128 (8) | 53248 |     128256 |   405.85 B | 405.9 B   |
/// | mixtral-8x7b  |     32 |   4096 |     32 (8) | 14336 |      32000 |    46.70 B | 46.7 B (12.9 B active) |
/// | gpt3-13b      |     40 |   5120 |         40 | 20480 |      50304 |    12.85 B | 13 B      |
/// | gpt3-175b     |     96 |  12288 |         96 | 49152 |      50304 |   174.59 B | 175 B     |
///
/// Llama shapes: Meta's Llama 3 model cards and config.json files (Hugging Face
/// meta-llama/Meta-Llama-3-8B, -70B, Llama-3.1-405B); counts: the same cards (8.03B, 70.6B,
/// 405.9B as listed by Hugging Face). Mixtral 8x7B: Jiang et al., "Mixtral of Experts" (2024),
/// Table 1 (32 layers, dim 4096, 32/8 heads, hidden 14336, 8 experts, top-2, vocabulary 32000)
/// and its text (46.7B total, 12.9B active). GPT-3: Brown et al. (2020) Table 2.1 (13B: 40
/// layers, d_model 5140, 40 heads of 128; 175B: 96 layers, 12288, 96 heads); the 13B width is
/// 5120 here, as the offload papers (ZeRO-Infinity, Smart-Infinity's GPT-2 sizes) use, because
/// 5140 is not 40 heads of 128 — so it counts 12.85B, 1.2% under the paper's "13.0B". GPT-3 is
/// the GPT-2 block, so these are `gpt2` shapes (vocabulary padded to 50304 as our GPT-2).
///
/// The new presets run micro-batch 4 by default, at sequence 2048 (GPT-3's context) or 4096
/// (Llama and Mixtral; Llama 3 pretrained at 8192: pass `--seq 8192`).
public struct ModelPreset: Sendable {
    public let name: String
    public let family: ModelShape.Family
    public let layers: Int
    public let hidden: Int
    public let heads: Int
    /// Key/value heads, feed-forward width, experts and routed experts, vocabulary: nil for the
    /// family's default (`ModelShape.init`).
    public let kvHeads: Int?
    public let ffn: Int?
    public let experts: Int?
    public let activeExperts: Int?
    public let vocabulary: Int?
    /// The default tokens per sequence.
    public let sequence: Int

    init(name: String, family: ModelShape.Family, layers: Int, hidden: Int, heads: Int, kvHeads: Int? = nil, ffn: Int? = nil,
         experts: Int? = nil, activeExperts: Int? = nil, vocabulary: Int? = nil, sequence: Int? = nil) {
        self.name = name
        self.family = family
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads
        self.ffn = ffn
        self.experts = experts
        self.activeExperts = activeExperts
        self.vocabulary = vocabulary
        self.sequence = sequence ?? (family == .bert ? 512 : 1024)
    }

    /// The paper's sizes, then today's models.
    public static let all: [ModelPreset] = paper + today

    /// The model sizes of the paper's evaluation.
    public static let paper: [ModelPreset] = [
        .init(name: "gpt2-2.5b", family: .gpt2, layers: 30, hidden: 2560, heads: 20),
        .init(name: "gpt2-4.0b", family: .gpt2, layers: 49, hidden: 2560, heads: 20),
        .init(name: "gpt2-8.4b", family: .gpt2, layers: 105, hidden: 2560, heads: 20),
        .init(name: "gpt2-16.6b", family: .gpt2, layers: 52, hidden: 5120, heads: 40),
        .init(name: "gpt2-24.8b", family: .gpt2, layers: 78, hidden: 5120, heads: 40),
        .init(name: "gpt2-33.0b", family: .gpt2, layers: 104, hidden: 5120, heads: 40),
        .init(name: "bert-0.34b", family: .bert, layers: 24, hidden: 1024, heads: 16),
        .init(name: "bert-4.0b", family: .bert, layers: 50, hidden: 2560, heads: 40),
        .init(name: "bert-8.3b", family: .bert, layers: 72, hidden: 3072, heads: 32),
    ]

    /// Today's models, with their published shapes.
    public static let today: [ModelPreset] = [
        .init(name: "llama3-8b", family: .llama, layers: 32, hidden: 4096, heads: 32, kvHeads: 8, ffn: 14336,
              vocabulary: 128_256, sequence: 4096),
        .init(name: "llama3-70b", family: .llama, layers: 80, hidden: 8192, heads: 64, kvHeads: 8, ffn: 28672,
              vocabulary: 128_256, sequence: 4096),
        .init(name: "llama3.1-405b", family: .llama, layers: 126, hidden: 16384, heads: 128, kvHeads: 8, ffn: 53248,
              vocabulary: 128_256, sequence: 4096),
        .init(name: "mixtral-8x7b", family: .mixtral, layers: 32, hidden: 4096, heads: 32, kvHeads: 8, ffn: 14336,
              experts: 8, activeExperts: 2, vocabulary: 32000, sequence: 4096),
        .init(name: "gpt3-13b", family: .gpt2, layers: 40, hidden: 5120, heads: 40, sequence: 2048),
        .init(name: "gpt3-175b", family: .gpt2, layers: 96, hidden: 12288, heads: 96, sequence: 2048),
    ]

    public static func named(_ name: String) throws(ShapeError) -> ModelPreset {
        guard let preset = all.first(where: { $0.name == name.lowercased() }) else {
            throw .unknownPreset(name, known: all.map(\.name))
        }
        return preset
    }

    /// The preset's shape at its default micro-batch (4) and sequence unless told otherwise.
    public func shape(sequence: Int? = nil, batch: Int? = nil) throws(ShapeError) -> ModelShape {
        try ModelShape(family: family, layers: layers, hidden: hidden, heads: heads, sequence: sequence ?? self.sequence,
                       batch: batch ?? 4, vocabulary: vocabulary, kvHeads: kvHeads, ffn: ffn, experts: experts,
                       activeExperts: activeExperts)
    }
}
