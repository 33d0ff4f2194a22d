import DeepSpeedConfig
import DeviceProtocol
import LiveClock
import Offload
import OffloadStep
import OffloadVocabulary
import Optim
import SizeNotation

/// What `smartinf train`'s command line gave, before it meets a `--config` file: nil where a
/// flag the file can also set was not given, so that the file's value, then the default,
/// applies. The defaults of the flags the file has no word for are the ones below.
public struct TrainingFlags: Sendable {
    public var checkpoint: String?
    /// `--init gpt2:L,H,C,T,V`.
    public var initSpec: String?
    public var seed: UInt64 = 1337
    public var trainData: String
    public var validationData: String?
    public var validationEvery = 0
    public var batchSize: Int?
    /// `--grad-accum N`: micro-batches per optimizer step.
    public var gradientAccumulationSteps: Int?
    public var sequenceLength = 64
    public var steps = 10
    /// nil: batches in file order (`--no-shuffle`).
    public var shuffleSeed: UInt64? = 42

    public var learningRate: Double?
    /// `--lr-schedule`; nil: the config's `scheduler`, else constant.
    public var schedule: LearningRateSchedule.Kind?
    public var warmupSteps = 0
    public var minimumLearningRate = 0.0
    public var weightDecay: Double?
    public var beta1: Double?
    public var beta2: Double?
    public var eps: Double?
    public var gradientClip: Double?
    public var optimizer: OptimizerConfig?
    public var precision: Precision?

    public var mode: OffloadMode?
    public var devices: Int?
    public var ssdDirectory: String?
    /// `--dram` as written (`1GiB`).
    public var dram: String?
    public var deviceThreads = 1
    public var attach: [String] = []
    public var subgroupElements: Int?
    public var topkRatio: Double?
    public var errorFeedback = false
    /// `--state-precision fp32|8bit` and `--state-block N`, as written.
    public var statePrecision: String?
    public var stateBlock: Int?
    public var blasThreads = 1

    public var metricsPath: String?
    public var saveCheckpoint: String?
    public var deviceTimeout = 600.0
    public var checkpointEvery = 0
    public var checkpointModelFile = false
    public var keepCheckpoints = 2
    /// `--device-fault I:SPEC`, each as written.
    public var deviceFaults: [String] = []
    /// `--host-fault crash@step=N,phase=P`.
    public var hostFault: String?
    public var resume: String?

    public var clock: ClockKind = .wall
    public var dilation = 1.0
    public var hostProfile = "hpca24-host"
    public var deviceProfile = "smartssd"
    public var gpuProfile = "a5000"
    public var overrides: [String] = []
    public var tracePath: String?
    public var onDeviceFailure: DeviceFailurePolicy.Kind = .abort
    public var maxRetries = 3
    public var overlapForward = false
    /// false: `--no-early-gradient-writes`.
    public var earlyGradientWrites = true

    public init(trainData: String) { self.trainData = trainData }

    /// Every flag's default, for a command line to show (the train data aside: it has none).
    public static let defaults = TrainingFlags(trainData: "")
}

/// A flag, or a config file's value standing in for one, that a training run cannot use. The
/// description names the flag and what it takes.
public enum TrainingFlagError: Error, Equatable, CustomStringConvertible {
    /// None of --checkpoint, --init and --resume.
    case noModel
    /// Both --checkpoint and --init.
    case twoModels
    /// A value outside what `option` takes.
    case badValue(option: String, found: String, expected: String)
    /// `option` is given without `requirement`.
    case needs(option: String, requirement: String)

    public var description: String {
        switch self {
        case .noModel: "give --checkpoint FILE, --init gpt2:L,H,C,T,V or --resume DIR"
        case .twoModels: "--checkpoint and --init exclude each other: give one"
        case let .badValue(option, found, expected): "\(option) \(found): expected \(expected)"
        case let .needs(option, requirement): "\(option) needs \(requirement)"
        }
    }
}

