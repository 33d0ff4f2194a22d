import HardwareModel
import OffloadVocabulary
import Plan

extension TraceFile {
    /// The trace of a planned and simulated iteration: every operation with its tag, path,
    /// dependencies and modeled interval, and the summary the study commands print.
    public init(_ timeline: IterationTimeline, workload: IterationWorkload, mode: OffloadMode, devices: Int, hosts: Int = 1,
                profile: TraceProfile, source: TraceHeader.Source, clock: TraceHeader.Clock = .virtual, dilation: Double = 1) {
        let plan = timeline.plan
        let resources = plan.graph.resources.enumerated().map { i, r in
            TraceResource(id: i, name: r.name, capacity: r.capacity, place: plan.places[i])
        }
        let operations = plan.tags.enumerated().map { o, tag in
            let id = OperationID(index: o)
            let timing = timeline.result.operations[o]
            return TraceOperation(id: o, tag: tag, amount: plan.graph.amount(of: id),
                                  path: plan.graph.path(of: id).map(\.index), after: plan.graph.predecessors(of: id).map(\.index),
                                  modeled: TraceInterval(start: timing.start, end: timing.end),
                                  costs: TraceOperation.recordedCosts(plan.graph.costs(of: id)),
                                  latency: plan.graph.latency(of: id) > 0 ? plan.graph.latency(of: id) : nil)
        }
        let header = TraceHeader(source: source, clock: clock, dilation: dilation, workload: workload,
                                 config: TraceConfig(mode: mode, devices: devices, hosts: hosts), profile: profile, resources: resources)
        let summary = TraceSummary(phases: timeline.phaseSeconds, iteration: timeline.iterationSeconds,
                                   sharedLinkBytes: timeline.bytes(at: .sharedLink),
                                   deviceBytes: timeline.deviceBytes(devices: devices))
        self.init(header: header, operations: operations, summary: summary)
    }

    /// The trace's own operations timed again on its own resources, step by step as they were
    /// recorded (each step's operations from where the previous step ended): one timeline per
    /// step, in order.
    public func retimed() -> [IterationTimeline] {
        var groups: [[TraceOperation]] = []
        for op in operations {
            if groups.isEmpty || op.step != groups[groups.count - 1].first?.step { groups.append([]) }
            groups[groups.count - 1].append(op)
        }
        return groups.map { group in
            var plan = PlannedIteration()
            for r in header.resources { _ = plan.resource(r.name, capacity: r.capacity, at: r.place) }
            let first = group.first?.id ?? 0
            for op in group {
                let path = op.path.map { ResourceID(index: $0) }
                var costs: [ResourceID: Double] = [:]
                for (r, cost) in zip(path, op.costs ?? []) where cost != 1 { costs[r] = cost }
                plan.operation(op.tag, amount: op.amount, path: path, latency: op.latency ?? 0,
                               after: op.after.map { OperationID(index: $0 - first) }, costs: costs)
            }
            return IterationTimeline(plan)
        }
    }

    /// Whether timing the trace again gives exactly its recorded modeled times, bit for bit.
    /// True for every trace this program writes, replayed unchanged.
    public var reproducesItsTimeline: Bool {
        var offset = 0.0
        var index = 0
        for timeline in retimed() {
            for timing in timeline.result.operations {
                let recorded = operations[index].modeled
                guard recorded.start == offset + timing.start, recorded.end == offset + timing.end else { return false }
                index += 1
            }
            offset += timeline.iterationSeconds
        }
        return index == operations.count
    }

}

extension TraceOperation {
    /// Costs as a trace records them: nil when every resource is charged 1 per unit.
    public static func recordedCosts(_ costs: [Double]) -> [Double]? {
        costs.allSatisfy { $0 == 1 } ? nil : costs
    }
}
