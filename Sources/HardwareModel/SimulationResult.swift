/// When an operation ran, in modeled seconds from the start of the graph.
public struct OperationTiming: Sendable, Equatable {
    /// When its last predecessor ended, i.e. when it was issued (its latency starts here).
    public let start: Double
    public let end: Double

    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }
}

/// What a resource did over the whole run, for utilisation counters.
public struct ResourceUsage: Sendable, Equatable {
    /// Seconds during which at least one flow crossed it.
    public let busySeconds: Double
    /// Units that crossed it: bytes for links and SSD sides, work units for engines. Summed in
    /// completion order, hence exact, and independent of that order, when amounts are whole
    /// numbers whose total stays below 2^53.
    public let carried: Double

    public init(busySeconds: Double, carried: Double) {
        self.busySeconds = busySeconds
        self.carried = carried
    }
}

/// The modeled timeline of an operation graph.
public struct SimulationResult: Sendable, Equatable {
    /// Indexed by `OperationID.index`.
    public let operations: [OperationTiming]
    /// Indexed by `ResourceID.index`.
    public let resources: [ResourceUsage]
    /// Flows that began or ended (an operation with a non-zero amount counts two).
    public let flowEvents: Int
    /// Instants at which rates were re-balanced.
    public let rebalances: Int

    public subscript(operation: OperationID) -> OperationTiming { operations[operation.index] }
    public subscript(resource: ResourceID) -> ResourceUsage { resources[resource.index] }

    /// When the last operation ended.
    public var makespan: Double { operations.lazy.map(\.end).max() ?? 0 }
}

extension OperationGraph {
    /// Runs the fluid model over the whole graph. Deterministic: the same graph gives the same
    /// bits, and adding independent operations in another order gives each operation the same
    /// bits too.
    public func simulate() -> SimulationResult {
        var run = FluidRun(self)
        run.run()
        return run.result
    }
}
