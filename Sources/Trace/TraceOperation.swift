import Plan

/// A span of time in seconds, `[start, end]` in the file.
///
/// Modeled times count from the start of the modeled iteration; wall times from the start of
/// the run that recorded them (both in seconds).
public struct TraceInterval: Sendable, Equatable, Codable {
    public var start: Double
    public var end: Double

    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }

    public var duration: Double { end - start }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let pair = try container.decode([Double].self)
        guard pair.count == 2 else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a pair") }
        self.init(start: pair[0], end: pair[1])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode([start, end])
    }

    static let expected = "[start, end] in seconds, with end ≥ start"

    func check(_ field: String) throws(FieldError) {
        guard start.isFinite, end.isFinite, end >= start, start >= 0 else {
            throw FieldError(field, .invalid(found: "[\(formatNumber(start)), \(formatNumber(end))]",
                                             expected: "[start, end] in seconds, with 0 ≤ start ≤ end"))
        }
    }
}

/// One operation of an iteration: what it is (the planner's `OperationTag` vocabulary, flattened
/// into the line), how much work, which resources it crosses, what it waits for, and when it ran.
///
/// The tag's fields are stored flat rather than as an `OperationTag` because that is how the
/// line reads, and because `OperationTag` has no public memberwise initializer to rebuild one
/// from; `init(id:tag:…)` takes a planner's tag as it is.
public struct TraceOperation: Sendable, Equatable, Codable {
    /// Its index among the trace's operations.
    public var id: Int
    /// Who does it: `gpu`, `host`, `host cpu`, `device 3`.
    public var actor: String
    public var phase: OperationTag.Phase
    public var kind: OperationTag.Kind
    /// Short human name: `forward layer 12`, `load subgroup 3`.
    public var name: String
    /// What `amount` counts: `B`, `FLOP`, `elements`.
    public var unit: String
    /// Work in `unit`s, ≥ 0 (0 for join points).
    public var amount: Double
    /// Ids of the header resources it crosses, in order (device SSD read → device link → shared link).
    public var path: [Int]
    /// Ids of the earlier operations it waits for.
    public var after: [Int]
    public var layer: Int?
    public var subgroup: Int?
    public var device: Int?
    /// When the model says it ran.
    public var modeled: TraceInterval
    /// When it really ran, for traces recorded under the paced or wall clock.
    public var wall: TraceInterval?
    /// Units of each `path` resource one unit of `amount` uses (null: 1 each): how a flash serves
    /// reads and writes at different speeds, or the GPU FLOPs at different efficiencies.
    public var costs: [Double]?
    /// Seconds of fixed command latency before its work starts (null: none).
    public var latency: Double?
    /// The training step it belongs to, in a trace of several (`train --trace`); each step's
    /// operations were timed on their own, starting where the previous step ended.
    public var step: Int?

    public init(id: Int, actor: String, phase: OperationTag.Phase, kind: OperationTag.Kind, name: String,
                unit: String, amount: Double, path: [Int] = [], after: [Int] = [], layer: Int? = nil,
                subgroup: Int? = nil, device: Int? = nil, modeled: TraceInterval, wall: TraceInterval? = nil,
                costs: [Double]? = nil, latency: Double? = nil, step: Int? = nil) {
        self.id = id
        self.actor = actor
        self.phase = phase
        self.kind = kind
        self.name = name
        self.unit = unit
        self.amount = amount
        self.path = path
        self.after = after
        self.layer = layer
        self.subgroup = subgroup
        self.device = device
        self.modeled = modeled
        self.wall = wall
        self.costs = costs
        self.latency = latency
        self.step = step
    }

    /// An operation of a plan, as its planner tagged it.
    public init(id: Int, tag: OperationTag, amount: Double, path: [Int] = [], after: [Int] = [],
                modeled: TraceInterval, wall: TraceInterval? = nil, costs: [Double]? = nil, latency: Double? = nil,
                step: Int? = nil) {
        self.init(id: id, actor: tag.actor, phase: tag.phase, kind: tag.kind, name: tag.name, unit: tag.unit,
                  amount: amount, path: path, after: after, layer: tag.layer, subgroup: tag.subgroup,
                  device: tag.device, modeled: modeled, wall: wall, costs: costs, latency: latency, step: step)
    }

    /// The planner's tag, rebuilt.
    public var tag: OperationTag {
        OperationTag(actor: actor, phase: phase, kind: kind, name: name, layer: layer, subgroup: subgroup, device: device, unit: unit)
    }

    enum Keys: String, CodingKey {
        case record, id, actor, phase, kind, name, unit, amount, path, after, layer, subgroup, device, modeled, wall, costs, latency, step
    }