extension TrainingOptions {
    /// The run's options from its flags and its config file: a flag wins over the file, the file
    /// over the default. DeepSpeed's hyperparameter keys fill the optimizer's (`betas`, or
    /// `momentum` for SGD), and its fp16 section the loss scaling.
    public init(flags f: TrainingFlags, file: TrainingConfigFile = TrainingConfigFile()) throws(TrainingFlagError) {
        let model: ModelSource
        switch (f.checkpoint, f.initSpec) {
        case (let path?, nil): model = .checkpoint(path)
        case (nil, let spec?): model = .initialize(spec: spec, seed: f.seed)
        case (nil, nil):
            guard let resume = f.resume else { throw .noModel }
            model = .checkpoint("\(resume)/\(TrainingRun.modelFile)")
        case (_?, _?): throw .twoModels
        }
        let precision = f.precision ?? (file.fp16Enabled == true ? .fp16 : file.bf16Enabled == true ? .bf16 : .fp32)
        let mode = f.mode ?? file.mode ?? .suO
        let dramBytes: Int
        if let text = f.dram {
            guard let bytes = SizeArgument.parse(text), bytes >= 1 << 20 else {
                throw .badValue(option: "--dram", found: "'\(text)'", expected: "a size of at least 1MiB (example: 1GiB)")
            }
            dramBytes = bytes
        } else {
            dramBytes = file.dramBytes ?? 1 << 30
        }
        let batchSize = f.batchSize ?? file.batchSize ?? 4
        let accumulation = f.gradientAccumulationSteps ?? file.gradientAccumulationSteps ?? 1
        let devices = f.devices ?? file.devices ?? 1
        for (option, value) in [("--batch", batchSize), ("--grad-accum", accumulation), ("--seq", f.sequenceLength), ("--steps", f.steps),
                                ("--devices", devices)]
        where value < 1 {
            throw .badValue(option: option, found: "\(value)", expected: "at least 1")
        }
        let ratio = f.topkRatio ?? file.topkRatio ?? 0.01
        guard ratio > 0, ratio <= 1 else { throw .badValue(option: "--topk-ratio", found: "\(ratio)", expected: "a fraction in (0, 1]") }
        let learningRate = f.learningRate ?? file.learningRate ?? 3e-4
        guard learningRate > 0 else { throw .badValue(option: "--lr", found: "\(learningRate)", expected: "a positive number") }
        let decay = f.weightDecay ?? file.weightDecay ?? 0
        guard decay >= 0 else { throw .badValue(option: "--weight-decay", found: "\(decay)", expected: "a number ≥ 0") }
        let clip = f.gradientClip ?? file.gradientClip ?? 0
        guard clip >= 0 else { throw .badValue(option: "--grad-clip", found: "\(clip)", expected: "a number ≥ 0 (0: off)") }
        let errorFeedback = f.errorFeedback || file.errorFeedback == true
        if errorFeedback && !mode.compresses { throw .needs(option: "--error-feedback", requirement: "--mode su+o+c") }
        guard f.checkpointEvery >= 0 else {
            throw .badValue(option: "--checkpoint-every", found: "\(f.checkpointEvery)", expected: "a number of steps ≥ 0")
        }
        guard (1...Request.maximumKeptSnapshots).contains(f.keepCheckpoints) else {
            throw .badValue(option: "--keep-checkpoints", found: "\(f.keepCheckpoints)",
                            expected: "a number of snapshots each device keeps, 1...\(Request.maximumKeptSnapshots)")
        }
        if f.checkpointEvery > 0 && f.saveCheckpoint == nil {
            throw .needs(option: "--checkpoint-every", requirement: "--save-checkpoint DIR")
        }
        if f.checkpointModelFile && f.checkpointEvery == 0 {
            throw .needs(option: "--checkpoint-model-file", requirement: "--checkpoint-every N (the final checkpoint always writes model.bin)")
        }
        guard f.deviceTimeout > 0 else {
            throw .badValue(option: "--device-timeout", found: "\(f.deviceTimeout)", expected: "a positive number of seconds")
        }
        guard f.dilation > 0, f.dilation.isFinite else {
            throw .badValue(option: "--dilation", found: "\(f.dilation)", expected: "a positive number")
        }
        let onDeviceFailure: DeviceFailurePolicy
        switch f.onDeviceFailure {
        case .abort: onDeviceFailure = .abort
        case .retry:
            guard f.maxRetries >= 1 else { throw .badValue(option: "--max-retries", found: "\(f.maxRetries)", expected: "at least 1") }
            onDeviceFailure = .retry(maxRetries: f.maxRetries)
        }
        let statePrecision = try Self.statePrecision(f, file)
        if let block = statePrecision.blockSize, let d = f.subgroupElements ?? file.subGroupSize, d > 0, d % block != 0 {
            throw .badValue(option: "--sub-group-size", found: "\(d)",
                            expected: "a multiple of the 8-bit states' block (--state-block \(block)), or 0 (the devices choose)")
        }
        self.init(
            model: model, trainData: f.trainData, validationData: f.validationData, batchSize: batchSize,
            sequenceLength: f.sequenceLength, steps: f.steps, shuffleSeed: f.shuffleSeed, validationEvery: f.validationEvery,
            schedule: Self.schedule(f, file, learningRate: learningRate),
            optimizer: Self.optimizer(f, file, decay: decay), precision: precision, gradientClip: clip > 0 ? clip : nil,
            lossScaling: file.lossScaling, mode: mode, devices: devices,
            ssdDirectory: f.ssdDirectory ?? file.ssdDirectory ?? file.nvmePath ?? f.resume.flatMap(Self.runDirectory) ?? "/var/tmp/smartinf-ssd",
            dramBytes: dramBytes, deviceThreads: f.deviceThreads, attach: f.attach,
            subgroupElements: f.subgroupElements ?? file.subGroupSize ?? 0,
            compression: GradientCompressionSettings(ratio: ratio, errorFeedback: errorFeedback),
            queueDepth: file.queueDepth ?? 16, blockSize: file.blockSize ?? 1 << 20, blasThreads: f.blasThreads,
            metricsPath: f.metricsPath, saveCheckpoint: f.saveCheckpoint, resume: f.resume)
        deviceTimeout = f.deviceTimeout
        checkpointEvery = f.checkpointEvery
        checkpointModelFile = f.checkpointModelFile
        keepCheckpoints = f.keepCheckpoints
        deviceFaults = try Self.deviceFaults(f.deviceFaults, devices: devices)
        hostFault = try f.hostFault.map { spec throws(TrainingFlagError) in try HostFault(parsing: spec) }
        clock.kind = f.clock
        clock.dilation = f.dilation
        clock.hostProfile = f.hostProfile
        clock.deviceProfile = f.deviceProfile
        clock.gpuProfile = f.gpuProfile
        clock.overrides = f.overrides
        clock.tracePath = f.tracePath
        overlapForward = f.overlapForward
        earlyGradientWrites = f.earlyGradientWrites
        gradientAccumulationSteps = accumulation
        self.onDeviceFailure = onDeviceFailure
        self.statePrecision = statePrecision
    }

