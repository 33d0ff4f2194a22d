import ArgumentParser
import Benchmarking
import Collective
import ConsoleLog
import DeepSpeedConfig
import Foundation
import LiveClock
import Logging
import Offload
import OffloadStep
import OffloadVocabulary
import Optim
import Trainer

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a GPT-2 on the CPU with its optimizer offloaded to emulated SmartSSDs (or on the host: --mode base).")

    @Option(help: "Start from an llm.c checkpoint.")
    var checkpoint: String?
    @Option(help: "Start from a fresh model: gpt2:L,H,C,T,V.")
    var `init`: String?
    @Option(help: "Seed of the initialisation.")
    var seed: UInt64 = TrainingFlags.defaults.seed
    @Option(name: .customLong("train-data"), help: "llm.c token file to train on.")
    var trainData: String
    @Option(name: .customLong("val-data"), help: "llm.c token file for validation loss.")
    var valData: String?
    @Option(name: .customLong("val-every"), help: "Compute the validation loss every N steps (0: never).")
    var valEvery: Int = TrainingFlags.defaults.validationEvery
    @Option(help: "Batch size B (default 4): sequences per micro-batch.") var batch: Int?
    @Option(name: .customLong("grad-accum"), help: "Micro-batches per optimizer step, gradients averaged (default 1).")
    var gradAccum: Int?
    @Option(help: "Sequence length T.") var seq: Int = TrainingFlags.defaults.sequenceLength
    @Option(help: "Training steps.") var steps: Int = TrainingFlags.defaults.steps
    @Flag(name: .customLong("no-shuffle"), help: "Take batches in file order.") var noShuffle = false
    @Option(name: .customLong("shuffle-seed"), help: "Seed of the batch order.") var shuffleSeed: UInt64 = 42

    @Option(help: "Peak learning rate (default 3e-4).") var lr: Double?
    @Option(name: .customLong("lr-schedule"), help: "constant, or cosine: linear warm-up, cosine decay to --min-lr (default: the config's scheduler, else constant).")
    var lrSchedule: LearningRateSchedule.Kind?
    @Option(help: "Warm-up steps of the cosine schedule.") var warmup: Int = TrainingFlags.defaults.warmupSteps
    @Option(name: .customLong("min-lr"), help: "Final learning rate of the cosine schedule.")
    var minLr: Double = TrainingFlags.defaults.minimumLearningRate
    @Option(name: .customLong("weight-decay"), help: "Weight decay (default 0).") var weightDecay: Double?
    @Option(help: "β1 (AdamW) or momentum (SGD) (default 0.9).") var beta1: Double?
    @Option(help: "β2 (AdamW) (default 0.999).") var beta2: Double?
    @Option(help: "ε (default 1e-8).") var eps: Double?
    @Option(name: .customLong("grad-clip"), help: "Clip the global gradient norm to this (0: off, the default).") var gradClip: Double?
    @Option(help: "Optimizer (default adamw).") var optimizer: OptimizerConfig?
    @Option(help: "fp32 (default), or mixed precision fp16 (dynamic loss scaling) or bf16: the compute copy and the gradients.")
    var precision: Precision?

    @Option(help: "Offload mode (default su+o).") var mode: OffloadMode?
    @Option(help: "Number of (emulated) devices (default 1).") var devices: Int?
    @Option(name: .customLong("ssd-dir"), help: "Directory for the devices' SSD files and sockets (default /var/tmp/smartinf-ssd).") var ssdDir: String?
    @Option(help: "DRAM per device (default 1GiB).") var dram: String?
    @Option(name: .customLong("device-threads"), help: "Update threads per device.")
    var deviceThreads: Int = TrainingFlags.defaults.deviceThreads
    @Option(parsing: .upToNextOption, help: "Attach to running devices by socket instead of starting them.") var attach: [String] = []
    @Option(name: .customLong("sub-group-size"), help: "Elements per subgroup (0: the largest the DRAM allows).")
    var subGroupSize: Int?
    @Option(name: .customLong("topk-ratio"), help: "Fraction of gradient elements sent in su+o+c (default 0.01).") var topkRatio: Double?
    @Flag(name: .customLong("error-feedback"), help: "Carry what top-k drops to the next step.") var errorFeedback = false
    @Option(name: .customLong("state-precision"), help: "How the devices store the optimizer states: fp32 (default) or 8bit (one byte an element and an fp32 scale per block).")
    var statePrecision: String?
    @Option(name: .customLong("state-block"), help: "Elements per scale of 8-bit states (a power of two, 64...65536; default 2048).")
    var stateBlock: Int?
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads.") var blasThreads: Int = TrainingFlags.defaults.blasThreads

    @Option(help: "DeepSpeed-style JSON config (docs/TRAINING.md lists the keys); flags override it.") var config: String?
    @Option(help: "JSON Lines file with one record per step.") var metrics: String?
    @Option(name: .customLong("save-checkpoint"), help: "Directory for the final checkpoint: the model in llm.c's format (model.bin) and the trainer state.") var saveCheckpoint: String?
    @Option(name: .customLong("device-timeout"), help: "Seconds a device may take to answer before it counts as failed.")
    var deviceTimeout: Double = TrainingFlags.defaults.deviceTimeout
    @Option(name: .customLong("checkpoint-every"), help: "Also save the checkpoint every N steps (0: only at the end).")
    var checkpointEvery: Int = TrainingFlags.defaults.checkpointEvery
    @Flag(name: .customLong("checkpoint-model-file"), help: "Write model.bin at every --checkpoint-every checkpoint too, not only the final one (resume does not need it).")
    var checkpointModelFile = false
    @Option(name: .customLong("keep-checkpoints"), help: "Snapshots of the latest checkpoints each device keeps beside its SSD.")
    var keepCheckpoints: Int = TrainingFlags.defaults.keepCheckpoints
    @Option(name: .customLong("device-fault"), help: "Inject a fault into device I: I:SPEC (smartssd --fault SPEC); repeatable.")
    var deviceFault: [String] = []
    @Option(help: "Continue a run: from a checkpoint directory (--save-checkpoint), an exported checkpoint, or the run's --ssd-dir after the host stopped (from the last step every device committed); --steps is the total.")
    var resume: String?
    @Option(name: .customLong("host-fault"), help: .hidden) var hostFault: String?
    /// Elements per MPI message at most (`World.maximumCount`): the tests' way to send a small
    /// model's collectives in many messages.
    @Option(name: .customLong("mpi-max-count"), help: .hidden) var maximumCount: Int?
    @Flag(help: "Print the partition plan before training.") var explain = false

    @Option(help: "wall (this machine, no model), virtual (also report modeled seconds) or paced (hold every operation to the model, --dilation times slower).")
    var clock: ClockKind = TrainingFlags.defaults.clock
    @Option(help: "Wall seconds per modeled second under --clock paced.") var dilation: Double = TrainingFlags.defaults.dilation
    @Option(name: .customLong("host-profile"), help: "Host topology the run is modeled on.")
    var hostProfile: String = TrainingFlags.defaults.hostProfile
    @Option(name: [.customLong("device-profile"), .customLong("profile")], help: "Device profile the run is modeled on (Emulator/ name or a file).")
    var deviceProfile: String = TrainingFlags.defaults.deviceProfile
    @Option(name: .customLong("gpu-profile"), help: "GPU profile the run's forward and backward are modeled on.")
    var gpuProfile: String = TrainingFlags.defaults.gpuProfile
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a profile value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "Write every step's operations, modeled and wall times, as a trace (JSON Lines).") var trace: String?
    @Option(name: .customLong("on-device-failure"), help: "abort, or retry: restart a failed device, roll the fleet back one step and run the step again.")
    var onDeviceFailure: DeviceFailurePolicy.Kind = TrainingFlags.defaults.onDeviceFailure
    @Option(name: .customLong("max-retries"), help: "Recoveries allowed per step with --on-device-failure retry.")
    var maxRetries: Int = TrainingFlags.defaults.maxRetries
    @Flag(name: .customLong("overlap-forward"), help: "Start each forward pass on the parameters the devices have already written back, while they finish the previous step.")
    var overlapForward = false
    @Flag(name: .customLong("no-early-gradient-writes"), help: "Write every gradient payload in the update phase, none while backward runs (as a step through the C ABI does).")
    var noEarlyGradientWrites = false
    @OptionGroup var logging: LogLevelOption

    /// The run's log lines (the model, the fleet, device failures and recoveries, a config's
    /// ignored keys) go to standard error through the logger, and the devices it starts log at
    /// the same level; what the command reports — the plan, a line per step, the summary — is
    /// its output, on standard output whatever the level.
    ///
    /// Under `mpirun -np R` every rank runs this, each with its own devices; rank 0 alone
    /// prints, and a rank that fails ends the whole job naming itself (docs/SCALE-OUT.md).
    func run() throws {
        logging.bootstrap()
        let options = try resolved(logger: Logger(label: "smartinf.trainer"))
        guard World.maximumCounts.contains(maximumCount ?? 1) else {
            throw ValidationError("--mpi-max-count must be in \(World.maximumCounts) (an MPI count), got \(maximumCount!)")
        }
        try World.run(maximumCount: maximumCount) { world in try train(options, world: world) }
    }

    private func train(_ options: TrainingOptions, world: World) throws {
        var logger = Logger(label: "smartinf.trainer")
        if world.size > 1 { logger[metadataKey: "rank"] = "\(world.rank)" }
        let run: TrainingRun
        do { run = try TrainingRun(options, world: world, logger: logger) } catch { throw failure(error, world: world) }
        defer { run.finish() }
        let out: (String) -> Void = world.rank == 0 ? { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) } : { _ in }
        if explain { out(run.plan) }
        do {
            try run.run { record in
                var line = "step \(String(format: "%4d", record.step))/\(options.steps)  loss \(String(format: "%.4f", record.loss))"
                if let v = record.valLoss { line += "  val \(String(format: "%.4f", v))" }
                line += "  lr \(String(format: "%.2e", record.lr))  \(String(format: "%.0f", record.tokensPerSecond)) tok/s"
                if record.lossScale != 1 { line += "  scale \(String(format: "%.0f", record.lossScale))" }
                if record.skipped { line += "  (skipped: overflow)" }
                if let m = record.modeled {
                    line += String(format: "  modeled %.3f ms (fw %.3f, bw+off %.3f, update %.3f)", m.iteration * 1e3, m.forward * 1e3,
                                   m.backwardAndOffload * 1e3, m.update * 1e3)
                }
                out(line)
            }
        } catch { throw failure(error, world: world, finishing: run) }
        out(Self.summary(run))
    }

    /// Says what failed; in a job of several ranks ends every rank, naming this one (the others
    /// would wait for it in a collective).
    private func failure(_ error: Error, world: World, finishing run: TrainingRun? = nil) -> Error {
        guard world.launcher == nil else {
            run?.finish()
            world.abort("smartinf train: \(error)")
        }
        FileHandle.standardError.write(Data("smartinf train: \(error)\n".utf8))
        return ExitCode.failure
    }

    /// "R ranks × " before the devices of a data-parallel run.
    private static func ranks(_ run: TrainingRun) -> String {
        run.world.size > 1 ? "\(run.world.size) ranks × " : ""
    }

    /// What each rank moved between ranks per step, against the 2(R − 1)/R of the gradient and
    /// compute-copy bytes a reduce-scatter and an all-gather move (docs/SCALE-OUT.md), and in how
    /// many messages (one per peer, or more for a slice over the message limit).
    private static func collectives(_ run: TrainingRun) -> String {
        let ranks = run.world.size
        guard ranks > 1, !run.records.isEmpty else { return "" }
        let steps = Double(run.records.count)
        let elements = Double(run.model.config.parameterCount)
        let theory = Double(ranks - 1) / Double(ranks) * elements * Double(4 + run.options.precision.byteWidth)
        let parts = [CollectiveOperation.reduceScatter, .allGather, .scalars].map { operation in
            let t = run.collectiveTraffic(of: operation)
            return "\(operation) \(Figures.count(Double(t.bytesSent) / steps))B sent in \(Figures.count(Double(t.messagesSent) / steps)) message(s), "
                + "\(Figures.count(Double(t.bytesReceived) / steps))B received"
        }
        return "\nbetween ranks, rank 0 per step: " + parts.joined(separator: "; ")
            + " (theory for reduce-scatter + all-gather: (R − 1)/R × (4 + \(run.options.precision.byteWidth)) B × \(Int(elements)) parameters = \(Figures.count(theory))B each way)"
    }

    static func summary(_ run: TrainingRun) -> String {
        var total = PhaseSeconds()
        run.records.forEach { total.add($0.seconds) }
        let steps = Double(max(run.records.count, 1))
        let first = run.records.first?.loss ?? .nan
        let last = run.records.last?.loss ?? .nan
        var table = TextTable(["phase", "s/step", "share"])
        let journal = run.journalSeconds.reduce(0, +)
        let whole = max(total.total + journal, 1e-12)
        for (name, value) in [("forward", total.forward), ("backward", total.backward), ("grad check+clip", total.gradientCheck),
                              ("update (offload, device update, upload)", total.update),
                              ("trainer state made durable (journal)", journal)] {
            table.append([name, String(format: "%.4f", value / steps), String(format: "%.1f%%", 100 * value / whole)])
        }
        let t = run.traffic
        var memory = "peak RSS: host \(Figures.count(Double(ProcessMemory.peakResidentBytes() ?? 0)))B"
        if let processes = run.fleet.processes {
            let devices = processes.processes.map { ProcessMemory.peakResidentBytes(pid: $0.processIdentifier) ?? 0 }
            memory += ", devices " + devices.map { Figures.count(Double($0)) + "B" }.joined(separator: ", ")
        }
        let modeled = run.records.compactMap(\.modeled)
        if !modeled.isEmpty {
            let c = run.options.clock
            let n = Double(modeled.count)
            func mean(_ value: (ModeledSeconds) -> Double) -> String { String(format: "%.3f", modeled.map(value).reduce(0, +) / n * 1e3) }
            let hosts = run.world.size > 1 ? "\(run.world.size) hosts, each " : ""
            memory += "\nmodeled on \(hosts)\(c.hostProfile) + \(run.options.devices) × \(c.deviceProfile) + \(c.gpuProfile) (\(c.kind.rawValue) clock), ms/step: "
                + "fw \(mean(\.forward)), bw+grad offload \(mean(\.backwardAndOffload)), update+opt I/O \(mean(\.update)), iteration \(mean(\.iteration))"
        }
        if !run.journalSeconds.isEmpty {
            let journal = Timing.median(run.journalSeconds)
            let step = Timing.median(run.records.map(\.seconds.total))
            memory += String(format: "\ntrainer journal: median %.3f ms per step, %.2f%% of the median step (%.1f ms)",
                             journal * 1e3, 100 * journal / max(step + journal, 1e-12), (step + journal) * 1e3)
        }
        if run.options.overlapForward {
            memory += "\noverlapped forward passes took \(run.earlyParameterSubgroups) subgroups' parameters before their devices had finished "
                + "(their wait is in forward; update shows the offload and what was left to wait for)"
        }
        return """

        \(ranks(run))\(run.options.mode) on \(run.options.devices) device(s): loss \(String(format: "%.4f", first)) → \(String(format: "%.4f", last)) in \(run.records.count) steps
        \(table.rendered)
        shared host link: \(Figures.count(Double(t.gradientBytes)))B of gradients down, \(Figures.count(Double(t.parameterBytes)))B of parameters up
        inside the devices: \(Figures.count(Double(t.deviceBytesRead)))B read, \(Figures.count(Double(t.deviceBytesWritten)))B written
        \(memory)\(collectives(run))
        """
    }

    /// The options of the run: the flags as given, merged with the config file by the trainer.
    func resolved(logger: Logger) throws -> TrainingOptions {
        let file: TrainingConfigFile
        do { file = try config.map { try TrainingConfigFile.load(path: $0) } ?? TrainingConfigFile() } catch {
            throw ValidationError("\(error)")
        }
        if !file.ignoredKeys.isEmpty {
            logger.warning("config \(config ?? ""): ignoring \(file.ignoredKeys.joined(separator: ", "))")
        }
        do { return try TrainingOptions(flags: flags, file: file) } catch { throw ValidationError("\(error)") }
    }

    /// The command line as the trainer takes it.
    var flags: TrainingFlags {
        var f = TrainingFlags(trainData: trainData)
        f.checkpoint = checkpoint
        f.initSpec = `init`
        f.seed = seed
        f.validationData = valData
        f.validationEvery = valEvery
        f.batchSize = batch
        f.gradientAccumulationSteps = gradAccum
        f.sequenceLength = seq
        f.steps = steps
        f.shuffleSeed = noShuffle ? nil : shuffleSeed
        f.learningRate = lr
        f.schedule = lrSchedule
        f.warmupSteps = warmup
        f.minimumLearningRate = minLr
        f.weightDecay = weightDecay
        f.beta1 = beta1
        f.beta2 = beta2
        f.eps = eps
        f.gradientClip = gradClip
        f.optimizer = optimizer
        f.precision = precision
        f.mode = mode
        f.devices = devices
        f.ssdDirectory = ssdDir
        f.dram = dram
        f.deviceThreads = deviceThreads
        f.attach = attach
        f.subgroupElements = subGroupSize
        f.topkRatio = topkRatio
        f.errorFeedback = errorFeedback
        f.statePrecision = statePrecision
        f.stateBlock = stateBlock
        f.blasThreads = blasThreads
        f.metricsPath = metrics
        f.saveCheckpoint = saveCheckpoint
        f.deviceTimeout = deviceTimeout
        f.checkpointEvery = checkpointEvery
        f.checkpointModelFile = checkpointModelFile
        f.keepCheckpoints = keepCheckpoints
        f.deviceFaults = deviceFault
        f.hostFault = hostFault
        f.resume = resume
        f.clock = clock
        f.dilation = dilation
        f.hostProfile = hostProfile
        f.deviceProfile = deviceProfile
        f.gpuProfile = gpuProfile
        f.overrides = overrides
        f.tracePath = trace
        f.onDeviceFailure = onDeviceFailure
        f.maxRetries = maxRetries
        f.overlapForward = overlapForward
        f.earlyGradientWrites = !noEarlyGradientWrites
        return f
    }
}
