import DeviceProtocol
import Foundation
@testable import Offload
import Optim
import Testing

/// The host waits for a device's uploads asleep on the device's doorbell: the device's rings end
/// the wait, and so does the device's failure, which the host rings for.
@Suite(.serialized) struct AwaitedUploadTests {
    static let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())
    static let n = 5003

    /// A fleet of two device processes, device 1 started with `--fault fault`.
    static func fleet(_ dir: FleetDirectory, fault: String, timeout: Double = 0) throws -> DeviceFleet {
        try DeviceFleet.start(
            .launch(DeviceProcesses.Options(count: 2, directory: dir.path, dram: "16MiB", extraArguments: [1: ["--fault", fault]]),
                    timeout: timeout),
            partition: Partition(parameterCount: n, deviceCount: 2),
            configuration: DeviceFleet.Configuration(mode: .suO, optimizer: optimizer, subgroupElements: 1024),
            start: .load(AlignedBuffer(seededValues(n, scale: 1, seed: 5))), directory: dir.path)
    }

    static func begin(_ fleet: DeviceFleet) throws -> PendingFleetStep {
        let gradient = StreamBuffer(precision: .fp32, values: seededValues(n, scale: 64, seed: 1001))
        return try fleet.beginStep(1, update: optimizer.prepare(step: 1, learningRate: 1e-2, combinedUnscale: 1.0 / 64), skip: false,
                                   gradient: gradient)
    }

    /// Device 1 dies before it uploads anything: the wait for its parameters ends (the host rang
    /// its bell, once, on the failure), and settling reports it.
    @Test func aDeviceThatDiesDuringTheAwaitedStepEndsTheWait() throws {
        let dir = FleetDirectory()
        let fleet = try Self.fleet(dir, fault: "crash@step=1,phase=read")
        defer { fleet.shutdown() }
        let bell = try #require(fleet.members[1].doorbell)
        let ringsBefore = bell.rings
        let pending = try Self.begin(fleet)
        pending.awaitParameters(0..<Self.n, into: StreamBuffer(precision: .fp32, count: Self.n))
        let error = #expect(throws: FleetError.self) { try pending.settle() }
        #expect(error?.description.hasPrefix("device 1 (") == true)
        #expect((0..<bell.subgroupCount).allSatisfy { bell.uploadedStep(subgroup: $0) == 0 })
        #expect(bell.rings == ringsBefore &+ 1)
    }

    /// Device 1 uploads every subgroup and then hangs, never replying: the host's wait ends on
    /// the device process's rings alone, every one of its subgroups taken early; the hang is
    /// then noticed by the fleet's timeout.
    @Test func uploadsFromADeviceProcessEndTheWaitWithoutItsReply() throws {
        let dir = FleetDirectory()
        let fleet = try Self.fleet(dir, fault: "hang@step=1,phase=after_commit", timeout: 2)
        defer { fleet.shutdown() }
        let pending = try Self.begin(fleet)
        pending.awaitParameters(fleet.partition.parameters(ofDevice: 1), into: StreamBuffer(precision: .fp32, count: Self.n))
        #expect(pending.earlySubgroups == fleet.members[1].subgroupCount)
        let error = #expect(throws: FleetError.self) { try pending.settle() }
        #expect(error?.description.hasPrefix("device 1 (") == true)
    }
}
