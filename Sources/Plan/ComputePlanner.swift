import HardwareModel

/// Forward and backward of one iteration on the GPU under ZeRO-Infinity, with the gradient
/// offload to storage, as an operation graph.
///
/// - Forward: layer by layer, each layer's fp16 parameters are fetched over the GPU's host link
///   (the next fetch overlaps the current layer's compute), then computed. With checkpoint
///   offload on, each block's input goes to host memory.
/// - Backward, last layer first: the parameters are fetched again, the block's forward is
///   recomputed from its checkpoint and its backward run; its gradient goes to host memory and
///   from there over the shared link to the devices' flash, split evenly across the N devices.
///   With compression (su+o+c) the GPU first selects the top-k and only the payload moves.
/// - With SSDTrain's activation offload (`IterationWorkload.activationsOnStorage`), each
///   checkpoint goes on from host memory to the devices' flash after the forward, and comes
///   back before its recompute (Wu et al., "SSDTrain", 2024; there through GPUDirect Storage,
///   here through the host's shared link, the only path this topology has).
/// - The offload is synchronous: the next layer's backward waits for this layer's gradient to
///   be on storage, as DeepSpeed 0.9.3 does with its default `pipeline_write: false`. This is
///   why the offload shows in the paper's BW+grad-offload bars (1.5 s of 6.2 s at 4.0B).
/// - With many hosts, each layer's gradient is first reduce-scattered over the network (a ring
///   of the GPU's gradient bytes, GPU to GPU), and each host offloads only its slice of the sum
///   (in su+o+c the top-k is taken from that slice: the collective stays dense). The
///   reduce-scatter sits on the offload's path and so inherits its per-layer wait. DeepSpeed's
///   reduce stream lets a bucket's reduce-scatter run beside the next bucket's backward; the
///   model does not, so per layer it may overstate the step by the lesser of the reduce-scatter
///   and the next layer's backward.
struct ComputePlanner {
    let workload: IterationWorkload
    let compressed: Bool
    let machine: ModeledMachine

