/// LoRA fine-tuning (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021):
/// the model's weights are frozen, and each chosen projection W (in × out) gets a trainable
/// update B·A of rank r, r·(in + out) parameters. Only the adapters have gradients and
/// optimizer states, so only they are offloaded and updated — a few tenths of a percent of the
/// model, which is where near-storage updating stops paying: the optimizer step shrinks to
/// almost nothing while the frozen weights are still fetched to the GPU for every pass.
public struct LowRankAdapters: Sendable, Equatable, Codable {
    /// The projections of a block an adapter can sit on: attention's query, key, value and
    /// output, and the MLP's gate (SwiGLU only), up and down. In a mixture of experts each
    /// expert's MLP projections get their own adapter.
    public enum Projection: String, Sendable, Codable, CaseIterable {
        case q, k, v, o, gate, up, down
    }

    public let rank: Int
    /// Sorted (in `Projection` order) and without repeats.
    public let targets: [Projection]

    /// Refuses a rank below 1 and an empty list of targets; `IterationWorkload` checks the rank
    /// and the targets against the model.
    public init(rank: Int, targets: [Projection]) throws(WorkloadError) {
        guard rank > 0 else { throw .badAdapters(field: "lora-rank", problem: "\(rank)", expected: "a whole number ≥ 1 such as 16") }
        guard !targets.isEmpty else {
            throw .badAdapters(field: "lora-targets", problem: "no projections",
                               expected: "one or more of \(Projection.allCases.map(\.rawValue).joined(separator: ","))")
        }
        self.rank = rank
        self.targets = Projection.allCases.filter(targets.contains)
    }

    enum CodingKeys: String, CodingKey { case rank, targets }

    /// Decodes and checks as `init` does.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(rank: c.decode(Int.self, forKey: .rank), targets: c.decode([Projection].self, forKey: .targets))
    }

    /// The (in, out) sizes of a projection in `model`, and how many copies a block has (one per
    /// expert for the MLP's).
    static func dimensions(_ projection: Projection, in model: ModelShape) -> (input: Int, output: Int, copies: Int) {
        switch projection {
        case .q, .o: (model.hidden, model.hidden, 1)
        case .k, .v: (model.hidden, model.kvWidth, 1)
        case .gate, .up: (model.hidden, model.ffn, model.experts)
        case .down: (model.ffn, model.hidden, model.experts)
        }
    }

    /// Checks the adapters against `model`: a gate projection needs a SwiGLU MLP, and the rank
    /// must be below every adapted projection's smaller side (else it is not low-rank).
    func check(against model: ModelShape) throws(WorkloadError) {
        if targets.contains(.gate), !model.family.gatedMLP {
            throw .badAdapters(field: "lora-targets", problem: "gate on a \(model.family.rawValue) model, whose MLP has no gate",
                               expected: "q,k,v,o,up,down")
        }
        let smallest = targets.map { let d = Self.dimensions($0, in: model); return min(d.input, d.output) }.min() ?? 1
        guard rank < smallest else {
            throw .badAdapters(field: "lora-rank", problem: "\(rank)",
                               expected: "a rank below \(smallest), the smallest side of an adapted projection")
        }
    }

    /// Adapter parameters in one block: r·(in + out) per adapted projection (and expert). The
    /// rank is below the sides, so this is below the block's own parameters, which the shape
    /// has bounded.
    func parametersPerBlock(of model: ModelShape) -> Int {
        targets.reduce(0) { sum, target in
            let d = Self.dimensions(target, in: model)
            return sum + d.copies * rank * (d.input + d.output)
        }
    }

    /// Adapter parameters a token's computation uses in one block (the routed experts' only).
    func activeParametersPerBlock(of model: ModelShape) -> Int {
        targets.reduce(0) { sum, target in
            let d = Self.dimensions(target, in: model)
            return sum + min(d.copies, model.activeExperts) * rank * (d.input + d.output)
        }
    }
}
