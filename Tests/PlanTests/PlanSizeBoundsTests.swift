import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// Device counts, subgroup sizes and chunk sizes come from untrusted input (a trace, `synth
/// --devices/--subgroup`, `--set fpga.chunk=…`). None of them overflows anything, but together
/// they can ask for an operation graph of 10^11 operations; the planner counts a plan's
/// operations before building it and refuses one above `IterationPlanner.maximumOperations`,
/// and more devices than `maximumDevices`, saying which setting to change.
///
/// The refusals of huge plans go through `IterationPlanner.size`, which counts without
/// building: were its check missing, `plan` would try to build the 10^11 operations.
/// `aPlanAboveTheLimitIsRefusedBeforeItIsBuilt` shows, with a small limit, that `plan` refuses
/// what `size` refuses.
@Suite struct PlanSizeBoundsTests {
    static func setup(_ overrides: [String] = []) throws -> HardwareSetup { try IterationPlannerTests.setup(overrides) }

    static func small(subgroup: Int, layers: Int = 2) throws -> IterationWorkload {
        try IterationWorkload(model: try ModelShape(family: .gpt2, layers: layers, hidden: 64, heads: 4, sequence: 32, batch: 1,
                                                    vocabulary: 256),
                              subgroupElements: subgroup)
    }

    static func preset(_ name: String, subgroup: Int = 1_000_000_000) throws -> IterationWorkload {
        try IterationWorkload(model: try ModelPreset.named(name).shape(), subgroupElements: subgroup)
    }

    struct Case: Sendable, CustomStringConvertible {
        var mode: OffloadMode
        var devices: Int
        var subgroup: Int
        var overrides: [String] = []
        var description: String { "\(mode.rawValue) ×\(devices) subgroup \(subgroup) \(overrides)" }
    }

    /// Every mode, one and several devices (one of them with nothing to do in the last
    /// subgroup), subgroups that divide the parameters or not, chunks of one element, DRAM
    /// bounding the chunk, offloaded activation checkpoints.
    static let cases: [Case] = OffloadMode.allCases.flatMap { mode in
        [
            Case(mode: mode, devices: 1, subgroup: 1_000_000_000),
            Case(mode: mode, devices: 3, subgroup: 12_345),
            Case(mode: mode, devices: 10, subgroup: 1000, overrides: ["fpga.chunk=4KB"]),
            Case(mode: mode, devices: 7, subgroup: 50_000, overrides: ["fpga.chunk=1B"]),
            Case(mode: mode, devices: 4, subgroup: 100_000, overrides: ["fpga.dram=48KB"]),
            Case(mode: mode, devices: 6, subgroup: 17, overrides: ["hostTraffic.offloadActivationCheckpoints=true"]),
        ]
    }

    /// The count is the plan's: operation by operation, and chunk by chunk (one state load each).
    @Test(arguments: cases)
    func sizeCountsEveryOperationOfThePlan(_ c: Case) throws {
        let setup = try Self.setup(c.overrides)
        let workload = try Self.small(subgroup: c.subgroup)
        let size = try IterationPlanner.size(c.mode, workload, devices: c.devices, on: setup, limit: .max)
        let plan = try IterationPlanner.plan(c.mode, workload, devices: c.devices, on: setup)
        #expect(size.operations == plan.graph.operationCount)
        let loads = plan.tags.filter { $0.phase == .stateLoad && $0.kind == .transfer }.count
        #expect(size.chunks == (c.mode == .base ? 0 : loads))
        #expect(size.subgroups == (workload.parameters + c.subgroup - 1) / c.subgroup)
        #expect(size.computeOperations == plan.tags.filter { $0.layer != nil }.count)
    }

