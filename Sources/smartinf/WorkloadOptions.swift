import ArgumentParser
import OffloadVocabulary
import Optim
import Plan

/// The model and optimizer a study synthesizes: a preset (the paper's sizes or today's models),
/// or a shape; optionally LoRA fine-tuning of it.
struct WorkloadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A model preset: \(ModelPreset.all.map(\.name).joined(separator: ", ")).",
                               valueName: "name"))
    var preset: String?
    @Option(help: "Model family when giving a shape: gpt2, bert, llama or mixtral.") var model: ModelShape.Family = .gpt2
    @Option(help: "Transformer blocks.") var layers: Int?
    @Option(help: "Hidden size.") var hidden: Int?
    @Option(help: "Attention heads.") var heads: Int?
    @Option(name: .customLong("kv-heads"), help: "Key/value heads (grouped-query attention; default: --heads).")
    var kvHeads: Int?
    @Option(help: "MLP inner width (default 4 × hidden; llama/mixtral: 8/3 × hidden rounded up to 256).") var ffn: Int?
    @Option(help: "MLP experts per block (mixture of experts; default 1).") var experts: Int?
    @Option(name: .customLong("active-experts"), help: "Experts each token is routed to (default: 2 for mixtral, else 1).")
    var activeExperts: Int?
    @Option(help: "Vocabulary size (default: the family's).") var vocabulary: Int?
    @Option(help: "Sequence length (default: the preset's, or 1024 for a shape; 512 for bert).") var seq: Int?
    @Option(help: "Sequences per micro-batch.") var batch: Int = 4
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adamw
    @Option(name: .customLong("topk-ratio"), help: "Top-k ratio r for su+o+c (the payload is 2r of the fp32 gradient).")
    var topkRatio: Double = 0.01
    @Option(help: "Elements per optimizer subgroup (DeepSpeed sub_group_size).") var subgroup: Int = 1_000_000_000
    @Option(name: .customLong("state-bits"),
            help: "Optimizer state precision on storage: 32 (fp32) or 8 (block-wise 8-bit, as bitsandbytes' 8-bit Adam).")
    var stateBits: Int = 32
    @Flag(name: .customLong("overlap-backward"),
          help: "Update each subgroup as soon as its gradients are on storage, overlapping the backward pass (Fuyou, Ratel).")
    var overlapBackward = false
    @Option(name: .customLong("host-share"),
            help: "In su modes, the fraction of each subgroup the host CPU updates beside the devices (Twin-Flow; default 0).")
    var hostShare: Double = 0
    @Flag(name: .customLong("activations-to-storage"),
          help: "Offload activation checkpoints to the storage devices and read them back for the recompute (SSDTrain).")
    var activationsToStorage = false
    @Option(name: .customLong("lora-rank"), help: "LoRA fine-tuning at this rank: only the adapters are trained and offloaded.")
    var loraRank: Int?
    @Option(name: .customLong("lora-targets"),
            help: ArgumentHelp("Projections with adapters, comma-separated: q,k,v,o,gate,up,down.", valueName: "list"))
    var loraTargets: String = "q,k,v,o"

    func shape() throws -> ModelShape {
        if let preset {
            guard layers == nil, hidden == nil, heads == nil, kvHeads == nil, ffn == nil, experts == nil, activeExperts == nil,
                  vocabulary == nil else {
                throw ValidationError("--preset \(preset) fixes the shape; drop the shape flags (--layers, --hidden, --heads, "
                    + "--kv-heads, --ffn, --experts, --active-experts, --vocabulary) or the preset")
            }
            return try ModelPreset.named(preset).shape(sequence: seq, batch: batch)
        }
        guard let layers, let hidden, let heads else {
            throw ValidationError("give --preset NAME, or all of --layers, --hidden and --heads")
        }
        return try ModelShape(family: model, layers: layers, hidden: hidden, heads: heads,
                              sequence: seq ?? (model == .bert ? 512 : 1024), batch: batch, vocabulary: vocabulary,
                              kvHeads: kvHeads, ffn: ffn, experts: experts, activeExperts: activeExperts)
    }

    /// The LoRA adapters asked for, if any.
    func adapters() throws -> LowRankAdapters? {
        guard let loraRank else { return nil }
        let targets = try CommaList.values(loraTargets, flag: "--lora-targets", as: LowRankAdapters.Projection.self)
        return try LowRankAdapters(rank: loraRank, targets: targets)
    }

    /// The state quantization `--state-bits` asks for: none at 32, bitsandbytes' at 8.
    func quantizedStates() throws -> StateQuantization? { try Self.quantizedStates(bits: stateBits) }

    /// The state quantization of `bits` per state (synth's `--state-bits`, each of sweep's).
    static func quantizedStates(bits: Int) throws -> StateQuantization? {
        switch bits {
        case 32: return nil
        case 8: return .blockwise8Bit
        default: throw ValidationError("--state-bits \(bits): expected 32 (fp32 states) or 8 (block-wise 8-bit states)")
        }
    }

    func workload(ratio: Double? = nil) throws -> IterationWorkload {
        try IterationWorkload(model: try shape(), optimizer: optimizer, subgroupElements: subgroup, topkRatio: ratio ?? topkRatio,
                              adapters: try adapters(), quantizedStates: try quantizedStates(),
                              overlapsBackward: overlapBackward, hostUpdateShare: hostShare,
                              activationsOnStorage: activationsToStorage)
    }

    /// A short name for tables and CSV rows.
    var label: String {
        let name = preset ?? "\(model.rawValue) L\(layers ?? 0) h\(hidden ?? 0)"
        let states = (stateBits == 32 ? "" : " \(stateBits)-bit states") + (overlapBackward ? " overlapped" : "")
            + (hostShare > 0 ? " host \(hostShare)" : "") + (activationsToStorage ? " activations on storage" : "")
        return (loraRank.map { "\(name) LoRA r\($0)" } ?? name) + states
    }
}
