import Collective
import Foundation
import GPT
import Logging
import Offload
import OffloadStep
import Optim
import SeededRandom
import DeviceProtocol

/// The host's training loop: forward and backward on the CPU, then the optimizer step around
/// the model (`OffloadedOptimizer`: the gradient checked, unscaled and clipped into one factor,
/// the update on the device fleet, or the host in base mode), and the next forward on the compute
/// copy the devices wrote back.
public final class TrainingRun {
    public let options: TrainingOptions
    public let model: GPTModel
    /// The step around the model, which owns the fleet.
    public let optimizer: OffloadedOptimizer
    public var fleet: DeviceFleet { optimizer.fleet }
    public var partition: Partition { optimizer.partition }
    private var trainLoader: TokenBatchLoader
    private var validationLoader: TokenBatchLoader?
    /// Steps finished before this process started (a resumed run).
    public private(set) var stepsDone = 0
    public private(set) var records: [StepRecord] = []
    public private(set) var traffic = StepTraffic()
    private let metrics: MetricsWriter?
    /// Called with the step and the (scaled) flat gradient, in the run's precision, right before
    /// it is checked: fault injection for tests of the overflow path (an Inf here must skip the
    /// step everywhere).
    public var gradientFault: ((Int, StreamBuffer) -> Void)?
    /// The modeled machine under the virtual and paced clocks (and for traces).
    private let clocking: LiveClocking?
    /// The run's log: its start, and each device failure and recovery (with `device` and
    /// `step`); the fleet logs its recoveries' steps at debug.
    private let logger: Logger
    /// Device failures recovered from (`--on-device-failure retry`).
    public var recoveries: Int { optimizer.recoveries }
    /// The directory of the last checkpoint this run saved (or resumed from).
    private var lastCheckpoint: String?
    /// The host's part of every settled step, made durable beside the devices' SSD files.
    private let journal: TrainerJournal
    /// Wall seconds each step's journal write took (what making the host durable costs).
    public private(set) var journalSeconds: [Double] = []
    /// Where the trainer kills itself, for the host crash tests (`--host-fault`).
    private let hostFault: HostFault?
    /// The step still on the devices while the next forward pass runs (`overlapForward`).
    private var inFlight: InFlightStep?
    /// Told of each finished step (set by `run`).
    private var progress: (StepRecord) -> Void = { _ in }
    /// Subgroups whose parameters forward passes took before their devices had finished.
    public private(set) var earlyParameterSubgroups = 0
    /// Gradient payloads (one per device subgroup) written while backward still ran, over the run.
    public private(set) var earlyGradientPayloads = 0
    /// The data-parallel job this process is a rank of (a world of one without `mpirun`).
    public let world: World
    /// This process's share of a step that sums several micro-batches (over ranks, or
    /// `--grad-accum` alone); nil for a one-rank run with one micro-batch per step.
    private let dataParallel: DataParallelRank?

    /// A step begun on the devices and not yet settled: what it needs to be settled, or run
    /// again after a device failure, and its record so far.
    private struct InFlightStep {
        let flight: OffloadedOptimizer.InFlight
        var record: StepRecord
    }

