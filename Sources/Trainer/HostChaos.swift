import Foundation
import Glibc
import Logging
import SeededRandom

/// The host crash test (`smartinf soak-host`, `make soak-host`, and a short one in `make
/// test`): the real `smartinf train`, killed with SIGKILL again and again — in every phase of a
/// step, in the middle of checkpoints and of its own journal write, at random instants from
/// outside, and together with one of its devices — and started again each time with `--resume
/// SSD_DIR`, until it finishes. Against the same command run once without a kill it must end
/// with bit-identical parameters and optimizer states (the final checkpoints, exported), and a
/// metrics file holding every step once, with the same losses.
public enum HostChaos {
    /// One way to kill the trainer.
    public enum Kill: Sendable, Equatable, CustomStringConvertible {
        /// The trainer kills itself in this phase of the next suitable step (`--host-fault`).
        case phase(HostFault.Phase)
        /// SIGKILL from outside after a random share of the expected remaining time, and with
        /// `withDevice` one of its devices at the same moment.
        case random(withDevice: Bool)

        public var description: String {
            switch self {
            case .phase(let phase): "in \(phase.rawValue)"
            case .random(let device): device ? "host and a device at a random instant" : "at a random instant"
            }
        }
    }

    public struct Plan: Sendable {
        /// The `smartinf` executable.
        public var executable: String
        /// `smartinf train` flags beside the ones the test sets (`--ssd-dir`, `--save-checkpoint`,
        /// `--metrics`, `--resume`, `--host-fault`): the model, data, steps, mode, devices, ….
        public var training: [String]
        public var steps: Int
        /// `--checkpoint-every`: the checkpoint phases need checkpoints to fall in.
        public var checkpointEvery: Int
        /// The kills, in order; the run then goes on to its end.
        public var kills: [Kill]
        /// The test's own directory (removed first).
        public var directory: String
        public var seed: UInt64

        public init(executable: String, training: [String], steps: Int, checkpointEvery: Int, kills: [Kill], directory: String,
                    seed: UInt64) {
            self.executable = executable
            self.training = training
            self.steps = steps
            self.checkpointEvery = checkpointEvery
            self.kills = kills
            self.directory = directory
            self.seed = seed
        }
    }

    public struct Report: Sendable {
        /// Trainer processes started (the first, then one per kill that landed).
        public var launches: Int
        /// Kills that landed, by kind (a random kill may come after the run ended, and one of
        /// a phase after the last suitable step).
        public var landed: [String: Int]
        public var devicesKilled: Int
        /// The most steps a kill in a known step cost (a phase kill in step k: k less the last
        /// step the journal holds after it): at most 1, the step in flight.
        public var mostStepsLost: Int
        public var parametersIdentical: Bool
        public var statesIdentical: Bool
        /// Every step in the metrics file once, with the reference's loss.
        public var metricsIdentical: Bool
        public var referenceSeconds: Double
        public var chaosSeconds: Double
        public var passed: Bool { parametersIdentical && statesIdentical && metricsIdentical && mostStepsLost <= 1 }
    }

    /// A trainer started by the test that did not end as planned.
    public struct Failure: Error, CustomStringConvertible {
        public var detail: String
        public var description: String { "host chaos: \(detail)" }
    }

    public static func run(_ plan: Plan, logger: Logger) throws -> Report {
        var rng = SplitMix64(seed: plan.seed)
        try? FileManager.default.removeItem(atPath: plan.directory)
        try FileManager.default.createDirectory(atPath: plan.directory, withIntermediateDirectories: true)
        let reference = Layout(plan.directory + "/reference")
        let chaos = Layout(plan.directory + "/chaos")
        for layout in [reference, chaos] { try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true) }

