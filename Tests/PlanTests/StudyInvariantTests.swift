import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// What any study of today's hardware must see, whatever the numbers: SmartUpdate never gets
/// slower with more devices, and a faster device or GPU never makes an iteration slower.
@Suite struct StudyInvariantTests {
    static func setup(host: String = "pcie-gen5-host", device: String, gpu: String = "h100") throws -> HardwareSetup {
        try HardwareSetup(host: host, device: device, gpu: gpu, from: ProfileLibrary.locate())
    }

    /// Llama 3 8B at one 1024-token sequence keeps the plans small and the test fast.
    static func workload(_ preset: String = "llama3-8b") throws -> IterationWorkload {
        try IterationWorkload(model: ModelPreset.named(preset).shape(sequence: 1024, batch: 1))
    }

    @Test(arguments: ["smartssd", "csd-gen4", "smartssd-gen5"])
    func smartUpdateIsNeverSlowerWithMoreDevices(_ device: String) throws {
        let setup = try Self.setup(device: device), workload = try Self.workload()
        for mode in [OffloadMode.su, .suO, .suOC] {
            let times = try [1, 2, 4, 8, 16].map { try StudyResult.run(mode, workload, devices: $0, on: setup).iterationSeconds }
            for (fewer, more) in zip(times, times.dropFirst()) {
                #expect(more <= fewer * (1 + 1e-9), "\(device) \(mode.rawValue): \(times)")
            }
        }
    }

    /// Gen5 flash over Gen4 flash for the baseline, the Gen5 SmartSSD over the paper's, and a
    /// B200 over an H100, each at 1 to 8 devices in every mode the device can run.
    /// A study's grid (sweep, report) models every mode on the workload it is given: 8-bit
    /// states, the overlapped schedule, a host share and activations on storage reach su, su+o
    /// and su+o+c at every ratio, not base alone; each point is what a single run of it gives.
    @Test func theGridKeepsTheWorkloadsWhatIfs() throws {
        let setup = try Self.setup(device: "smartssd-gen5"), plain = try Self.workload()
        let whatIf = try IterationWorkload(model: plain.model, quantizedStates: .blockwise8Bit, overlapsBackward: true,
                                           hostUpdateShare: 0.2, activationsOnStorage: true)
        let points = try StudyResult.grid(whatIf, modes: OffloadMode.allCases, ratios: [0.01, 0.1], devices: 4, on: setup)
        #expect(points.map(\.result.mode) == [.base, .su, .suO, .suOC, .suOC])
        for point in points {
            let w = point.result.workload
            #expect(w.quantizedStates == .blockwise8Bit && w.overlapsBackward && w.hostUpdateShare == 0.2 && w.activationsOnStorage)
            let alone = try StudyResult.run(point.result.mode, whatIf.withTopkRatio(w.topkRatio), devices: 4, on: setup)
            #expect(point.result.iterationSeconds == alone.iterationSeconds)
            #expect(point.result.sharedLinkBytes == alone.sharedLinkBytes)
        }
        // And the what-ifs change the answer: su+o with them is not su+o without.
        let without = try StudyResult.run(.suO, plain, devices: 4, on: setup)
        #expect(points[2].result.iterationSeconds != without.iterationSeconds)
    }

    @Test func aFasterDeviceOrGPUIsNeverSlower() throws {
        let workload = try Self.workload()
        let pairs: [(slower: HardwareSetup, faster: HardwareSetup, modes: [OffloadMode])] = [
            (try Self.setup(device: "nvme-gen4"), try Self.setup(device: "nvme-gen5"), [.base]),
            (try Self.setup(device: "smartssd"), try Self.setup(device: "smartssd-gen5"), OffloadMode.allCases),
            (try Self.setup(device: "smartssd-gen5", gpu: "h100"), try Self.setup(device: "smartssd-gen5", gpu: "b200"), OffloadMode.allCases),
            (try Self.setup(host: "pcie-gen4-host", device: "nvme-gen5"), try Self.setup(host: "pcie-gen5-host", device: "nvme-gen5"), [.base]),
        ]
        for pair in pairs {
            for mode in pair.modes {
                for devices in [1, 2, 8] {
                    let slow = try StudyResult.run(mode, workload, devices: devices, on: pair.slower).iterationSeconds
                    let fast = try StudyResult.run(mode, workload, devices: devices, on: pair.faster).iterationSeconds
                    #expect(fast <= slow * (1 + 1e-9),
                            "\(pair.faster.device.profile.name)/\(pair.faster.gpu.profile.name) \(mode.rawValue) at \(devices): \(fast) > \(slow)")
                }
            }
        }
    }
}