    /// Loads the model and data, starts the fleet and loads the initial parameters into it, or
    /// (`--resume`) brings back the run the resumed directory holds. In a job of several ranks
    /// (`world`, by default this process's) each rank does so with its own devices, in its own
    /// directory `rank-r` of the SSD directory.
    /// Device processes it starts log at `logger`'s level.
    public init(_ options: TrainingOptions, world: World? = nil,
                logger: Logger = Logger(label: "smartinf.trainer", factory: SwiftLogNoOpLogHandler.init)) throws {
        let world = try world ?? World.join()
        self.world = world
        let options = try options.forRank(of: world)
        self.options = options
        self.logger = logger
        hostFault = options.hostFault
        guard options.steps >= 1 else { throw TrainingError.badOption("--steps must be at least 1, got \(options.steps)") }
        var placement = FleetPlacement(mode: options.mode, devices: options.devices, ssdDirectory: options.ssdDirectory,
                                       dramBytes: options.dramBytes, deviceThreads: options.deviceThreads, attach: options.attach,
                                       deviceTimeout: options.deviceTimeout)
        do { try placement.validate() } catch { throw TrainingError.badOption(error.description) }
        OpenBLAS.setThreadCount(options.blasThreads)
        let source = try options.resume.flatMap { try ResumeSource.resolve($0, options: options, logger: logger)?.agreeing(over: world, logger: logger) }
        let saved = source?.state
        lastCheckpoint = source?.checkpoint
        // The model's shape, and for a new run its initial parameters. A resumed run takes its
        // parameters from where its states are (the devices, or an exported checkpoint).
        let config: GPTConfig
        var initial: AlignedBuffer<Float>?
        switch source {
        case .exported(_, let portable)?: config = portable.config
        case .checkpoint(let directory, let state)?, .devices(let directory, let state)?:
            if let shape = state.model {
                config = try shape.config(in: directory)
            } else {
                config = try GPTCheckpoint.read(from: "\(directory)/\(Self.modelFile)").config
            }
        case nil:
            let checkpoint: GPTCheckpoint
            switch options.model {
            case .checkpoint(let path): checkpoint = try GPTCheckpoint.read(from: path)
            case .initialize(let spec, let seed):
                var rng = SplitMix64(seed: seed)
                checkpoint = GPTCheckpoint(gpt2Initialization: try GPTConfig(initSpec: spec), using: &rng)
            }
            config = checkpoint.config
            initial = checkpoint.parameters
        }
        let shape = try BatchShape(batchSize: options.batchSize, sequenceLength: options.sequenceLength, config: config)
        let tokens = try TokenFile.read(from: options.trainData, vocabSize: config.vocabSize)
        trainLoader = try TokenBatchLoader(tokens: tokens, shape: shape,
                                           shuffler: options.shuffleSeed.map { SplitMix64(seed: $0) })
        if let path = options.validationData {
            validationLoader = try TokenBatchLoader(tokens: try TokenFile.read(from: path, vocabSize: config.vocabSize),
                                                    shape: shape)
        }
        let dataParallel = world.size > 1 || options.gradientAccumulationSteps > 1
            ? try DataParallelRank(world: world, parameterCount: config.parameterCount, devicesPerRank: options.devices,
                                   microBatches: options.gradientAccumulationSteps, precision: options.precision)
            : nil
        self.dataParallel = dataParallel
        let partition = dataParallel?.fleetPartition ?? Partition(parameterCount: config.parameterCount, deviceCount: options.devices)
        let scaling = options.lossScaling ?? (options.precision == .fp16 ? DynamicLossScaler.Configuration() : nil)
        let lossScaler = try scaling.map { configuration in
            do { return try saved?.lossScaler.map { try DynamicLossScaler(configuration, continuing: $0) } ?? DynamicLossScaler(configuration) }
            catch { throw TrainingError.badOption("--resume: the checkpoint's loss scaler: \(error)") }
        }
        if let saved {
            stepsDone = saved.stepsDone
            for _ in 0..<saved.stepsDone * options.gradientAccumulationSteps { _ = trainLoader.next() }
        }

        // A new run starts its devices on fresh SSD files (and no snapshots, no journal): the
        // ones it names, and only those; so does one that lays out an exported checkpoint.
        let fresh: Bool
        if case .checkpoint? = source { fresh = false } else if case .devices? = source { fresh = false } else { fresh = true }
        if fresh {
            placement.removeStaleDeviceFiles()
            TrainerJournal.remove(in: options.ssdDirectory)
        }
        if options.clock.kind == .paced && !options.attach.isEmpty {
            throw TrainingError.badOption("--clock paced starts its own devices with the shared pacer table; it cannot --attach")
        }
        let clocking = options.clock.modeled
            ? try LiveClocking(options.clock, config: config, batch: options.batchSize, sequence: options.sequenceLength,
                               mode: options.mode, devices: options.devices, ranks: world.size, statePrecision: options.statePrecision,
                               directory: options.ssdDirectory)
            : nil
        self.clocking = clocking
        placement.inProcessPacers = try clocking?.inProcessPacers() ?? []
        placement.deviceLogLevel = logger.logLevel
        placement.deviceArguments = Dictionary(uniqueKeysWithValues: (0..<options.devices).map { i in
            (i, (options.deviceFaults[i].map { ["--fault", $0] } ?? []) + (clocking?.deviceArguments(i) ?? []))
        })
        if world.size > 1 && options.overlapForward {
            logger.notice("--overlap-forward: not over ranks (the new compute copy is all-gathered after each step); every step settles before the next forward pass")
        }
        logger.info("model: \(config)")
        logger.info("fleet: \(options.mode) on \(options.devices) device(s), starting")
        let start: DeviceFleet.Start
        switch source {
        case .exported(_, let portable)?:
            start = .restore(vectors: portable.vectors.map { Self.part(of: $0, dataParallel) }, committedStep: portable.state.stepsDone)
        case .checkpoint(_, let state)?, .devices(_, let state)?: start = .resume(committedStep: state.stepsDone, snapshots: state.snapshots)
        case nil: start = .load(Self.part(of: initial!, dataParallel))
        }
        let fleet = try DeviceFleet.start(placement.backend, partition: partition, configuration: DeviceFleet.Configuration(
            mode: options.mode, optimizer: options.optimizer, gradientPrecision: options.precision,
            copyOutPrecision: options.precision,
            subgroupElements: options.subgroupElements, compression: options.compression,
            queueDepth: options.queueDepth, blockSize: options.blockSize, statePrecision: options.statePrecision),
            start: start, directory: options.ssdDirectory, logger: logger)
        optimizer = OffloadedOptimizer(fleet: fleet, optimizer: options.optimizer, clipping: GradientClipping(maxNorm: options.gradientClip),
                                       lossScaler: lossScaler, appliedSteps: saved?.appliedSteps ?? 0,
                                       onDeviceFailure: options.onDeviceFailure, logger: logger)
        // A resumed run's parameters are the fp32 masters its devices hold (in mixed precision
        // the model keeps only their rounding, as the devices write it back after every step).
        let parameters: AlignedBuffer<Float>
        switch source {
        case .exported(_, let portable)?: parameters = portable.vectors[0]
        case .checkpoint?, .devices?: parameters = try Self.whole(AlignedBuffer(try fleet.readState(.parameters)), dataParallel)
        case nil: parameters = initial!
        }
        model = GPTModel(config: config, parameters: parameters, shape: shape, precision: options.precision)
        if fleet.usesErrorFeedback {
            switch source {
            case .checkpoint(let directory, let state)?:
                // A missing file is refused by the reader, saying why it may be missing. Over
                // ranks it holds every rank's devices, and each rank takes its own.
                let path = state.errorFeedbackFile(in: directory) ?? "\(directory)/\(TrainerState.unnamedErrorFeedbackFile)"
                let saved = try ErrorFeedbackFile(reading: path)
                try fleet.restore(try dataParallel?.part(of: saved, path: path) ?? saved, from: path)
            case .exported(let directory, let portable)?:
                guard let flat = portable.errorFeedback else { preconditionFailure("ResumeSource reads the residuals of an error-feedback run") }
                try fleet.restore(ErrorFeedbackFile(dataParallel?.part(of: flat) ?? flat, partition: fleet.partition,
                                                    subgroupElements: fleet.subgroupElements),
                                  from: "\(directory)/\(PortableCheckpoint.errorFeedbackFile)")
            case .devices?, nil: break
            }
        }
        if let table = clocking?.table {
            fleet.paceOffload = { device, bytes, started in table.paceOffload(to: device, bytes: bytes, startedAt: started) }
        }
        journal = try TrainerJournal(directory: options.ssdDirectory, state: Self.trainerState(
            options, step: stepsDone, optimizer: optimizer, config: config, checkpoint: lastCheckpoint))
        // Created last, so that a run that cannot start leaves no output behind.
        let kept = saved == nil ? nil : stepsDone
        metrics = try options.metricsPath.map { try MetricsWriter(path: $0, keepingStepsThrough: kept) }
    }