    public init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        id = try r.integer(.id, atLeast: 0, expected: "the operation's id (0, 1, 2… in file order)")
        actor = try r.value(.actor, expected: "who runs it, such as \"gpu\" or \"device 3\"")
        phase = try r.choice(.phase, OperationTag.Phase.self)
        kind = try r.choice(.kind, OperationTag.Kind.self, cases: [.compute, .transfer])
        name = try r.value(.name, expected: "a short name such as \"forward layer 3\"")
        unit = try r.value(.unit, expected: "the unit of amount, such as \"B\" or \"FLOP\"")
        amount = try r.value(.amount, expected: "a non-negative amount")
        path = try r.integers(.path, expected: "an array of header resource ids")
        after = try r.integers(.after, expected: "an array of earlier operation ids")
        layer = try r.optionalInteger(.layer, expected: "null or a layer index")
        subgroup = try r.optionalInteger(.subgroup, expected: "null or a subgroup index")
        device = try r.optionalInteger(.device, expected: "null or a device index")
        modeled = try r.value(.modeled, expected: TraceInterval.expected)
        wall = try r.optional(.wall, expected: "null or " + TraceInterval.expected)
        costs = try r.optional(.costs, expected: "null or one positive cost per path resource")
        latency = try r.optional(.latency, expected: "null or seconds ≥ 0")
        step = try r.optionalInteger(.step, expected: "null or a step index")
        try check()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode("op", forKey: .record)
        try c.encode(id, forKey: .id)
        try c.encode(actor, forKey: .actor)
        try c.encode(phase, forKey: .phase)
        try c.encode(kind, forKey: .kind)
        try c.encode(name, forKey: .name)
        try c.encode(unit, forKey: .unit)
        try c.encode(amount, forKey: .amount)
        try c.encode(path, forKey: .path)
        try c.encode(after, forKey: .after)
        // Absent values are written as null, so every line has every field.
        try c.encode(layer, forKey: .layer)
        try c.encode(subgroup, forKey: .subgroup)
        try c.encode(device, forKey: .device)
        try c.encode(modeled, forKey: .modeled)
        try c.encode(wall, forKey: .wall)
        try c.encode(costs, forKey: .costs)
        try c.encode(latency, forKey: .latency)
        try c.encode(step, forKey: .step)
    }

    /// The checks that need only the operation itself; those against the header and the
    /// earlier operations are `TraceFile`'s.
    func check() throws(FieldError) {
        guard id >= 0 else { throw FieldError("id", .invalid(found: "\(id)", expected: "an operation id ≥ 0")) }
        guard amount >= 0, amount.isFinite else {
            throw FieldError("amount", .invalid(found: formatNumber(amount), expected: "a non-negative amount"))
        }
        for (key, text) in [("actor", actor), ("name", name), ("unit", unit)] where text.isEmpty {
            throw FieldError(key, .invalid(found: "an empty string", expected: "a non-empty string"))
        }
        for (key, value) in [("layer", layer), ("subgroup", subgroup), ("device", device)] {
            if let value, value < 0 { throw FieldError(key, .invalid(found: "\(value)", expected: "null or an index ≥ 0")) }
        }
        try modeled.check("modeled")
        try wall?.check("wall")
        if let latency, !(latency >= 0 && latency.isFinite) {
            throw FieldError("latency", .invalid(found: formatNumber(latency), expected: "seconds ≥ 0"))
        }
        if let costs {
            guard costs.count == path.count else {
                throw FieldError("costs", .invalid(found: "\(costs.count) costs", expected: "one per path resource (\(path.count))"))
            }
            for (i, cost) in costs.enumerated() where !(cost > 0 && cost.isFinite) {
                throw FieldError("costs[\(i)]", .invalid(found: formatNumber(cost), expected: "a positive, finite cost"))
            }
        }
    }

    /// The checks against the header's resources and the operations before it.
    func check(index: Int, resourceCount: Int) throws(FieldError) {
        guard id == index else { throw FieldError("id", .idOutOfOrder(found: id, expected: index)) }
        for (i, dependency) in after.enumerated() {
            guard dependency >= 0 else {
                throw FieldError("after[\(i)]", .invalid(found: "\(dependency)", expected: "ids of earlier operations (below \(id))"))
            }
            guard dependency < id else { throw FieldError("after[\(i)]", .laterDependency(dependency, of: id)) }
        }
        for (i, resource) in path.enumerated() where resource < 0 || resource >= resourceCount {
            throw FieldError("path[\(i)]", .unknownResource(resource, declared: resourceCount))
        }
    }
}
