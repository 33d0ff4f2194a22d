import ArgumentParser
import OffloadVocabulary
import Optim
import Plan

/// The model and optimizer a study synthesizes: a preset of the paper's sizes, or a shape.
struct WorkloadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A model of the paper's sizes: \(ModelPreset.all.map(\.name).joined(separator: ", ")).",
                               valueName: "name"))
    var preset: String?
    @Option(help: "Model family when giving a shape.") var model: ModelShape.Family = .gpt2
    @Option(help: "Transformer blocks.") var layers: Int?
    @Option(help: "Hidden size.") var hidden: Int?
    @Option(help: "Attention heads.") var heads: Int?
    @Option(help: "Sequence length (default 1024 for gpt2, 512 for bert).") var seq: Int?
    @Option(help: "Sequences per micro-batch.") var batch: Int = 4
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adamw
    @Option(name: .customLong("topk-ratio"), help: "Top-k ratio r for su+o+c (the payload is 2r of the fp32 gradient).")
    var topkRatio: Double = 0.01
    @Option(help: "Elements per optimizer subgroup (DeepSpeed sub_group_size).") var subgroup: Int = 1_000_000_000

    func shape() throws -> ModelShape {
        if let preset {
            guard layers == nil, hidden == nil, heads == nil else {
                throw ValidationError("--preset \(preset) fixes the shape; drop --layers/--hidden/--heads or the preset")
            }
            return try ModelPreset.named(preset).shape(sequence: seq, batch: batch)
        }
        guard let layers, let hidden, let heads else {
            throw ValidationError("give --preset NAME, or all of --layers, --hidden and --heads")
        }
        return try ModelShape(family: model, layers: layers, hidden: hidden, heads: heads,
                              sequence: seq ?? (model == .gpt2 ? 1024 : 512), batch: batch)
    }

    func workload(ratio: Double? = nil) throws -> IterationWorkload {
        try IterationWorkload(model: try shape(), optimizer: optimizer, subgroupElements: subgroup, topkRatio: ratio ?? topkRatio)
    }

    /// A short name for tables and CSV rows.
    var label: String {
        preset ?? "\(model.rawValue) L\(layers ?? 0) h\(hidden ?? 0)"
    }
}
