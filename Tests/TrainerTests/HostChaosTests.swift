import Foundation
import Logging
import Testing
import Trainer

/// The real `smartinf train`, SIGKILLed in every phase of a step (mid-update, between the
/// devices' commit and the journal, mid-journal-write, mid-checkpoint), at random instants and
/// together with a device, resumed each time from its SSD directory: the final parameters and
/// optimizer states are bit-identical to an uninterrupted run, and the metrics hold every step
/// once. (`make soak-host` runs hundreds of kills.)
@Suite(.serialized) struct HostChaosTests {
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("smartinf").path
    }

    static let everyPhase = HostFault.Phase.allCases.map(HostChaos.Kill.phase)
        + [.random(withDevice: false), .random(withDevice: true), .random(withDevice: false)]

    @Test(arguments: [
        (["--mode", "su+o", "--devices", "2"], everyPhase),
        (["--mode", "su+o+c", "--topk-ratio", "0.1", "--error-feedback", "--devices", "2", "--overlap-forward"],
         [.phase(.update), .phase(.snapshot), .phase(.journal), .random(withDevice: true)]),
        (["--mode", "base", "--devices", "2", "--precision", "bf16"], [.phase(.committed), .phase(.modelFile), .random(withDevice: false)]),
    ] as [([String], [HostChaos.Kill])])
    func killedAnywhereTheRunEndsAsIfNeverKilled(mode: [String], kills: [HostChaos.Kill]) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let plan = HostChaos.Plan(
            executable: Self.executable,
            training: ["--init", "gpt2:2,4,64,32,256", "--train-data", data.train, "--batch", "2", "--seq", "16", "--lr", "1e-3",
                       "--dram", "16MiB", "--sub-group-size", "8192"] + mode,
            steps: 12, checkpointEvery: 3, kills: kills, directory: "\(dir.path)/chaos", seed: 11)
        let report = try HostChaos.run(plan, logger: Logger(label: "host-chaos", factory: SwiftLogNoOpLogHandler.init))
        #expect(report.parametersIdentical && report.statesIdentical, "\(report)")
        #expect(report.metricsIdentical, "\(report)")
        // A kill in step k loses at most step k (the step in flight).
        #expect(report.mostStepsLost <= 1, "\(report)")
        // The phase kills all land (each picks a step the run still has ahead of it).
        let phases = kills.filter { if case .phase = $0 { true } else { false } }.count
        #expect(report.landed.filter { $0.key.hasPrefix("in ") }.values.reduce(0, +) == phases, "\(report.landed)")
        #expect(report.launches >= phases + 1)
        // A host killed with one of its devices: the device is killed too.
        #expect(report.devicesKilled == report.landed["\(HostChaos.Kill.random(withDevice: true))", default: 0], "\(report)")
    }
}
