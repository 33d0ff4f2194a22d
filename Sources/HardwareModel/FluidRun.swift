/// The state of one simulation: the event loop that starts and ends flows, and the per-resource
/// bookkeeping. Rates are set by `rebalance()` (MaxMinFairShare.swift).
///
/// Everything lives in flat arrays indexed by operation, resource or *path slot* (one slot per
/// resource of each operation's path, `graph.pathResources`' indices). The flows active on a
/// resource form an intrusive doubly linked list through the slots, so a flow joins or leaves
/// every resource of its path in O(path length) with no allocation.
///
/// Time advances instant by instant: all events at the same time are handled together (flows
/// ending, latencies expiring, successors becoming ready, zero-amount operations passing
/// through), and then rates are re-balanced once. Handling an instant as a whole is what makes
/// the result independent of the order in which simultaneous events are popped.
struct FluidRun {
    enum Phase: UInt8 { case waiting, delayed, flowing, done }

    // The graph.
    let capacity: [Double]
    let amount: [Double]
    let latency: [Double]
    let pathStart: [Int32]
    let pathResource: [Int32]
    let pathCost: [Double]
    /// Operation o's successors are `successors[successorStart[o]..<successorStart[o + 1]]`.
    let successorStart: [Int32]
    let successors: [Int32]
    /// The operation each path slot belongs to.
    let slotOwner: [Int32]

    // Per operation.
    var pendingPredecessors: [Int32]
    var phase: [Phase]
    var start: [Double]
    var end: [Double]
    /// Current rate of a flowing operation (units/s), 0 until first balanced.
    var rate: [Double]
    /// Units left at `settledAt`; the flow has moved `rate × (now − settledAt)` since.
    var remaining: [Double]
    var settledAt: [Double]
    var version: [UInt32]

    // Per path slot: the links of the per-resource lists of active flows.
    var nextSlot: [Int32]
    var previousSlot: [Int32]

    // Per resource.
    var firstSlot: [Int32]
    var activeFlows: [Int32]
    var busySince: [Double]
    var busySeconds: [Double]
    var carried: [Double]

    var now = 0.0
    var events = EventQueue()
    /// Operations whose predecessors all ended at `now`, not yet started.
    var ready: [Int32] = []
    /// Resources whose set of flows changed at `now`: where re-balancing starts.
    var touched: [Int32] = []
    var flowEvents = 0
    var rebalances = 0
    /// Scratch state of `rebalance()`.
    var solver: MaxMinFairShare

    init(_ graph: OperationGraph) {
        let operations = graph.operationCount
        let resources = graph.resources.count
        capacity = graph.resources.map(\.capacity)
        amount = graph.amounts
        latency = graph.latencies
        pathStart = graph.pathStarts
        pathResource = graph.pathResources
        pathCost = graph.pathCosts

        var pending = [Int32](repeating: 0, count: operations)
        var successorCount = [Int32](repeating: 0, count: operations + 1)
        for o in 0..<operations {
            pending[o] = graph.predecessorStarts[o + 1] - graph.predecessorStarts[o]
            for p in graph.predecessors[Int(graph.predecessorStarts[o])..<Int(graph.predecessorStarts[o + 1])] {
                successorCount[Int(p) + 1] += 1
            }
        }
        for o in 0..<operations { successorCount[o + 1] += successorCount[o] }
        var fill = successorCount
        var successors = [Int32](repeating: 0, count: graph.predecessors.count)
        for o in 0..<operations {
            for p in graph.predecessors[Int(graph.predecessorStarts[o])..<Int(graph.predecessorStarts[o + 1])] {
                successors[Int(fill[Int(p)])] = Int32(o)
                fill[Int(p)] += 1
            }
        }
        successorStart = successorCount
        self.successors = successors
        var owner = [Int32](repeating: 0, count: graph.pathResources.count)
        for o in 0..<operations {
            for slot in Int(graph.pathStarts[o])..<Int(graph.pathStarts[o + 1]) { owner[slot] = Int32(o) }
        }
        slotOwner = owner

        pendingPredecessors = pending
        phase = Array(repeating: .waiting, count: operations)
        start = Array(repeating: 0, count: operations)
        end = Array(repeating: 0, count: operations)
        rate = Array(repeating: 0, count: operations)
        remaining = Array(repeating: 0, count: operations)
        settledAt = Array(repeating: 0, count: operations)
        version = Array(repeating: 0, count: operations)
        nextSlot = Array(repeating: -1, count: graph.pathResources.count)
        previousSlot = Array(repeating: -1, count: graph.pathResources.count)
        firstSlot = Array(repeating: -1, count: resources)
        activeFlows = Array(repeating: 0, count: resources)
        busySince = Array(repeating: 0, count: resources)
        busySeconds = Array(repeating: 0, count: resources)
        carried = Array(repeating: 0, count: resources)
        solver = MaxMinFairShare(operations: operations, resources: resources)
    }

