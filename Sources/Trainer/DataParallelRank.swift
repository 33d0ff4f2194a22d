import Collective
import DeviceProtocol
import Offload
import Optim
import Plan
import ReductionOrder

/// This process's part of every step of a run whose step sums several micro-batches: one rank
/// of R data-parallel ranks (`mpirun -np R smartinf train`), or a run alone with `--grad-accum`
/// above 1, which is the one-rank reference the ranks reproduce (docs/SCALE-OUT.md).
///
/// The partition is over all R·N devices, as a one-rank run with all of them has it, and this
/// rank's fleet is its N devices of it. Of every step's M micro-batches (`--grad-accum`, a
/// multiple of R) this rank runs M/R consecutive ones; their gradients are summed in the
/// canonical order (`PairwiseSum`), reduce-scattered so that this rank gets the summed gradient
/// of its devices' slice, rounded once into the run's gradient precision; the statistics that
/// decide the step (norm, overflow) are scanned per device slice and folded in device order
/// across the ranks, with the micro-batches' losses in the same round trip. After the update
/// every rank's new compute copy is gathered into every rank.
///
/// Used by one thread.
final class DataParallelRank {
    let world: World
    /// The partition over every rank's devices.
    let partition: Partition
    /// This rank's devices of `partition`, as its fleet sees them.
    let fleetPartition: Partition
    /// Where this rank's parameters start in the flat vector.
    let offset: Int
    /// The step's micro-batches this rank runs.
    let microBatches: Range<Int>
    private let sum: PairwiseSum
    private let exchange: SliceExchange
    private let reduced: AlignedBuffer<Float>
    /// This rank's slice of the step's summed gradient, in the run's gradient precision: what
    /// its fleet is given.
    private let gradient: StreamBuffer
    /// The step's reduce-scatter and all-gather so far, as the modeled clock charges them (none
    /// in a world of one, whose collectives move nothing).
    private(set) var collectives: [LiveCollective] = []

    init(world: World, parameterCount: Int, devicesPerRank devices: Int, microBatches: Int, precision: Precision) throws {
        let ranks = world.size
        guard microBatches % ranks == 0 else {
            throw TrainingError.badOption("--grad-accum \(microBatches) must be a multiple of the \(ranks) ranks: every rank runs the same number of each step's micro-batches (of --batch sequences each); try --grad-accum \(ranks * max(1, microBatches / ranks))")
        }
        self.world = world
        let partition = Partition(parameterCount: parameterCount, deviceCount: ranks * devices)
        self.partition = partition
        let counts = (0..<ranks).map { partition.parameters(ofDevices: ($0 * devices)..<(($0 + 1) * devices)).count }
        guard counts.allSatisfy({ $0 > 0 }) else {
            throw TrainingError.badOption("the model's \(parameterCount) parameters over \(ranks) ranks × --devices \(devices) leave rank \(counts.firstIndex(of: 0)!)'s devices without any: use fewer devices or ranks")
        }
        let own = (world.rank * devices)..<((world.rank + 1) * devices)
        fleetPartition = partition.devices(own)
        offset = partition.parameters(ofDevices: own).lowerBound
        let share = microBatches / ranks
        self.microBatches = (world.rank * share)..<((world.rank + 1) * share)
        sum = PairwiseSum(leaves: share, count: parameterCount)
        exchange = SliceExchange(world: world, slices: RankSlices(counts: counts))
        reduced = AlignedBuffer(count: fleetPartition.parameterCount)
        gradient = precision == .fp32 ? .fp32(reduced) : StreamBuffer(precision: precision, count: reduced.count)
    }

    /// Adds the gradient of this rank's next micro-batch.
    func add(_ microBatchGradient: StreamBuffer) { sum.add(microBatchGradient) }

    /// After this rank's last micro-batch: its slice of the sum over every rank's micro-batches.
    /// Begins the step's `collectives`.
    func reduce() throws -> StreamBuffer {
        collectives = []
        let partial = sum.finish()
        try recording(.reduceScatter, as: .gradientReduceScatter) { try exchange.reduceScatter(partial, into: reduced) }
        if gradient.precision != .fp32 { gradient.store(reduced) }
        return gradient
    }