        let referenceStart = ContinuousClock.now
        let first = try launch(plan, reference, resume: false, fault: nil, number: 0)
        // Its startup: until its first metrics line.
        while first.process.isRunning && ((try? FileManager.default.attributesOfItem(atPath: reference.metrics)[.size] as? Int) ?? 0) == 0 {
            Thread.sleep(forTimeInterval: 0.002)
        }
        let startupSeconds = (ContinuousClock.now - referenceStart) / .seconds(1)
        first.process.waitUntilExit()
        guard first.process.terminationReason == .exit, first.process.terminationStatus == 0 else {
            throw Failure(detail: "the reference run failed: \(first.errors)")
        }
        let referenceSeconds = (ContinuousClock.now - referenceStart) / .seconds(1)
        // A random kill falls within the startup and the next few steps (checkpoints
        // included), so that every kill of a plan finds the run still going.
        let stepSeconds = (referenceSeconds - startupSeconds) / Double(plan.steps)
        let window = startupSeconds + 4 * stepSeconds
        logger.info("\(String(format: "reference: %d steps in %.1f s (%.1f ms a step)", plan.steps, referenceSeconds, stepSeconds * 1e3))")

        var landed: [String: Int] = [:]
        var devicesKilled = 0
        var launches = 0
        var mostStepsLost = 0
        var pending = plan.kills[...]
        let chaosStart = ContinuousClock.now
        while true {
            let resume = TrainerJournal.exists(in: chaos.ssd)
            let done = resume ? try TrainerJournal.newest(in: chaos.ssd).stepsDone : 0
            let planned = pending.popFirst()
            var fault: HostFault?
            if case .phase(let phase)? = planned { fault = Self.fault(phase, after: done, plan: plan, using: &rng) }
            launches += 1
            let trainer = try launch(plan, chaos, resume: resume, fault: fault, number: launches)
            var deviceKilled = false
            if case .random(let withDevice)? = planned {
                // A kill with a device waits for the devices to be up.
                while withDevice && devicePIDs(ssd: chaos.ssd).isEmpty && trainer.process.isRunning { Thread.sleep(forTimeInterval: 0.005) }
                Thread.sleep(forTimeInterval: Double.random(in: 0...window, using: &rng))
                let devices = devicePIDs(ssd: chaos.ssd)
                kill(trainer.process.processIdentifier, SIGKILL)
                if withDevice, let device = devices.randomElement(using: &rng) {
                    deviceKilled = Glibc.kill(device, SIGKILL) == 0
                }
            }
            trainer.process.waitUntilExit()
            try waitForDevicesToGo(ssd: chaos.ssd)
            if trainer.process.terminationReason == .exit && trainer.process.terminationStatus == 0 { break }
            guard trainer.process.terminationReason == .uncaughtSignal, trainer.process.terminationStatus == SIGKILL, let planned else {
                throw Failure(detail: "launch \(launches) (\(resume ? "resumed at step \(done)" : "fresh")) failed: \(trainer.errors)")
            }
            landed["\(planned)", default: 0] += 1
            let journaled = TrainerJournal.exists(in: chaos.ssd) ? try TrainerJournal.newest(in: chaos.ssd).stepsDone : 0
            if let fault { mostStepsLost = max(mostStepsLost, fault.step - journaled) }
            if deviceKilled { devicesKilled += 1 }
            logger.info("launch \(launches), from step \(done): killed \(planned)\(fault.map { " (step \($0.step))" } ?? ""); the journal holds step \(journaled)")
        }
        let chaosSeconds = (ContinuousClock.now - chaosStart) / .seconds(1)

