import DeviceProtocol
import Foundation
import HardwareModel
import LiveClock
import Offload
import OffloadVocabulary
import Plan
import Testing
import Trace
import Trainer

/// The live clocks against independent accounting: the bytes the devices say they moved, the
/// pacer's reservation arithmetic, and traces read back from disk.
@Suite(.serialized) struct LiveClockTests {
    /// Under the virtual clock every step is modeled; the operations charged to each device's
    /// flash are exactly the bytes the device reported moving, and the offload's are the payload
    /// bytes the host wrote (the trace written at the end holds every step with wall times).
    @Test(arguments: [OffloadMode.suO, .base])
    func virtualClockChargesWhatTheDevicesMoved(mode: OffloadMode) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: mode, steps: 3)
        o.clock.kind = .virtual
        o.clock.tracePath = "\(dir.path)/run.trace"
        let run = try TrainingRun(o)
        defer { run.finish() }
        try run.run()
        #expect(run.records.allSatisfy { ($0.modeled?.iteration ?? 0) > 0 })
        let trace = try TraceFile.read(from: "\(dir.path)/run.trace")
        #expect(trace.header.source == .train && trace.header.clock == .virtual && trace.header.config.devices == 2)
        #expect(trace.operations.allSatisfy { $0.wall != nil })
        // Timed again step by step, the recorded operations give exactly the recorded times.
        #expect(trace.reproducesItsTimeline)
        #expect(trace.retimed().count == 3)
        // Per device: flash bytes charged in the trace (loads, write-backs, gradient offloads)
        // against what the devices and the host measured over the whole run.
        let flash = Set(trace.header.resources.filter { $0.name.hasSuffix("flash") }.map(\.id))
        let charged = trace.operations.filter { $0.kind == .transfer && $0.path.contains { flash.contains($0) } }
            .reduce(0.0) { $0 + $1.amount }
        let measured = Double(run.traffic.deviceBytesRead + run.traffic.deviceBytesWritten + run.traffic.gradientBytes)
        #expect(charged == measured, "charged \(charged) vs measured \(measured)")
        // Modeled times are sequential across steps: each step starts where the previous ended.
        let modeledTotal = run.records.compactMap { $0.modeled?.iteration }.reduce(0, +)
        let last = trace.operations.map(\.modeled.end).max() ?? 0
        #expect(abs(last - modeledTotal) <= 1e-9 * modeledTotal)
    }

    /// The paced clock runs real device processes against the shared table and still gives
    /// bit-identical training (pacing only waits).
    @Test func pacedRunTrainsTheSameModel() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var wall = options(dir, data: data, mode: .suO, steps: 2)
        let reference = try TrainingRun(wall)
        try reference.run()
        let expected = reference.model.parameters.array.map(\.bitPattern)
        reference.finish()
        wall.clock.kind = .paced
        wall.clock.dilation = 5
        let paced = try TrainingRun(wall)
        defer { paced.finish() }
        try paced.run()
        #expect(paced.model.parameters.array.map(\.bitPattern) == expected)
        #expect(paced.records.allSatisfy { $0.modeled != nil })
    }
}

/// The pacer table's arithmetic, without sleeping: reservations in the past return at once.
@Suite struct PacerTableTests {
    static func routes() throws -> LiveRoutes {
        let setup = try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: try ProfileLibrary.locate())
        return try LiveRoutes(setup: setup, devices: 2, mode: .suO)
    }

    /// Two operations on one route queue: the second starts where the first's reservation ends.
    /// A load of 3 GB at 3.0 GB/s of flash read, dilation 2: 2 s each.
    @Test func reservationsQueueOnAResource() throws {
        let path = "/var/tmp/smartinf-pacer-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let table = try PacerTable(creating: path, routes: try Self.routes(), dilation: 2)
        let opened = try PacerTable(opening: path)
        #expect(opened.deviceCount == 2 && opened.resourceCount == table.resourceCount && opened.dilation == 2)
        // Long ago, so nothing sleeps.
        let start: UInt64 = 1_000_000_000
        let first = opened.paceDevice(0, .load, bytes: 3_000_000_000, startedAt: start)
        let second = table.paceDevice(0, .load, bytes: 3_000_000_000, startedAt: start)
        #expect(first == start + 2_000_000_000)
        #expect(second == first + 2_000_000_000)
        // Another device's flash is its own: not queued behind device 0.
        #expect(table.paceDevice(1, .load, bytes: 3_000_000_000, startedAt: start) == start + 2_000_000_000)
    }

    @Test func badTablesAreRefused() throws {
        let path = "/var/tmp/smartinf-notpacer-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: PacerError.self) { try PacerTable(opening: path) }
        #expect(throws: PacerError.self) { try PacerTable(creating: path, routes: try Self.routes(), dilation: 0) }
        let table = try PacerTable(creating: path, routes: try Self.routes(), dilation: 1)
        #expect(throws: PacerError.self) { try table.pacer(forDevice: 2) }
    }
}
