import DeviceProtocol
import Foundation
import HardwareModel
import LiveClock
import OffloadVocabulary
import Plan
import Testing

/// A device's own clock (`smartssd --clock`), against the shipped smartssd profile's flash read
/// rate (3.0 GB/s): a load of 30 MB is modeled at 10 ms, and the paced clock holds it to 10 ms ×
/// dilation of wall time.
@Suite(.serialized) struct DeviceClockModelTests {
    static let loadBytes = 30_000_000
    static let loadSeconds = 0.01

    /// CLOCK_MONOTONIC, the clock operations are stamped with.
    static func monotonicNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    func report(loadStartingAt start: UInt64) -> StepReport {
        StepReport(operations: [OperationRecord(kind: .load, subgroup: 0, bytes: Self.loadBytes, elements: 0,
                                                wallStart: start, wallEnd: start + 4_000_000, after: [])])
    }

    @Test func aStandaloneVirtualDeviceModelsItselfAsTheOnlyDevice() throws {
        let model = try DeviceClockModel(clock: .virtual, dilation: 1, profile: "smartssd", hostProfile: "hpca24-host",
                                         pacerTable: nil, fleetIndex: 5)
        #expect(model.pacer == nil && model.index == 0 && model.routes.devices == 1 && model.routes.mode == .suO)
        let seconds = model.seconds(of: report(loadStartingAt: 1_000_000))
        #expect(abs(seconds.modeled - Self.loadSeconds) <= 1e-9 * Self.loadSeconds, "\(seconds.modeled)")
        #expect(seconds.wall == 0.004)
    }

    @Test func theStandalonePacedClockHoldsAnOperationToItsModeledTime() throws {
        let dilation = 2.0
        let model = try DeviceClockModel(clock: .paced, dilation: dilation, profile: "smartssd", hostProfile: "hpca24-host",
                                         pacerTable: nil, fleetIndex: 0)
        let pacer = try #require(model.pacer)
        let clock = ContinuousClock()
        let started = clock.now
        pacer.pace(.load, bytes: Self.loadBytes, elements: 0, startedAt: Self.monotonicNanoseconds())
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(seconds >= Self.loadSeconds * dilation * 0.99, "\(seconds) s")
        #expect(seconds < 1, "\(seconds) s")
    }

    @Test func aDeviceOfAPacedRunTakesItsRowOfTheRunsTable() throws {
        let path = "/var/tmp/smartinf-device-pacer-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let setup = try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: try ProfileLibrary.locate())
        _ = try PacerTable(creating: path, routes: try LiveRoutes(setup: setup, devices: 3, mode: .suO), dilation: 1)
        let model = try DeviceClockModel(clock: .paced, dilation: 1, profile: "smartssd", hostProfile: "hpca24-host",
                                         pacerTable: path, fleetIndex: 2)
        #expect(model.index == 2 && model.routes.devices == 3 && model.pacer != nil)
        #expect(throws: PacerError.noSuchDevice(path, 3, 3)) {
            try DeviceClockModel(clock: .paced, dilation: 1, profile: "smartssd", hostProfile: "hpca24-host", pacerTable: path, fleetIndex: 3)
        }
        #expect(throws: PacerError.tableNeedsPacedClock(path)) {
            try DeviceClockModel(clock: .virtual, dilation: 1, profile: "smartssd", hostProfile: "hpca24-host", pacerTable: path, fleetIndex: 0)
        }
    }
}
