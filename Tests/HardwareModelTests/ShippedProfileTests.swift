import Foundation
import HardwareModel
import Testing

/// The profiles in `Emulator/`, found the way the tools find them.
func shippedLibrary() throws -> ProfileLibrary { try ProfileLibrary.locate() }

@Suite struct ShippedProfileTests {
    @Test func everyShippedProfileLoadsWithASourceForEveryValue() throws {
        let library = try shippedLibrary()
        #expect(library.names == ["a100", "a5000", "hpca24-host", "nvme", "smartssd"])
        for name in library.names {
            let profile = try library.load(name)
            #expect(profile.name == name)
            #expect(!profile.summary.isEmpty)
            // Optional sections: fpga (computational storage only), storage (one drive for all devices).
            let expectedKeys = profile.kind.keyPaths.filter { (name != "nvme" || !$0.hasPrefix("fpga.")) && !$0.hasPrefix("storage.") }
            #expect(profile.entries.map(\.keyPath) == expectedKeys, "\(name)")
            for entry in profile.entries {
                #expect(entry.source.count >= 20, "\(name) \(entry.keyPath) needs a real source")
            }
            switch profile.kind {
            case .host: _ = try HostProfile(profile)
            case .device: _ = try DeviceProfile(profile)
            case .gpu: _ = try GPUProfile(profile)
            }
        }
    }

    /// The numbers of docs/FORMATS.md, "Hardware profiles" and the paper's Fig. 9 reference.
    @Test func profilesCarryThePublishedNumbers() throws {
        let library = try shippedLibrary()
        let smartSSD = try DeviceProfile(library.load("smartssd"))
        // Host-pushed write calibrated (smartinf calibrate) between the paper's measured 1.5 GB/s
        // and the Gen3 x4 port; the peer-to-peer write within the paper's 1.5-1.7 GB/s.
        #expect(smartSSD.ssdRead == 3.0e9 && smartSSD.ssdWrite == 2.58e9 && smartSSD.port == 3.2e9)
        #expect((1.5e9...smartSSD.port).contains(smartSSD.ssdWrite))
        let fpga = try #require(smartSSD.fpga)
        #expect(fpga.peerToPeer == 3.2e9 && fpga.update == 8.2e9 && fpga.decompressUpdate == 2.9e9)
        #expect(fpga.peerToPeerWrite == 1.5e9 && (1.5e9...1.7e9).contains(fpga.peerToPeerWrite))
        // Every fitted value carries the range its sources allow, and lies in it.
        for key in ["ssd.write", "fpga.peerToPeerWrite"] {
            let entry = try #require(smartSSD.profile[key])
            #expect(entry.range.map { $0.contains(entry.number) } == true, "\(key)")
        }
        #expect(fpga.dram == 4 << 30)
        #expect(smartSSD.ssdCapacity == 3_840_000_000_000)

        let nvme = try DeviceProfile(library.load("nvme"))
        #expect(nvme.fpga == nil && nvme.ssdRead == smartSSD.ssdRead && nvme.ssdWrite == smartSSD.ssdWrite)

        let host = try HostProfile(library.load("hpca24-host"))
        // Calibrated within "about 8 GB/s", the paper's measured ceiling.
        #expect(host.sharedLink == 7.17e9 && host.sharedLinkNominal == 16e9)
        #expect((7e9...9e9).contains(host.sharedLink))
        #expect(host.commandLatency == 10e-6)

        let a5000 = try GPUProfile(library.load("a5000"))
        let a100 = try GPUProfile(library.load("a100"))
        #expect(a5000.peakFLOPRate == 111.1e12 && a100.peakFLOPRate == 312e12)
        #expect(a5000.forwardFLOPRate == 111.1e12 * 0.3)
        #expect(a5000.memory == 24_000_000_000 && a5000.parameterBytes == 2 && a5000.parameterFetches == 2)
        #expect(!a5000.offloadsActivationCheckpoints)
    }

    @Test func findsTheProfilesUpwardFromANestedFolder() throws {
        let library = try shippedLibrary()
        let nested = library.directory.deletingLastPathComponent().appendingPathComponent("Sources/HardwareModel")
        let found = try ProfileLibrary.locate(searchingUpwardFrom: [URL(fileURLWithPath: "/nonexistent-start"), nested])
        #expect(found.directory.standardizedFileURL.path == library.directory.standardizedFileURL.path)
        #expect(try ProfileLibrary(directory: library.directory).load("a100").kind == .gpu)
    }

    @Test func loadsAProfileByPath() throws {
        let library = try shippedLibrary()
        let path = library.directory.appendingPathComponent("smartssd.json").path
        let profile = try library.load(path)
        #expect(profile.name == "smartssd" && profile.origin == path)
    }

    @Test func namesTheProfilesItHasWhenOneIsMissing() throws {
        let library = try shippedLibrary()
        #expect(throws: ProfileError.unknownProfile(name: "smartsdd", directory: library.directory.path,
                                                    available: library.names)) { try library.load("smartsdd") }
        let message = "no profile named 'smartsdd' in \(library.directory.path) (available: a100, a5000, hpca24-host, nvme, smartssd)"
        #expect(ProfileError.unknownProfile(name: "smartsdd", directory: library.directory.path, available: library.names)
            .description == message)
    }

    @Test func saysWhereItLookedWhenThereIsNoEmulatorFolder() {
        let start = FileManager.default.temporaryDirectory.appendingPathComponent("no-emulator-\(getpid())")
        let error = #expect(throws: ProfileError.self) { try ProfileLibrary.locate(searchingUpwardFrom: [start]) }
        #expect(error?.description.hasPrefix("no Emulator/ folder with the hardware profiles found upward from \(start.path)") == true)
    }

    @Test func aTypedViewRefusesAProfileOfAnotherKind() throws {
        let smartSSD = try shippedLibrary().load("smartssd")
        let error = #expect(throws: ProfileError.self) { try HostProfile(smartSSD) }
        #expect(error?.description == "\(smartSSD.origin): this is a device profile where a host profile was expected")
    }
}