    /// This rank's part of a whole vector (all of it in a world of one).
    private static func part(of whole: AlignedBuffer<Float>, _ dataParallel: DataParallelRank?) -> AlignedBuffer<Float> {
        guard let dataParallel, dataParallel.world.size > 1 else { return whole }
        return dataParallel.part(of: whole)
    }

    /// The whole vector of which this rank's fleet holds `local`.
    private static func whole(_ local: AlignedBuffer<Float>, _ dataParallel: DataParallelRank?) throws -> AlignedBuffer<Float> {
        guard let dataParallel, dataParallel.world.size > 1 else { return local }
        return try dataParallel.gather(local)
    }

    /// What this rank moved in each kind of collective so far (nothing in a world of one).
    public func collectiveTraffic(of operation: CollectiveOperation) -> CollectiveTraffic { world.traffic(of: operation) }

    /// The partition plan with tensor names (`--explain`).
    public var plan: String {
        partition.explain(tensors: ParameterTensor.allCases.map { ($0.description, model.layout.count(of: $0)) },
                          subgroupElements: fleet.subgroupElements)
    }

    /// Runs every step; `progress` gets one line per step, once the step is settled.
    public func run(progress: @escaping (StepRecord) -> Void = { _ in }) throws {
        self.progress = progress
        defer { self.progress = { _ in } }
        for step in stride(from: stepsDone + 1, through: options.steps, by: 1) {
            do {
                // nil: the step is still on the devices, and is finished by the next one.
                if let record = try runStep(step) { try complete(record) }
            } catch let error as FleetError where error.failure == .refused(.integrity) {
                throw TrainingError.integrity(detail: "\(error)", resumeFrom: lastCheckpoint)
            }
        }
        if let path = options.saveCheckpoint { try saveCheckpoint(to: path, modelFile: true) }
        try clocking?.writeTrace(subgroupElements: fleet.subgroupElements, topkRatio: options.compression.ratio)
    }

