import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// Today's presets against their published parameter counts, the new families' counting and
/// FLOPs against hand-written formulas, and LoRA's trainable counts.
@Suite struct ModelPresetTests {
    /// The published counts: Meta's Llama 3 / 3.1 model cards (8.03B, 70.6B, 405.9B as listed on
    /// Hugging Face) and the Mixtral paper (46.7B total, 12.9B active).
    static let published: [(preset: String, parameters: Double)] = [
        ("llama3-8b", 8.03e9), ("llama3-70b", 70.6e9), ("llama3.1-405b", 405.9e9), ("mixtral-8x7b", 46.7e9),
    ]

    @Test(arguments: published.map(\.preset))
    func presetsGiveThePublishedCountsWithinHalfAPercent(_ name: String) throws {
        let expected = try #require(Self.published.first { $0.preset == name }).parameters
        let shape = try ModelPreset.named(name).shape()
        let error = abs(Double(shape.parameters) - expected) / expected
        #expect(error < 0.005, "\(name): \(shape.parameters) vs \(expected)")
    }

    @Test func mixtralActiveParametersAreThePublished12Point9Billion() throws {
        let shape = try ModelPreset.named("mixtral-8x7b").shape()
        #expect(abs(Double(shape.activeParameters) - 12.9e9) / 12.9e9 < 0.005, "\(shape.activeParameters)")
        // A dense model uses all it has.
        let dense = try ModelPreset.named("llama3-8b").shape()
        #expect(dense.activeParameters == dense.parameters)
    }

    /// Llama counted by hand: Q and O h², K and V h·kvWidth, SwiGLU 3·h·ffn, two RMSNorms h each;
    /// embedding and untied head V·h each, final norm h. Mixtral adds 8 experts and an h × 8
    /// router; its FLOPs count 2 experts.
    @Test func llamaAndMixtralCountsFollowTheirArchitectures() throws {
        let h = 4096, kv = 1024, f = 14336
        let llama = try ModelPreset.named("llama3-8b").shape()
        let llamaBlock = 2 * h * h + 2 * h * kv + 3 * h * f + 2 * h
        #expect(llama.blockParameters == llamaBlock)
        let llamaEmbedding: Int = 2 * 128_256 * h + h
        #expect(llama.parameters == 32 * llamaBlock + llamaEmbedding)
        let tokens = 4.0 * 4096
        let llamaMatrices = Double(2 * h * h + 2 * h * kv + 3 * h * f)
        let attentionScores: Double = 4 * 4096 * Double(h)
        #expect(llama.blockForwardFLOPs == tokens * (2 * llamaMatrices + attentionScores))
        #expect(llama.headForwardFLOPs == tokens * 2 * 128_256 * Double(h))

        let mixtral = try ModelPreset.named("mixtral-8x7b").shape()
        let attention = 2 * h * h + 2 * h * kv + 2 * h, expert = 3 * h * f, router = h * 8
        #expect(mixtral.blockParameters == attention + 8 * expert + router)
        #expect(mixtral.activeBlockParameters == attention + 2 * expert + router)
        let mixtralEmbedding: Int = 2 * 32000 * h + h
        #expect(mixtral.parameters == 32 * (attention + 8 * expert + router) + mixtralEmbedding)
        let mixtralMatrices = Double(2 * h * h + 2 * h * kv + 2 * expert + router)
        #expect(mixtral.blockForwardFLOPs == tokens * (2 * mixtralMatrices + attentionScores))
    }

    /// GPT-3's shapes (the GPT-2 block) and the paper's presets keep their counts: 12h² + 13h per
    /// block, embeddings V·h + P·h + 2h.
    @Test func gpt3AndThePaperPresetsCountAsBefore() throws {
        func gpt(_ layers: Int, _ h: Int, positions: Int) -> Int {
            let block: Int = 12 * h * h + 13 * h
            let embedding: Int = (50304 + positions) * h + 2 * h
            return layers * block + embedding
        }
        #expect(try ModelPreset.named("gpt3-175b").shape().parameters == gpt(96, 12288, positions: 2048))
        #expect(try ModelPreset.named("gpt3-13b").shape().parameters == gpt(40, 5120, positions: 2048))
        #expect(try ModelPreset.named("gpt2-4.0b").shape().parameters == gpt(49, 2560, positions: 1024))
        #expect(try ModelPreset.named("gpt3-175b").shape().sequence == 2048)
        let gpt2 = try ModelPreset.named("gpt2-8.4b").shape()
        #expect(gpt2.ffn == 4 * 2560 && gpt2.kvHeads == 20 && gpt2.experts == 1)
        let h: Double = 2560, tokens: Double = 4 * 1024
        let perToken: Double = 24 * h * h + 4 * 1024 * h
        #expect(gpt2.blockForwardFLOPs == tokens * perToken)
    }

