import ArgumentParser
import Benchmarking
import ConsoleLog
import Foundation
import Logging
import Offload
import OffloadVocabulary
import Trainer

struct BenchClock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "Model vs reality: a small run under --clock paced (wall ÷ dilation) against --clock virtual.",
        discussion: """
        Trains a small GPT on the synthetic corpus for a few steps in each mode and device count, \
        once under the virtual clock and once paced, and prints the modeled and paced seconds of \
        the iteration and of the update (gradient offload, device update, upload) with the error. \
        Goal: within 10 %.
        """)

    @Option(help: "Modes, comma-separated.") var modes: String = "su+o,base"
    @Option(help: "Device counts, comma-separated.") var devices: String = "1,2,4"
    @Option(help: "Wall seconds per modeled second.") var dilation: Double = 200
    @Option(help: "Steps per run (the first is a warm-up).") var steps: Int = 4
    @Option(help: "Model: gpt2:L,H,C,T,V.") var model: String = "gpt2:2,4,64,32,256"
    @Option(name: .customLong("ssd-dir"), help: "Directory for the devices' files.") var ssdDir: String = "/var/tmp/smartinf-clock"
    @OptionGroup var output: BenchOutputOptions
    @OptionGroup var logging: LogLevelOption

    func run() throws {
        logging.bootstrap()
        let modeList = try CommaList.values(modes, flag: "--modes", as: OffloadMode.self)
        let counts = try CommaList.integers(devices, flag: "--devices", minimum: 1)
        guard steps >= 2 else { throw ValidationError("--steps must be at least 2 (the first is a warm-up)") }
        guard dilation > 0 else { throw ValidationError("--dilation must be positive") }
        try FileManager.default.createDirectory(atPath: ssdDir, withIntermediateDirectories: true)
        let corpus = "\(ssdDir)/corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try SyntheticCorpus.write(to: corpus, trainBytes: 200_000, validationBytes: 1000, seed: 7)
        var options = TrainingOptions(model: .initialize(spec: model, seed: 1), trainData: "\(corpus)/train.bin", batchSize: 4,
                                      sequenceLength: 32, steps: steps, ssdDirectory: ssdDir, dramBytes: 16 << 20)
        options.clock.tracePath = nil
        let points = try ClockAgreement.measure(options, modes: modeList, devices: counts, dilation: dilation,
                                                logger: Logger(label: "smartinf.clock"))
        var table = TextTable(["mode", "devices", "K", "virtual ms", "paced/K ms", "iteration err", "update model ms",
                               "update paced/K ms", "update err"])
        for p in points {
            table.append([p.mode.rawValue, "\(p.devices)", Figures.fixed(p.dilation, 0), Figures.fixed(p.virtualIteration * 1e3, 4),
                          Figures.fixed(p.pacedIteration * 1e3, 4), String(format: "%+.1f%%", p.iterationError * 100),
                          Figures.fixed(p.modeledUpdate * 1e3, 4), Figures.fixed(p.pacedUpdate * 1e3, 4),
                          String(format: "%+.1f%%", p.updateError * 100)])
        }
        try output.emit(benchmark: "clock", rows: points, table: table.rendered)
    }
}
