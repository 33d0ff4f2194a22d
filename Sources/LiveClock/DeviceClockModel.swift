import DeviceProtocol
import Foundation
import HardwareModel
import OffloadVocabulary
import Plan

/// A device's own clock (`smartssd --clock virtual|paced`): the routes its operations take on
/// the modeled machine and, under the paced clock, the table that holds them to it. Started by
/// a paced training run, the device uses the run's shared table (`--pacer`); standalone, it
/// models itself as device 0 of one behind `hostProfile`, with `profile`'s numbers, in su+o.
public struct DeviceClockModel: Sendable {
    public let clock: ClockKind
    public let routes: LiveRoutes
    /// This device's number on the modeled machine.
    public let index: Int
    /// What the device's engine paces its operations with (the paced clock only).
    public let pacer: OperationPacerHandle?

    /// `clock` is virtual or paced (the wall clock has no model). `pacerTable` is the run's
    /// shared table, which only the paced clock reads; `fleetIndex` is this device's row in it.
    public init(clock: ClockKind, dilation: Double, profile: String, hostProfile: String, pacerTable: String?,
                fleetIndex: Int) throws {
        precondition(clock != .wall, "the wall clock has no model")
        self.clock = clock
        let library = try ProfileLibrary.locate()
        let setup = try HardwareSetup(host: hostProfile, device: profile, gpu: "a5000", from: library)
        if let pacerTable {
            guard clock == .paced else { throw PacerError.tableNeedsPacedClock(pacerTable) }
            let table = try PacerTable(opening: pacerTable)
            pacer = try table.pacer(forDevice: fleetIndex)
            index = fleetIndex
            routes = try LiveRoutes(setup: setup, devices: table.deviceCount, mode: .suO)
        } else {
            index = 0
            routes = try LiveRoutes(setup: setup, devices: 1, mode: .suO)
            if clock == .paced {
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("smartssd-pacer-\(getpid())").path
                let table = try PacerTable(creating: path, routes: routes, dilation: dilation)
                try? FileManager.default.removeItem(atPath: path)  // the mapping stays
                pacer = try table.pacer(forDevice: 0)
            } else {
                pacer = nil
            }
        }
    }

    /// A committed step's modeled seconds on this device's routes, beside the wall seconds from
    /// its first operation's start to its last one's end.
    public func seconds(of report: StepReport) -> (modeled: Double, wall: Double) {
        let timeline = IterationTimeline(routes.plan(device: index, report.operations))
        let first = report.operations.map(\.wallStart).min() ?? 0
        let last = report.operations.map(\.wallEnd).max() ?? first
        return (timeline.iterationSeconds, Double(last - first) / 1e9)
    }
}