    /// Records a settled step: in the records and the metrics, then durably in the journal (the
    /// host's part of the step; the devices committed theirs); then saves a periodic checkpoint
    /// when one is due. A host that dies between the metrics and the journal leaves a metrics
    /// line of a step it runs again, which the resumed run drops (`MetricsWriter`).
    private func complete(_ record: StepRecord) throws {
        records.append(record)
        try metrics?.append(record)
        let journalStart = ContinuousClock.now
        try journal.append(trainerState(step: record.step),
                           tearAfter: hostFault?.tearsJournal(atStep: record.step) == true ? 512 : nil)
        hostFault.strike(.journal, step: record.step)
        journalSeconds.append((ContinuousClock.now - journalStart) / .seconds(1))
        progress(record)
        if let path = options.saveCheckpoint, checkpointDue(record.step) {
            try saveCheckpoint(to: path, modelFile: options.checkpointModelFile)
        }
    }

    /// The trainer state at the end of step `step` (settled), as the journal and checkpoints
    /// record it.
    private func trainerState(step: Int) -> TrainerState {
        Self.trainerState(options, step: step, optimizer: optimizer, config: model.config, checkpoint: lastCheckpoint)
    }

    private static func trainerState(_ options: TrainingOptions, step: Int, optimizer: OffloadedOptimizer, config: GPTConfig,
                                     checkpoint: String?) -> TrainerState {
        TrainerState(
            ranks: options.ranks, stepsDone: step, appliedSteps: optimizer.appliedSteps, mode: options.mode.rawValue,
            optimizer: options.optimizer.name, devices: options.devices, ssdDirectory: options.ssdDirectory,
            subgroupElements: optimizer.fleet.subgroupElements, shuffleSeed: options.shuffleSeed,
            gradientAccumulationSteps: options.gradientAccumulationSteps,
            lossScaler: optimizer.lossScaler?.position,
            model: .init(config), checkpoint: checkpoint)
    }

