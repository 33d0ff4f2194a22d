import ArgumentParser
import Benchmarking
import Foundation
import LiveClock
import Offload
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
    var seed: UInt64 = 1337
    @Option(name: .customLong("train-data"), help: "llm.c token file to train on.")
    var trainData: String
    @Option(name: .customLong("val-data"), help: "llm.c token file for validation loss.")
    var valData: String?
    @Option(name: .customLong("val-every"), help: "Compute the validation loss every N steps (0: never).")
    var valEvery: Int = 0
    @Option(help: "Batch size B (default 4).") var batch: Int?
    @Option(help: "Sequence length T.") var seq: Int = 64
    @Option(help: "Training steps.") var steps: Int = 10
    @Flag(name: .customLong("no-shuffle"), help: "Take batches in file order.") var noShuffle = false
    @Option(name: .customLong("shuffle-seed"), help: "Seed of the batch order.") var shuffleSeed: UInt64 = 42

    @Option(help: "Peak learning rate (default 3e-4).") var lr: Double?
    @Option(name: .customLong("lr-schedule"), help: "constant or cosine (linear warm-up, cosine decay to --min-lr).")
    var lrSchedule: String = "constant"
    @Option(help: "Warm-up steps of the cosine schedule.") var warmup: Int = 0
    @Option(name: .customLong("min-lr"), help: "Final learning rate of the cosine schedule.") var minLr: Double = 0
    @Option(name: .customLong("weight-decay"), help: "Weight decay (default 0).") var weightDecay: Double?
    @Option(help: "β1 (AdamW) or momentum (SGD) (default 0.9).") var beta1: Double?
    @Option(help: "β2 (AdamW) (default 0.999).") var beta2: Double?
    @Option(help: "ε (default 1e-8).") var eps: Double?
    @Option(name: .customLong("grad-clip"), help: "Clip the global gradient norm to this (0: off, the default).") var gradClip: Double?
    @Option(help: "adamw (default), sgd, sgd:torch, adagrad, adagrad:torch.") var optimizer: String?
    @Option(help: "fp32, or mixed precision fp16 (dynamic loss scaling) or bf16: the compute copy and the gradients.")
    var precision: String?

    @Option(help: "base, su, su+o (default) or su+o+c.") var mode: String?
    @Option(help: "Number of (emulated) devices (default 1).") var devices: Int?
    @Option(name: .customLong("ssd-dir"), help: "Directory for the devices' SSD files and sockets (default /var/tmp/smartinf-ssd).") var ssdDir: String?
    @Option(help: "DRAM per device (default 1GiB).") var dram: String?
    @Option(name: .customLong("device-threads"), help: "Update threads per device.") var deviceThreads: Int = 1
    @Option(parsing: .upToNextOption, help: "Attach to running devices by socket instead of starting them.") var attach: [String] = []
    @Option(name: .customLong("sub-group-size"), help: "Elements per subgroup (0: the largest the DRAM allows).")
    var subGroupSize: Int?
    @Option(name: .customLong("topk-ratio"), help: "Fraction of gradient elements sent in su+o+c (default 0.01).") var topkRatio: Double?
    @Flag(name: .customLong("error-feedback"), help: "Carry what top-k drops to the next step.") var errorFeedback = false
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads.") var blasThreads: Int = 1

    @Option(help: "DeepSpeed-style JSON config (see README); flags override it.") var config: String?
    @Option(help: "JSON Lines file with one record per step.") var metrics: String?
    @Option(name: .customLong("save-checkpoint"), help: "Directory for the final model and trainer state.") var saveCheckpoint: String?
    @Option(name: .customLong("device-timeout"), help: "Seconds a device may take to answer before it counts as failed.")
    var deviceTimeout: Double = 600
    @Option(name: .customLong("checkpoint-every"), help: "Also save the checkpoint every N steps (0: only at the end).")
    var checkpointEvery: Int = 0
    @Option(name: .customLong("device-fault"), help: "Inject a fault into device I: I:SPEC (smartssd --fault SPEC); repeatable.")
    var deviceFault: [String] = []
    @Option(help: "Continue the run saved in this directory (with --save-checkpoint); --steps is the total.")
    var resume: String?
    @Flag(help: "Print the partition plan before training.") var explain = false

    @Option(help: "wall (this machine, no model), virtual (also report modeled seconds) or paced (hold every operation to the model, --dilation times slower).")
    var clock: String = "wall"
    @Option(help: "Wall seconds per modeled second under --clock paced.") var dilation: Double = 1
    @Option(name: .customLong("host-profile"), help: "Host topology the run is modeled on.") var hostProfile: String = "hpca24-host"
    @Option(name: [.customLong("device-profile"), .customLong("profile")], help: "Device profile the run is modeled on (Emulator/ name or a file).")
    var deviceProfile: String = "smartssd"
    @Option(name: .customLong("gpu-profile"), help: "GPU profile the run's forward and backward are modeled on.") var gpuProfile: String = "a5000"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a profile value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "Write every step's operations, modeled and wall times, as a trace (JSON Lines).") var trace: String?
    @Option(name: .customLong("on-device-failure"), help: "abort (default) or retry: restart a failed device, roll the fleet back one step and run the step again.")
    var onDeviceFailure: String = "abort"
    @Option(name: .customLong("max-retries"), help: "Recoveries allowed per step with --on-device-failure retry.") var maxRetries: Int = 3
    @Flag(name: .customLong("overlap-forward"), help: "Start each forward pass on the parameters the devices have already written back, while they finish the previous step.")
    var overlapForward = false

    func run() throws {
        let options = try resolved()
        let log: (String) -> Void = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
        let run: TrainingRun
        do { run = try TrainingRun(options, log: log) } catch { throw failure(error) }
        defer { run.finish() }
        let out: (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
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
        } catch { throw failure(error) }
        out(Self.summary(run))
    }

    private func failure(_ error: Error) -> Error {
        FileHandle.standardError.write(Data("smartinf train: \(error)\n".utf8))
        return ExitCode.failure
    }

    static func summary(_ run: TrainingRun) -> String {
        var total = PhaseSeconds()
        run.records.forEach { total.add($0.seconds) }
        let steps = Double(max(run.records.count, 1))
        let first = run.records.first?.loss ?? .nan
        let last = run.records.last?.loss ?? .nan
        var table = TextTable(["phase", "s/step", "share"])
        for (name, value) in [("forward", total.forward), ("backward", total.backward), ("grad check+clip", total.gradientCheck),
                              ("update (offload, device update, upload)", total.update)] {
            table.append([name, String(format: "%.4f", value / steps), String(format: "%.1f%%", 100 * value / max(total.total, 1e-12))])
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
            memory += "\nmodeled on \(c.hostProfile) + \(run.options.devices) × \(c.deviceProfile) + \(c.gpuProfile) (\(c.kind.rawValue) clock), ms/step: "
                + "fw \(mean(\.forward)), bw+grad offload \(mean(\.backwardAndOffload)), update+opt I/O \(mean(\.update)), iteration \(mean(\.iteration))"
        }
        if run.options.overlapForward {
            memory += "\noverlapped forward passes took \(run.earlyParameterSubgroups) subgroups' parameters before their devices had finished "
                + "(their wait is in forward; update shows the offload and what was left to wait for)"
        }
        return """

        \(run.options.mode) on \(run.options.devices) device(s): loss \(String(format: "%.4f", first)) → \(String(format: "%.4f", last)) in \(run.records.count) steps
        \(table.rendered)
        shared host link: \(Figures.count(Double(t.gradientBytes)))B of gradients down, \(Figures.count(Double(t.parameterBytes)))B of parameters up
        inside the devices: \(Figures.count(Double(t.deviceBytesRead)))B read, \(Figures.count(Double(t.deviceBytesWritten)))B written
        \(memory)
        """
    }

    func resolved() throws -> TrainingOptions {
        let file: TrainingConfigFile
        do { file = try config.map { try TrainingConfigFile.load(path: $0) } ?? TrainingConfigFile() } catch {
            throw ValidationError("\(error)")
        }
        if !file.ignoredKeys.isEmpty {
            FileHandle.standardError.write(Data("config \(config ?? ""): ignoring \(file.ignoredKeys.joined(separator: ", "))\n".utf8))
        }
        let model: TrainingOptions.ModelSource
        switch (checkpoint, `init`) {
        case (let path?, nil): model = .checkpoint(path)
        case (nil, let spec?): model = .initialize(spec: spec, seed: seed)
        case (nil, nil):
            guard let resume else { throw ValidationError("give --checkpoint FILE, --init gpt2:L,H,C,T,V or --resume DIR") }
            model = .checkpoint("\(resume)/model.bin")
        case (_?, _?): throw ValidationError("--checkpoint and --init exclude each other: give one")
        }
        let precisionName = precision ?? (file.fp16Enabled == true ? "fp16" : file.bf16Enabled == true ? "bf16" : "fp32")
        guard let computePrecision = Precision(name: precisionName) else {
            throw ValidationError("--precision '\(precisionName)': expected fp32, fp16 or bf16")
        }
        let modeName = mode ?? file.mode ?? "su+o"
        guard let offload = OffloadMode(rawValue: modeName) else {
            throw ValidationError("--mode '\(modeName)': expected base, su, su+o or su+o+c")
        }
        let dramText = dram ?? file.dram ?? "1GiB"
        guard let dramBytes = SizeArgument.parse(dramText), dramBytes >= 1 << 20 else {
            throw ValidationError("--dram '\(dramText)' is not a size of at least 1MiB (example: 1GiB)")
        }
        let batchSize = batch ?? file.batchSize ?? 4
        let deviceCount = devices ?? file.devices ?? 1
        guard batchSize >= 1, seq >= 1, steps >= 1, deviceCount >= 1 else {
            throw ValidationError("--batch, --seq, --steps and --devices must be at least 1")
        }
        let ratio = topkRatio ?? file.topkRatio ?? 0.01
        guard ratio > 0, ratio <= 1 else { throw ValidationError("--topk-ratio \(ratio) is outside (0, 1]") }
        let learningRate = lr ?? file.learningRate ?? 3e-4
        let decay = weightDecay ?? file.weightDecay ?? 0
        let clip = gradClip ?? file.gradientClip ?? 0
        guard learningRate > 0, decay >= 0, clip >= 0 else {
            throw ValidationError("--lr must be positive, --weight-decay and --grad-clip non-negative")
        }
        let feedback = errorFeedback || file.errorFeedback == true
        if offload != .suOC && feedback { throw ValidationError("--error-feedback needs --mode su+o+c") }
        let optimizerName = optimizer ?? file.optimizerType.map(Self.optimizerName) ?? "adamw"
        var optimizerConfig: OptimizerConfig
        do { optimizerConfig = try OptimizerConfig(name: optimizerName) } catch { throw ValidationError("--optimizer: \(error)") }
        let firstBeta = beta1 ?? file.betas?[0] ?? file.momentum ?? 0.9
        let secondBeta = beta2 ?? file.betas?[1] ?? 0.999
        let epsilon = eps ?? file.eps
        switch optimizerConfig {
        case .adamw:
            optimizerConfig = .adamw(AdamWHyperparameters(beta1: Float(firstBeta), beta2: Float(secondBeta), eps: Float(epsilon ?? 1e-8),
                                                          weightDecay: Float(decay)))
        case .sgd(var h, let f):
            h.momentum = Float(firstBeta)
            h.weightDecay = Float(decay)
            optimizerConfig = .sgd(h, f)
        case .adagrad(var h, let f):
            if let epsilon { h.eps = Float(epsilon) }
            h.weightDecay = Float(decay)
            optimizerConfig = .adagrad(h, f)
        }
        let schedule: LearningRateSchedule
        switch lrSchedule {
        case "constant": schedule = .constant(learningRate)
        case "cosine": schedule = .warmupCosine(peak: learningRate, minimum: minLr, warmupSteps: warmup, totalSteps: steps)
        default: throw ValidationError("--lr-schedule '\(lrSchedule)': expected constant or cosine")
        }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be ≥ 0") }
        if checkpointEvery > 0 && saveCheckpoint == nil { throw ValidationError("--checkpoint-every needs --save-checkpoint DIR") }
        var faults: [Int: String] = [:]
        for entry in deviceFault {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let device = Int(parts[0]), device >= 0, device < deviceCount else {
                throw ValidationError("--device-fault '\(entry)': expected I:SPEC with a device index 0..<\(deviceCount)")
            }
            faults[device] = parts[1]
        }
        var options = TrainingOptions(
            model: model, trainData: trainData, validationData: valData, batchSize: batchSize, sequenceLength: seq, steps: steps,
            shuffleSeed: noShuffle ? nil : shuffleSeed, validationEvery: valEvery, schedule: schedule, optimizer: optimizerConfig,
            precision: computePrecision, gradientClip: clip > 0 ? clip : nil, lossScaling: Self.lossScaling(file),
            mode: offload, devices: deviceCount, ssdDirectory: ssdDir ?? file.ssdDirectory ?? file.nvmePath ?? "/var/tmp/smartinf-ssd",
            dramBytes: dramBytes, deviceThreads: deviceThreads, attach: attach, subgroupElements: subGroupSize ?? file.subGroupSize ?? 0,
            compression: GradientCompressionSettings(ratio: ratio, errorFeedback: feedback),
            queueDepth: file.queueDepth ?? 16, blockSize: file.blockSize ?? 1 << 20,
            blasThreads: blasThreads, metricsPath: metrics, saveCheckpoint: saveCheckpoint, resume: resume)
        guard deviceTimeout > 0 else { throw ValidationError("--device-timeout must be positive, got \(deviceTimeout)") }
        options.deviceTimeout = deviceTimeout
        options.checkpointEvery = checkpointEvery
        options.deviceFaults = faults
        guard let clockKind = ClockKind(rawValue: clock) else { throw ValidationError("--clock '\(clock)': expected wall, virtual or paced") }
        guard dilation > 0, dilation.isFinite else { throw ValidationError("--dilation \(dilation): expected a positive number") }
        options.clock.kind = clockKind
        options.clock.dilation = dilation
        options.clock.hostProfile = hostProfile
        options.clock.deviceProfile = deviceProfile
        options.clock.gpuProfile = gpuProfile
        options.clock.overrides = overrides
        options.clock.tracePath = trace
        options.overlapForward = overlapForward
        switch onDeviceFailure {
        case "abort": options.onDeviceFailure = .abort
        case "retry":
            guard maxRetries >= 1 else { throw ValidationError("--max-retries must be at least 1, got \(maxRetries)") }
            options.onDeviceFailure = .retry(maxRetries: maxRetries)
        default: throw ValidationError("--on-device-failure '\(onDeviceFailure)': expected abort or retry")
        }
        return options
    }

    /// DeepSpeed's optimizer type names, as ours.
    static func optimizerName(_ type: String) -> String {
        switch type.lowercased() {
        case "adam", "adamw", "cpuadam", "deepspeedcpuadam": "adamw"
        default: type.lowercased()
        }
    }

    /// The fp16 section's loss scaling: dynamic (loss_scale 0) with its knobs, or static.
    static func lossScaling(_ file: TrainingConfigFile) -> DynamicLossScaler.Configuration? {
        guard file.fp16Enabled == true else { return nil }
        if let fixed = file.lossScale, fixed > 0 {
            // A static scale: never grows, and overflows only skip (hysteresis never runs out).
            return DynamicLossScaler.Configuration(initialScale: fixed, window: Int.max / 2, hysteresis: Int.max / 2, minimumScale: fixed)
        }
        return DynamicLossScaler.Configuration(
            initialScale: Double(1 << min(file.initialScalePower ?? 16, 62)), window: file.lossScaleWindow ?? 1000,
            hysteresis: file.hysteresis ?? 2, minimumScale: max(file.minimumLossScale ?? 1, 1e-30))
    }
}