    /// Llama's default MLP width: 2/3 of 4h rounded up to 256 (Llama 2 7B: 11008).
    @Test func llamaDefaultsItsMLPWidthByItsRule() throws {
        #expect(try ModelShape(family: .llama, layers: 1, hidden: 4096, heads: 32, sequence: 8, batch: 1).ffn == 11008)
    }

    /// Hand count: rank r on q, k, v, o of Llama 3 8B is r·(h + h)·2 + r·(h + kv)·2 per block.
    @Test func loraTrainsOnlyItsAdapters() throws {
        let shape = try ModelPreset.named("llama3-8b").shape()
        let adapters = try LowRankAdapters(rank: 16, targets: [.v, .q, .o, .k, .q])
        #expect(adapters.targets == [.q, .k, .v, .o])
        let workload = try IterationWorkload(model: shape, adapters: adapters)
        #expect(workload.trainableParameters == 32 * (16 * 8192 * 2 + 16 * (4096 + 1024) * 2))
        #expect(workload.parameters == shape.parameters)
        // MoE: each expert's up/down projection has its own adapter; two are active per token.
        let mixtral = try ModelPreset.named("mixtral-8x7b").shape()
        let moe = try IterationWorkload(model: mixtral, adapters: LowRankAdapters(rank: 8, targets: [.up, .down]))
        #expect(moe.trainableParameters == 32 * 8 * 2 * 8 * (4096 + 14336))
        // Frozen weights: backward is one forward's worth plus the adapters' weight gradients.
        let active = 2 * 2 * 8 * (4096 + 14336)
        #expect(moe.blockBackwardFLOPs == moe.blockForwardFLOPs + Double(mixtral.tokens) * 2 * Double(active))
        #expect(moe.blockForwardFLOPs == mixtral.blockForwardFLOPs + Double(mixtral.tokens) * 2 * Double(active))
    }

    /// Under LoRA the base plan moves the paper's 32 B per *trained* parameter over the shared
    /// link, the optimizer step shrinks to a few percent of the iteration, and near-storage
    /// updating stops paying: the full model gains over 20% from su+o, its LoRA fine-tuning
    /// under 5%.
    @Test func loraIsWhereNearStorageStopsPaying() throws {
        let setup = try IterationPlannerTests.setup()
        let shape = try ModelPreset.named("llama3-8b").shape(sequence: 1024, batch: 1)
        let full = try IterationWorkload(model: shape)
        let lora = try IterationWorkload(model: shape, adapters: LowRankAdapters(rank: 16, targets: [.q, .k, .v, .o]))
        func speedup(_ w: IterationWorkload) throws -> Double {
            try StudyResult.run(.base, w, devices: 8, on: setup).iterationSeconds
                / StudyResult.run(.suO, w, devices: 8, on: setup).iterationSeconds
        }
        #expect(try speedup(full) > 1.2)
        #expect(try speedup(lora) < 1.05)
        let base = try StudyResult.run(.base, lora, devices: 8, on: setup)
        #expect(abs(base.sharedLinkBytes / Double(lora.trainableParameters) - 32) < 1e-6)
        #expect(base.seconds(.update) < 0.05 * base.iterationSeconds)
    }

    struct Refusal: Sendable, CustomStringConvertible {
        let description: String
        let field: String
        /// How the message spells the field: the command-line flag.
        let flag: String
        let build: @Sendable () throws -> Void
    }