    private func checkpointDue(_ step: Int) -> Bool {
        options.saveCheckpoint != nil && options.checkpointEvery > 0 && step % options.checkpointEvery == 0 && step < options.steps
    }

    private func validationDue(_ step: Int) -> Bool {
        options.validationEvery > 0 && (step % options.validationEvery == 0 || step == options.steps)
    }

    /// Whether step `step` may stay on the devices while the next forward pass starts: not when
    /// something right after it needs the run settled (a checkpoint, a validation pass, the end),
    /// nor under a modeled clock, which times the paper's schedule.
    private func mayOverlap(_ step: Int, skip: Bool) -> Bool {
        options.overlapForward && world.size == 1 && !skip && clocking == nil && step < options.steps && !checkpointDue(step) && !validationDue(step)
    }

    /// The forward pass of the next step, overlapped with the step in flight: it waits for each
    /// subgroup's parameters as its device writes them back. Then the step in flight is settled
    /// (recovered and run again on a device failure, under `retry`); if it had to be run again,
    /// the pass is redone on the recovered parameters.
    private func forwardOverlapping(_ inFlight: InFlightStep, _ batch: TokenBatch) throws -> Float {
        self.inFlight = nil
        let (flight, parameters) = (inFlight.flight, model.computeParameters)
        var loss = model.forward(batch) { flight.pending.awaitParameters($0, into: parameters) }
        earlyParameterSubgroups += flight.pending.earlySubgroups
        let settleStart = ContinuousClock.now
        let (traffic, retried) = try optimizer.settle(flight)
        hostFault.strike(.committed, step: flight.pending.step)
        self.traffic.add(traffic)
        var record = inFlight.record
        record.seconds.update += (ContinuousClock.now - settleStart) / .seconds(1)
        record.tokensPerSecond = Double(model.shape.tokenCount * options.gradientAccumulationSteps) / record.seconds.total
        if retried {
            fleet.readComputeCopy(into: parameters)
            loss = model.forward(batch)
        } else {
            flight.pending.copyRemaining(into: parameters)
        }
        try complete(record)
        return loss
    }

