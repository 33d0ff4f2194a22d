import ArgumentParser
import Benchmarking
import Foundation
import Offload
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
    @Option(help: "Batch size B.") var batch: Int = 4
    @Option(help: "Sequence length T.") var seq: Int = 64
    @Option(help: "Training steps.") var steps: Int = 10
    @Flag(name: .customLong("no-shuffle"), help: "Take batches in file order.") var noShuffle = false
    @Option(name: .customLong("shuffle-seed"), help: "Seed of the batch order.") var shuffleSeed: UInt64 = 42

    @Option(help: "Peak learning rate.") var lr: Double = 3e-4
    @Option(name: .customLong("lr-schedule"), help: "constant or cosine (linear warm-up, cosine decay to --min-lr).")
    var lrSchedule: String = "constant"
    @Option(help: "Warm-up steps of the cosine schedule.") var warmup: Int = 0
    @Option(name: .customLong("min-lr"), help: "Final learning rate of the cosine schedule.") var minLr: Double = 0
    @Option(name: .customLong("weight-decay"), help: "Weight decay.") var weightDecay: Double = 0
    @Option(help: "β1 (AdamW) or momentum (SGD).") var beta1: Double = 0.9
    @Option(help: "β2 (AdamW).") var beta2: Double = 0.999
    @Option(help: "ε.") var eps: Double = 1e-8
    @Option(name: .customLong("grad-clip"), help: "Clip the global gradient norm to this (0: off).") var gradClip: Double = 0
    @Option(help: "adamw, sgd, sgd:torch, adagrad, adagrad:torch.") var optimizer: String = "adamw"
    @Option(help: "fp32, or mixed precision fp16 (dynamic loss scaling) or bf16: the compute copy and the gradients.")
    var precision: String = "fp32"

    @Option(help: "base, su, su+o or su+o+c.") var mode: String = "su+o"
    @Option(help: "Number of (emulated) devices.") var devices: Int = 1
    @Option(name: .customLong("ssd-dir"), help: "Directory for the devices' SSD files and sockets.") var ssdDir: String = "/var/tmp/smartinf-ssd"
    @Option(help: "DRAM per device.") var dram: String = "1GiB"
    @Option(name: .customLong("device-threads"), help: "Update threads per device.") var deviceThreads: Int = 1
    @Option(parsing: .upToNextOption, help: "Attach to running devices by socket instead of starting them.") var attach: [String] = []
    @Option(name: .customLong("sub-group-size"), help: "Elements per subgroup (0: the largest the DRAM allows).")
    var subGroupSize: Int = 0
    @Option(name: .customLong("topk-ratio"), help: "Fraction of gradient elements sent in su+o+c.") var topkRatio: Double = 0.01
    @Flag(name: .customLong("error-feedback"), help: "Carry what top-k drops to the next step.") var errorFeedback = false
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads.") var blasThreads: Int = 1

    @Option(help: "JSON Lines file with one record per step.") var metrics: String?
    @Option(name: .customLong("save-checkpoint"), help: "Directory for the final model and trainer state.") var saveCheckpoint: String?
    @Option(help: "Continue the run saved in this directory (with --save-checkpoint); --steps is the total.")
    var resume: String?
    @Flag(help: "Print the partition plan before training.") var explain = false

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
        return """

        \(run.options.mode) on \(run.options.devices) device(s): loss \(String(format: "%.4f", first)) → \(String(format: "%.4f", last)) in \(run.records.count) steps
        \(table.rendered)
        shared host link: \(Figures.count(Double(t.gradientBytes)))B of gradients down, \(Figures.count(Double(t.parameterBytes)))B of parameters up
        inside the devices: \(Figures.count(Double(t.deviceBytesRead)))B read, \(Figures.count(Double(t.deviceBytesWritten)))B written
        """
    }

    func resolved() throws -> TrainingOptions {
        let model: TrainingOptions.ModelSource
        switch (checkpoint, `init`) {
        case (let path?, nil): model = .checkpoint(path)
        case (nil, let spec?): model = .initialize(spec: spec, seed: seed)
        case (nil, nil):
            guard let resume else { throw ValidationError("give --checkpoint FILE, --init gpt2:L,H,C,T,V or --resume DIR") }
            model = .checkpoint("\(resume)/model.bin")
        case (_?, _?): throw ValidationError("--checkpoint and --init exclude each other: give one")
        }
        guard let computePrecision = Precision(name: precision) else {
            throw ValidationError("--precision '\(precision)': expected fp32, fp16 or bf16")
        }
        guard let offload = OffloadMode(rawValue: mode) else {
            throw ValidationError("--mode '\(mode)': expected base, su, su+o or su+o+c")
        }
        guard let dramBytes = SizeArgument.parse(dram), dramBytes >= 1 << 20 else {
            throw ValidationError("--dram '\(dram)' is not a size of at least 1MiB (example: 1GiB)")
        }
        guard batch >= 1, seq >= 1, steps >= 1, devices >= 1 else {
            throw ValidationError("--batch, --seq, --steps and --devices must be at least 1")
        }
        guard topkRatio > 0, topkRatio <= 1 else { throw ValidationError("--topk-ratio \(topkRatio) is outside (0, 1]") }
        guard lr > 0, weightDecay >= 0, gradClip >= 0 else { throw ValidationError("--lr must be positive, --weight-decay and --grad-clip non-negative") }
        if offload != .suOC && errorFeedback { throw ValidationError("--error-feedback needs --mode su+o+c") }
        var config: OptimizerConfig
        do { config = try OptimizerConfig(name: optimizer) } catch { throw ValidationError("--optimizer: \(error)") }
        switch config {
        case .adamw: config = .adamw(AdamWHyperparameters(beta1: Float(beta1), beta2: Float(beta2), eps: Float(eps), weightDecay: Float(weightDecay)))
        case .sgd(var h, let f):
            h.momentum = Float(beta1)
            h.weightDecay = Float(weightDecay)
            config = .sgd(h, f)
        case .adagrad(var h, let f):
            h.eps = Float(eps)
            h.weightDecay = Float(weightDecay)
            config = .adagrad(h, f)
        }
        let schedule: LearningRateSchedule
        switch lrSchedule {
        case "constant": schedule = .constant(lr)
        case "cosine": schedule = .warmupCosine(peak: lr, minimum: minLr, warmupSteps: warmup, totalSteps: steps)
        default: throw ValidationError("--lr-schedule '\(lrSchedule)': expected constant or cosine")
        }
        return TrainingOptions(
            model: model, trainData: trainData, validationData: valData, batchSize: batch, sequenceLength: seq, steps: steps,
            shuffleSeed: noShuffle ? nil : shuffleSeed, validationEvery: valEvery, schedule: schedule, optimizer: config,
            precision: computePrecision,
            gradientClip: gradClip > 0 ? gradClip : nil, mode: offload, devices: devices, ssdDirectory: ssdDir,
            dramBytes: dramBytes, deviceThreads: deviceThreads, attach: attach, subgroupElements: subGroupSize,
            compression: GradientCompressionSettings(ratio: topkRatio, errorFeedback: errorFeedback),
            blasThreads: blasThreads, metricsPath: metrics, saveCheckpoint: saveCheckpoint, resume: resume)
    }
}
