import Foundation
import HardwareModel
import Plan
import Testing

@Suite struct UpdatePlannerTests {
    static func setup() throws -> HardwareSetup {
        let library = try ProfileLibrary.locate()
        return try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: library)
    }

    static let parameters = 4_000_000_000

    /// Base is bound by the shared link: 28 B per parameter of reads and writes cross it (the
    /// gradient offload belongs to backward), at least that many bytes at the link's rate.
    @Test func baseIsBoundByTheSharedLink() throws {
        let setup = try Self.setup()
        let w = UpdateWorkload(parameters: Self.parameters, devices: 10, subgroupElements: 100_000_000)
        let seconds = UpdatePlanner.seconds(.base, w, setup)
        let linkBound = Double(Self.parameters) * 16 / setup.host.sharedLink  // the read direction
        #expect(seconds >= linkBound)
        #expect(seconds < linkBound * 1.6)
        // More drives do not help: the shared link is the bottleneck.
        let six = UpdatePlanner.seconds(.base, UpdateWorkload(parameters: Self.parameters, devices: 6, subgroupElements: 100_000_000), setup)
        #expect(abs(six - seconds) / seconds < 0.05)
    }

    /// SmartUpdate scales with the devices (internal bandwidth grows, the shared link carries only
    /// the upload), the transfer handler helps, compression does not hurt.
    @Test func smartUpdateScalesAndOverlapHelps() throws {
        let setup = try Self.setup()
        func seconds(_ mode: PlannedMode, _ devices: Int, fraction: Double = 1) -> Double {
            UpdatePlanner.seconds(mode, UpdateWorkload(parameters: Self.parameters, devices: devices, subgroupElements: 20_000_000,
                                                       compressedFraction: fraction), setup)
        }
        #expect(seconds(.su, 10) < seconds(.su, 6))
        #expect(seconds(.suO, 10) < seconds(.su, 10))
        // Compression moves fewer bytes but runs on the slower decompress-and-update engine (2.9 vs
        // 8.2 GB/s in the profile); with an engine as fast as the updater it can only help.
        let fastDecompress = try setup.applying([ProfileOverride(parsing: "fpga.decompressUpdate=8.2GB/s")])
        let compressed = UpdatePlanner.seconds(.suOC, UpdateWorkload(parameters: Self.parameters, devices: 10,
                                                                     subgroupElements: 20_000_000, compressedFraction: 0.02),
                                               fastDecompress)
        #expect(compressed <= seconds(.suO, 10))
        #expect(seconds(.suO, 10) < UpdatePlanner.seconds(.base, UpdateWorkload(parameters: Self.parameters, devices: 10,
                                                                                 subgroupElements: 100_000_000), setup))
        // A lower bound per device: its SSD must read 16 B and write 12 B per parameter of its slice.
        let slice = Double(Self.parameters) / 10
        let deviceBound = slice * 16 / setup.device.ssdRead + slice * 12 / setup.device.ssdWrite
        #expect(seconds(.su, 10) >= deviceBound)
    }

    @Test func planningIsDeterministic() throws {
        let setup = try Self.setup()
        let w = UpdateWorkload(parameters: 10_000_000, devices: 4, subgroupElements: 1_000_000)
        for mode in PlannedMode.allCases {
            #expect(UpdatePlanner.seconds(mode, w, setup) == UpdatePlanner.seconds(mode, w, setup))
        }
    }
}
