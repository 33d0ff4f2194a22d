import HardwareModel

/// The optimizer step of one iteration, as work: how many parameters, over how many devices, in
/// what subgroups, with which optimizer and how compressed the gradients arrive.
public struct UpdateWorkload: Sendable, Equatable {
    public var parameters: Int
    public var devices: Int
    public var subgroupElements: Int
    public var stateCount: Int
    /// Gradient payload bytes ÷ dense fp32 gradient bytes (1 without compression).
    public var compressedFraction: Double

    public init(parameters: Int, devices: Int, subgroupElements: Int, stateCount: Int = 2, compressedFraction: Double = 1) {
        precondition(parameters > 0 && devices > 0 && subgroupElements > 0 && (1...2).contains(stateCount) && compressedFraction > 0)
        self.parameters = parameters
        self.devices = devices
        self.subgroupElements = subgroupElements
        self.stateCount = stateCount
        self.compressedFraction = compressedFraction
    }
}

/// Turns the optimizer step into an operation graph over the modeled machine, one planner per
/// mode, in the paper's fp32 accounting (gradient, p and each state 4 B per parameter):
///
/// - base: the parameters are striped over the N drives (RAID0); per subgroup the host reads
///   gradient, p and states from every drive over the shared link, updates on its CPU, and writes
///   p and states back; reads of the next subgroup overlap this one's update and write-back.
/// - su: per device and subgroup, in sequence: load gradient, p, states from the SSD over the
///   device's internal link, update on the FPGA, write p and states back, upload p to the host.
/// - su+o: the same work with the transfer handler: the next subgroup's load overlaps this one's
///   update, write-backs run behind (two buffer sets ahead), the upload goes first.
/// - su+o+c: su+o with a gradient `compressedFraction` the size, decompressed on the FPGA.
///
/// The gradient offload itself belongs to the backward phase and is not part of this graph.
public enum UpdatePlanner {
    public static func graph(_ mode: PlannedMode, _ w: UpdateWorkload, _ setup: HardwareSetup) -> OperationGraph {
        var g = OperationGraph()
        let sharedDown = g.addResource("shared link ↓", capacity: setup.host.sharedLink)
        let sharedUp = g.addResource("shared link ↑", capacity: setup.host.sharedLink)
        let fp32 = 4.0
        let stateBytes = Double(w.stateCount) * fp32
        let drives = (0..<w.devices).map { i in
            (read: g.addResource("device \(i) SSD read", capacity: setup.device.ssdRead),
             write: g.addResource("device \(i) SSD write", capacity: setup.device.ssdWrite))
        }
        // The update engines count the bytes an update reads (gradient, p, states), as the
        // profiles' throughputs do.
        let updateBytesPerElement = fp32 + fp32 + stateBytes
        switch mode {
        case .base:
            let cpu = g.addResource("host CPU update", capacity: setup.host.cpuUpdate)
            var previousReads: [OperationID] = []
            var previousUpdate: OperationID?
            for s in subgroups(of: w.parameters, size: w.subgroupElements) {
                let perDrive = Double(s) / Double(w.devices)
                let reads = drives.map { d in
                    g.addOperation(amount: perDrive * updateBytesPerElement, path: [d.read, sharedUp],
                                   latency: setup.host.commandLatency, after: previousReads)
                }
                let update = g.addOperation(amount: Double(s) * updateBytesPerElement, path: [cpu],
                                            after: reads + (previousUpdate.map { [$0] } ?? []))
                for d in drives {
                    g.addOperation(amount: perDrive * (fp32 + stateBytes), path: [sharedDown, d.write], after: [update])
                }
                previousReads = reads
                previousUpdate = update
            }
        case .su, .suO, .suOC:
            guard let fpga = setup.device.fpga else {
                preconditionFailure("SmartUpdate needs a device profile with an FPGA (\(setup.device.profile.name) has none)")
            }
            let slice = (w.parameters + w.devices - 1) / w.devices
            let gradientBytes = mode == .suOC ? w.compressedFraction * fp32 : fp32
            let engineRate = mode == .suOC ? fpga.decompressUpdate : fpga.update
            for (i, d) in drives.enumerated() {
                let internalLink = g.addResource("device \(i) internal link", capacity: fpga.peerToPeer)
                let engine = g.addResource("device \(i) FPGA", capacity: engineRate)
                var previousDone: [OperationID] = []   // naive: the whole previous subgroup
                var previousLoad: OperationID?
                var previousUpdate: OperationID?
                var writeBacks: [OperationID] = []
                for s in subgroups(of: slice, size: w.subgroupElements) {
                    let n = Double(s)
                    let loadAfter: [OperationID]
                    if mode == .su {
                        loadAfter = previousDone
                    } else {
                        // Two buffer sets: subgroup k's load waits for subgroup k-2's write-back.
                        loadAfter = (previousLoad.map { [$0] } ?? []) + (writeBacks.count >= 2 ? [writeBacks[writeBacks.count - 2]] : [])
                    }
                    let load = g.addOperation(amount: n * (gradientBytes + fp32 + stateBytes), path: [d.read, internalLink],
                                              latency: setup.host.commandLatency + fpga.launchLatency, after: loadAfter)
                    let update = g.addOperation(amount: n * updateBytesPerElement, path: [engine],
                                                after: [load] + (previousUpdate.map { [$0] } ?? []))
                    let upload = g.addOperation(amount: n * fp32, path: [sharedUp], after: [update])
                    let writeBack = g.addOperation(amount: n * (fp32 + stateBytes), path: [internalLink, d.write], after: [update])
                    previousDone = [upload, writeBack]
                    previousLoad = load
                    previousUpdate = update
                    writeBacks.append(writeBack)
                }
            }
        }
        return g
    }

    /// Modeled seconds of the optimizer step.
    public static func seconds(_ mode: PlannedMode, _ w: UpdateWorkload, _ setup: HardwareSetup) -> Double {
        graph(mode, w, setup).simulate().makespan
    }

    private static func subgroups(of count: Int, size: Int) -> [Int] {
        stride(from: 0, to: count, by: size).map { min(size, count - $0) }
    }
}
