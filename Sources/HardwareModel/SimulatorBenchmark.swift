/// `smartinf bench sim`: how fast the fluid simulator retires flow events on an optimizer step
/// shaped like Smart-Infinity's (SU+O: gradient download, state load, FPGA update, urgent
/// parameter write-back and upload, lazy m/v write-back) over N devices and many subgroups.
///
/// Subgroup sizes vary by ±25% (a deterministic low-discrepancy sequence, no randomness), so the
/// devices drift apart and events rarely coincide: that is the expensive case for the simulator,
/// since every event then needs its own re-balancing. The SSD write side of each device is
/// crossed by host traffic and by local write-backs, and the shared link by every device, so
/// re-balancing regularly spans all devices.
public enum SimulatorBenchmark {
    public struct Row: Codable, Sendable {
        public var devices: Int
        public var subgroups: Int
        public var operations: Int
        public var flowEvents: Int
        public var rebalances: Int
        /// The modeled length of the step.
        public var modeledSeconds: Double
        /// Wall time to build the operation graph (median).
        public var buildSeconds: Double
        /// Wall time to simulate it (median, fastest).
        public var simulateSeconds: Double
        public var simulateSecondsMinimum: Double
        /// Flow events per wall second of simulation (median).
        public var eventsPerSecond: Double
    }

    /// Runs `repetitions` timed builds and simulations of the workload.
    public static func run(devices: Int = 10, subgroupsPerDevice: Int = 400, repetitions: Int = 5) -> Row {
        precondition(devices > 0 && subgroupsPerDevice > 0 && repetitions > 0, "benchmark sizes must be positive")
        var buildTimes: [Double] = []
        var simulateTimes: [Double] = []
        var graph = OperationGraph()
        var result = SimulationResult(operations: [], resources: [], flowEvents: 0, rebalances: 0)
        for _ in 0..<repetitions {
            buildTimes.append(seconds { graph = workload(devices: devices, subgroupsPerDevice: subgroupsPerDevice) })
            simulateTimes.append(seconds { result = graph.simulate() })
        }
        let simulate = median(simulateTimes)
        return Row(devices: devices, subgroups: devices * subgroupsPerDevice, operations: graph.operationCount,
                   flowEvents: result.flowEvents, rebalances: result.rebalances, modeledSeconds: result.makespan,
                   buildSeconds: median(buildTimes), simulateSeconds: simulate,
                   simulateSecondsMinimum: simulateTimes.min() ?? simulate,
                   eventsPerSecond: Double(result.flowEvents) / simulate)
    }

    /// The benchmark's operation graph: six flows per subgroup, two buffer sets per device.
    /// Capacities are the shipped `smartssd` and `hpca24-host` values, written out so that the
    /// benchmark needs no files.
    public static func workload(devices: Int, subgroupsPerDevice: Int) -> OperationGraph {
        var graph = OperationGraph()
        let sharedDown = graph.addResource("shared link down", capacity: 8e9)
        let sharedUp = graph.addResource("shared link up", capacity: 8e9)
        let commandLatency = 10e-6, ssdLatency = 80e-6, launchLatency = 20e-6
        for device in 0..<devices {
            let portDown = graph.addResource("device \(device) port down", capacity: 3.2e9)
            let portUp = graph.addResource("device \(device) port up", capacity: 3.2e9)
            let ssdRead = graph.addResource("device \(device) ssd read", capacity: 3.0e9)
            let ssdWrite = graph.addResource("device \(device) ssd write", capacity: 1.6e9)
            let toFPGA = graph.addResource("device \(device) p2p to fpga", capacity: 3.2e9)
            let toSSD = graph.addResource("device \(device) p2p to ssd", capacity: 3.2e9)
            let updater = graph.addResource("device \(device) updater", capacity: 8.2e9)

            var previous: (download: OperationID, load: OperationID, update: OperationID, stateWrite: OperationID)?
            var bufferFreed: [OperationID] = []  // per subgroup: the write-backs that release its buffer set
            for subgroup in 0..<subgroupsPerDevice {
                let variation = (Double(subgroup * devices + device) * 0.6180339887498949).truncatingRemainder(dividingBy: 1)
                let elements = (8_000_000 * (0.75 + 0.5 * variation)).rounded()
                let download = graph.addOperation(amount: 4 * elements, path: [sharedDown, portDown, ssdWrite],
                                                  latency: commandLatency, after: previous.map { [$0.download] } ?? [])
                var loadAfter = [download] + (previous.map { [$0.load] } ?? [])
                if subgroup >= 2 { loadAfter.append(bufferFreed[subgroup - 2]) }
                let load = graph.addOperation(amount: 16 * elements, path: [ssdRead, toFPGA], latency: ssdLatency,
                                              after: loadAfter)
                let update = graph.addOperation(amount: 16 * elements, path: [updater], latency: launchLatency,
                                                after: [load] + (previous.map { [$0.update] } ?? []))
                let parameterWrite = graph.addOperation(amount: 4 * elements, path: [toSSD, ssdWrite], latency: ssdLatency,
                                                        after: [update])
                graph.addOperation(amount: 4 * elements, path: [portUp, sharedUp], latency: commandLatency, after: [update])
                let stateWrite = graph.addOperation(amount: 8 * elements, path: [toSSD, ssdWrite], latency: ssdLatency,
                                                    after: [update] + (previous.map { [$0.stateWrite] } ?? []))
                bufferFreed.append(graph.addOperation(amount: 0, path: [], after: [parameterWrite, stateWrite]))
                previous = (download, load, update, stateWrite)
            }
        }
        return graph
    }

    private static func seconds(_ body: () -> Void) -> Double {
        let elapsed = ContinuousClock().measure(body)
        return elapsed / .seconds(1)
    }

    private static func median(_ samples: [Double]) -> Double {
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
