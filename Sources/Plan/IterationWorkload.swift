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

    public init(model: ModelShape, optimizer: OptimizerKind = .adamw, subgroupElements: Int = 1_000_000_000,
                topkRatio: Double = 0.01, compressedFraction: Double? = nil) throws(WorkloadError) {
        guard subgroupElements > 0 else { throw .notPositive(field: "subgroup elements", value: Double(subgroupElements)) }
        guard topkRatio > 0, topkRatio <= 1 else { throw .ratioOutOfRange(topkRatio) }
        let fraction = compressedFraction ?? min(1, 2 * topkRatio)
        guard fraction > 0, fraction.isFinite else { throw .notPositive(field: "compressed fraction", value: fraction) }
        self.model = model
        self.optimizer = optimizer
        self.subgroupElements = subgroupElements
        self.topkRatio = topkRatio
        self.compressedFraction = fraction
    }

    /// fp32 optimizer states per parameter.
    public var stateCount: Int { optimizer.stateCount }

    public var parameters: Int { model.parameters }
}

public enum WorkloadError: Error, Equatable, CustomStringConvertible {
    case notPositive(field: String, value: Double)
    case ratioOutOfRange(Double)

    public var description: String {
        switch self {
        case .notPositive(let field, let value): "\(field) \(value): expected a positive number"
        case .ratioOutOfRange(let r): "top-k ratio \(r): expected a fraction in (0, 1]"
        }
    }
}
