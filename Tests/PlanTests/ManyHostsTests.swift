import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// N hosts training data parallel, the optimizer states partitioned over them (ZeRO): each
/// layer's gradient reduce-scattered, each host stepping its slice, the new compute copy
/// all-gathered, all over a ring on the hosts' network.
@Suite struct ManyHostsTests {
    static func setup(_ overrides: [String] = []) throws -> HardwareSetup {
        try HardwareSetup(host: "pcie-gen5-host", device: "smartssd-gen5", gpu: "h100", from: ProfileLibrary.locate(),
                          overrides: overrides.map { try ProfileOverride(parsing: $0) })
    }

    /// Llama 3 8B at one 1024-token sequence keeps the plans small and the test fast.
    static func workload(subgroup: Int = 1_000_000_000, overlap: Bool = false, hostShare: Double = 0) throws -> IterationWorkload {
        try IterationWorkload(model: ModelPreset.named("llama3-8b").shape(sequence: 1024, batch: 1), subgroupElements: subgroup,
                              overlapsBackward: overlap, hostUpdateShare: hostShare)
    }

    /// Bytes of the plan's operations of one phase.
    static func bytes(_ plan: PlannedIteration, _ phase: OperationTag.Phase) -> Double {
        plan.tags.indices.filter { plan.tags[$0].phase == phase }.reduce(0) { $0 + plan.graph.amount(of: OperationID(index: $1)) }
    }

    /// By hand. ZeRO partitions every layer of n trainable elements over the N hosts, each
    /// holding s(n) = ⌈n/N⌉ (the tensor padded to a multiple of N); a host's slice of the model
    /// is S = s(embedding) + layers · s(block). A ring collective over N hosts runs N − 1 steps,
    /// in each of which every host sends one slice-sized chunk and receives one, so per host:
    ///
    /// - reduce-scatter of a layer's fp16 gradient (2 B): sent = received = (N − 1) · s(n) · 2;
    ///   over the iteration (N − 1) · S · 2;
    /// - all-gather of the new fp16 compute copy (2 B), subgroup by subgroup of the slice:
    ///   (N − 1) · S · 2 again.
    ///
    /// In all 4 (N − 1) S ≈ 4 P (N − 1)/N each way: Llama 3 8B (P = 8,030,261,248) at N = 8 is
    /// 28.11 GB sent and 28.11 GB received per host. On the shared link the host then moves only
    /// its slice: su+o sends the gradient 4 S down and takes the fp32 copy 4 S up, 8 S, about
    /// 8/N bytes per parameter of the model.
    @Test(arguments: [2, 3, 8])
    func bytesPerHostPerCollectiveAreTheHandDerivedCounts(_ hosts: Int) throws {
        let setup = try Self.setup(), workload = try Self.workload()
        #expect(setup.gpu.gradientBytes == 2 && setup.gpu.parameterBytes == 2)
        let model = workload.model
        let slice = (model.embeddingParameters + hosts - 1) / hosts + model.layers * ((model.blockParameters + hosts - 1) / hosts)
        let collective = Double(hosts - 1) * Double(slice) * 2
        let plan = try IterationPlanner.plan(.suO, workload, devices: 4, hosts: hosts, on: setup)
        #expect(Self.bytes(plan, .gradientReduceScatter) == collective)
        #expect(Self.bytes(plan, .parameterAllGather) == collective)
        #expect(abs(collective / (Double(workload.parameters) * 2 * Double(hosts - 1) / Double(hosts)) - 1) < 1e-6)
        let result = StudyResult(mode: .suO, devices: 4, hosts: hosts, workload: workload, timeline: IterationTimeline(plan))
        #expect(result.networkBytes == 2 * collective)
        #expect(result.networkSeconds == 2 * collective / 48e9)
        #expect(abs(result.sharedLinkBytes / (8 * Double(slice)) - 1) < 1e-12)
        if hosts == 8 {
            #expect(workload.parameters == 8_030_261_248)
            #expect(abs(result.networkBytes / 28.11e9 - 1) < 0.0005, "\(result.networkBytes)")
        }
    }

