import DeviceProtocol
import Foundation
import HardwareModel
import LiveClock
import Plan
import SmartSSD

/// A device's own clock (`smartssd --clock virtual|paced`): the routes its operations take on
/// the modeled machine and, under the paced clock, the table that holds them to it. Started by
/// a paced training run, the device uses the run's shared table (`--pacer`); standalone, it
/// models itself as device 0 of one behind `--host-profile`, with `--profile`'s numbers, in su+o.
struct DeviceClockModel {
    let clock: ClockKind
    let routes: LiveRoutes
    let index: Int
    let pacer: OperationPacerHandle?

    init(clock: ClockKind, dilation: Double, profile: String, hostProfile: String, pacerTable: String?, fleetIndex: Int) throws {
        self.clock = clock
        let library = try ProfileLibrary.locate()
        let setup = try HardwareSetup(host: hostProfile, device: profile, gpu: "a5000", from: library)
        if let pacerTable {
            guard clock == .paced else { throw PacerError.notATable("--pacer needs --clock paced (\(pacerTable))") }
            let table = try PacerTable(opening: pacerTable)
            pacer = try table.pacer(forDevice: fleetIndex)
            index = fleetIndex
            routes = try LiveRoutes(setup: setup, devices: table.deviceCount, mode: .suO, stateCount: 2)
        } else {
            index = 0
            routes = try LiveRoutes(setup: setup, devices: 1, mode: .suO, stateCount: 2)
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

    /// One log line: the step's modeled seconds beside its wall seconds.
    func describe(step: Int, _ report: StepReport) -> String {
        let timeline = IterationTimeline(routes.plan(device: index, report.operations))
        let first = report.operations.map(\.wallStart).min() ?? 0
        let last = report.operations.map(\.wallEnd).max() ?? first
        return String(format: "step %d: %d operations, modeled %.6f s, wall %.6f s (%@ clock)", step, report.operations.count,
                      timeline.iterationSeconds, Double(last - first) / 1e9, clock.rawValue)
    }
}
