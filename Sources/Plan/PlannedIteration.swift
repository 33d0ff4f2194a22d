import HardwareModel

/// What an operation of a plan is, in the vocabulary traces, breakdowns and Perfetto tracks use.
public struct OperationTag: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable, CaseIterable {
        case forward = "FW"
        case backward = "BW"
        case compress = "COMPRESS"
        case gradientOffload = "GRAD_OFFLOAD"
        case stateLoad = "STATE_LOAD"
        case update = "UPDATE"
        case parameterUpload = "PARAM_UPLOAD"
        case stateWriteBack = "STATE_WRITEBACK"
        /// Many hosts: a layer's gradient summed over the hosts, each left with its slice.
        case gradientReduceScatter = "GRAD_REDUCE_SCATTER"
        /// Many hosts: a subgroup's new compute copy sent from its host to all the others.
        case parameterAllGather = "PARAM_ALLGATHER"

        /// The three phases of the paper's breakdown (Fig. 9): `fw`, `bw_grad_offload`, `update`.
        public var breakdownPhase: BreakdownPhase {
            switch self {
            case .forward: .forward
            case .backward, .compress, .gradientOffload, .gradientReduceScatter: .backwardAndOffload
            case .stateLoad, .update, .parameterUpload, .stateWriteBack, .parameterAllGather: .update
            }
        }
    }

    public enum Kind: String, Sendable, Codable {
        case compute, transfer
    }

    /// Who does it: `gpu`, `host`, `host cpu`, `device 3`.
    public var actor: String
    public var phase: Phase
    public var kind: Kind
    /// Short human name: `forward layer 12`, `load subgroup 3`.
    public var name: String
    public var layer: Int?
    public var subgroup: Int?
    public var device: Int?
    /// What the amount counts: `B`, `FLOP`, `elements`.
    public var unit: String

    public init(actor: String, phase: Phase, kind: Kind, name: String, layer: Int?, subgroup: Int?, device: Int?, unit: String) {
        self.actor = actor
        self.phase = phase
        self.kind = kind
        self.name = name
        self.layer = layer
        self.subgroup = subgroup
        self.device = device
        self.unit = unit
    }
}

/// The paper's three-way split of an iteration.
public enum BreakdownPhase: String, Sendable, CaseIterable, Codable {
    case forward = "fw"
    case backwardAndOffload = "bw_grad_offload"
    case update = "update"
}

/// Where a resource sits, so byte counts can be summed per place.
public enum ResourcePlace: Sendable, Equatable, Codable {
    case sharedLink, gpu, host
    case device(Int)
    /// The host's network interface to the other hosts (many-host plans only).
    case network
}

/// An iteration turned into an operation graph, with a tag per operation and a place per
/// resource. Plans are built by `IterationPlanner` for live accounting, replay and synth alike.
public struct PlannedIteration: Sendable {
    public internal(set) var graph = OperationGraph()
    public internal(set) var tags: [OperationTag] = []
    public internal(set) var places: [ResourcePlace] = []

    public init() {}

    /// Adds a resource (a recorded trace's, when one is timed again).
    public mutating func resource(_ name: String, capacity: Double, at place: ResourcePlace) -> ResourceID {
        places.append(place)
        return graph.addResource(name, capacity: capacity)
    }

    /// Adds an operation (a recorded trace's, when one is timed again).
    @discardableResult
    public mutating func operation(_ tag: OperationTag, amount: Double, path: [ResourceID], latency: Double = 0,
                            after: [OperationID] = [], costs: [ResourceID: Double] = [:]) -> OperationID {
        tags.append(tag)
        return graph.addOperation(amount: amount, path: path, latency: latency, after: after, costs: costs)
    }

    /// A zero-work operation that ends when all of `after` have: a join point.
    mutating func barrier(_ tag: OperationTag, after: [OperationID]) -> OperationID {
        operation(tag, amount: 0, path: [], after: after)
    }
}

/// The modeled timeline of a plan, summarised the way the paper reports it.
public struct IterationTimeline: Sendable {
    public let plan: PlannedIteration
    public let result: SimulationResult

    public init(_ plan: PlannedIteration) {
        self.plan = plan
        result = plan.graph.simulate()
    }

    /// Seconds of each breakdown phase. The phases are sequential in every plan (the update
    /// starts after the last gradient is offloaded), so each is the span from the end of the
    /// previous phase to the end of its last operation.
    public var phaseSeconds: [BreakdownPhase: Double] {
        var ends: [BreakdownPhase: Double] = [:]
        for (tag, timing) in zip(plan.tags, result.operations) {
            ends[tag.phase.breakdownPhase] = max(ends[tag.phase.breakdownPhase] ?? 0, timing.end)
        }
        var seconds: [BreakdownPhase: Double] = [:]
        var previous = 0.0
        for phase in BreakdownPhase.allCases {
            let end = max(previous, ends[phase] ?? previous)
            seconds[phase] = end - previous
            previous = end
        }
        return seconds
    }

    public var iterationSeconds: Double { result.makespan }

    /// Bytes that crossed resources at `place`, counting each transfer once per place it crossed
    /// (a transfer over both directions' resources of one place is not double counted, since a
    /// path holds one direction).
    public func bytes(at place: ResourcePlace) -> Double {
        var total = 0.0
        for (o, tag) in plan.tags.enumerated() where tag.kind == .transfer && tag.unit == "B" {
            if plan.graph.path(of: OperationID(index: o)).contains(where: { plan.places[$0.index] == place }) {
                total += plan.graph.amount(of: OperationID(index: o))
            }
        }
        return total
    }

    /// `bytes(at: .device(i))` for each device 0..<devices, in one pass over the operations
    /// (one pass per device would be devices × operations: 3 × 10^9 steps at 4096 devices).
    public func deviceBytes(devices: Int) -> [Double] {
        var totals = [Double](repeating: 0, count: devices)
        var seen = Set<Int>()
        for (o, tag) in plan.tags.enumerated() where tag.kind == .transfer && tag.unit == "B" {
            let id = OperationID(index: o)
            seen.removeAll(keepingCapacity: true)
            for resource in plan.graph.path(of: id) {
                if case .device(let i) = plan.places[resource.index], i >= 0, i < devices, seen.insert(i).inserted {
                    totals[i] += plan.graph.amount(of: id)
                }
            }
        }
        return totals
    }
}
