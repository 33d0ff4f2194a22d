import Optim

/// One training iteration as work, independent of the machine that does it: the model, the
/// optimizer, how the optimizer step is cut into subgroups, and how well the gradients compress.
/// A trace stores this, so `replay` can re-plan the same work for another configuration.
public struct IterationWorkload: Sendable, Equatable, Codable {
    public var model: ModelShape
    public var optimizer: OptimizerKind
    /// Elements per optimizer subgroup (DeepSpeed's `sub_group_size`, 1e9 by default).
    public var subgroupElements: Int
    /// Top-k ratio r: kept elements ÷ elements, used by su+o+c.
    public var topkRatio: Double
    /// Compressed gradient bytes ÷ dense fp32 gradient bytes. The paper's accounting is value +
    /// index, 4 bytes each, so 2r; a live run records what its payloads achieved.
    public var compressedFraction: Double
    /// LoRA fine-tuning: only these adapters are trained (nil: every parameter is).
    public var adapters: LowRankAdapters?
    /// Optimizer states stored quantized (8-bit), or nil for fp32 states.
    public var quantizedStates: StateQuantization?
    /// Whether the optimizer step overlaps the backward pass, as Fuyou (Liao et al., 2024) and
    /// Ratel (Liao et al., 2023) schedule it: a subgroup is updated as soon as the gradients
    /// of all its parameters are on storage, rather than after the last layer's. The subgroups
    /// then follow the backward order (the last block's parameters first, the embedding's
    /// last). False: DeepSpeed's step after the whole backward, as the paper runs it.
    public var overlapsBackward: Bool
    /// Twin-Flow (ZeRO-Offload++, DeepSpeed 2023), applied to computational storage: in the
    /// SmartUpdate modes, this fraction of every subgroup is updated on the host CPU, ZeRO-
    /// Infinity's way, at the same time as the devices update the rest. 0: all on the devices.
    public var hostUpdateShare: Double
    /// SSDTrain (Wu et al., 2024): activation checkpoints are offloaded past host memory to the
    /// storage devices, and read back for the recompute.
    public var activationsOnStorage: Bool

    public init(model: ModelShape, optimizer: OptimizerKind = .adamw, subgroupElements: Int = 1_000_000_000,
                topkRatio: Double = 0.01, compressedFraction: Double? = nil, adapters: LowRankAdapters? = nil,
                quantizedStates: StateQuantization? = nil, overlapsBackward: Bool = false,
                hostUpdateShare: Double = 0, activationsOnStorage: Bool = false) throws(WorkloadError) {
        guard subgroupElements > 0 else { throw .notPositive(field: "subgroup elements", value: Double(subgroupElements)) }
        guard topkRatio > 0, topkRatio <= 1 else { throw .ratioOutOfRange(topkRatio) }
        let fraction = compressedFraction ?? min(1, 2 * topkRatio)
        guard fraction > 0, fraction.isFinite else { throw .notPositive(field: "compressed fraction", value: fraction) }
        try adapters?.check(against: model)
        guard hostUpdateShare >= 0, hostUpdateShare < 1 else { throw .hostShareOutOfRange(hostUpdateShare) }
        self.model = model
        self.optimizer = optimizer
        self.subgroupElements = subgroupElements
        self.topkRatio = topkRatio
        self.compressedFraction = fraction
        self.adapters = adapters
        self.quantizedStates = quantizedStates
        self.overlapsBackward = overlapsBackward
        self.hostUpdateShare = hostUpdateShare
        self.activationsOnStorage = activationsOnStorage
    }

    enum CodingKeys: String, CodingKey {
        case model, optimizer, subgroupElements, topkRatio, compressedFraction, adapters, quantizedStates, overlapsBackward, hostUpdateShare, activationsOnStorage
    }

