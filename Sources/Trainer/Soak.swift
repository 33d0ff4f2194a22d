import Dispatch
import Foundation
import Logging
import Offload
import SeededRandom

/// The soak test (`smartinf soak`, `make soak`): a long run on many devices with random faults,
/// recovered by `--on-device-failure retry`, against a fault-free reference run of the same
/// steps. It must end with bit-identical parameters and leave no device processes, descriptors
/// or memory behind.
public enum Soak {
    public struct Report: Sendable {
        public var steps: Int
        public var devices: Int
        public var injectedSpecs: [Int: String]
        public var kills: Int
        public var recoveries: Int
        public var bitIdentical: Bool
        public var referenceSeconds: Double
        public var faultedSeconds: Double
        public var descriptorsBefore: Int
        public var descriptorsAfter: Int
        /// What the descriptors opened during the soak and still open refer to.
        public var descriptorsLeft: [String]
        /// Host resident bytes after the first tenth of the steps and at the end.
        public var residentEarly: Int
        public var residentEnd: Int
        /// Live heap bytes at the same two points.
        public var heapEarly: Int
        public var heapEnd: Int
        /// Live heap bytes at the faulted run's last step (the run still alive). This and
        /// `heapEarly` leave out the run's step records, which grow by design.
        public var heapLastStep: Int
        /// Live heap growth per step between the first tenth and the last step of the faulted
        /// run: what a per-step leak shows as (the offload workers once leaked ~500 B per device
        /// per step; a recovery leaves allocator bookkeeping of ~70 B).
        public var heapGrowthPerStep: Double {
            let span = steps - max(1, steps / 10)
            return span > 0 ? Double(heapLastStep - heapEarly) / Double(span) : 0
        }
        /// Growth per step above this fails the soak.
        public static let heapGrowthLimit = 256.0
        public var devicesLeft: Int
    }

    /// The descriptors counted before the faulted run are those left after the reference run.
    /// `base` is a small model's options (mode, devices, steps set by the caller); faults: every
    /// device gets one random `--fault` spec (crash, eio, corrupt or hang at a random step), and
    /// a chaos thread SIGKILLs a random device about every `killEverySteps` steps. `logger`
    /// hears of the reference run, the kills, and the faulted run's failures and recoveries.
    public static func run(_ base: TrainingOptions, killEverySteps: Int, seed: UInt64, logger: Logger) throws -> Report {
        var rng = SplitMix64(seed: seed)
        var reference = base
        reference.ssdDirectory += "-reference"
        reference.onDeviceFailure = .abort
        let referenceStart = ContinuousClock.now
        let expected: [UInt32]
        do {
            let run = try TrainingRun(reference, logger: logger.forNestedRun)
            defer { run.finish() }
            try run.run()
            expected = run.model.computeParameters.floats.map(\.bitPattern)
        }
        let referenceSeconds = (ContinuousClock.now - referenceStart) / .seconds(1)
        // Counted after the reference run, which has set up what the runtime keeps for good
        // (Dispatch's event descriptors, Process's monitor socket): what the faulted run leaves
        // on top of that is a leak. The run's end has waited for its devices to exit and their
        // log pipes to close (`DeviceProcesses.waitForExit`), so nothing of it is still closing.
        let before = ProcessMemory.descriptorTargets
        let descriptorsBefore = before.count
        logger.info("\(String(format: "reference: %d steps on %d devices in %.1f s", base.steps, base.devices, referenceSeconds))")

        var faulted = base
        faulted.onDeviceFailure = .retry(maxRetries: 5)
        var specs: [Int: String] = [:]
        for device in 0..<base.devices {
            let step = Int.random(in: 2...max(2, base.steps - 1), using: &rng)
            let phases = ["read", "update", "write_p", "write_m", "before_commit", "after_commit"]
            specs[device] = switch Int.random(in: 0..<4, using: &rng) {
            case 0: "crash@step=\(step),phase=\(phases.randomElement(using: &rng)!)"
            case 1: "eio@\(Bool.random(using: &rng) ? "read" : "write"),step=\(step)"
            case 2: "corrupt@grad,step=\(step)"
            default: "hang@step=\(step)"
            }
        }
        faulted.deviceFaults = specs
        var outcome: (identical: Bool, recoveries: Int, kills: Int, seconds: Double, residentEarly: Int, heapEarly: Int, heapLast: Int,
                      left: Int)
        do {
            let run = try TrainingRun(faulted, logger: logger)
            let chaos = Chaos(fleet: run.fleet, seed: rng.next())
            var residentEarly = 0
            var heapEarly = 0
            var heapLast = 0
            let faultedStart = ContinuousClock.now
            do {
                try run.run { record in
                    if record.step % killEverySteps == 0 { chaos.killOne(logger: logger, step: record.step) }
                    if record.step == max(1, base.steps / 10) {
                        residentEarly = ProcessMemory.residentBytes() ?? 0
                        heapEarly = heapBesideRecords(of: run)
                    }
                    if record.step == base.steps { heapLast = heapBesideRecords(of: run) }
                }
            } catch {
                run.finish()
                throw error
            }
            let seconds = (ContinuousClock.now - faultedStart) / .seconds(1)
            run.finish()
            outcome = (run.model.computeParameters.floats.map(\.bitPattern) == expected, run.recoveries, chaos.kills, seconds, residentEarly, heapEarly, heapLast,
                       run.fleet.processes?.processes.filter(\.isRunning).count ?? 0)
        }
        // The run is gone: its sockets and mappings are closed, and its devices' log pipes
        // (`DeviceProcesses.waitForExit`).
        let (identical, recoveries, kills, faultedSeconds, residentEarly, heapEarly, heapLast, devicesLeft) = outcome
        let residentEnd = ProcessMemory.residentBytes() ?? 0
        return Report(steps: base.steps, devices: base.devices, injectedSpecs: specs, kills: kills, recoveries: recoveries,
                      bitIdentical: identical, referenceSeconds: referenceSeconds, faultedSeconds: faultedSeconds,
                      descriptorsBefore: descriptorsBefore, descriptorsAfter: ProcessMemory.openDescriptors,
                      descriptorsLeft: ProcessMemory.descriptorTargets.filter { before[$0.key] != $0.value }.map(\.value).sorted(),
                      residentEarly: residentEarly, residentEnd: residentEnd, heapEarly: heapEarly, heapEnd: ProcessMemory.heapInUse,
                      heapLastStep: heapLast,
                      devicesLeft: devicesLeft)
    }

    /// The live heap less the run's array of step records (one per step, kept on purpose).
    private static func heapBesideRecords(of run: TrainingRun) -> Int {
        ProcessMemory.heapInUse - run.records.capacity * MemoryLayout<StepRecord>.stride
    }

    /// Kills device processes between steps, as a crashing machine would.
    final class Chaos {
        let fleet: DeviceFleet
        var rng: SplitMix64
        private(set) var kills = 0

        init(fleet: DeviceFleet, seed: UInt64) {
            self.fleet = fleet
            rng = SplitMix64(seed: seed)
        }

        /// Kills a random device after step `step`.
        func killOne(logger: Logger, step: Int) {
            guard let processes = fleet.processes?.processes, !processes.isEmpty else { return }
            let i = Int.random(in: 0..<processes.count, using: &rng)
            guard processes[i].isRunning else { return }
            kill(processes[i].processIdentifier, SIGKILL)
            kills += 1
            logger.notice("soak: killed device \(i)", metadata: ["device": "\(i)", "step": "\(step)"])
        }
    }
}