    /// One host runs no collective and has no network: its plan is the one every study before
    /// many hosts made (the reference comparisons in `validate` keep their numbers).
    @Test func oneHostHasNoNetwork() throws {
        let setup = try Self.setup(), workload = try Self.workload()
        for mode in OffloadMode.allCases {
            let plan = try IterationPlanner.plan(mode, workload, devices: 4, hosts: 1, on: setup)
            #expect(!plan.places.contains(.network))
            #expect(Self.bytes(plan, .gradientReduceScatter) == 0 && Self.bytes(plan, .parameterAllGather) == 0)
            #expect(plan.tags.allSatisfy { $0.phase != .gradientReduceScatter && $0.phase != .parameterAllGather })
            let result = try StudyResult.run(mode, workload, devices: 4, hosts: 1, on: setup)
            #expect(result.networkBytes == 0 && result.hosts == 1)
        }
    }

    /// The seconds of the update phase the devices take: from the end of the backward to the end
    /// of the last operation of the step that is not an all-gather.
    static func devicesPart(_ timeline: IterationTimeline) -> Double {
        let backwardEnd = timeline.phaseSeconds[.forward]! + timeline.phaseSeconds[.backwardAndOffload]!
        let ends = zip(timeline.plan.tags, timeline.result.operations).filter { tag, _ in
            tag.phase.breakdownPhase == .update && tag.phase != .parameterAllGather
        }.map(\.1.end)
        return (ends.max() ?? backwardEnd) - backwardEnd
    }

    /// For a fixed per-host batch, every host steps 1/N of the states: the devices' part of the
    /// update never grows with the hosts, in any mode, with or without the Twin-Flow split and
    /// the overlapped step.
    @Test func theDevicesPartOfTheUpdateNeverGrowsWithTheHosts() throws {
        let setup = try Self.setup()
        for workload in [try Self.workload(subgroup: 300_000_000), try Self.workload(hostShare: 0.25)] {
            for mode in OffloadMode.allCases {
                let parts = try [1, 2, 3, 4, 8, 16, 64].map { hosts in
                    Self.devicesPart(try IterationPlanner.timeline(mode, workload, devices: 4, hosts: hosts, on: setup))
                }
                for (fewer, more) in zip(parts, parts.dropFirst()) {
                    #expect(more <= fewer * (1 + 1e-9), "\(mode.rawValue) \(workload.hostUpdateShare): \(parts)")
                }
            }
        }
    }

    /// While the devices, not the network, bound the step (Llama 3 70B and GPT-2 4.0B on eight
    /// drives of each kind, up to 8 hosts), the whole update phase, all-gather included, never
    /// grows with the hosts either.
    @Test func theUpdatePhaseNeverGrowsWithTheHostsWhileTheDevicesBoundIt() throws {
        let cases: [(setup: HardwareSetup, preset: String)] = [
            (try Self.setup(), "llama3-70b"),
            (try HardwareSetup(host: "pcie-gen5-host", device: "nvme-gen5", gpu: "h100", from: ProfileLibrary.locate()), "llama3-70b"),
            (try IterationPlannerTests.setup(), "gpt2-4.0b"),
        ]
        for (setup, preset) in cases {
            let workload = try IterationWorkload(model: ModelPreset.named(preset).shape(sequence: 1024, batch: 1))
            for mode in OffloadMode.allCases where mode == .base || setup.device.fpga != nil {
                let phases = try [1, 2, 4, 8].map { hosts in
                    try StudyResult.run(mode, workload, devices: 8, hosts: hosts, on: setup).seconds(.update)
                }
                for (fewer, more) in zip(phases, phases.dropFirst()) {
                    #expect(more <= fewer * (1 + 1e-9), "\(preset) on \(setup.device.profile.name) \(mode.rawValue): \(phases)")
                }
            }
        }
    }

