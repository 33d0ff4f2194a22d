import LiveClock
import Offload
import OffloadStep
import OffloadVocabulary
import Optim

/// Everything one training run needs, resolved from flags and the config file.
public struct TrainingOptions: Sendable {
    /// Where the initial model comes from.
    public enum ModelSource: Sendable, Equatable {
        case checkpoint(String)
        /// `gpt2:L,H,C,T,V` with a seed.
        case initialize(spec: String, seed: UInt64)
    }

    public var model: ModelSource
    public var trainData: String
    public var validationData: String?
    /// The micro-batch size: each forward and backward pass takes this many sequences.
    public var batchSize: Int
    /// Micro-batches whose gradients are averaged into one optimizer step (DeepSpeed's
    /// `gradient_accumulation_steps`): a step trains on `batchSize` × this many sequences.
    public var gradientAccumulationSteps = 1
    public var sequenceLength: Int
    public var steps: Int
    public var shuffleSeed: UInt64?
    public var validationEvery: Int
    public var validationBatches: Int

    public var schedule: LearningRateSchedule
    public var optimizer: OptimizerConfig
    /// The compute copy and gradient precision: fp32, or mixed precision with fp16 / bf16 (fp32
    /// masters and states on the devices either way).
    public var precision: Precision
    /// nil: no clipping.
    public var gradientClip: Double?
    /// The dynamic loss scaler; nil means none (fp32, bf16) — fp16 then gets DeepSpeed's
    /// defaults (2^16, window 1000, hysteresis 2).
    public var lossScaling: DynamicLossScaler.Configuration?

    public var mode: OffloadMode
    public var devices: Int
    public var ssdDirectory: String
    /// Each device's DRAM (or, in base mode, the host's staging memory per stripe).
    public var dramBytes: Int
    public var deviceThreads: Int
    public var attach: [String]
    public var subgroupElements: Int
    public var compression: GradientCompressionSettings
    public var queueDepth: Int
    public var blockSize: Int
    public var blasThreads: Int
    /// How the devices store the optimizer states (`--state-precision`, `--state-block`):
    /// fp32, or 8-bit codes with a scale per block; the masters are fp32 either way.
    public var statePrecision: StatePrecision = .fp32

    public var metricsPath: String?
    public var saveCheckpoint: String?
    /// Seconds a device may take to answer one request before it is reported as failed.
    public var deviceTimeout: Double = 600
    /// Save a checkpoint into `saveCheckpoint` every this many steps (0: only at the end).
    public var checkpointEvery: Int = 0
    /// Write the llm.c model file at every periodic checkpoint too (`--checkpoint-model-file`),
    /// not only at the end. Resume never reads it (the devices' snapshots hold the masters), and
    /// in mixed precision writing it reads every master over the shared host link.
    public var checkpointModelFile = false
    /// Snapshots of the latest checkpoints each device keeps (`--keep-checkpoints`): at least
    /// 2, so that a host that dies between its devices' snapshot and its own trainer state
    /// still finds the snapshot its last trainer state names.
    public var keepCheckpoints: Int = 2
    /// `smartssd --fault` specs per device index (fault injection for recovery tests).
    public var deviceFaults: [Int: String] = [:]
    /// Where the trainer kills itself (`--host-fault`, for the host crash tests).
    public var hostFault: HostFault?
    /// Continue the run this directory holds: a checkpoint (its trainer state and the devices'
    /// snapshots), an exported checkpoint, or the run's SSD directory after the host stopped
    /// (its journal and the devices' committed states); `steps` is then the total the run goes
    /// on to.
    public var resume: String?
    /// How the run keeps time (`--clock`): wall (no model), virtual (modeled seconds reported
    /// beside wall time), paced (the model enforced, `dilation` times slower).
    public var clock: LiveClockOptions = LiveClockOptions()
    /// What a device failure in a step does (`--on-device-failure`): stop the run, or recover
    /// the device, roll the fleet back to the last step all devices committed and run the step
    /// again, at most `maxRetries` times per step.
    public var onDeviceFailure: DeviceFailurePolicy = .abort
    /// Start each step's forward pass while the devices are still in the previous step, on
    /// every subgroup's parameters as soon as its device has written them back
    /// (`--overlap-forward`). Results are bit-identical either way; a step that checkpoints,
    /// validates or ends the run, and runs under a modeled clock (which times the paper's
    /// schedule), do not overlap.
    public var overlapForward = false
    /// Write each device subgroup's gradient payload while backward still runs, as soon as its
    /// gradients are final (`GradientOffloadSession`); false (`--no-early-gradient-writes`): all
    /// of them in the update phase, as a step through the C ABI writes them, so that
    /// `make bench-torch` times the same work on both paths. Results are bit-identical either way.
    public var earlyGradientWrites = true
    /// Data-parallel ranks of the run (`mpirun -np R`), set from the job by `forRank(of:)`.
    public internal(set) var ranks = 1

    public init(model: ModelSource, trainData: String, validationData: String? = nil, batchSize: Int = 4,
                sequenceLength: Int = 64, steps: Int = 10, shuffleSeed: UInt64? = nil, validationEvery: Int = 0,
                validationBatches: Int = 4, schedule: LearningRateSchedule = .constant(3e-4),
                optimizer: OptimizerConfig = .adamw(AdamWHyperparameters(weightDecay: 0)), precision: Precision = .fp32,
                gradientClip: Double? = nil,
                lossScaling: DynamicLossScaler.Configuration? = nil, mode: OffloadMode = .suO, devices: Int = 1,
                ssdDirectory: String, dramBytes: Int = 1 << 30, deviceThreads: Int = 1, attach: [String] = [],
                subgroupElements: Int = 0, compression: GradientCompressionSettings = GradientCompressionSettings(),
                queueDepth: Int = 16, blockSize: Int = 1 << 20, blasThreads: Int = 1, metricsPath: String? = nil,
                saveCheckpoint: String? = nil, resume: String? = nil) {
        self.model = model
        self.trainData = trainData
        self.validationData = validationData
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.steps = steps
        self.shuffleSeed = shuffleSeed
        self.validationEvery = validationEvery
        self.validationBatches = validationBatches
        self.schedule = schedule
        self.optimizer = optimizer
        self.precision = precision
        self.gradientClip = gradientClip
        self.lossScaling = lossScaling
        self.mode = mode
        self.devices = devices
        self.ssdDirectory = ssdDirectory
        self.dramBytes = dramBytes
        self.deviceThreads = deviceThreads
        self.attach = attach
        self.subgroupElements = subgroupElements
        self.compression = compression
        self.queueDepth = queueDepth
        self.blockSize = blockSize
        self.blasThreads = blasThreads
        self.metricsPath = metricsPath
        self.saveCheckpoint = saveCheckpoint
        self.resume = resume
    }
}

/// The live clock of a training run and the modeled machine it charges (`--clock`, `--dilation`,
/// `--host-profile`, `--device-profile`, `--gpu-profile`, `--set`, `--trace`).
public struct LiveClockOptions: Sendable {
    public var kind: ClockKind = .wall
    /// Wall seconds per modeled second under the paced clock.
    public var dilation: Double = 1
    public var hostProfile = "hpca24-host"
    public var deviceProfile = "smartssd"
    public var gpuProfile = "a5000"
    public var overrides: [String] = []
    /// Write the run's operations (every step) as a trace here.
    public var tracePath: String?

    public init() {}

    /// Whether the run needs the model at all.
    public var modeled: Bool { kind != .wall || tracePath != nil }
}
