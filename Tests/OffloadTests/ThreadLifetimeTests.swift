import CPosix
import DeviceProtocol
import Foundation
@testable import Offload
import OffloadVocabulary
import Optim
import SmartSSD
import Synchronization
import Testing

/// Which threads did what, by thread id: the fleet's offload hook and the engines' pacers note
/// the thread they were called on.
final class ThreadLog: Sendable {
    private let seen = Mutex<[String: Set<Int64>]>([:])

    func note(_ role: String) {
        let thread = si_thread_id()
        seen.withLock { _ = $0[role, default: []].insert(thread) }
    }

    func threads(_ role: String) -> Set<Int64> { seen.withLock { $0[role] ?? [] } }
}

/// Notes which thread runs each kind of operation of engine `device`: the loader's loads, the
/// writer's write-backs, and the updates on the thread that called the engine.
struct RoleRecorder: OperationPacer {
    let device: Int
    let log: ThreadLog

    func pace(_ kind: OperationRecord.Kind, bytes: Int, elements: Int, startedAt: UInt64) {
        switch kind {
        case .load: log.note("load-\(device)")
        case .writeParameters, .writeStates: log.note("write-\(device)")
        default: log.note("update-\(device)")
        }
    }
}

/// The threads of a run are made once and kept: one worker per device in the host, and one
/// loader and one writer per transfer handler, serving every step, and gone after shutdown.
@Suite(.serialized) struct ThreadLifetimeTests {
    static let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())

    /// Steps `steps` of `fleet` on random gradients: the odd ones plainly, the even ones with
    /// their payloads written early and the parameters taken while the step is in flight.
    /// `afterEach` sees the step number once each step has settled.
    static func run(_ fleet: DeviceFleet, steps: Int, afterEach: (Int) -> Void = { _ in }) throws {
        let n = fleet.partition.parameterCount
        let gradient = StreamBuffer(precision: .fp32, count: n)
        let copy = StreamBuffer(precision: .fp32, count: n)
        for step in 1...steps {
            let values = seededValues(n, scale: 64, seed: UInt64(1000 + step))
            for i in 0..<n { gradient[i] = values[i] }
            let update = optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1.0 / 64)
            if step.isMultiple(of: 2) {
                let early = try #require(GradientOffloadSession(fleet: fleet, step: step, gradient: gradient))
                early.offload { _ in true }
                let pending = try fleet.beginStep(step, update: update, skip: false, gradient: gradient, early: early)
                pending.awaitParameters(0..<n, into: copy)
                _ = try pending.settle()
                pending.copyRemaining(into: copy)
                #expect(early.earlyPayloads > 0)
            } else {
                try fleet.step(step, update: update, skip: false, gradient: gradient)
            }
            afterEach(step)
        }
        #expect(try fleet.committedSteps() == Array(repeating: steps, count: fleet.partition.deviceCount))
    }

    @Test func anInProcessFleetRunsEveryStepOnTheSameThreadsAndEndsThemAtShutdown() throws {
        let dir = FleetDirectory()
        let (n, devices) = (5003, 2)
        let log = ThreadLog()
        let fleet = try DeviceFleet.start(
            .inProcess(count: devices, directory: dir.path, dramBytes: 16 << 20, threads: 1, buffered: false,
                       pacers: (0..<devices).map { RoleRecorder(device: $0, log: log) }),
            partition: Partition(parameterCount: n, deviceCount: devices),
            configuration: DeviceFleet.Configuration(mode: .base, optimizer: Self.optimizer, subgroupElements: 1024),
            start: .load(AlignedBuffer(seededValues(n, scale: 1, seed: 5))), directory: dir.path)
        fleet.paceOffload = { device, _, _ in log.note("offload-\(device)") }
        try Self.run(fleet, steps: 6)

        var ours: Set<Int64> = []
        for i in 0..<devices {
            let worker = log.threads("offload-\(i)")
            #expect(worker.count == 1, "device \(i)'s steps ran on threads \(worker.sorted())")
            // An in-process engine runs on the thread that calls it: its device's worker.
            #expect(log.threads("update-\(i)") == worker)
            #expect(log.threads("load-\(i)").count == 1, "engine \(i)'s loads ran on \(log.threads("load-\(i)").sorted())")
            #expect(log.threads("write-\(i)").count == 1, "engine \(i)'s write-backs ran on \(log.threads("write-\(i)").sorted())")
            ours.formUnion(worker.union(log.threads("load-\(i)")).union(log.threads("write-\(i)")))
        }
        #expect(ours.count == 3 * devices)
        #expect(!ours.contains(si_thread_id()))
        #expect(ours.isSubset(of: liveThreads()))
        fleet.shutdown()
        #expect(threadsEnd(ours))
    }

    /// Device processes keep the same threads from step to step — among them one loader and one
    /// writer — and the host drives each device from one thread for the whole run.
    @Test func deviceProcessesKeepTheirThreadsFromStepToStep() throws {
        let dir = FleetDirectory()
        let (n, devices) = (5003, 2)
        let log = ThreadLog()
        let fleet = try DeviceFleet.start(
            .launch(DeviceProcesses.Options(count: devices, directory: dir.path, dram: "16MiB")),
            partition: Partition(parameterCount: n, deviceCount: devices),
            configuration: DeviceFleet.Configuration(mode: .suO, optimizer: Self.optimizer, subgroupElements: 1024),
            start: .load(AlignedBuffer(seededValues(n, scale: 1, seed: 5))), directory: dir.path)
        defer { fleet.shutdown() }
        fleet.paceOffload = { device, _, _ in log.note("offload-\(device)") }
        let pids = try #require(fleet.processes).processes.map(\.processIdentifier)
        var afterFirst: [[Int64: String]] = []
        var afterLast: [[Int64: String]] = []
        try Self.run(fleet, steps: 6) { step in
            if step == 1 { afterFirst = pids.map(Self.threads) }
            if step == 6 { afterLast = pids.map(Self.threads) }
        }
        for i in 0..<devices {
            #expect(afterLast[i] == afterFirst[i], "device \(i)'s threads after step 1: \(afterFirst[i]); after step 6: \(afterLast[i])")
            #expect(afterLast[i].values.filter { $0 == "stage-load" }.count == 1)
            #expect(afterLast[i].values.filter { $0 == "stage-write" }.count == 1)
            #expect(log.threads("offload-\(i)").count == 1)
        }
    }

    /// The threads of process `pid`, by id, with their names.
    static func threads(of pid: Int32) -> [Int64: String] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Dictionary(uniqueKeysWithValues: ids.compactMap { id in
            guard let tid = Int64(id), let name = try? String(contentsOfFile: "/proc/\(pid)/task/\(id)/comm", encoding: .utf8) else { return nil }
            return (tid, name.trimmingCharacters(in: .whitespacesAndNewlines))
        })
    }
}
