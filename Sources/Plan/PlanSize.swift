import HardwareModel
import OffloadVocabulary

/// How many operations an iteration's plan will have, counted from the workload, the device
/// count and the profile before anything is built, so that a plan too large to build is refused
/// (`IterationPlanner.maximumOperations`) instead of exhausting memory and time.
///
/// Nothing in a plan overflows — model sizes are bounded (`ModelShape`), and so is the device
/// count (`IterationPlanner.maximumDevices`) — but the number of operations multiplies
/// settings that are each fine alone: subgroups (parameters ÷ `subgroupElements`, up to 2^40
/// with a subgroup of one element), devices, and chunks per device share (a device's share ÷
/// the elements one chunk of `fpga.chunk` bytes holds). The counts follow the planners
/// operation by operation (`ComputePlanner`, `UpdatePlanner`; a test checks them against built
/// plans) and are computed with saturating arithmetic, so a count beyond `Int` reads `Int.max`
/// and is refused like any other.
public struct PlanSize: Sendable, Equatable {
    /// The profile value that bounds a SmartUpdate chunk: `fpga.chunk`, or `fpga.dram` when
    /// three buffer sets of `fpga.chunk` (one of the whole share in su) do not fit in it.
    public enum ChunkBound: String, Sendable, Equatable {
        case chunk = "fpga.chunk"
        case dram = "fpga.dram"
    }

    /// The setting that makes a plan too large, and so the one to raise (or lower).
    public enum Culprit: Sendable, Equatable {
        /// Forward and backward alone: a gradient write per layer per device.
        case devices
        /// Too many subgroups: `subgroupElements` is small for the model.
        case subgroupSize
        /// Too many chunks per device share: `fpga.chunk` (or `fpga.dram`) is small.
        case chunkSize(ChunkBound)
        /// Both: either alone would still make too many operations.
        case subgroupAndChunkSize(ChunkBound)
    }

    public let mode: OffloadMode
    public let devices: Int
    public let hosts: Int
    public let layers: Int
    /// Parameters the optimizer step updates (the adapters' only, under LoRA; one host's slice
    /// of them, with many hosts).
    public let parameters: Int
    public let subgroupElements: Int
    /// Optimizer subgroups: ⌈parameters ÷ subgroupElements⌉.
    public let subgroups: Int
    /// Operations of the forward and backward passes with the gradient offload.
    public let computeOperations: Int
    /// Operations of the optimizer step.
    public let updateOperations: Int
    /// Device shares of subgroups with elements to update (SmartUpdate), or subgroups × devices
    /// (base, where every drive is read and written for every subgroup).
    public let shares: Int
    /// Chunks the SmartUpdate step loads (at least one per share); 0 in base.
    public let chunks: Int
    /// Elements per chunk and what bounds it; nil in base.
    public let chunkElements: Int?
    public let chunkBound: ChunkBound?
    /// The bounding profile value in bytes (`fpga.chunk` or `fpga.dram`); nil in base.
    public let chunkSettingBytes: Int?

    /// Every operation of the plan.
    public var operations: Int { Self.sum(computeOperations, updateOperations) }