    /// `--lr-schedule` if given, else the config's DeepSpeed scheduler, else a constant rate.
    /// `--lr` is the peak either way: it replaces the scheduler's `warmup_max_lr`, and is
    /// WarmupCosineLR's base (the optimizer's lr, from the flag or the file).
    static func schedule(_ f: TrainingFlags, _ file: TrainingConfigFile, learningRate: Double) -> LearningRateSchedule {
        if let kind = f.schedule {
            return LearningRateSchedule(kind, peak: learningRate, minimum: f.minimumLearningRate, warmupSteps: f.warmupSteps,
                                        totalSteps: f.steps)
        }
        guard let scheduler = file.scheduler else { return .constant(learningRate) }
        if scheduler.scalesTheOptimizersRate { return .deepSpeed(scheduler.peaking(at: learningRate)) }
        return .deepSpeed(f.learningRate.map(scheduler.peaking(at:)) ?? scheduler)
    }

    /// `--state-precision` and `--state-block` (flag, file, fp32 in blocks of 2048).
    static func statePrecision(_ f: TrainingFlags, _ file: TrainingConfigFile) throws(TrainingFlagError) -> StatePrecision {
        let name = f.statePrecision ?? file.statePrecision ?? "fp32"
        let block = f.stateBlock ?? file.stateBlock
        let precision: StatePrecision
        do { precision = try StatePrecision(name: name, blockSize: block ?? StatePrecision.defaultBlockSize) } catch {
            switch error {
            case .badBlockSize(let b):
                throw .badValue(option: "--state-block", found: "\(b)", expected: "a power of two from 64 to 65536 (default 2048)")
            case .unknown: throw .badValue(option: "--state-precision", found: "'\(name)'", expected: "fp32 or 8bit")
            }
        }
        if precision == .fp32, block != nil { throw .needs(option: "--state-block", requirement: "--state-precision 8bit") }
        return precision
    }

    /// The optimizer (flag, file, AdamW) with the hyperparameters the flags and the file give.
    static func optimizer(_ f: TrainingFlags, _ file: TrainingConfigFile, decay: Double) -> OptimizerConfig {
        let firstBeta = f.beta1 ?? file.betas?[0] ?? file.momentum ?? 0.9
        let secondBeta = f.beta2 ?? file.betas?[1] ?? 0.999
        let epsilon = f.eps ?? file.eps
        switch f.optimizer ?? file.optimizer ?? .adamw(AdamWHyperparameters()) {
        case .adamw(_, let flavor):
            return .adamw(AdamWHyperparameters(beta1: Float(firstBeta), beta2: Float(secondBeta), eps: Float(epsilon ?? 1e-8),
                                               weightDecay: Float(decay)), flavor)
        case .sgd(var h, let flavor):
            h.momentum = Float(firstBeta)
            h.weightDecay = Float(decay)
            return .sgd(h, flavor)
        case .adagrad(var h, let flavor):
            if let epsilon { h.eps = Float(epsilon) }
            h.weightDecay = Float(decay)
            return .adagrad(h, flavor)
        }
    }

    /// `--resume DIR` of a run's SSD directory (it holds the trainer journal): where the run's
    /// devices are, so that `--ssd-dir` need not be given again.
    static func runDirectory(_ resume: String) -> String? { TrainerJournal.exists(in: resume) ? resume : nil }

    /// `--device-fault I:SPEC` entries by device index (the spec is checked by the device).
    static func deviceFaults(_ entries: [String], devices: Int) throws(TrainingFlagError) -> [Int: String] {
        var faults: [Int: String] = [:]
        for entry in entries {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let device = Int(parts[0]), device >= 0, device < devices else {
                throw .badValue(option: "--device-fault", found: "'\(entry)'", expected: "I:SPEC with a device index 0..<\(devices)")
            }
            faults[device] = parts[1]
        }
        return faults
    }
}