    mutating func run() {
        for o in pendingPredecessors.indices where pendingPredecessors[o] == 0 { ready.append(Int32(o)) }
        finishInstant()
        while let time = events.earliestTime {
            now = time
            while let event = events.pop(at: time) {
                let o = Int(event.operation)
                switch phase[o] {
                case .delayed: beginFlow(o)
                case .flowing where event.version == version[o]: finish(o)
                default: break  // superseded by a later rate change
                }
            }
            finishInstant()
        }
    }

    var result: SimulationResult {
        SimulationResult(operations: zip(start, end).map { OperationTiming(start: $0, end: $1) },
                         resources: zip(busySeconds, carried).map { ResourceUsage(busySeconds: $0, carried: $1) },
                         flowEvents: flowEvents, rebalances: rebalances)
    }

    /// Starts everything that became ready at `now` (which may end zero-amount operations and
    /// make more ready), then re-balances the rates where flows came or went.
    private mutating func finishInstant() {
        while let o = ready.popLast().map(Int.init) {
            start[o] = now
            if latency[o] > 0 {
                phase[o] = .delayed
                events.push(.init(time: now + latency[o], operation: Int32(o), version: version[o]))
            } else {
                beginFlow(o)
            }
        }
        if !touched.isEmpty {
            rebalance()
            rebalances += 1
        }
    }

    private mutating func beginFlow(_ o: Int) {
        guard amount[o] > 0 else { return finish(o) }
        phase[o] = .flowing
        remaining[o] = amount[o]
        settledAt[o] = now
        flowEvents += 1
        for slot in Int(pathStart[o])..<Int(pathStart[o + 1]) {
            let r = Int(pathResource[slot])
            let first = firstSlot[r]
            nextSlot[slot] = first
            previousSlot[slot] = -1
            if first >= 0 { previousSlot[Int(first)] = Int32(slot) }
            firstSlot[r] = Int32(slot)
            if activeFlows[r] == 0 { busySince[r] = now }
            activeFlows[r] += 1
            touched.append(Int32(r))
        }
    }

    private mutating func finish(_ o: Int) {
        if phase[o] == .flowing {
            flowEvents += 1
            for slot in Int(pathStart[o])..<Int(pathStart[o + 1]) {
                let r = Int(pathResource[slot])
                let (previous, next) = (previousSlot[slot], nextSlot[slot])
                if previous >= 0 { nextSlot[Int(previous)] = next } else { firstSlot[r] = next }
                if next >= 0 { previousSlot[Int(next)] = previous }
                activeFlows[r] -= 1
                if activeFlows[r] == 0 { busySeconds[r] += now - busySince[r] }
                carried[r] += amount[o] * pathCost[slot]
                touched.append(Int32(r))
            }
        }
        phase[o] = .done
        end[o] = now
        for index in Int(successorStart[o])..<Int(successorStart[o + 1]) {
            let s = Int(successors[index])
            pendingPredecessors[s] -= 1
            if pendingPredecessors[s] == 0 { ready.append(Int32(s)) }
        }
    }
}
