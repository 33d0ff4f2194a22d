import HardwareModel
import OffloadVocabulary

/// The optimizer step as an operation graph, one planner per mode, in the paper's fp32
/// accounting (gradient, p and each state 4 B per parameter). It starts after the last gradient
/// is on storage.
///
/// The host drives the step one subgroup at a time, as DeepSpeed's optimizer loop does: it
/// issues subgroup k, and issues k + 1 only once k is finished. "Finished" differs by mode:
///
/// - base (ZeRO-Infinity, optimizer states on NVMe striped over the N drives): read gradient, p
///   and states over the shared link, update on the host CPU, write p and states back. DeepSpeed
///   0.9.3's defaults (`pipeline_read/write: false`) run these three steps one after another.
/// - su: each device updates its 1/N of the subgroup: load gradient, p and states from flash
///   into FPGA DRAM, update, upload the new parameters to the host, write p and states back,
///   one after another (one buffer set, no overlap).
/// - su+o: the transfer handler splits the device's share into chunks that fit three buffer
///   sets of FPGA DRAM and pipelines them: load chunk c + 1 while the FPGA updates chunk c and
///   chunk c − 1 is written back. The subgroup's parameters go to the host once the subgroup is
///   durable on the device, so the host's compute copy is never ahead of the device's states.
/// - su+o+c: su+o with a compressed gradient (`compressedFraction` of the fp32 bytes),
///   decompressed by the FPGA's slower decompress-and-update kernel.
///
/// With many hosts each host steps only its slice of every layer (ZeRO's partitioned optimizer
/// states), cut into subgroups the same way, and once a subgroup is done its new compute copy
/// is all-gathered over the network beside the next subgroup's update; the step ends when the
/// last all-gather does.
struct UpdatePlanner {
    let mode: OffloadMode
    let workload: IterationWorkload
    let machine: ModeledMachine

    /// Buffer sets the su+o transfer handler cycles through.
    static let bufferSets = 3

    /// `offloads`: each layer's gradient writes, in the order the backward offloads them.
    func plan(after offloads: [[OperationID]], into plan: inout PlannedIteration) {
        let sizes = subgroups(of: workload.trainableParameters(slicedOver: machine.hosts))
        let ready: [[OperationID]]
        let start: OperationID
        if workload.overlapsBackward {
            // The step may begin with the first layer's gradients; each subgroup also waits for
            // the layer holding its last element (the layers before it are offloaded earlier).
            start = plan.barrier(tag(.stateLoad, .compute, "optimizer step", unit: "B"), after: offloads.first ?? [])
            ready = Self.lastLayers(of: sizes, layerElements: layerElementsInBackwardOrder).map { offloads[$0] }
        } else {
            start = plan.barrier(tag(.stateLoad, .compute, "optimizer step", unit: "B"), after: offloads.flatMap { $0 })
            ready = Array(repeating: [], count: sizes.count)
        }
        switch mode {
        case .base: planBase(sizes, ready: ready, after: start, into: &plan)
        case .su, .suO, .suOC: planSmartUpdate(sizes, ready: ready, after: start, into: &plan)
        }
    }

    /// Trainable elements of each layer in this host's slice, in the order the backward offloads
    /// them: the blocks from the last, then the embedding.
    private var layerElementsInBackwardOrder: [Int] {
        let trainable = workload.trainableLayerParameters(slicedOver: machine.hosts)
        return Array(repeating: trainable.block, count: workload.model.layers) + [trainable.embedding]
    }

    /// For each subgroup (of `sizes` elements, in order), the index of the layer that holds its
    /// last element, with elements laid out layer after layer.
    static func lastLayers(of sizes: [Int], layerElements: [Int]) -> [Int] {
        var layer = 0, layerEnd = layerElements.first ?? 0, end = 0
        return sizes.map { size in
            end += size
            while layerEnd < end, layer + 1 < layerElements.count {
                layer += 1
                layerEnd += layerElements[layer]
            }
            return layer
        }
    }

    /// What one element's load moves from flash into FPGA DRAM: the gradient (compressed in
    /// su+o+c) and p in fp32, and the states as stored (fp32, or 8-bit).
    static func loadBytesPerElement(_ mode: OffloadMode, _ workload: IterationWorkload) -> Double {
        let gradientBytes = mode == .suOC ? workload.compressedFraction * 4 : 4
        return gradientBytes + 4 + Double(workload.stateCount) * workload.bytesPerState
    }