    /// Counts the plan `IterationPlanner.plan` would build. The caller has checked the device
    /// and host counts (1 ... `maximumDevices`, 1 ... `maximumHosts`) and, for SmartUpdate modes,
    /// that the device has an FPGA.
    init(_ mode: OffloadMode, _ workload: IterationWorkload, devices: Int, hosts: Int, on setup: HardwareSetup) {
        self.mode = mode
        self.devices = devices
        self.hosts = hosts
        layers = workload.model.layers
        parameters = workload.trainableParameters(slicedOver: hosts)
        subgroupElements = workload.subgroupElements
        let (fullSubgroups, lastElements) = parameters.quotientAndRemainder(dividingBy: subgroupElements)
        subgroups = Self.sum(fullSubgroups, lastElements > 0 ? 1 : 0)

        // ComputePlanner: the first fetch, the head, its backward, the embedding's backward and
        // its offload (a reduce-scatter with many hosts, top-k in su+o+c, to host, one write per
        // device); per block a forward fetch and compute, a backward fetch, recompute and
        // backward (each with a checkpoint transfer when activations are offloaded) and the same
        // offload.
        let compressed = mode == .suOC ? 1 : 0
        // With many hosts: a reduce-scatter per layer, an all-gather per subgroup.
        let collective = hosts > 1 ? 1 : 0
        // Checkpoint transfers per block: out and in over the GPU link, and with SSDTrain a
        // write to and a read from every device.
        let checkpoints = workload.activationsOnStorage ? Self.sum(2, Self.product(2, devices))
            : setup.gpu.offloadsActivationCheckpoints ? 2 : 0
        let offload = Self.sum(collective, compressed, 1, devices)
        computeOperations = Self.sum(4, offload, Self.product(layers, Self.sum(5, checkpoints, offload)))

        // UpdatePlanner: a start barrier, then per subgroup its operations, a closing barrier and
        // (many hosts) the all-gather.
        let perSubgroup: (Int) -> (operations: Int, shares: Int, chunks: Int)
        if mode == .base {
            // Per subgroup a read from and a write to every drive and the host's update.
            perSubgroup = { _ in (Self.sum(Self.product(2, devices), 2, collective), devices, 0) }
            chunkElements = nil
            chunkBound = nil
            chunkSettingBytes = nil
        } else {
            guard let fpga = setup.device.fpga else {
                preconditionFailure("SmartUpdate needs a device with an FPGA; IterationPlanner checks this")
            }
            let (limit, bound) = UpdatePlanner.chunk(mode, workload, fpga)
            chunkElements = limit
            chunkBound = bound
            chunkSettingBytes = bound == .chunk ? fpga.chunk : fpga.dram
            // Per chunk a load, an update and a write-back (and an upload in su); per share an
            // upload once it is durable (su+o, su+o+c).
            let perChunk = mode == .su ? 4 : 3
            let perShare = mode == .su ? 0 : 1
            let hostShare = workload.hostUpdateShare
            perSubgroup = { subgroupElements in
                // Twin-Flow: the host's part is read, updated and written as in base.
                let onHost = UpdatePlanner.hostElements(of: subgroupElements, share: hostShare)
                let hostOperations = onHost > 0 ? Self.sum(Self.product(2, devices), 1) : 0
                let elements = subgroupElements - onHost
                // Devices 0, 1, … take ⌈elements ÷ devices⌉ each until the elements run out.
                let share = (elements - 1) / devices + 1
                let (fullShares, rest) = elements.quotientAndRemainder(dividingBy: share)
                let chunksOfShare = (share - 1) / limit + 1
                let chunksOfRest = rest > 0 ? (rest - 1) / limit + 1 : 0
                let chunks = Self.sum(Self.product(fullShares, chunksOfShare), chunksOfRest)
                let shares = Self.sum(fullShares, rest > 0 ? 1 : 0)
                return (Self.sum(Self.product(chunks, perChunk), Self.product(shares, perShare), 1, collective, hostOperations),
                        shares, chunks)
            }
        }
        let full = perSubgroup(subgroupElements)
        let last = lastElements > 0 ? perSubgroup(lastElements) : (operations: 0, shares: 0, chunks: 0)
        updateOperations = Self.sum(1, Self.product(fullSubgroups, full.operations), last.operations)
        shares = Self.sum(Self.product(fullSubgroups, full.shares), last.shares)
        chunks = Self.sum(Self.product(fullSubgroups, full.chunks), last.chunks)
    }

    /// What the plan is too large because of, given `limit`: the forward and backward alone
    /// (devices); or the subgroups, the chunks or both, judged by what each alone would give:
    /// the operations with chunks as large as a share (about one load per share), and with one
    /// subgroup (about parameters ÷ chunk elements loads).
    public func culprit(limit: Int) -> Culprit {
        if computeOperations > limit { return .devices }
        guard let chunkElements, let chunkBound else { return .subgroupSize }
        let perChunk = mode == .su ? 4 : 3
        let onlySubgroups = Self.sum(computeOperations, Self.product(shares, perChunk + 1), subgroups)
        let onlyChunks = Self.sum(computeOperations, Self.product((parameters - 1) / chunkElements + 1, perChunk))
        switch (onlySubgroups > limit, onlyChunks > limit) {
        case (true, true): return .subgroupAndChunkSize(chunkBound)
        case (true, false): return .subgroupSize
        case (false, true): return .chunkSize(chunkBound)
        case (false, false): return chunks > shares ? .chunkSize(chunkBound) : .subgroupSize
        }
    }

    /// The plan in a phrase: `32985303040 subgroups of 1 element on 10 devices, in 32985303040
    /// chunks of at most 16000000 elements, after 104 layers × 10 gradient writes`.
    public var summary: String {
        var text = "\(subgroups) subgroup\(subgroups == 1 ? "" : "s") of \(Self.elements(subgroupElements)) on "
            + "\(devices) device\(devices == 1 ? "" : "s")"
        if let chunkElements { text += ", in \(chunks) chunk\(chunks == 1 ? "" : "s") of at most \(Self.elements(chunkElements))" }
        return text + ", after \(layers) layer\(layers == 1 ? "" : "s") × \(devices) gradient writes"
    }

    static func elements(_ n: Int) -> String { n == 1 ? "1 element" : "\(n) elements" }

    /// Saturating sums and products: counts past `Int.max` are `Int.max`, which every limit refuses.
    static func sum(_ terms: Int...) -> Int {
        terms.reduce(0) { total, term in
            let (next, overflow) = total.addingReportingOverflow(term)
            return overflow ? Int.max : next
        }
    }

    static func product(_ factors: Int...) -> Int {
        factors.reduce(1) { total, factor in
            let (next, overflow) = total.multipliedReportingOverflow(by: factor)
            return overflow ? Int.max : next
        }
    }
}
