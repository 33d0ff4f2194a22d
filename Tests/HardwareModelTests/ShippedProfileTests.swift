import Foundation
import HardwareModel
import Testing

/// The profiles in `Emulator/`, found the way the tools find them.
func shippedLibrary() throws -> ProfileLibrary { try ProfileLibrary.locate() }

@Suite struct ShippedProfileTests {
    @Test func everyShippedProfileLoadsWithASourceForEveryValue() throws {
        let library = try shippedLibrary()
        #expect(library.names == ["a100", "a5000", "b200", "csd-gen4", "gh200", "h100", "h200", "hpca24-host", "nvme", "nvme-gen4",
                                  "nvme-gen5", "pcie-gen4-host", "pcie-gen5-host", "smartssd", "smartssd-gen5"])
        for name in library.names {
            let profile = try library.load(name)
            #expect(profile.name == name)
            #expect(!profile.summary.isEmpty)
            // Optional sections: fpga (computational storage only: not the plain nvme drives), storage
            // (one drive for all devices), device (a price, only where one is published).
            let plainDrive = name.hasPrefix("nvme")
            let priced = name == "smartssd"
            let expectedKeys = profile.kind.keyPaths.filter {
                (!plainDrive || !$0.hasPrefix("fpga.")) && !$0.hasPrefix("storage.") && (priced || !$0.hasPrefix("device."))
            }
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
        let message = "no profile named 'smartsdd' in \(library.directory.path) (available: a100, a5000, b200, csd-gen4, gh200, h100, h200, "
            + "hpca24-host, nvme, nvme-gen4, nvme-gen5, pcie-gen4-host, pcie-gen5-host, smartssd, smartssd-gen5)"
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

/// The datasheet numbers of today's profiles (docs/STUDIES.md, "Today's hardware"): each value
/// as its source states it.
@Suite struct TodaysProfileTests {
    @Test func gpusCarryTheirDatasheetPeaksAndLinks() throws {
        let library = try shippedLibrary()
        let h100 = try GPUProfile(library.load("h100")), h200 = try GPUProfile(library.load("h200"))
        let b200 = try GPUProfile(library.load("b200")), gh200 = try GPUProfile(library.load("gh200"))
        #expect(h100.peakFLOPRate == 989e12 && h200.peakFLOPRate == 989e12 && gh200.peakFLOPRate == 989e12)
        #expect(b200.peakFLOPRate == 2250e12)
        #expect(h100.memory == 80_000_000_000 && h200.memory == 141_000_000_000 && gh200.memory == 96_000_000_000)
        // Llama 3's 38-43% MFU.
        for gpu in [h100, h200, b200, gh200] {
            #expect((0.38...0.43).contains(gpu.forwardEfficiency) && gpu.forwardEfficiency == gpu.backwardEfficiency)
            #expect(gpu.profile["compute.forwardEfficiency"]?.range == 0.38...0.43)
        }
        // PCIe Gen5 x16 at 80% of 63 GB/s; GH200's C2C at 80% of 450 GB/s per direction.
        #expect(h100.hostLink == 50e9 && b200.hostLink == 50e9 && gh200.hostLink == 360e9)
    }

    /// A price only where one is published (the SmartSSD's street price); every other device
    /// says in its description why it has none, rather than carrying a guess.
    @Test func pricesAreThePublishedOnesOrAbsent() throws {
        let library = try shippedLibrary()
        let smartSSD = try DeviceProfile(library.load("smartssd"))
        #expect(smartSSD.price == 517)
        #expect(smartSSD.profile["device.price"]?.source.contains("street price") == true)
        for name in ["nvme", "nvme-gen4", "nvme-gen5", "csd-gen4", "smartssd-gen5"] {
            let device = try DeviceProfile(library.load(name))
            #expect(device.price == nil, "\(name)")
            #expect(device.profile.summary.contains("No price"), "\(name)")
        }
    }

    @Test func devicesAndHostsCarryTheirDatasheetRates() throws {
        let library = try shippedLibrary()
        let gen4 = try DeviceProfile(library.load("nvme-gen4")), gen5 = try DeviceProfile(library.load("nvme-gen5"))
        #expect(gen4.fpga == nil && gen5.fpga == nil)
        #expect(gen4.ssdRead == 6.9e9 && gen4.ssdWrite == 4.1e9)
        #expect(gen5.ssdRead == 14.8e9 && gen5.ssdWrite == 11e9)
        let csd = try DeviceProfile(library.load("csd-gen4"))
        #expect(csd.ssdRead == 7.2e9 && csd.ssdWrite == 4.8e9 && csd.fpga?.peerToPeerWrite == csd.ssdWrite)
        let smart5 = try DeviceProfile(library.load("smartssd-gen5"))
        let fpga = try #require(smart5.fpga)
        #expect(smart5.ssdRead == gen5.ssdRead && smart5.ssdWrite == gen5.ssdWrite)
        // Four times the SmartSSD's FPGA; the peer-to-peer write at the SmartSSD's 1.5/2.58 of the host-pushed one.
        #expect(fpga.update == 4 * 8.2e9 && fpga.decompressUpdate == 4 * 2.9e9)
        #expect(abs(fpga.peerToPeerWrite / smart5.ssdWrite - 1.5 / 2.58) < 0.01)
        // Every device's port carries its own sequential read.
        for device in [gen4, gen5, csd, smart5] { #expect(device.port >= device.ssdRead) }

        let host4 = try HostProfile(library.load("pcie-gen4-host")), host5 = try HostProfile(library.load("pcie-gen5-host"))
        #expect(host4.sharedLinkNominal == 31.5e9 && host5.sharedLinkNominal == 63e9)
        #expect(host4.sharedLink == 25.2e9 && host5.sharedLink == 50.4e9)  // 80% of nominal
        // The network: 96% of InfiniBand HDR's 200 Gb/s and NDR's 400 Gb/s line rates; the
        // paper's host is given an HDR NIC of its generation.
        let paper = try HostProfile(library.load("hpca24-host"))
        #expect(host4.network == 24e9 && host5.network == 48e9 && paper.network == 24e9)
        #expect(host5.profile["net.bandwidth"]?.range == 32e9...50e9)
        for host in [paper, host4, host5] {
            let network = try #require(host.network)
            let lineRate = try #require(host.profile["net.bandwidth"]?.range?.upperBound)
            #expect(network == 0.96 * lineRate && lineRate == Quantity.bandwidth(network == 24e9 ? "200Gb/s" : "400Gb/s"))
        }
    }
}
