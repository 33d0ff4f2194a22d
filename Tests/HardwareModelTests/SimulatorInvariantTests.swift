import HardwareModel
import Testing

/// Properties every fluid timeline must have, checked on larger workloads than the hand cases.
@Suite struct SimulatorInvariantTests {
    /// No resource carries more than its capacity allows while busy, none is busy longer than the
    /// run, and every operation ends no earlier than its start plus its latency plus the time its
    /// amount needs at the narrowest resource of its path.
    func checkPhysicalLimits(_ graph: OperationGraph, _ result: SimulationResult,
                             operations: [(amount: Double, narrowest: Double, latency: Double)]) {
        for (index, resource) in graph.resources.enumerated() {
            let usage = result.resources[index]
            #expect(usage.carried <= resource.capacity * usage.busySeconds * (1 + 1e-9), "\(resource.name) over capacity")
            #expect(usage.busySeconds <= result.makespan * (1 + 1e-12))
        }
        for (index, operation) in operations.enumerated() {
            let timing = result.operations[index]
            let fastest = operation.amount == 0 ? 0 : operation.amount / operation.narrowest
            #expect(timing.end >= (timing.start + operation.latency + fastest) * (1 - 1e-12), "operation \(index) too fast")
        }
    }

    @Test func randomWorkloadsStayWithinPhysicalLimits() {
        for seed in [21, 22, 23] as [UInt64] {
            let workload = RandomWorkload(seed: seed, resources: 10, count: 500)
            let (graph, _) = workload.graph(order: Array(workload.operations.indices))
            let described = workload.operations.map { operation in
                (operation.amount, operation.path.map { workload.capacities[$0] }.min() ?? .infinity, operation.latency)
            }
            checkPhysicalLimits(graph, graph.simulate(), operations: described)
        }
    }

    @Test func theBenchmarkWorkloadIsASaneStep() {
        let row = SimulatorBenchmark.run(devices: 3, subgroupsPerDevice: 20, repetitions: 1)
        // Seven operations per subgroup, six of which move data (two events each).
        #expect(row.subgroups == 60 && row.operations == 60 * 7 && row.flowEvents == 60 * 6 * 2)
        // Each device writes 16 B per element of its subgroups to an SSD that takes 1.6 GB/s:
        // the step cannot be shorter than the busiest device's writes.
        let graph = SimulatorBenchmark.workload(devices: 3, subgroupsPerDevice: 20)
        let result = graph.simulate()
        #expect(result.makespan == row.modeledSeconds)
        for (index, resource) in graph.resources.enumerated() where resource.name.hasSuffix("ssd write") {
            #expect(result.makespan >= result.resources[index].carried / 1.6e9)
            #expect(result.resources[index].carried > 0)
        }
    }
}
