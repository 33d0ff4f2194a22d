import DeviceProtocol
import Foundation
import Optim
import Testing

/// `smartssd --log-level`: by default the device prints its lines as it always has (the message
/// after `smartssd[NAME]: `); `warning` leaves out the informational ones; `debug` adds its
/// configuration and steps, every line with its level and metadata (device, step, subgroup).
@Suite(.serialized) struct DeviceLogLevelTests {
    static let n = 5000
    static let configuration = DeviceConfiguration(sliceElements: n, subgroupElements: 2048, optimizer: .sgd(SGDHyperparameters(), .torch),
                                                   gradientPrecision: .fp32, copyOutPrecision: .fp32, handler: .overlap)

    /// Shuts the device down and returns its log, line by line.
    func logLines(_ device: DeviceProcess, _ connection: DeviceConnection) throws -> [Substring] {
        try connection.perform(.shutdown)
        #expect(device.waitForExit() == 0)
        return device.stderr.split(separator: "\n")
    }

    @Test func theLevelChoosesTheLinesAndDebugShowsTheirMetadata() throws {
        let device = try DeviceProcess(extra: ["--name", "logged", "--fleet-index", "3", "--log-level", "debug",
                                               "--fault", "corrupt@grad,step=2,subgroup=1"])
        let connection = try device.connect()
        let host = try HostSide(device: device, connection: connection, configuration: Self.configuration,
                                initial: randomFloats(Self.n, scale: 1, seed: 1))
        let update = Self.configuration.optimizer.prepare(step: 1, learningRate: 1e-2, combinedUnscale: 1)
        for step in 1...2 {
            let sizes = try host.stage(step: step, gradient: randomFloats(Self.n, scale: 0.5, seed: UInt64(step)), ratio: nil,
                                       valueEncoding: .fp32)
            let command = StepCommand(step: step, update: update, skip: false, subgroups: [0, 1, 2], payloadBytes: sizes)
            if step == 2 {
                #expect(throws: DeviceReplyError.self) { try connection.step(command) }
            } else {
                _ = try connection.step(command)
            }
        }
        let debug = try logLines(device, connection)
        #expect(debug.contains { $0.hasPrefix("smartssd[logged]: debug: configured: overlap handler, 3 subgroups of 2048 elements")
                                 && $0.hasSuffix("[device=3]") }, "\(debug)")
        #expect(debug.contains { $0.hasPrefix("smartssd[logged]: debug: step 1: 3 subgroups") && $0.hasSuffix("[device=3 step=1]") },
                "\(debug)")
        #expect(debug.contains { $0.hasPrefix("smartssd[logged]: notice: fault corrupt@grad")
                                 && $0.contains("of subgroup 1's payload flipped") && $0.hasSuffix("[device=3 step=2 subgroup=1]") },
                "\(debug)")
        #expect(debug.contains { $0.hasPrefix("smartssd[logged]: warning: step refused: ") && $0.hasSuffix("[device=3 step=2]") },
                "\(debug)")
        #expect(!debug.contains { $0.contains("debug: step 2:") }, "a refused step is not reported as taken: \(debug)")

        // The default level, on the SSD it formatted: the line it always printed, exactly.
        try device.start(extra: ["--name", "logged"])
        let plain = try logLines(device, try device.connect())
        #expect(plain.count == 1 && plain.first?.hasPrefix("smartssd[logged]: opened \(device.ssdPath): ") == true, "\(plain)")

        try device.start(extra: ["--name", "logged", "--log-level", "warning"])
        let quiet = try logLines(device, try device.connect())
        #expect(quiet.isEmpty, "\(quiet)")
    }

    @Test func anUnknownLevelIsRefusedWithTheLevels() throws {
        #expect { _ = try DeviceProcess(extra: ["--log-level", "loud"]) } throws: { error in
            guard let error = error as? DeviceStartError else { return false }
            return error.status != 0 && error.stderr.contains("The value 'loud' is invalid for '--log-level <log-level>'")
                && ["trace", "debug", "info", "notice", "warning", "error", "critical"].allSatisfy { error.stderr.contains("- \($0)") }
        }
    }
}
