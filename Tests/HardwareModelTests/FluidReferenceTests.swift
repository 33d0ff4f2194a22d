import HardwareModel
import Testing

/// A random operation graph, described independently of `OperationGraph` so that the same
/// workload can be built in different insertion orders and fed to the reference model.
struct RandomWorkload {
    struct Operation {
        var amount: Double
        var path: [Int]
        var latency: Double
        var after: [Int]
    }

    var capacities: [Double] = []
    var operations: [Operation] = []

    /// `resources` resources with capacities in 1…16, `count` operations each crossing one to
    /// three of them (or none, for a delay), with up to two earlier predecessors. Amounts are
    /// whole numbers, so resource totals are exact in any order.
    init(seed: UInt64, resources: Int, count: Int) {
        var state = seed
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        capacities = (0..<resources).map { _ in Double(1 + next(16)) }
        for index in 0..<count {
            let isDelay = next(10) == 0
            var path: [Int] = []
            if !isDelay {
                for _ in 0..<(1 + next(3)) {
                    let r = next(resources)
                    if !path.contains(r) { path.append(r) }
                }
            }
            let after = index == 0 ? [] : Array(Set((0..<next(3)).map { _ in next(index) })).sorted()
            operations.append(Operation(amount: isDelay ? 0 : Double(1 + next(40)), path: path,
                                        latency: next(3) == 0 ? Double(next(100)) / 64 : 0, after: after))
        }
    }

    /// Builds the graph adding operations in `order` (a topological order of the workload) and
    /// returns each workload operation's id.
    func graph(order: [Int]) -> (OperationGraph, [OperationID]) {
        var graph = OperationGraph()
        let resources = capacities.enumerated().map { graph.addResource("r\($0.offset)", capacity: $0.element) }
        var ids = [OperationID?](repeating: nil, count: operations.count)
        for index in order {
            let operation = operations[index]
            ids[index] = graph.addOperation(amount: operation.amount, path: operation.path.map { resources[$0] },
                                            latency: operation.latency, after: operation.after.map { ids[$0]! })
        }
        return (graph, ids.map { $0! })
    }

    /// A topological order other than the natural one: repeatedly take the ready operation a
    /// seeded generator picks.
    func shuffledOrder(seed: UInt64) -> [Int] {
        var state = seed
        var placed = [Bool](repeating: false, count: operations.count)
        var order: [Int] = []
        while order.count < operations.count {
            let ready = operations.indices.filter { !placed[$0] && operations[$0].after.allSatisfy { placed[$0] } }
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let pick = ready[Int((state >> 33) % UInt64(ready.count))]
            placed[pick] = true
            order.append(pick)
        }
        return order
    }
}

/// A deliberately plain fluid model: after every event it recomputes max-min rates for all
/// active flows from scratch with textbook progressive filling, and steps time to the next event.
/// It shares no code or strategy with the simulator (no components, no event heap, no versions).
func referenceTimes(_ workload: RandomWorkload) -> [(start: Double, end: Double)] {
    let ops = workload.operations
    var start = [Double?](repeating: nil, count: ops.count)
    var end = [Double?](repeating: nil, count: ops.count)
    var left = ops.map(\.amount)
    var now = 0.0
    while end.contains(where: { $0 == nil }) {
        // Issue what is ready and pass zero-amount operations through, until nothing changes.
        var changed = true
        while changed {
            changed = false
            for i in ops.indices where start[i] == nil && ops[i].after.allSatisfy({ end[$0] != nil }) {
                start[i] = ops[i].after.map { end[$0]! }.max() ?? 0
                changed = true
            }
            for i in ops.indices where end[i] == nil && ops[i].amount == 0 {
                if let s = start[i], s + ops[i].latency <= now {
                    end[i] = s + ops[i].latency
                    changed = true
                }
            }
        }
        let flowing = ops.indices.filter { i in
            end[i] == nil && ops[i].amount > 0 && (start[i].map { $0 + ops[i].latency <= now } ?? false)
        }
        var rate = [Double](repeating: 0, count: ops.count)
        var spare = workload.capacities
        var unfrozen = flowing
        while !unfrozen.isEmpty {
            var share = Double.infinity
            var bottleneck = -1
            for r in spare.indices {
                let users = unfrozen.filter { ops[$0].path.contains(r) }.count
                if users > 0, spare[r] / Double(users) < share {
                    share = spare[r] / Double(users)
                    bottleneck = r
                }
            }
            for f in unfrozen where ops[f].path.contains(bottleneck) {
                rate[f] = share
                for r in ops[f].path { spare[r] -= share }
            }
            unfrozen.removeAll { ops[$0].path.contains(bottleneck) }
        }
        var next = Double.infinity
        for i in flowing { next = min(next, now + left[i] / rate[i]) }
        for i in ops.indices where end[i] == nil {
            if let s = start[i], s + ops[i].latency > now { next = min(next, s + ops[i].latency) }
        }
        guard next < .infinity else { break }
        for i in flowing {
            left[i] -= rate[i] * (next - now)
            if left[i] <= 1e-9 * ops[i].amount { end[i] = next }
        }
        now = next
    }
    return ops.indices.map { (start[$0]!, end[$0]!) }
}

@Suite struct FluidReferenceTests {
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func agreesWithAPlainReferenceModel(seed: UInt64) {
        let workload = RandomWorkload(seed: seed, resources: 6, count: 80)
        let (graph, ids) = workload.graph(order: Array(workload.operations.indices))
        let result = graph.simulate()
        let expected = referenceTimes(workload)
        for (index, id) in ids.enumerated() {
            let tolerance = 1e-7 * max(1, expected[index].end)
            #expect(abs(result[id].start - expected[index].start) <= tolerance, "operation \(index) start")
            #expect(abs(result[id].end - expected[index].end) <= tolerance, "operation \(index) end")
        }
    }

    @Test func sameGraphSameBits() {
        let workload = RandomWorkload(seed: 7, resources: 8, count: 400)
        let (graph, _) = workload.graph(order: Array(workload.operations.indices))
        #expect(graph.simulate() == graph.simulate())
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func insertionOrderDoesNotChangeAnyBit(seed: UInt64) {
        let workload = RandomWorkload(seed: 9, resources: 8, count: 400)
        let (natural, naturalIDs) = workload.graph(order: Array(workload.operations.indices))
        let (shuffled, shuffledIDs) = workload.graph(order: workload.shuffledOrder(seed: seed))
        let a = natural.simulate()
        let b = shuffled.simulate()
        for index in workload.operations.indices {
            let (x, y) = (a[naturalIDs[index]], b[shuffledIDs[index]])
            #expect(x.start.bitPattern == y.start.bitPattern && x.end.bitPattern == y.end.bitPattern, "operation \(index)")
        }
        #expect(a.resources == b.resources)
        #expect(a.flowEvents == b.flowEvents && a.rebalances == b.rebalances)
    }
}
