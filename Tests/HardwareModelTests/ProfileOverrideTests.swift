import Foundation
import HardwareModel
import Testing

@Suite struct ProfileOverrideTests {
    func overrides(_ arguments: String...) throws -> [ProfileOverride] { try arguments.map(ProfileOverride.init(parsing:)) }

    @Test func anOverrideReplacesTheValueAndSaysSo() throws {
        let profile = try shippedLibrary().load("hpca24-host")
        let host = try HostProfile(profile.applying(overrides("link.shared=12GB/s")))
        #expect(host.sharedLink == 12e9)
        #expect(host.sharedLinkNominal == 16e9)
        let entry = try #require(host.profile["link.shared"])
        #expect(entry.text == "12GB/s" && entry.source == "command line: --set link.shared=12GB/s")
        #expect(host.profile["cpu.update"] == profile["cpu.update"])
    }

    @Test func theLastOverrideOfAKeyWins() throws {
        let profile = try shippedLibrary().load("smartssd")
        let device = try DeviceProfile(profile.applying(overrides("ssd.read = 2GB/s", "ssd.read=3.5GB/s")))
        #expect(device.ssdRead == 3.5e9)
    }

    @Test func aSetupRoutesEachOverrideToTheProfileThatOwnsItsKey() throws {
        let setup = try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: shippedLibrary(),
                                      overrides: overrides("link.shared=12GB/s", "fpga.update=9GB/s",
                                                           "compute.forwardEfficiency=0.5",
                                                           "hostTraffic.offloadActivationCheckpoints=true",
                                                           "hostTraffic.parameterFetches=3"))
        #expect(setup.host.sharedLink == 12e9)
        #expect(setup.device.fpga?.update == 9e9)
        #expect(setup.gpu.forwardFLOPRate == 111.1e12 * 0.5)
        #expect(setup.gpu.offloadsActivationCheckpoints && setup.gpu.parameterFetches == 3)
    }

    /// A device without a published price can be given one: the single-value optional section is
    /// added, in schema order, with the override as its source; a price it has is replaced; a bad
    /// one is refused naming the key.
    @Test func aPriceCanBeGivenToADeviceWithoutOne() throws {
        let library = try shippedLibrary()
        let gen5 = try library.load("nvme-gen5")
        #expect(try DeviceProfile(gen5).price == nil)
        let priced = try gen5.applying(overrides("device.price=1.2kUSD"))
        #expect(try DeviceProfile(priced).price == 1200)
        #expect(priced.entries.map(\.keyPath) == gen5.entries.map(\.keyPath) + ["device.price"])
        #expect(priced["device.price"]?.source == "command line: --set device.price=1.2kUSD")
        // The written document loads back with the price.
        #expect(try DeviceProfile(Profile(json: Data(priced.document.utf8), name: "x", origin: "x.json")).price == 1200)
        let smartSSD = try DeviceProfile(library.load("smartssd").applying(overrides("device.price=600USD")))
        #expect(smartSSD.price == 600)
        #expect(try problem(applying: "device.price=-5USD", to: "nvme-gen5")
            == #"--set device.price=-5USD: key 'device.price': "-5USD" is negative; expected a price in US dollars such as "517USD""#)
        #expect(try problem(applying: "device.price=free", to: "smartssd")
            == #"--set device.price=free: key 'device.price': "free" does not start with a number; "#
            + #"expected a price in US dollars such as "517USD""#)
        // Through a setup too, which routes the key to the device profile.
        let setup = try HardwareSetup(host: "pcie-gen5-host", device: "nvme-gen5", gpu: "h100", from: library,
                                      overrides: overrides("device.price=900USD"))
        #expect(setup.device.price == 900)
    }

    @Test func malformedArgumentsAreRefused() {
        func problem(_ argument: String) -> String {
            do {
                _ = try ProfileOverride(parsing: argument)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(problem("link.shared") == "--set link.shared: expected key.path=value, such as link.shared=12GB/s")
        #expect(problem("shared=12GB/s") == "--set shared=12GB/s: the key 'shared' is not section.name, such as link.shared")
        #expect(problem("link..shared=1GB/s") == "--set link..shared=1GB/s: the key 'link..shared' is not section.name, such as link.shared")
        #expect(problem("link.shared=") == "--set link.shared=: no value after '='")
    }

    func problem(applying argument: String, to name: String) throws -> String {
        let profile = try shippedLibrary().load(name)
        let parsed = try overrides(argument)
        do {
            _ = try profile.applying(parsed)
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test func unknownKeysAreRefused() throws {
        #expect(try problem(applying: "link.shraed=12GB/s", to: "hpca24-host")
            == "--set link.shraed=12GB/s: unknown key 'link.shraed' for host profile 'hpca24-host' "
            + "(known keys: link.shared, link.sharedNominal, cpu.update, latency.command, storage.sharedDrive, net.bandwidth)")
        #expect(try problem(applying: "fpga.update=9GB/s", to: "nvme")
            == "--set fpga.update=9GB/s: unknown key 'fpga.update' for device profile 'nvme' "
            + "(known keys: ssd.read, ssd.write, ssd.capacity, ssd.accessLatency, pcie.port, device.price)")
        let setup = try HardwareSetup(host: "hpca24-host", device: "nvme", gpu: "a100", from: shippedLibrary())
        let error = #expect(throws: ProfileError.self) { try setup.applying(overrides("lnk.shared=12GB/s")) }
        #expect(error?.description.hasPrefix(
            "--set lnk.shared=12GB/s: unknown key 'lnk.shared' for the host, device and gpu profiles (known keys: link.shared, ") == true)
    }

    @Test func badValuesAreRefusedLikeInAFile() throws {
        #expect(try problem(applying: "link.shared=fast", to: "hpca24-host")
            == #"--set link.shared=fast: key 'link.shared': "fast" does not start with a number; expected a bandwidth such as "3.2GB/s""#)
        #expect(try problem(applying: "link.shared=-1GB/s", to: "hpca24-host")
            == #"--set link.shared=-1GB/s: key 'link.shared': "-1GB/s" is negative; expected a bandwidth such as "3.2GB/s""#)
        #expect(try problem(applying: "link.shared=12", to: "hpca24-host")
            == #"--set link.shared=12: key 'link.shared': "12" has no unit; expected a bandwidth such as "3.2GB/s""#)
        #expect(try problem(applying: "compute.forwardEfficiency=1.5", to: "a5000")
            == "--set compute.forwardEfficiency=1.5: key 'compute.forwardEfficiency': 1.5 is outside (0, 1]; "
            + "expected a number in (0, 1] such as 0.5")
        #expect(try problem(applying: "hostTraffic.parameterFetches=two", to: "a5000")
            == #"--set hostTraffic.parameterFetches=two: key 'hostTraffic.parameterFetches': "two" is not a number; "#
            + "expected a whole number ≥ 1 such as 2")
        #expect(try problem(applying: "hostTraffic.offloadActivationCheckpoints=yes", to: "a5000")
            == #"--set hostTraffic.offloadActivationCheckpoints=yes: key 'hostTraffic.offloadActivationCheckpoints': "#
            + #""yes" is not true or false; expected true or false"#)
    }
}
