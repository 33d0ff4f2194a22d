/// A resource of the modeled machine: a link direction, an SSD's read or write side, an engine.
public struct ResourceID: Hashable, Comparable, Sendable {
    public let index: Int
    public init(index: Int) { self.index = index }
    public static func < (a: ResourceID, b: ResourceID) -> Bool { a.index < b.index }
}

/// An operation of the graph, numbered in the order it was added.
public struct OperationID: Hashable, Comparable, Sendable {
    public let index: Int
    public init(index: Int) { self.index = index }
    public static func < (a: OperationID, b: OperationID) -> Bool { a.index < b.index }
}

/// What a planner hands the simulator: resources with capacities, and a DAG of operations.
///
/// Every operation is one shape, a *flow*: after its predecessors are done it waits a fixed
/// `latency` (command overhead), then moves `amount` units across every resource of its `path`
/// at once, at the rate max-min fair sharing gives it. That shape covers all the work:
/// - a transfer is a flow of bytes over its path (SSD read → device port → shared link);
/// - compute is a flow of work units (FLOPs, bytes updated) over a one-resource path, the engine,
///   whose capacity is its throughput. Concurrent work on one engine shares it (processor
///   sharing); work that must run in order on an engine is chained with dependencies;
/// - a pure delay is an amount of 0 with a latency, a barrier an amount of 0 and no latency.
///
/// A flow may cost a resource more or less than one unit per unit moved (`costs`). That is how
/// one resource serves two kinds of work at different speeds: an SSD's flash reads at ~3 GB/s
/// and writes at ~1.6 GB/s, but it cannot do both at full speed at once, so it is one resource
/// of capacity 1 (seconds of flash time per second) that a read charges 1/3.0e9 s per byte and a
/// write 1/1.6e9 s per byte.
///
/// Predecessors must already be in the graph, so the graph is acyclic by construction. Invalid
/// input (a non-positive capacity, a negative amount, a repeated resource on a path) is a
/// programming error in the planner and traps.
public struct OperationGraph: Sendable {
    public struct Resource: Sendable, Equatable {
        public let name: String
        /// Units per second: bytes/s for links and SSD sides, work units/s for engines.
        public let capacity: Double
    }

    public private(set) var resources: [Resource] = []
    var amounts: [Double] = []
    var latencies: [Double] = []
    /// Operation o's path is `pathResources[pathStarts[o]..<pathStarts[o + 1]]`.
    var pathStarts: [Int32] = [0]
    var pathResources: [Int32] = []
    /// Units of the slot's resource one unit of the operation's amount consumes (1 but where a
    /// planner says otherwise).
    var pathCosts: [Double] = []
    /// Operation o's predecessors are `predecessors[predecessorStarts[o]..<predecessorStarts[o + 1]]`.
    var predecessorStarts: [Int32] = [0]
    var predecessors: [Int32] = []

    public init() {}

    public var operationCount: Int { amounts.count }

    public mutating func addResource(_ name: String, capacity: Double) -> ResourceID {
        precondition(capacity > 0 && capacity.isFinite, "resource \(name): capacity \(capacity) must be positive and finite")
        precondition(resources.count < Int(Int32.max), "too many resources")
        resources.append(Resource(name: name, capacity: capacity))
        return ResourceID(index: resources.count - 1)
    }

    /// Adds an operation that starts when every operation in `after` has ended.
    @discardableResult
    public mutating func addOperation(amount: Double, path: [ResourceID], latency: Double = 0,
                                      after: [OperationID] = [], costs: [ResourceID: Double] = [:]) -> OperationID {
        precondition(amount >= 0 && amount.isFinite, "amount \(amount) must be non-negative and finite")
        precondition(latency >= 0 && latency.isFinite, "latency \(latency) must be non-negative and finite")
        precondition(amount == 0 || !path.isEmpty, "an amount of \(amount) needs a path to flow over")
        precondition(Set(path).count == path.count, "a path crosses each resource at most once")
        precondition(pathResources.count + path.count < Int(Int32.max) && predecessors.count + after.count < Int(Int32.max),
                     "graph too large")
        for resource in path { precondition(resources.indices.contains(resource.index), "unknown resource \(resource.index)") }
        for (resource, cost) in costs {
            precondition(path.contains(resource), "a cost for resource \(resource.index), which is not on the path")
            precondition(cost > 0 && cost.isFinite, "cost \(cost) must be positive and finite")
        }
        for predecessor in after {
            precondition((0..<operationCount).contains(predecessor.index), "predecessor \(predecessor.index) is not in the graph yet")
        }
        amounts.append(amount)
        latencies.append(latency)
        pathResources.append(contentsOf: path.map { Int32($0.index) })
        pathCosts.append(contentsOf: path.map { costs[$0] ?? 1 })
        pathStarts.append(Int32(pathResources.count))
        predecessors.append(contentsOf: after.map { Int32($0.index) })
        predecessorStarts.append(Int32(predecessors.count))
        return OperationID(index: operationCount - 1)
    }
}

extension OperationGraph {
    /// The resources an operation crosses, in path order.
    public func path(of operation: OperationID) -> [ResourceID] {
        (Int(pathStarts[operation.index])..<Int(pathStarts[operation.index + 1])).map { ResourceID(index: Int(pathResources[$0])) }
    }

    /// The operations it waits for.
    public func predecessors(of operation: OperationID) -> [OperationID] {
        (Int(predecessorStarts[operation.index])..<Int(predecessorStarts[operation.index + 1])).map { OperationID(index: Int(predecessors[$0])) }
    }

    public func amount(of operation: OperationID) -> Double { amounts[operation.index] }
    public func latency(of operation: OperationID) -> Double { latencies[operation.index] }

    /// Units of each path resource that one unit of the amount consumes.
    public func costs(of operation: OperationID) -> [Double] {
        Array(pathCosts[Int(pathStarts[operation.index])..<Int(pathStarts[operation.index + 1])])
    }
}