    /// The most elements one load of a SmartUpdate plan moves (its chunk), and which profile value
    /// bounds it. FPGA DRAM holds one buffer set (su: the device's whole share of the subgroup,
    /// as far as it fits) or three chunks of at most `fpga.chunk` bytes (su+o, su+o+c).
    static func chunk(_ mode: OffloadMode, _ workload: IterationWorkload,
                      _ fpga: DeviceProfile.FPGA) -> (elements: Int, boundBy: PlanSize.ChunkBound) {
        let sets = mode == .su ? 1 : bufferSets
        let fitsDRAM = Double(fpga.dram) / Double(sets)
        let byDRAM = mode == .su || fitsDRAM <= Double(fpga.chunk)
        let chunkBytes = byDRAM ? fitsDRAM : Double(fpga.chunk)
        // The profile's sizes are below 2^63 bytes and a load is at least 8 B per element.
        return (max(1, Int(chunkBytes / loadBytesPerElement(mode, workload))), byDRAM ? .dram : .chunk)
    }

    private var fp32: Double { 4 }
    private var stateBytes: Double { Double(workload.stateCount) * workload.bytesPerState }
    /// What the update engines count: the optimizer input read, gradient + p in fp32 and the
    /// states as stored. Their rates are rates of streaming that input (memory-bound), so
    /// 8-bit states also update faster per parameter.
    private var updateBytesPerElement: Double { fp32 + fp32 + stateBytes }

    private func tag(_ phase: OperationTag.Phase, _ kind: OperationTag.Kind, _ name: String, subgroup: Int? = nil,
                     device: Int? = nil, actor: String = "host", unit: String = "B") -> OperationTag {
        OperationTag(actor: actor, phase: phase, kind: kind, name: name, layer: nil, subgroup: subgroup, device: device, unit: unit)
    }

    private func subgroups(of count: Int) -> [Int] {
        stride(from: 0, to: count, by: workload.subgroupElements).map { min(workload.subgroupElements, count - $0) }
    }

    private func planBase(_ sizes: [Int], ready: [[OperationID]], after start: OperationID, into plan: inout PlannedIteration) {
        var previous = start
        for (k, elements) in sizes.enumerated() {
            let writes = hostUpdate(subgroup: k, elements: elements, after: [previous] + ready[k], into: &plan)
            previous = plan.barrier(tag(.stateWriteBack, .compute, "subgroup \(k) done", subgroup: k), after: writes)
            allGather(subgroup: k, elements: elements, after: previous, into: &plan)
        }
    }

    /// Many hosts: subgroup `k`'s new compute copy (its `elements`, at the GPU's parameter bytes)
    /// all-gathered once the subgroup is done; nothing waits for it but the end of the step.
    private func allGather(subgroup k: Int, elements: Int, after done: OperationID, into plan: inout PlannedIteration) {
        _ = machine.ringCollective(tag(.parameterAllGather, .transfer, "all-gather subgroup \(k)", subgroup: k, actor: "network"),
                                   sliceElements: elements, bytesPerElement: machine.setup.gpu.parameterBytes, after: [done],
                                   into: &plan)
    }

    /// `elements` of subgroup `k` updated on the host CPU, ZeRO-Infinity's way: read gradient, p
    /// and states from every drive over the shared link, update, write p and states back;
    /// returns the writes.
    private func hostUpdate(subgroup k: Int, elements: Int, after: [OperationID], into plan: inout PlannedIteration) -> [OperationID] {
        let setup = machine.setup
        let latency = setup.host.commandLatency + setup.device.ssdAccessLatency
        let perDrive = Double(elements) / Double(machine.devices.count)
        let reads = machine.devices.map { d in
            plan.operation(tag(.stateLoad, .transfer, "read subgroup \(k) from drive \(d.index)", subgroup: k, device: d.index),
                           amount: perDrive * updateBytesPerElement, path: [d.flash, d.portUp, machine.sharedUp],
                           latency: latency, after: after, costs: [d.flash: machine.readCost])
        }
        let update = plan.operation(tag(.update, .compute, "update subgroup \(k)", subgroup: k, actor: "host cpu"),
                                    amount: Double(elements) * updateBytesPerElement, path: [machine.hostCPU], after: reads)
        return machine.devices.map { d in
            plan.operation(tag(.stateWriteBack, .transfer, "write subgroup \(k) to drive \(d.index)", subgroup: k, device: d.index),
                           amount: perDrive * (fp32 + stateBytes), path: [machine.sharedDown, d.portDown, d.flash],
                           latency: latency, after: [update], costs: [d.flash: machine.writeCost])
        }
    }