    static let refusals: [Refusal] = [
        Refusal(description: "kv heads not dividing heads", field: "kvHeads", flag: "--kv-heads") {
            _ = try ModelShape(family: .llama, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, kvHeads: 3)
        },
        Refusal(description: "no kv heads", field: "kvHeads", flag: "--kv-heads") {
            _ = try ModelShape(family: .llama, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, kvHeads: 0)
        },
        Refusal(description: "more routed experts than experts", field: "activeExperts", flag: "--active-experts") {
            _ = try ModelShape(family: .mixtral, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, experts: 2, activeExperts: 3)
        },
        Refusal(description: "no experts", field: "experts", flag: "--experts") {
            _ = try ModelShape(family: .mixtral, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, experts: 0)
        },
        Refusal(description: "a huge ffn", field: "ffn", flag: "--ffn") {
            _ = try ModelShape(family: .llama, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, ffn: 1 << 40)
        },
        Refusal(description: "too many experts", field: "experts", flag: "--experts") {
            _ = try ModelShape(family: .mixtral, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, experts: 1 << 20)
        },
        Refusal(description: "experts pushing a block past 2^40", field: "experts", flag: "--experts") {
            _ = try ModelShape(family: .mixtral, layers: 1, hidden: 8192, heads: 64, sequence: 8, batch: 1, ffn: 1 << 24, experts: 4096)
        },
    ]

    @Test(arguments: refusals)
    func badShapesAreRefusedNamingTheField(_ r: Refusal) throws {
        let error = try #require(throws: ShapeError.self) { try r.build() }
        #expect(error.fieldProblem?.field == r.field, "\(error)")
        #expect(error.description.hasPrefix(r.flag + " "), "\(error)")
    }

    @Test func badAdaptersAreRefusedNamingTheFlag() throws {
        let gpt2 = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1)
        let gate = #expect(throws: WorkloadError.self) {
            try IterationWorkload(model: gpt2, adapters: LowRankAdapters(rank: 4, targets: [.gate]))
        }
        #expect(gate?.description.hasPrefix("--lora-targets gate") == true)
        let rank = #expect(throws: WorkloadError.self) {
            try IterationWorkload(model: gpt2, adapters: LowRankAdapters(rank: 64, targets: [.q]))
        }
        #expect(rank?.description == "--lora-rank 64: expected a rank below 64, the smallest side of an adapted projection")
        #expect(throws: WorkloadError.self) { try LowRankAdapters(rank: 0, targets: [.q]) }
        #expect(throws: WorkloadError.self) { try LowRankAdapters(rank: 4, targets: []) }
        let unknown = #expect(throws: ShapeError.self) { try ModelPreset.named("llama4") }
        #expect(unknown?.description.contains("llama3-70b, llama3.1-405b, mixtral-8x7b, gpt3-13b, gpt3-175b") == true)
    }

    /// A workload with the new fields survives JSON (a trace's header), and a shape written
    /// before they existed decodes with the family's defaults.
    @Test func newFieldsRoundTripAndOldShapesDecode() throws {
        let workload = try IterationWorkload(model: ModelPreset.named("mixtral-8x7b").shape(),
                                             adapters: LowRankAdapters(rank: 8, targets: [.q, .gate]))
        let data = try JSONEncoder().encode(workload)
        #expect(try JSONDecoder().decode(IterationWorkload.self, from: data) == workload)
        // A GPT-2 shape is written as before the new fields existed.
        let gpt2 = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, vocabulary: 256)
        let keys = try JSONSerialization.jsonObject(with: JSONEncoder().encode(gpt2)) as! [String: Any]
        #expect(Set(keys.keys) == ["family", "layers", "hidden", "heads", "sequence", "batch", "vocabulary", "positions"])
        let llama = try ModelShape(family: .llama, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, kvHeads: 2, ffn: 100)
        #expect(try JSONDecoder().decode(ModelShape.self, from: JSONEncoder().encode(llama)) == llama)
        let old = #"{"family":"gpt2","layers":2,"hidden":64,"heads":4,"sequence":8,"batch":1,"vocabulary":256,"positions":1024}"#
        let shape = try JSONDecoder().decode(ModelShape.self, from: Data(old.utf8))
        #expect(shape == (try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 8, batch: 1, vocabulary: 256)))
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object["adapters"] = ["rank": 0, "targets": ["q"]]
        #expect(throws: WorkloadError.self) {
            try JSONDecoder().decode(IterationWorkload.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }
}
