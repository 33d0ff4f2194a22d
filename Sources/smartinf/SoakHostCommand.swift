import ArgumentParser
import Benchmarking
import ConsoleLog
import Foundation
import Logging
import SeededRandom
import Trainer

struct SoakHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak-host",
        abstract: "Kill the trainer again and again and resume it from its devices, against an uninterrupted run.",
        discussion: """
        Trains a small GPT on the synthetic corpus once without a kill, then runs the same \
        `smartinf train` and SIGKILLs it --kills times: in every phase of a step (forward, \
        backward, mid-update, between the devices' commit and the journal, mid-journal-write, \
        mid-checkpoint), at random instants, and together with one of its devices; each time the \
        same command is started again with --resume SSD_DIR. Prints the kills that landed, the \
        steps run again, and whether the final parameters, optimizer states and metrics are \
        bit-identical to the uninterrupted run. Exits non-zero if anything differs.
        """)

    @Option(help: "Kills.") var kills: Int = 200
    @Option(help: "Steps of the run.") var steps: Int = 2000
    @Option(help: "Devices.") var devices: Int = 4
    @Option(help: "Offload mode of the run (base, su, su+o, su+o+c).") var mode: String = "su+o"
    @Option(name: .customLong("checkpoint-every"), help: "Checkpoint every N steps.") var checkpointEvery: Int = 5
    @Option(help: "Seed of the kills.") var seed: UInt64 = 1
    @Option(help: "Directory for the runs' files (removed first).") var dir: String = "/var/tmp/smartinf-soak-host"
    @OptionGroup var logging: LogLevelOption

    func run() throws {
        logging.bootstrap()
        guard kills >= 0, steps >= 2, devices >= 1, checkpointEvery >= 1 else {
            throw ValidationError("need --kills ≥ 0, --steps ≥ 2, --devices ≥ 1, --checkpoint-every ≥ 1")
        }
        let corpus = "\(dir)-corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try SyntheticCorpus.write(to: corpus, trainBytes: 200_000, validationBytes: 1000, seed: 7)
        // Every phase in turn, then random instants, a third of them with a device.
        var rng = SplitMix64(seed: seed)
        let phases = HostFault.Phase.allCases.map(HostChaos.Kill.phase)
        let plannedKills = (0..<kills).map { k -> HostChaos.Kill in
            k % 2 == 0 ? phases[(k / 2) % phases.count] : .random(withDevice: mode != "base" && UInt64.random(in: 0..<3, using: &rng) == 0)
        }
        let plan = HostChaos.Plan(
            executable: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
            training: ["--init", "gpt2:2,4,64,32,256", "--train-data", "\(corpus)/train.bin", "--batch", "2", "--seq", "16",
                       "--lr", "1e-3", "--mode", mode, "--devices", "\(devices)", "--dram", "16MiB", "--sub-group-size", "8192",
                       "--log-level", "warning"],
            steps: steps, checkpointEvery: checkpointEvery, kills: plannedKills, directory: dir, seed: rng.next())
        let report = try HostChaos.run(plan, logger: Logger(label: "smartinf.soak-host"))
        var table = TextTable(["figure", "value"])
        table.append(["steps × devices, mode", "\(steps) × \(devices), \(mode)"])
        table.append(["trainer processes started", "\(report.launches)"])
        for (kind, count) in report.landed.sorted(by: { $0.key < $1.key }) { table.append(["killed \(kind)", "\(count)"]) }
        table.append(["devices killed with their host", "\(report.devicesKilled)"])
        table.append(["most steps a kill in a known step lost (limit 1)", "\(report.mostStepsLost)"])
        table.append(["parameters bit-identical to the uninterrupted run", report.parametersIdentical ? "yes" : "NO"])
        table.append(["optimizer states bit-identical", report.statesIdentical ? "yes" : "NO"])
        table.append(["metrics: every step once, same losses", report.metricsIdentical ? "yes" : "NO"])
        table.append(["seconds: uninterrupted / killed and resumed", String(format: "%.1f / %.1f", report.referenceSeconds, report.chaosSeconds)])
        print(table.rendered)
        if !report.passed { throw ExitCode(1) }
    }
}