        let exports = try [reference, chaos].map { layout in
            _ = try PortableCheckpoint.export(from: layout.checkpoint, to: layout.export)
            return try [PortableCheckpoint.modelFile, PortableCheckpoint.optimizerFile].map { name in
                try Data(contentsOf: URL(fileURLWithPath: "\(layout.export)/\(name)"))
            }
        }
        let losses = try [reference, chaos].map { try stepLosses($0.metrics) }
        return Report(launches: launches, landed: landed, devicesKilled: devicesKilled, mostStepsLost: mostStepsLost,
                      parametersIdentical: exports[0][0] == exports[1][0], statesIdentical: exports[0][1] == exports[1][1],
                      metricsIdentical: losses[0] == losses[1] && losses[0].map(\.step) == Array(1...plan.steps),
                      referenceSeconds: referenceSeconds, chaosSeconds: chaosSeconds)
    }

    /// Where one run of the test keeps its files.
    struct Layout {
        var root: String
        var ssd: String
        var checkpoint: String
        var metrics: String
        var export: String

        init(_ root: String) {
            self.root = root
            ssd = root + "/ssd"
            checkpoint = root + "/checkpoint"
            metrics = root + "/metrics.jsonl"
            export = root + "/export"
        }
    }

    /// A trainer process, its standard output and error in files of the test's directory.
    struct TrainerProcess {
        let process = Process()
        let output: String
        let errorOutput: String

        init(_ executable: String, _ arguments: [String], files: String) throws {
            output = files + ".out"
            errorOutput = files + ".err"
            for path in [output, errorOutput] where !FileManager.default.createFile(atPath: path, contents: nil) {
                throw Failure(detail: "cannot create \(path)")
            }
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardOutput = FileHandle(forWritingAtPath: output)
            process.standardError = FileHandle(forWritingAtPath: errorOutput)
            try process.run()
        }

        /// The end of its standard error (once it has exited).
        var errors: String { String(((try? String(contentsOfFile: errorOutput, encoding: .utf8)) ?? "").suffix(4000)) }
    }

    private static func launch(_ plan: Plan, _ layout: Layout, resume: Bool, fault: HostFault?, number: Int) throws -> TrainerProcess {
        var arguments = ["train"] + plan.training + ["--steps", "\(plan.steps)", "--ssd-dir", layout.ssd,
                                                     "--save-checkpoint", layout.checkpoint,
                                                     "--checkpoint-every", "\(plan.checkpointEvery)", "--metrics", layout.metrics]
        if resume { arguments += ["--resume", layout.ssd] }
        if let fault { arguments += ["--host-fault", "crash@step=\(fault.step),phase=\(fault.phase.rawValue)"] }
        return try TrainerProcess(plan.executable, arguments, files: "\(layout.root)/launch-\(number)")
    }

    /// A fault in `phase` at a random step after `done` (a checkpoint step for the checkpoint
    /// phases); nil if no step is left for it.
    private static func fault(_ phase: HostFault.Phase, after done: Int, plan: Plan, using rng: inout SplitMix64) -> HostFault? {
        // The final checkpoint comes after the last step: a run resumed there still writes it.
        let candidates = switch phase {
        case .snapshot, .modelFile:
            stride(from: done + 1, through: plan.steps, by: 1).filter { $0 % plan.checkpointEvery == 0 || $0 == plan.steps }
                + (done == plan.steps ? [done] : [])
        default: Array(stride(from: done + 1, through: plan.steps, by: 1))
        }
        // Early steps, so that the kills of a plan all find a step.
        return candidates.prefix(3).randomElement(using: &rng).map { HostFault(step: $0, phase: phase) }
    }

    /// The `smartssd` processes serving the SSD files in `ssd`.
    static func devicePIDs(ssd: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry),
                  let bytes = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let serves = arguments.first?.hasSuffix("smartssd") == true && arguments.contains { $0.hasPrefix(ssd + "/") }
            return serves ? pid : nil
        }
    }

    /// Waits until no device of the killed trainer is left (they die with it: `--exit-with-parent`),
    /// so that the next run finds their SSD files unlocked.
    private static func waitForDevicesToGo(ssd: String) throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !devicePIDs(ssd: ssd).isEmpty {
            guard ContinuousClock.now < deadline else { throw Failure(detail: "devices of \(ssd) still run 20 s after their trainer died") }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Each step's loss in a metrics file, in file order.
    private static func stepLosses(_ path: String) throws -> [StepLoss] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            try JSONDecoder().decode(StepLoss.self, from: Data(line.utf8))
        }
    }

    struct StepLoss: Decodable, Equatable {
        var step: Int
        var loss: Double
    }
}