    /// The collectives' bytes bound their phases at the network's rate: every reduce-scatter
    /// runs in the backward phase, so it lasts at least their bytes at that rate; every
    /// all-gather after the first subgroup of the step, and nothing else uses the network then,
    /// so the update phase lasts at least the all-gathers and at most the devices' part plus
    /// them. With a slow network (10 Gb/s) the all-gathers are most of it.
    @Test func theCollectivesBoundTheirPhasesAtTheNetworksRate() throws {
        for bandwidth in ["48GB/s", "10Gb/s"] {
            let setup = try Self.setup(["net.bandwidth=\(bandwidth)"]), workload = try Self.workload()
            let rate = try #require(setup.host.network)
            for hosts in [2, 16] {
                let timeline = try IterationPlanner.timeline(.suO, workload, devices: 4, hosts: hosts, on: setup)
                let reduce = Self.bytes(timeline.plan, .gradientReduceScatter) / rate
                let gather = Self.bytes(timeline.plan, .parameterAllGather) / rate
                let update = timeline.phaseSeconds[.update]!, devices = Self.devicesPart(timeline)
                #expect(timeline.phaseSeconds[.backwardAndOffload]! >= reduce * (1 - 1e-9))
                #expect(update >= max(gather, devices) * (1 - 1e-9), "\(bandwidth) \(hosts)")
                #expect(update <= (gather + devices) * (1 + 1e-9), "\(bandwidth) \(hosts)")
                if bandwidth == "10Gb/s" { #expect(gather > devices, "\(hosts): all-gather \(gather) s, devices \(devices) s") }
            }
        }
    }

    /// A faster network never makes an iteration slower, in any mode.
    @Test func aFasterNetworkIsNeverSlower() throws {
        let workload = try Self.workload()
        for mode in OffloadMode.allCases {
            let times = try ["10Gb/s", "100Gb/s", "200Gb/s", "400Gb/s", "1.6Tb/s"].map { bandwidth in
                try StudyResult.run(mode, workload, devices: 4, hosts: 8, on: Self.setup(["net.bandwidth=\(bandwidth)"])).iterationSeconds
            }
            for (slower, faster) in zip(times, times.dropFirst()) {
                #expect(faster <= slower * (1 + 1e-9), "\(mode.rawValue): \(times)")
            }
            #expect(times.last! < times.first!)
        }
    }

    /// The size counted before planning is the plan's, with a reduce-scatter per layer and an
    /// all-gather per subgroup.
    @Test func planSizeCountsTheCollectives() throws {
        let setup = try Self.setup()
        for workload in [try Self.workload(subgroup: 300_000_000), try Self.workload(subgroup: 300_000_000, overlap: true, hostShare: 0.3)] {
            for mode in OffloadMode.allCases {
                for hosts in [1, 5] {
                    let size = try IterationPlanner.size(mode, workload, devices: 3, hosts: hosts, on: setup)
                    let plan = try IterationPlanner.plan(mode, workload, devices: 3, hosts: hosts, on: setup)
                    #expect(size.operations == plan.graph.operationCount, "\(mode.rawValue) \(hosts)")
                    #expect(size.hosts == hosts && size.parameters == workload.trainableParameters(slicedOver: hosts))
                }
            }
        }
    }

    /// A live rank's step on the many-hosts machine (`LiveRoutes` with hosts), by hand: its
    /// reduce-scatter (2 MB sent, 6 MB received, as a rank whose slice is three times the
    /// others' share of it) runs between the backward pass and the offload, and takes 6 MB at the
    /// receiving side's 48 GB/s, 125 µs; the all-gather (4 MB each way, 83.3 µs) starts when the
    /// device's last operation ends and ends the step. The network carries what the rank sent.
    @Test func aLiveRanksCollectivesCrossTheNetworkInOrder() throws {
        let routes = try LiveRoutes(setup: try Self.setup(), devices: 1, hosts: 2, mode: .suO)
        let upload = OperationRecord(kind: .upload, subgroup: 0, bytes: 4_000_000, elements: 1_000_000, wallStart: 0, wallEnd: 1, after: [])
        let step = LiveStepRecord(
            forwardFLOPs: 1e9, backwardFLOPs: 2e9, forwardWall: 0...1, backwardWall: 1...2, offloads: [(4_000_000, 2...3)],
            devices: [[upload]],
            collectives: [LiveCollective(phase: .gradientReduceScatter, sent: 2_000_000, received: 6_000_000, wall: 2...3),
                          LiveCollective(phase: .parameterAllGather, sent: 4_000_000, received: 4_000_000, wall: 3...4)])
        let (plan, wall) = routes.plan(step)
        #expect(plan.tags.map(\.phase) == [.forward, .backward, .gradientReduceScatter, .gradientOffload, .parameterUpload, .parameterAllGather])
        #expect(wall == [0...1, 1...2, 2...3, 2...3, 0...1, 3...4])
        let timeline = IterationTimeline(plan)
        let times = timeline.result.operations
        #expect(abs((times[2].end - times[2].start) - 6e6 / 48e9) < 1e-12)
        #expect(times[2].start == times[1].end && times[3].start == times[2].end)
        #expect(times[5].start == times[4].end && timeline.iterationSeconds == times[5].end)
        #expect(abs((times[5].end - times[5].start) - 4e6 / 48e9) < 1e-12)
        #expect(timeline.bytes(at: .network) == 6_000_000)
        // One host's live routes have no network, and many hosts need one.
        #expect(try LiveRoutes(setup: try Self.setup(), devices: 1, mode: .suO).machinePlan.places.contains(.network) == false)
        #expect(throws: PlanError.tooManyHosts(IterationPlanner.maximumHosts + 1, maximum: IterationPlanner.maximumHosts)) {
            try LiveRoutes(setup: try Self.setup(), devices: 1, hosts: IterationPlanner.maximumHosts + 1, mode: .suO)
        }
    }