    /// Decodes the fields as they are stored; the ones added for today's studies (`adapters`,
    /// `quantizedStates`, `overlapsBackward`, `hostUpdateShare`, `activationsOnStorage`) may be
    /// absent, as in traces written before them.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelShape.self, forKey: .model)
        optimizer = try c.decode(OptimizerKind.self, forKey: .optimizer)
        subgroupElements = try c.decode(Int.self, forKey: .subgroupElements)
        topkRatio = try c.decode(Double.self, forKey: .topkRatio)
        compressedFraction = try c.decode(Double.self, forKey: .compressedFraction)
        adapters = try c.decodeIfPresent(LowRankAdapters.self, forKey: .adapters)
        quantizedStates = try c.decodeIfPresent(StateQuantization.self, forKey: .quantizedStates)
        overlapsBackward = try c.decodeIfPresent(Bool.self, forKey: .overlapsBackward) ?? false
        hostUpdateShare = try c.decodeIfPresent(Double.self, forKey: .hostUpdateShare) ?? 0
        activationsOnStorage = try c.decodeIfPresent(Bool.self, forKey: .activationsOnStorage) ?? false
    }

    /// Encodes every field, leaving out the new ones at their defaults, so a workload without
    /// them is written exactly as before they existed.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(subgroupElements, forKey: .subgroupElements)
        try c.encode(topkRatio, forKey: .topkRatio)
        try c.encode(compressedFraction, forKey: .compressedFraction)
        try c.encodeIfPresent(adapters, forKey: .adapters)
        try c.encodeIfPresent(quantizedStates, forKey: .quantizedStates)
        if overlapsBackward { try c.encode(overlapsBackward, forKey: .overlapsBackward) }
        if hostUpdateShare > 0 { try c.encode(hostUpdateShare, forKey: .hostUpdateShare) }
        if activationsOnStorage { try c.encode(activationsOnStorage, forKey: .activationsOnStorage) }
    }

    /// This workload at top-k ratio `ratio`, compressed to the paper's 2r, with everything else
    /// (LoRA, the state precision, the schedule's what-ifs) kept: a study or a replay that moves
    /// the ratio moves nothing else.
    public func withTopkRatio(_ ratio: Double) throws(WorkloadError) -> IterationWorkload {
        try IterationWorkload(model: model, optimizer: optimizer, subgroupElements: subgroupElements, topkRatio: ratio,
                              adapters: adapters, quantizedStates: quantizedStates, overlapsBackward: overlapsBackward,
                              hostUpdateShare: hostUpdateShare, activationsOnStorage: activationsOnStorage)
    }

    /// Optimizer states per parameter.
    public var stateCount: Int { optimizer.stateCount }

    /// Bytes per element of one optimizer state as stored: 4 (fp32) or the quantized size.
    public var bytesPerState: Double { quantizedStates?.bytesPerState ?? 4 }

    public var parameters: Int { model.parameters }

    /// Parameters with gradients and optimizer states: all of them, or the adapters' under LoRA.
    public var trainableParameters: Int {
        adapters.map { model.layers * $0.parametersPerBlock(of: model) } ?? parameters
    }

    /// Trainable parameters of each layer the planners walk: layer 0 (embeddings and head,
    /// frozen under LoRA), then each block.
    public var trainableLayerParameters: (embedding: Int, block: Int) {
        adapters.map { (0, $0.parametersPerBlock(of: model)) } ?? (model.embeddingParameters, model.blockParameters)
    }

    /// One host's slice of a tensor of `elements` that ZeRO partitions over `hosts`:
    /// ⌈elements ÷ hosts⌉, the tensor padded to a multiple of the hosts as DeepSpeed pads its
    /// partitions (the largest slice, and by symmetry every host's).
    public static func slice(_ elements: Int, over hosts: Int) -> Int { (elements + hosts - 1) / hosts }

    /// `trainableLayerParameters` of one host when every layer is partitioned over `hosts`.
    public func trainableLayerParameters(slicedOver hosts: Int) -> (embedding: Int, block: Int) {
        let all = trainableLayerParameters
        return (Self.slice(all.embedding, over: hosts), Self.slice(all.block, over: hosts))
    }

    /// The trainable parameters one of `hosts` hosts updates: its slice of every layer
    /// (`trainableParameters` for one host).
    public func trainableParameters(slicedOver hosts: Int) -> Int {
        let slices = trainableLayerParameters(slicedOver: hosts)
        return model.layers * slices.block + slices.embedding
    }

    /// Forward FLOPs of one block: the model's, plus the routed adapters' (2 per multiply-add,
    /// r·(in + out) per adapter and token).
    public var blockForwardFLOPs: Double {
        model.blockForwardFLOPs + Double(model.tokens) * 2 * Double(adapters?.activeParametersPerBlock(of: model) ?? 0)
    }

    /// Backward FLOPs of one block. Full training: twice the forward (the gradients of the
    /// activations and of the weights). LoRA: the frozen weights need only the activations'
    /// gradients (one forward's worth), the adapters also their weights' (2 per multiply-add).
    public var blockBackwardFLOPs: Double {
        guard let adapters else { return 2 * blockForwardFLOPs }
        return blockForwardFLOPs + Double(model.tokens) * 2 * Double(adapters.activeParametersPerBlock(of: model))
    }

    /// Backward FLOPs of the head: twice its forward, or once for a frozen head (LoRA).
    public var headBackwardFLOPs: Double { (adapters == nil ? 2 : 1) * model.headForwardFLOPs }
}

public enum WorkloadError: Error, Equatable, CustomStringConvertible {
    case notPositive(field: String, value: Double)
    case ratioOutOfRange(Double)
    /// A Twin-Flow host share outside [0, 1).
    case hostShareOutOfRange(Double)
    /// LoRA settings the model cannot take: `field` is the flag's name (`lora-rank`, `lora-targets`).
    case badAdapters(field: String, problem: String, expected: String)

    public var description: String {
        switch self {
        case .badAdapters(let field, let problem, let expected): "--\(field) \(problem): expected \(expected)"
        case .notPositive(let field, let value): "\(field) \(value): expected a positive number"
        case .ratioOutOfRange(let r): "top-k ratio \(r): expected a fraction in (0, 1]"
        case .hostShareOutOfRange(let share):
            "--host-share \(share): expected the fraction of each subgroup the host CPU updates, at least 0 and below 1"
        }
    }
}
