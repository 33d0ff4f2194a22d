/// Scratch state for max-min fair rate allocation, kept between instants so that re-balancing
/// allocates nothing.
///
/// Max-min fairness (what SimGrid's fluid network model computes): no flow can get more without
/// taking from a flow that has no more than it. Progressive filling finds it: raise every
/// unfrozen flow's rate together until some resource is full; that resource's flows are frozen
/// at its fair share; repeat on what capacity is left.
struct MaxMinFairShare {
    /// Marks which re-balancing last reached a resource or a flow, so nothing is cleared between runs.
    var resourceMark: [Int]
    var flowMark: [Int]
    var mark = 0
    /// Per resource during filling: capacity not yet given to frozen flows, flows not frozen and
    /// their summed costs per unit of rate, and the fair share `spare / unfrozenCost`, kept up to
    /// date as flows freeze so that finding the bottleneck needs no division.
    var spare: [Double]
    var unfrozen: [Int32]
    var unfrozenCost: [Double]
    var share: [Double]
    /// Per flow: the rate it froze at, 0 while not frozen.
    var newRate: [Double]
    var componentResources: [Int32] = []
    var componentFlows: [Int32] = []
    /// Resources of the component that still have unfrozen flows.
    var open: [Int32] = []

    init(operations: Int, resources: Int) {
        resourceMark = Array(repeating: 0, count: resources)
        flowMark = Array(repeating: 0, count: operations)
        spare = Array(repeating: 0, count: resources)
        unfrozen = Array(repeating: 0, count: resources)
        unfrozenCost = Array(repeating: 0, count: resources)
        share = Array(repeating: 0, count: resources)
        newRate = Array(repeating: 0, count: operations)
    }
}

extension FluidRun {
    /// Gives every flow in the connected components of the touched resources its max-min fair
    /// rate, and reschedules the completion of each flow whose rate changed.
    ///
    /// Only those components can change: flows that share no resource, directly or through other
    /// flows, with a flow that came or went keep their rates. Their arithmetic would also come out
    /// the same if solved together with other components (each filling step touches one
    /// component), so restricting the work changes no bits.
    ///
    /// The filling is canonical, hence the determinism: the bottleneck is the resource with the
    /// smallest share, ties broken by the lower resource index; with unit costs every flow frozen
    /// in one step subtracts the same share, so the order in which a resource's flows are listed
    /// cannot change any sum. (With other costs the sums follow the graph's order, which is
    /// itself deterministic.)
    mutating func rebalance() {
        solver.mark += 1
        let mark = solver.mark
        solver.componentResources.removeAll(keepingCapacity: true)
        solver.componentFlows.removeAll(keepingCapacity: true)
        for i in touched.indices where solver.resourceMark[Int(touched[i])] != mark {
            let r = touched[i]
            solver.resourceMark[Int(r)] = mark
            solver.componentResources.append(r)
        }
        touched.removeAll(keepingCapacity: true)

        // Breadth-first over resource → its flows → their resources; the list is its own queue.
        var visited = 0
        while visited < solver.componentResources.count {
            let r = Int(solver.componentResources[visited])
            visited += 1
            var slot = firstSlot[r]
            while slot >= 0 {
                let f = Int(slotOwner[Int(slot)])
                if solver.flowMark[f] != mark {
                    solver.flowMark[f] = mark
                    solver.newRate[f] = 0
                    solver.componentFlows.append(Int32(f))
                    for pathSlot in Int(pathStart[f])..<Int(pathStart[f + 1]) {
                        let q = pathResource[pathSlot]
                        if solver.resourceMark[Int(q)] != mark {
                            solver.resourceMark[Int(q)] = mark
                            solver.componentResources.append(q)
                        }
                    }
                }
                slot = nextSlot[Int(slot)]
            }
        }

        solver.open.removeAll(keepingCapacity: true)
        for i in solver.componentResources.indices {
            let r = Int(solver.componentResources[i])
            guard activeFlows[r] > 0 else { continue }
            solver.spare[r] = capacity[r]
            solver.unfrozen[r] = activeFlows[r]
            solver.unfrozenCost[r] = 0
            solver.open.append(Int32(r))
        }
        for i in solver.componentFlows.indices {
            let f = Int(solver.componentFlows[i])
            for pathSlot in Int(pathStart[f])..<Int(pathStart[f + 1]) {
                solver.unfrozenCost[Int(pathResource[pathSlot])] += pathCost[pathSlot]
            }
        }
        for i in solver.open.indices {
            let r = Int(solver.open[i])
            solver.share[r] = solver.spare[r] / solver.unfrozenCost[r]
        }
        fill()

        for i in solver.componentFlows.indices {
            let f = Int(solver.componentFlows[i])
            guard solver.newRate[f] != rate[f] else { continue }
            remaining[f] = max(0, remaining[f] - rate[f] * (now - settledAt[f]))
            settledAt[f] = now
            rate[f] = solver.newRate[f]
            version[f] &+= 1
            events.push(.init(time: now + remaining[f] / rate[f], operation: Int32(f), version: version[f]))
        }
    }

    /// Progressive filling over `solver.open`. Shares stay positive: a resource that is not the
    /// bottleneck had at least its share times its unfrozen flows left, and gives up the
    /// (smaller) bottleneck share only for flows it is not left without.
    private mutating func fill() {
        while true {
            var bottleneck: Int32 = -1
            var level = Double.infinity
            var i = 0
            while i < solver.open.count {
                let r = solver.open[i]
                if solver.unfrozen[Int(r)] == 0 {
                    solver.open.swapAt(i, solver.open.count - 1)
                    solver.open.removeLast()
                    continue
                }
                let candidate = solver.share[Int(r)]
                if candidate < level || (candidate == level && r < bottleneck) {
                    level = candidate
                    bottleneck = r
                }
                i += 1
            }
            guard bottleneck >= 0 else { return }
            var slot = firstSlot[Int(bottleneck)]
            while slot >= 0 {
                let f = Int(slotOwner[Int(slot)])
                if solver.newRate[f] == 0 {
                    solver.newRate[f] = level
                    for pathSlot in Int(pathStart[f])..<Int(pathStart[f + 1]) {
                        let q = Int(pathResource[pathSlot])
                        let cost = pathCost[pathSlot]
                        solver.spare[q] -= level * cost
                        solver.unfrozen[q] -= 1
                        solver.unfrozenCost[q] -= cost
                        if solver.unfrozen[q] > 0 { solver.share[q] = max(0, solver.spare[q]) / solver.unfrozenCost[q] }
                    }
                }
                slot = nextSlot[Int(slot)]
            }
        }
    }
}