    private func runStep(_ step: Int) throws -> StepRecord? {
        var seconds = PhaseSeconds()
        let scale = optimizer.lossScale
        // Each micro-batch's loss is scaled by 1/N (as DeepSpeed and llm.c do), so that the
        // gradients its backward passes add up are the mean over the step's micro-batches.
        let microBatchCount = options.gradientAccumulationSteps
        let backwardScale = Float(scale) / Float(microBatchCount)
        // The step's micro-batches this process runs; a rank passes over the others' batches.
        let own = dataParallel?.microBatches ?? 0..<microBatchCount
        for _ in 0..<own.lowerBound { _ = trainLoader.next() }
        var batch = trainLoader.next()
        var forwardStart = ContinuousClock.now
        var microLoss = try inFlight.map { try forwardOverlapping($0, batch) } ?? model.forward(batch)
        // Zeroed only now: a step in flight is run again on its gradient if a device fails.
        model.zeroGradients()
        var losses: [Double] = []
        // Every micro-batch but the last: its backward pass (alone, when the micro-batches'
        // gradients are summed in the canonical order), then the next one's forward pass.
        for _ in own.dropLast() {
            let backwardStart = ContinuousClock.now
            seconds.forward += (backwardStart - forwardStart) / .seconds(1)
            model.backward(lossScale: backwardScale)
            losses.append(Double(microLoss))
            if let dataParallel {
                dataParallel.add(model.computeGradients)
                model.zeroGradients()
            }
            batch = trainLoader.next()
            forwardStart = ContinuousClock.now
            seconds.backward += (forwardStart - backwardStart) / .seconds(1)
            microLoss = model.forward(batch)
        }
        losses.append(Double(microLoss))
        for _ in own.upperBound..<microBatchCount { _ = trainLoader.next() }
        clocking?.paceCompute(backward: false, startedAt: forwardStart)
        hostFault.strike(.forward, step: step)
        let forwardEnd = ContinuousClock.now
        seconds.forward += (forwardEnd - forwardStart) / .seconds(1)
        // The last micro-batch's backward pass: payloads of subgroups whose gradients are final
        // go out while it goes on (unless told not to). Not when the micro-batches are summed
        // apart: the gradient is final only after the sum (and, over ranks, the reduce-scatter).
        let early = dataParallel == nil && options.earlyGradientWrites
            ? GradientOffloadSession(fleet: fleet, step: step, gradient: model.computeGradients) : nil
        let layout = model.layout
        model.backward(lossScale: backwardScale) { ready in
            // What is final only at the end (the embeddings) goes with the step.
            guard ready < .atEnd else { return }
            early?.offload { layout.readiness(of: $0) <= ready }
        }
        try early?.finish()
        earlyGradientPayloads += early?.earlyPayloads ?? 0
        dataParallel?.add(model.computeGradients)
        clocking?.paceCompute(backward: true, startedAt: forwardEnd)
        hostFault.strike(.backward, step: step)
        let backwardEnd = ContinuousClock.now
        seconds.backward += (backwardEnd - forwardEnd) / .seconds(1)

        let checkStart = ContinuousClock.now
        // The model filed its gradients in the run's precision, so a value that only overflows
        // once stored in fp16 is already ±inf here; so is a sum rounded into it.
        let gradient = try dataParallel?.reduce() ?? model.computeGradients
        gradientFault?(step, gradient)
        let check: GradientCheck
        let loss: Double
        if let dataParallel {
            let gathered = try dataParallel.gather(losses: losses)
            check = optimizer.check(gathered.statistics)
            loss = gathered.losses.reduce(0, +) / Double(microBatchCount)
        } else {
            check = optimizer.check(gradient)
            loss = losses.reduce(0, +) / Double(microBatchCount)
        }
        let learningRate = options.schedule.learningRate(step: step, appliedSteps: optimizer.appliedSteps)
        let update = optimizer.prepare(check, learningRate: learningRate)
        seconds.gradientCheck = (ContinuousClock.now - checkStart) / .seconds(1)

        let updateStart = ContinuousClock.now
        hostFault.strike(.update, step: step)
        let overlapped = mayOverlap(step, skip: check.skip)
        if overlapped {
            let flight = try optimizer.begin(step, update: update, check: check, gradient: gradient, early: early)
            inFlight = InFlightStep(flight: flight, record: StepRecord(
                step: step, loss: loss, valLoss: nil, lr: Double(learningRate), lossScale: scale, skipped: check.skip,
                gradNorm: check.gradientNorm, tokensPerSecond: 0, seconds: seconds, modeled: nil))
        } else {
            // Over ranks, this rank's fleet writes its part of the compute copy, and every
            // rank's part is gathered into every rank.
            let gathers = world.size > 1
            traffic.add(try optimizer.step(step, update: update, check: check, gradient: gradient, early: early,
                                           computeCopy: gathers ? nil : model.computeParameters))
            if gathers && !check.skip, let dataParallel {
                fleet.readComputeCopy(into: model.computeParameters, at: dataParallel.offset)
                try dataParallel.allGather(model.computeParameters)
            }
            hostFault.strike(.committed, step: step)
        }
        seconds.update = (ContinuousClock.now - updateStart) / .seconds(1)
        if overlapped {
            inFlight?.record.seconds.update = seconds.update
            return nil
        }
        let modeled = clocking?.account(forward: forwardStart...forwardEnd, backward: forwardEnd...backwardEnd, fleet: fleet.lastStep,
                                        collectives: dataParallel?.collectives ?? [])

        let validation = validationDue(step) ? validationLoss() : nil
        return StepRecord(step: step, loss: loss, valLoss: validation, lr: Double(learningRate), lossScale: scale,
                          skipped: check.skip, gradNorm: check.gradientNorm,
                          tokensPerSecond: Double(batch.shape.tokenCount * microBatchCount) / seconds.total, seconds: seconds,
                          modeled: modeled)
    }

