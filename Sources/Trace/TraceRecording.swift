import HardwareModel
import Plan

extension TraceFile {
    /// The trace of a planned and simulated iteration: every operation with its tag, path,
    /// dependencies and modeled interval, and the summary the study commands print.
    public init(_ timeline: IterationTimeline, workload: IterationWorkload, mode: PlannedMode, devices: Int,
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
                                  modeled: TraceInterval(start: timing.start, end: timing.end))
        }
        let header = TraceHeader(source: source, clock: clock, dilation: dilation, workload: workload,
                                 config: TraceConfig(mode: mode, devices: devices), profile: profile, resources: resources)
        let summary = TraceSummary(phases: timeline.phaseSeconds, iteration: timeline.iterationSeconds,
                                   sharedLinkBytes: timeline.bytes(at: .sharedLink),
                                   deviceBytes: (0..<devices).map { timeline.bytes(at: .device($0)) })
        self.init(header: header, operations: operations, summary: summary)
    }

    /// Whether `timeline` is this trace's own modeled timeline: the same operations, paths,
    /// dependencies and amounts, each starting and ending at exactly the recorded seconds.
    /// Replaying a trace unchanged must give `true`.
    public func reproduces(_ timeline: IterationTimeline) -> Bool {
        let plan = timeline.plan
        guard plan.tags.count == operations.count, plan.graph.resources.count == header.resources.count else { return false }
        for (o, recorded) in operations.enumerated() {
            let id = OperationID(index: o)
            let timing = timeline.result.operations[o]
            guard recorded.phase == plan.tags[o].phase, recorded.amount == plan.graph.amount(of: id),
                  recorded.path == plan.graph.path(of: id).map(\.index),
                  recorded.after == plan.graph.predecessors(of: id).map(\.index),
                  recorded.modeled.start == timing.start, recorded.modeled.end == timing.end
            else { return false }
        }
        return true
    }
}