    /// A limit one below the plan's size refuses it before anything is built; at its size it plans.
    @Test func aPlanAboveTheLimitIsRefusedBeforeItIsBuilt() throws {
        let setup = try Self.setup()
        let workload = try Self.small(subgroup: 100)
        let size = try IterationPlanner.size(.suO, workload, devices: 4, on: setup)
        let error = try #require(throws: PlanError.self) {
            try IterationPlanner.plan(.suO, workload, devices: 4, on: setup, limit: size.operations - 1)
        }
        #expect(error == .tooManyOperations(size, limit: size.operations - 1))
        #expect(try IterationPlanner.plan(.suO, workload, devices: 4, on: setup, limit: size.operations).graph.operationCount
            == size.operations)
    }

    /// A subgroup of one element of the 33B model: 1.6 × 10^11 operations, refused with the count,
    /// the limit and the setting to raise. (Built, it would need some 60 TB.)
    @Test func aSubgroupOfOneElementOn33BIsRefusedWithTheOperationCount() throws {
        let workload = try Self.preset("gpt2-33.0b", subgroup: 1)
        let error = try #require(throws: PlanError.self) {
            try IterationPlanner.size(.suO, workload, devices: 10, on: try Self.setup())
        }
        guard case .tooManyOperations(let size, let limit) = error else { Issue.record("\(error)"); return }
        #expect(limit == IterationPlanner.maximumOperations)
        #expect(size.subgroups == workload.parameters)
        // Per subgroup: a load, an update, a write-back and an upload on one device, and a barrier.
        #expect(size.operations == size.computeOperations + 1 + 5 * workload.parameters)
        #expect(size.culprit(limit: limit) == .subgroupSize)
        let message = error.description
        #expect(message.contains("would have \(size.operations) operations"), "\(message)")
        #expect(message.contains("more than the 20000000 a plan may have"), "\(message)")
        #expect(message.contains("raise the subgroup size (now 1 element"), "\(message)")
        #expect(!message.contains("fpga.chunk"), "\(message)")
    }

    /// Tiny chunks are refused naming the chunk (or the DRAM that bounds it), and both settings
    /// when raising either alone would not do.
    @Test(arguments: [
        (["fpga.chunk=64B"], OffloadMode.suO, 1_000_000_000, "--set fpga.chunk=SIZE", "subgroup size"),
        (["fpga.dram=1KB"], .su, 1_000_000_000, "--set fpga.dram=SIZE", "subgroup size"),
        (["fpga.chunk=64B"], .suOC, 10, "raise the subgroup size", "--set fpga.chunk=SIZE"),
    ])
    func tinyChunksAreRefusedNamingTheSetting(overrides: [String], mode: OffloadMode, subgroup: Int, names: String,
                                              alsoNames: String) throws {
        let workload = try Self.preset("gpt2-33.0b", subgroup: subgroup)
        let error = try #require(throws: PlanError.self) {
            try IterationPlanner.size(mode, workload, devices: 10, on: try Self.setup(overrides))
        }
        guard case .tooManyOperations(let size, _) = error else { Issue.record("\(error)"); return }
        #expect(size.operations > IterationPlanner.maximumOperations)
        #expect(error.description.contains(names), "\(error)")
        // The first two name only the chunk; the third both.
        #expect(error.description.contains(alsoNames) == (subgroup == 10), "\(error)")
    }

    /// Too many devices in the forward and backward alone (a gradient write per layer per device).
    @Test func deepModelsOnManyDevicesNameTheDevices() throws {
        let workload = try Self.small(subgroup: 1_000_000_000, layers: 8192)
        let error = try #require(throws: PlanError.self) {
            try IterationPlanner.size(.base, workload, devices: 4096, on: try Self.setup())
        }
        #expect(error.description.contains("use fewer --devices"), "\(error)")
    }

    /// More devices than `maximumDevices` are refused, naming the flag, before anything is
    /// allocated for them (the plan and the live routes alike); 4096 plan. Only 4097 devices are
    /// given to `plan` and `LiveRoutes`: were their checks missing, 10^12 would not fail a test
    /// but kill the process allocating the devices.
    @Test(arguments: [4097, 1_000_000_000_000, Int.max])
    func tooManyDevicesAreRefused(devices: Int) throws {
        let setup = try Self.setup()
        let workload = try Self.small(subgroup: 1000)
        let error = try #require(throws: PlanError.self) {
            try IterationPlanner.size(.suO, workload, devices: devices, on: setup)
        }
        #expect(error == .tooManyDevices(devices, maximum: 4096))
        #expect(error.description == "--devices \(devices): expected at most 4096 storage devices (the paper models up to 10)")
        guard devices == 4097 else { return }
        #expect(throws: PlanError.tooManyDevices(devices, maximum: 4096)) {
            try IterationPlanner.plan(.suO, workload, devices: devices, on: setup)
        }
        #expect(throws: PlanError.tooManyDevices(devices, maximum: 4096)) {
            try LiveRoutes(setup: setup, devices: devices, mode: .suO)
        }
    }

    @Test func theMostDevicesPlan() throws {
        let setup = try Self.setup()
        let plan = try IterationPlanner.plan(.suO, try Self.small(subgroup: 1_000_000_000), devices: IterationPlanner.maximumDevices,
                                             on: setup)
        #expect(plan.places.contains(.device(4095)))
        _ = try LiveRoutes(setup: setup, devices: 4096, mode: .suO)
    }

    /// The paper's cases are far inside the limit: every preset on up to 10 devices (the sweep's
    /// 72 points among them) in every mode is under 10,000 operations, and 33B on 10 devices
    /// still plans and simulates. The bounds compose: a model of nearly 2^40 parameters on 4096
    /// devices at the default subgroups and chunks is within the limit (counted, not built).
    @Test func paperScalePlansAreWellInsideTheLimit() throws {
        let setup = try Self.setup()
        var largest = 0
        for preset in ModelPreset.paper {
            for devices in [1, 2, 4, 6, 8, 10] {
                for mode in OffloadMode.allCases {
                    largest = max(largest, try IterationPlanner.size(mode, try Self.preset(preset.name), devices: devices, on: setup).operations)
                }
            }
        }
        #expect(largest < 10_000)
        let r = try StudyResult.run(.suOC, try Self.preset("gpt2-33.0b"), devices: 10, on: setup)
        #expect(r.iterationSeconds > 0 && r.deviceBytes.count == 10)
        for mode in OffloadMode.allCases {
            #expect(try IterationPlanner.size(mode, try Self.preset("gpt2-33.0b"), devices: 4096, on: setup).operations < 1_000_000)
        }
        let huge = try IterationWorkload(model: try ModelShape(family: .gpt2, layers: 21, hidden: 65536, heads: 512, sequence: 1024,
                                                               batch: 1))
        #expect(huge.parameters <= ModelShape.maximumElements)
        for mode in OffloadMode.allCases {
            #expect(try IterationPlanner.size(mode, huge, devices: 4096, on: setup).operations <= IterationPlanner.maximumOperations)
        }
    }

    /// Per-device byte totals, now one pass over the plan, are what `bytes(at:)` gives per device.
    @Test func deviceBytesAreBytesAtEachDevice() throws {
        let timeline = try IterationPlanner.timeline(.suOC, try Self.small(subgroup: 10_000), devices: 5, on: try Self.setup())
        #expect(timeline.deviceBytes(devices: 5) == (0..<5).map { timeline.bytes(at: .device($0)) })
    }
}