    /// Mean loss over the first `validationBatches` validation batches (the same ones each time).
    public func validationLoss() -> Double? {
        guard var loader = validationLoader else { return nil }
        loader.rewind()
        var total = 0.0
        let count = max(1, min(options.validationBatches, loader.batchesPerEpoch))
        for _ in 0..<count { total += Double(model.forward(loader.next())) }
        validationLoader = loader
        return total / Double(count)
    }

    /// Saves a checkpoint: first every device snapshots its committed states inside itself
    /// (keeping its newest `keepCheckpoints`), then the host writes into `directory` the
    /// error-feedback residuals (in a file named after the step), with `modelFile` the model
    /// (llm.c format) and, last, the run's state naming the snapshots and the residuals; then it
    /// forgets residuals of older steps. In that order, a trainer state on disk never names a
    /// file that is not there, whenever the host dies.
    ///
    /// Nothing resumes from the model file; it is for llm.c and other readers, and in mixed
    /// precision it costs a read of every master from the devices. The run writes it at its
    /// final checkpoint, and at periodic ones only when asked (`checkpointModelFile`).
    public func saveCheckpoint(to directory: String, modelFile: Bool) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let step = records.last?.step ?? stepsDone
        var state = trainerState(step: step)
        state.checkpoint = nil
        state.snapshots = try fleet.snapshot(step: step, keep: options.keepCheckpoints,
                                             note: String(decoding: try state.encoded(), as: UTF8.self)).map(\.path)
        hostFault.strike(.snapshot, step: step)
        // The fp32 masters from the devices (in fp32 runs they equal the compute copy), from
        // every rank's devices (every rank takes part in the gather).
        let masters = !modelFile ? nil : options.precision == .fp32 ? model.parameters
            : try Self.whole(AlignedBuffer(try fleet.readState(.parameters)), dataParallel)
        // Every rank's residuals in one file, as one rank with all the devices saves them (every
        // rank takes part in the gather), so that an export holds them all.
        let residuals = !fleet.usesErrorFeedback ? nil
            : try dataParallel?.gather(fleet.errorFeedback, subgroupElements: fleet.subgroupElements) ?? fleet.errorFeedback
        // Every rank snapshots its devices and journals the checkpoint; rank 0 writes its files.
        if world.rank == 0 { try writeCheckpointFiles(state, masters: masters, residuals: residuals, step: step, to: directory) }
        if lastCheckpoint != directory {
            lastCheckpoint = directory
            try journal.append(trainerState(step: step))
        }
    }

    /// The host's files of a checkpoint: the residuals (given `residuals`), the model (given
    /// `masters`), and last the state naming them. Without `masters`, a model file of an earlier
    /// checkpoint is removed, so that the directory never shows a model of another step beside the
    /// trainer state.
    private func writeCheckpointFiles(_ state: TrainerState, masters: AlignedBuffer<Float>?, residuals: ErrorFeedbackFile?, step: Int,
                                      to directory: String) throws {
        var state = state
        if let residuals {
            state.errorFeedback = "error-feedback-\(step).bin"
            try residuals.write(to: "\(directory)/\(state.errorFeedback!)")
        }
        let modelPath = "\(directory)/\(Self.modelFile)"
        if let masters {
            try GPTCheckpoint(config: model.config, parameters: masters).write(to: modelPath)
        } else if FileManager.default.fileExists(atPath: modelPath) {
            try FileManager.default.removeItem(atPath: modelPath)
        }
        hostFault.strike(.modelFile, step: step)
        try state.write(to: "\(directory)/\(PortableCheckpoint.stateFile)")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix("error-feedback") && name.hasSuffix(".bin") && name != state.errorFeedback {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }

    /// The llm.c model file's name in a checkpoint directory.
    public static let modelFile = "model.bin"

    /// Stops the devices (after the step still on them, if a run stopped with one in flight).
    public func finish() {
        if let flight = inFlight {
            inFlight = nil
            _ = try? flight.flight.pending.settle()
        }
        fleet.shutdown()
    }
}