    /// Adds forward and backward; returns the gradient writes the optimizer step waits for, one
    /// list per layer in the order they are offloaded (the last block first, the embedding last).
    func plan(into plan: inout PlannedIteration) -> [[OperationID]] {
        let gpu = machine.setup.gpu
        let model = workload.model
        let forwardCost = 1 / gpu.forwardFLOPRate
        let backwardCost = 1 / gpu.backwardFLOPRate
        let launch = gpu.launchLatency
        // Layer 0 is the embedding (with the tied head), 1...L the blocks.
        let layerParameters = [model.embeddingParameters] + Array(repeating: model.blockParameters, count: model.layers)
        // What has a gradient to offload: every parameter, or under LoRA the blocks' adapters.
        let trainable = workload.trainableLayerParameters
        let layerGradients = [trainable.embedding] + Array(repeating: trainable.block, count: model.layers)
        let layerFLOPs = [model.headForwardFLOPs] + Array(repeating: workload.blockForwardFLOPs, count: model.layers)
        let layerBackwardFLOPs = [workload.headBackwardFLOPs] + Array(repeating: workload.blockBackwardFLOPs, count: model.layers)
        // Counts times the profile's bytes per element in Double: a profile (or `--set`) may give any
        // size below 2^63 bytes, and the product of two Ints could overflow.
        let checkpointBytes = Double(model.checkpointElements) * Double(gpu.activationBytes)
        // To host memory (the GPU profile's choice), and on to the devices' flash (SSDTrain).
        let offloadsCheckpoints = gpu.offloadsActivationCheckpoints || workload.activationsOnStorage

        func tag(_ phase: OperationTag.Phase, _ kind: OperationTag.Kind, _ name: String, layer: Int, unit: String) -> OperationTag {
            OperationTag(actor: kind == .compute ? "gpu" : "host", phase: phase, kind: kind, name: name, layer: layer,
                         subgroup: nil, device: nil, unit: unit)
        }

        // Forward. The head's FLOPs run after the last block, on the embedding's fetched weights.
        var previousFetch: OperationID?
        var previousCompute: OperationID?
        let forwardOrder = Array(1...model.layers)
        let firstFetch = plan.operation(tag(.forward, .transfer, "fetch layer 0", layer: 0, unit: "B"),
                                        amount: Double(layerParameters[0]) * Double(gpu.parameterBytes), path: [machine.gpuLinkDown])
        previousFetch = firstFetch
        for layer in forwardOrder {
            let fetch = plan.operation(tag(.forward, .transfer, "fetch layer \(layer)", layer: layer, unit: "B"),
                                       amount: Double(layerParameters[layer]) * Double(gpu.parameterBytes), path: [machine.gpuLinkDown],
                                       after: previousFetch.map { [$0] } ?? [])
            let compute = plan.operation(tag(.forward, .compute, "forward layer \(layer)", layer: layer, unit: "FLOP"),
                                         amount: layerFLOPs[layer], path: [machine.gpu], latency: launch,
                                         after: [fetch, firstFetch] + (previousCompute.map { [$0] } ?? []),
                                         costs: [machine.gpu: forwardCost])
            if offloadsCheckpoints {
                let toHost = plan.operation(tag(.forward, .transfer, "checkpoint layer \(layer) out", layer: layer, unit: "B"),
                                            amount: checkpointBytes, path: [machine.gpuLinkUp], after: [compute])
                if workload.activationsOnStorage {
                    _ = checkpointStorage(layer: layer, bytes: checkpointBytes, toFlash: true, after: [toHost], into: &plan)
                }
            }
            previousFetch = fetch
            previousCompute = compute
        }
        let head = plan.operation(tag(.forward, .compute, "forward head", layer: 0, unit: "FLOP"),
                                  amount: layerFLOPs[0], path: [machine.gpu], latency: launch,
                                  after: [firstFetch] + (previousCompute.map { [$0] } ?? []), costs: [machine.gpu: forwardCost])

        // Backward: the head first (no recompute), then the blocks in reverse, the embedding last.
        var previousBackward = head
        var previousOffload: [OperationID] = []
        var offloads: [[OperationID]] = []
        let backwardOrder = [0] + forwardOrder.reversed()
        previousFetch = nil
        for (position, layer) in backwardOrder.enumerated() {
            var inputs = [previousBackward] + previousOffload
            if layer > 0 {
                let fetch = plan.operation(tag(.backward, .transfer, "fetch layer \(layer)", layer: layer, unit: "B"),
                                           amount: Double(layerParameters[layer]) * Double(gpu.parameterBytes) * Double(max(0, gpu.parameterFetches - 1)),
                                           path: [machine.gpuLinkDown], after: previousFetch.map { [$0] } ?? [head])
                previousFetch = fetch
                inputs.append(fetch)
                if offloadsCheckpoints {
                    let fromFlash = workload.activationsOnStorage
                        ? checkpointStorage(layer: layer, bytes: checkpointBytes, toFlash: false, after: [fetch], into: &plan) : [fetch]
                    inputs.append(plan.operation(tag(.backward, .transfer, "checkpoint layer \(layer) in", layer: layer, unit: "B"),
                                                 amount: checkpointBytes, path: [machine.gpuLinkDown], after: fromFlash))
                }
                let recompute = plan.operation(tag(.backward, .compute, "recompute layer \(layer)", layer: layer, unit: "FLOP"),
                                               amount: layerFLOPs[layer], path: [machine.gpu], latency: launch, after: inputs,
                                               costs: [machine.gpu: forwardCost])
                inputs = [recompute]
            }
            let backward = plan.operation(tag(.backward, .compute, layer == 0 ? "backward head" : "backward layer \(layer)",
                                              layer: layer, unit: "FLOP"),
                                          amount: layerBackwardFLOPs[layer], path: [machine.gpu], latency: launch, after: inputs,
                                          costs: [machine.gpu: backwardCost])
            previousBackward = backward
            // The embedding's gradient (tied with the head) is complete only after the last layer.
            let gradientLayer = layer == 0 ? nil : layer
            if let gradientLayer {
                previousOffload = offload(layer: gradientLayer, parameters: layerGradients[gradientLayer], after: backward, into: &plan)
                offloads.append(previousOffload)
            }
            if position == backwardOrder.count - 1 {
                let embedding = plan.operation(tag(.backward, .compute, "backward embedding", layer: 0, unit: "FLOP"),
                                               amount: 0, path: [], after: [backward] + previousOffload)
                offloads.append(offload(layer: 0, parameters: layerGradients[0], after: embedding, into: &plan))
            }
        }
        return offloads
    }

