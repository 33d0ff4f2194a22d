import ArgumentParser
import Benchmarking
import ConsoleLog
import Foundation
import Logging
import Offload
import Trainer

struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "A long run on many devices with random faults, recovered, against a fault-free reference.",
        discussion: """
        Trains a small GPT twice on the synthetic corpus: once without faults, once with one \
        random --fault per device (crash, eio, corrupt or hang at a random step) and a device \
        killed every --kill-every steps, under --on-device-failure retry. Prints whether the \
        parameters are bit-identical, the recoveries, and the descriptors, memory and processes \
        left behind. Exits non-zero if anything differs or leaks.
        """)

    @Option(help: "Devices.") var devices: Int = 8
    @Option(help: "Steps.") var steps: Int = 2000
    @Option(name: .customLong("kill-every"), help: "Kill a random device every N steps.") var killEvery: Int = 100
    @Option(help: "Seed of the faults.") var seed: UInt64 = 1
    @Option(name: .customLong("ssd-dir"), help: "Directory for the devices' files.") var ssdDir: String = "/var/tmp/smartinf-soak"
    @OptionGroup var logging: LogLevelOption

    func run() throws {
        logging.bootstrap()
        guard devices >= 1, steps >= 4, killEvery >= 1 else { throw ValidationError("need --devices ≥ 1, --steps ≥ 4, --kill-every ≥ 1") }
        try? FileManager.default.removeItem(atPath: ssdDir)
        let corpus = "\(ssdDir)-corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try SyntheticCorpus.write(to: corpus, trainBytes: 200_000, validationBytes: 1000, seed: 7)
        var options = TrainingOptions(model: .initialize(spec: "gpt2:2,4,64,32,256", seed: 1), trainData: "\(corpus)/train.bin",
                                      batchSize: 2, sequenceLength: 16, steps: steps, mode: .suO, devices: devices,
                                      ssdDirectory: ssdDir, dramBytes: 16 << 20, subgroupElements: 8192)
        options.deviceTimeout = 2
        let report = try Soak.run(options, killEverySteps: killEvery, seed: seed, logger: Logger(label: "smartinf.soak"))
        var table = TextTable(["figure", "value"])
        table.append(["steps × devices", "\(report.steps) × \(report.devices)"])
        table.append(["injected faults", report.injectedSpecs.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ")])
        table.append(["devices killed by the chaos thread", "\(report.kills)"])
        table.append(["recoveries", "\(report.recoveries)"])
        table.append(["parameters bit-identical to the reference", report.bitIdentical ? "yes" : "NO"])
        table.append(["seconds: reference / faulted", String(format: "%.1f / %.1f", report.referenceSeconds, report.faultedSeconds)])
        table.append(["host descriptors after the reference / after the faulted run", "\(report.descriptorsBefore) / \(report.descriptorsAfter)"
                      + (report.descriptorsLeft.isEmpty ? "" : " (left: \(report.descriptorsLeft.joined(separator: ", ")))")])
        table.append(["host RSS after 10% / at the end", "\(Figures.count(Double(report.residentEarly)))B / \(Figures.count(Double(report.residentEnd)))B"])
        table.append(["host heap in use after 10% / at the end", "\(Figures.count(Double(report.heapEarly)))B / \(Figures.count(Double(report.heapEnd)))B"])
        table.append(["host heap growth per step in the faulted run (limit \(Int(Soak.Report.heapGrowthLimit)) B)",
                      String(format: "%.1f B", report.heapGrowthPerStep)])
        table.append(["device processes left running", "\(report.devicesLeft)"])
        print(table.rendered)
        let leaked = report.descriptorsAfter > report.descriptorsBefore || report.devicesLeft > 0
            || report.heapGrowthPerStep > Soak.Report.heapGrowthLimit
        if !report.bitIdentical || leaked { throw ExitCode(1) }
    }
}