    /// Host counts outside 1 … maximumHosts, many hosts on a profile without a network, and a
    /// network bandwidth that is not one are refused naming what to change.
    @Test func badHostsAndNetworksAreRefused() throws {
        let setup = try Self.setup(), workload = try Self.workload()
        #expect(throws: PlanError.noHosts(0)) { try IterationPlanner.plan(.suO, workload, devices: 2, hosts: 0, on: setup) }
        #expect(PlanError.noHosts(0).description == "--hosts 0: expected at least 1 host")
        let many = IterationPlanner.maximumHosts + 1
        #expect(throws: PlanError.tooManyHosts(many, maximum: 65_536)) {
            try IterationPlanner.size(.base, workload, devices: 2, hosts: many, on: setup)
        }
        #expect(PlanError.tooManyHosts(many, maximum: 65_536).description.hasPrefix("--hosts 65537: expected at most 65536 hosts"))

        // A host profile without a net section (as every one written before it) plans one host only.
        let library = try ProfileLibrary.locate()
        let text = try String(contentsOf: library.directory.appendingPathComponent("pcie-gen5-host.json"), encoding: .utf8)
        let trimmed = String(text[..<text.range(of: ",\n  \"net\"")!.lowerBound]) + "\n}\n"
        let bare = try HostProfile(Profile(json: Data(trimmed.utf8), name: "bare-host", origin: "bare-host.json"))
        #expect(bare.network == nil)
        let noNetwork = HardwareSetup(host: bare, device: setup.device, gpu: setup.gpu)
        #expect(try IterationPlanner.size(.suO, workload, devices: 2, hosts: 1, on: noNetwork).hosts == 1)
        let refused = #expect(throws: PlanError.self) { try IterationPlanner.plan(.suO, workload, devices: 2, hosts: 4, on: noNetwork) }
        #expect(refused?.description.hasPrefix("--hosts 4: the hosts reduce gradients and gather parameters over their network, "
            + "but host profile 'bare-host' has no net section") == true)

        // net.bandwidth takes bits or bytes per second, and nothing else.
        #expect(try Self.setup(["net.bandwidth=200Gb/s"]).host.network == 25e9)
        for bad in ["0Gb/s", "fast", "200Gb"] {
            let error = #expect(throws: ProfileError.self) { try Self.setup(["net.bandwidth=\(bad)"]) }
            #expect(error?.description.hasPrefix("--set net.bandwidth=\(bad): key 'net.bandwidth'") == true, "\(bad)")
        }
    }
}