    /// Runs `collective`, adding what it moved and when to `collectives`.
    private func recording(_ operation: CollectiveOperation, as phase: OperationTag.Phase, _ collective: () throws -> Void) throws {
        let before = world.traffic(of: operation)
        let start = ContinuousClock.now
        try collective()
        let end = ContinuousClock.now
        guard world.size > 1 else { return }
        let after = world.traffic(of: operation)
        collectives.append(LiveCollective(phase: phase, sent: after.bytesSent - before.bytesSent,
                                          received: after.bytesReceived - before.bytesReceived,
                                          wall: start.systemNanoseconds...end.systemNanoseconds))
    }

    /// The statistics of the whole step's gradient, and every micro-batch's loss in micro-batch
    /// order, from this rank's `losses` and its slice of the gradient (`reduce`): one round trip.
    func gather(losses: [Double]) throws -> (statistics: GradientStatistics, losses: [Double]) {
        precondition(losses.count == microBatches.count, "\(losses.count) losses for \(microBatches.count) micro-batches")
        let devices = fleetPartition.deviceCount
        let local = (0..<devices).map { GradientStatistics.scan(gradient, range: fleetPartition.parameters(ofDevice: $0)) }
        let values = losses + local.map(\.sumOfSquares) + local.map { $0.allFinite ? 0 : 1 }
        let all = try world.allGather(values)
        var statistics = GradientStatistics()
        var everyLoss: [Double] = []
        for rank in 0..<world.size {
            let part = Array(all[(rank * values.count)..<((rank + 1) * values.count)])
            everyLoss += part[..<losses.count]
            for device in 0..<devices {
                statistics.merge(GradientStatistics(sumOfSquares: part[losses.count + device],
                                                    allFinite: part[losses.count + devices + device] == 0))
            }
        }
        return (statistics, everyLoss)
    }

    /// Fills in every other rank's part of `vector` (the whole model's new compute copy), this
    /// rank's being in place from `offset`; one of the step's `collectives`.
    func allGather(_ vector: StreamBuffer) throws {
        try recording(.allGather, as: .parameterAllGather) { try exchange.allGather(vector) }
    }

    /// The whole vector of which every rank holds its part (`local`, from `offset`).
    func gather(_ local: AlignedBuffer<Float>) throws -> AlignedBuffer<Float> {
        let whole = AlignedBuffer<Float>(count: partition.parameterCount)
        StreamBuffer.fp32(whole).store(local, at: offset)
        try exchange.allGather(.fp32(whole))
        return whole
    }

    /// This rank's parameters in the flat vector.
    var parameters: Range<Int> { offset..<(offset + fleetPartition.parameterCount) }

    /// This rank's part of a whole vector.
    func part(of whole: AlignedBuffer<Float>) -> AlignedBuffer<Float> { AlignedBuffer(whole.array[parameters]) }

    /// This rank's part of the residuals of every parameter (an exported checkpoint's).
    func part(of residuals: ErrorFeedbackFile.Flat) -> ErrorFeedbackFile.Flat {
        ErrorFeedbackFile.Flat(residual: Array(residuals.residual[parameters]), completedSteps: residuals.completedSteps)
    }

    /// Every rank's error-feedback residuals from this rank's (`local`, its fleet's, in
    /// subgroups of `subgroupElements`), laid out as one fleet of every rank's devices holds
    /// them: the file a one-rank run with all the devices saves. Every rank takes part.
    func gather(_ local: ErrorFeedbackFile, subgroupElements: Int) throws -> ErrorFeedbackFile {
        guard world.size > 1 else { return local }
        let own = try local.flattened(over: fleetPartition, path: "rank \(world.rank)'s residuals")
        let whole = try gather(AlignedBuffer(own.residual))
        return ErrorFeedbackFile(ErrorFeedbackFile.Flat(residual: whole.array, completedSteps: own.completedSteps), partition: partition,
                                 subgroupElements: subgroupElements)
    }

    /// This rank's devices' residuals of a checkpoint's file (`path`) of every rank's devices.
    func part(of residuals: ErrorFeedbackFile, path: String) throws -> ErrorFeedbackFile {
        let devices = fleetPartition.deviceCount
        guard residuals.devices.count == partition.deviceCount else {
            throw FleetError.checkpoint(path: path, detail: "holds \(residuals.devices.count) devices' residuals; the run has \(partition.deviceCount) (\(world.size) ranks of \(devices))")
        }
        return ErrorFeedbackFile(devices: Array(residuals.devices[(world.rank * devices)..<((world.rank + 1) * devices)]))
    }
}