    /// SSDTrain's activation offload: one layer's checkpoint between host memory and the devices'
    /// flash over the shared link, split evenly across the devices (written after the forward,
    /// read before the recompute); returns the transfers.
    private func checkpointStorage(layer: Int, bytes: Double, toFlash: Bool, after: [OperationID],
                                   into plan: inout PlannedIteration) -> [OperationID] {
        let share = bytes / Double(machine.devices.count)
        return machine.devices.map { d in
            plan.operation(OperationTag(actor: "host", phase: toFlash ? .forward : .backward, kind: .transfer,
                                        name: "checkpoint layer \(layer) \(toFlash ? "to" : "from") device \(d.index)", layer: layer,
                                        subgroup: nil, device: d.index, unit: "B"),
                           amount: share,
                           path: toFlash ? [machine.sharedDown, d.portDown, d.flash] : [d.flash, d.portUp, machine.sharedUp],
                           latency: machine.setup.host.commandLatency + machine.setup.device.ssdAccessLatency, after: after,
                           costs: [d.flash: toFlash ? machine.writeCost : machine.readCost])
        }
    }

    /// One layer's gradient from the GPU to the devices' flash; returns the writes. With many
    /// hosts it is first reduce-scattered, and only this host's slice of the sum goes on.
    private func offload(layer: Int, parameters: Int, after backward: OperationID, into plan: inout PlannedIteration) -> [OperationID] {
        let gpu = machine.setup.gpu
        let slice = machine.slice(parameters)
        let elements = Double(slice)
        let reduced = machine.ringCollective(
            OperationTag(actor: "network", phase: .gradientReduceScatter, kind: .transfer, name: "reduce-scatter layer \(layer)",
                         layer: layer, subgroup: nil, device: nil, unit: "B"),
            sliceElements: slice, bytesPerElement: gpu.gradientBytes, after: [backward], into: &plan)
        var ready = reduced ?? backward
        var gpuBytes = elements * Double(gpu.gradientBytes)
        // The paper's accounting: a dense fp32 gradient is 4 B per element, a payload 2r of that.
        var storageBytes = elements * 4
        if compressed {
            ready = plan.operation(OperationTag(actor: "gpu", phase: .compress, kind: .compute, name: "top-k layer \(layer)",
                                                layer: layer, subgroup: nil, device: nil, unit: "B"),
                                   amount: gpuBytes, path: [machine.gpu], latency: gpu.launchLatency, after: [ready],
                                   costs: [machine.gpu: 1 / gpu.topkScan])
            storageBytes *= workload.compressedFraction
            gpuBytes = storageBytes
        }
        let toHost = plan.operation(OperationTag(actor: "host", phase: .gradientOffload, kind: .transfer, name: "gradient layer \(layer) to host",
                                                 layer: layer, subgroup: nil, device: nil, unit: "B"),
                                    amount: gpuBytes, path: [machine.gpuLinkUp], after: [ready])
        let share = storageBytes / Double(machine.devices.count)
        return machine.devices.map { d in
            plan.operation(OperationTag(actor: "host", phase: .gradientOffload, kind: .transfer,
                                        name: "gradient layer \(layer) to device \(d.index)", layer: layer, subgroup: nil,
                                        device: d.index, unit: "B"),
                           amount: share, path: [machine.sharedDown, d.portDown, d.flash],
                           latency: machine.setup.host.commandLatency + machine.setup.device.ssdAccessLatency,
                           after: [toHost], costs: [d.flash: machine.writeCost])
        }
    }
}