    /// Of a subgroup's `elements`, how many the host CPU updates under a Twin-Flow split
    /// (`IterationWorkload.hostUpdateShare`), rounded to the nearest element.
    static func hostElements(of elements: Int, share: Double) -> Int {
        min(elements, Int((Double(elements) * share).rounded()))
    }

    private func planSmartUpdate(_ sizes: [Int], ready: [[OperationID]], after start: OperationID,
                                 into plan: inout PlannedIteration) {
        guard let fpga = machine.setup.device.fpga else {
            preconditionFailure("SmartUpdate needs a device with an FPGA; IterationPlanner checks this")
        }
        let setup = machine.setup
        let loadLatency = setup.host.commandLatency + setup.device.ssdAccessLatency + fpga.launchLatency
        let loadBytesPerElement = Self.loadBytesPerElement(mode, workload)
        let sets = mode == .su ? 1 : Self.bufferSets
        let chunkLimit = Self.chunk(mode, workload, fpga).elements
        let devices = machine.devices.count
        var previous = start
        for (k, subgroupElements) in sizes.enumerated() {
            let begin = [previous] + ready[k]
            // Twin-Flow: the host's part runs beside the devices' (none unless asked for).
            let onHost = Self.hostElements(of: subgroupElements, share: workload.hostUpdateShare)
            var finished = onHost > 0 ? hostUpdate(subgroup: k, elements: onHost, after: begin, into: &plan) : []
            let elements = subgroupElements - onHost
            let share = (elements + devices - 1) / devices
            for d in machine.devices {
                guard let engine = d.fpga, let fpgaIn = d.fpgaIn, let fpgaOut = d.fpgaOut else { continue }
                let mine = min(share, max(0, elements - d.index * share))
                guard mine > 0 else { continue }
                let chunks = stride(from: 0, to: mine, by: chunkLimit).map { Double(min(chunkLimit, mine - $0)) }
                var loads: [OperationID] = [], updates: [OperationID] = [], writeBacks: [OperationID] = []
                var serial = begin
                for (c, n) in chunks.enumerated() {
                    let name = "subgroup \(k) chunk \(c)"
                    let loadAfter: [OperationID] = mode == .su
                        ? serial
                        : (loads.last.map { [$0] } ?? begin) + (c >= sets ? [writeBacks[c - sets]] : [])
                    let load = plan.operation(tag(.stateLoad, .transfer, "load \(name)", subgroup: k, device: d.index, actor: "device \(d.index)"),
                                              amount: n * loadBytesPerElement, path: [d.flash, fpgaIn], latency: loadLatency,
                                              after: loadAfter, costs: [d.flash: machine.readCost])
                    let update = plan.operation(tag(.update, .compute, "update \(name)", subgroup: k, device: d.index, actor: "device \(d.index)"),
                                                amount: n * updateBytesPerElement, path: [engine],
                                                after: [load] + (updates.last.map { [$0] } ?? []))
                    var writeAfter = [update]
                    if mode == .su {
                        let upload = plan.operation(tag(.parameterUpload, .transfer, "upload \(name)", subgroup: k, device: d.index, actor: "device \(d.index)"),
                                                    amount: n * fp32, path: [fpgaOut, d.portUp, machine.sharedUp],
                                                    latency: setup.host.commandLatency, after: [update])
                        writeAfter = [upload]
                    }
                    let writeBack = plan.operation(tag(.stateWriteBack, .transfer, "write back \(name)", subgroup: k, device: d.index, actor: "device \(d.index)"),
                                                   amount: n * (fp32 + stateBytes), path: [fpgaOut, d.flash],
                                                   latency: setup.device.ssdAccessLatency, after: writeAfter,
                                                   costs: [d.flash: machine.peerToPeerWriteCost])
                    loads.append(load)
                    updates.append(update)
                    writeBacks.append(writeBack)
                    serial = [writeBack]
                }
                if mode == .su {
                    finished += serial
                } else {
                    // Durable, then the parameters go up.
                    finished.append(plan.operation(tag(.parameterUpload, .transfer, "upload subgroup \(k)", subgroup: k, device: d.index, actor: "device \(d.index)"),
                                                   amount: Double(mine) * fp32, path: [fpgaOut, d.portUp, machine.sharedUp],
                                                   latency: setup.host.commandLatency, after: writeBacks))
                }
            }
            previous = plan.barrier(tag(.parameterUpload, .compute, "subgroup \(k) done", subgroup: k), after: finished)
            allGather(subgroup: k, elements: subgroupElements, after: previous, into: &plan)
        }
    }
}
