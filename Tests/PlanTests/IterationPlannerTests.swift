import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// The iteration planner against hand-computed bounds and the paper's byte accounting.
@Suite struct IterationPlannerTests {
    static func setup(_ overrides: [String] = []) throws -> HardwareSetup {
        let library = try ProfileLibrary.locate()
        return try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: library,
                                 overrides: overrides.map { try ProfileOverride(parsing: $0) })
    }

    static func workload(_ preset: String = "gpt2-4.0b", ratio: Double = 0.01) throws -> IterationWorkload {
        try IterationWorkload(model: try ModelPreset.named(preset).shape(), topkRatio: ratio)
    }

    /// The paper's accounting (every value 4 B, payload 2r): base 32 B, su and su+o 8 B, su+o+c
    /// 4 + 4c B per parameter on the shared link, counted from the plan's own transfers.
    @Test(arguments: [(OffloadMode.base, 32.0), (.su, 8.0), (.suO, 8.0), (.suOC, 4.0 + 4 * 0.02)])
    func sharedLinkBytesPerParameter(mode: OffloadMode, expected: Double) throws {
        let result = try StudyResult.run(mode, try Self.workload(), devices: 6, on: try Self.setup())
        #expect(abs(result.sharedLinkBytesPerParameter - expected) < 1e-9 * expected)
        // Agrees with the closed form the rest of the code base uses.
        let closed = LinkTraffic.perParameter(mode, accounting: .paper(compressedFraction: 0.02))
        #expect(abs(result.sharedLinkBytesPerParameter - closed.shared) < 1e-9 * expected)
    }

    /// A study grid: base modeled for the speedups though not asked for, su+o+c once per ratio,
    /// every point as modeled alone.
    @Test func aGridHoldsEachModeAndRatioWithItsSpeedupOverBase() throws {
        let setup = try Self.setup()
        let workload = try Self.workload(ratio: 0.05)
        var told: [OffloadMode] = []
        let points = try StudyResult.grid(workload, modes: [.suOC, .suO], ratios: [0.01, 0.1], devices: 4, on: setup) {
            told.append($0.mode)
        }
        #expect(points.map(\.result.mode) == [.suOC, .suOC, .suO] && told == [.suOC, .suOC, .suO])
        #expect(points.map(\.result.workload.topkRatio) == [0.01, 0.1, 0.05])
        let base = try StudyResult.run(.base, workload, devices: 4, on: setup).iterationSeconds
        for point in points {
            let alone = try StudyResult.run(point.result.mode, try Self.workload(ratio: point.result.workload.topkRatio), devices: 4, on: setup)
            #expect(point.result.iterationSeconds == alone.iterationSeconds)
            #expect(point.speedupVsBase == base / alone.iterationSeconds)
        }
        let withBase = try StudyResult.grid(workload, modes: [.suO, .base], ratios: [0.01], devices: 4, on: setup)
        #expect(withBase.map(\.result.mode) == [.base, .suO] && withBase[0].speedupVsBase == 1)
    }

    /// Inside each device: base reads g, p, m, v and writes p, m, v through each drive's share,
    /// plus the gradient offload; SmartUpdate adds the FPGA link and the upload.
    @Test func deviceBytesSumToTheWorkload() throws {
        let w = try Self.workload()
        let p = Double(w.parameters)
        let base = try StudyResult.run(.base, w, devices: 4, on: try Self.setup())
        // Every byte of a drive's flash traffic crosses its flash and its port once per transfer.
        #expect(abs(base.deviceBytes.reduce(0, +) - p * (4 + 16 + 12)) < 1e-6 * p)
        let su = try StudyResult.run(.su, w, devices: 4, on: try Self.setup())
        // Gradient written (4), loaded (16), written back (12), uploaded (4).
        #expect(abs(su.deviceBytes.reduce(0, +) - p * (4 + 16 + 12 + 4)) < 1e-6 * p)
    }

    /// Base is bound by the shared link and does not get faster with more drives.
    @Test func baseIsBoundByTheSharedLink() throws {
        let setup = try Self.setup()
        let w = try Self.workload()
        let six = try StudyResult.run(.base, w, devices: 6, on: setup)
        let ten = try StudyResult.run(.base, w, devices: 10, on: setup)
        let linkBound = Double(w.parameters) * 28 / setup.host.sharedLink  // read and write, in series
        #expect(six.seconds(.update) >= linkBound)
        #expect(abs(six.iterationSeconds - ten.iterationSeconds) / ten.iterationSeconds < 0.01)
    }

    /// `storage.sharedDrive`: emulated devices whose files share one disk share its flash, so
    /// more devices do not add flash bandwidth; with a drive each they do.
    @Test func aSharedDriveIsOneFlashForAllDevices() throws {
        let library = try ProfileLibrary.locate()
        let text = try library.load("hpca24-host").document
        let shared = String(text.dropLast(3)) + ",\n  \"storage\": {\"sharedDrive\": {\"value\": true, \"source\": \"a test\"}}\n}\n"
        let host = try HostProfile(try Profile(json: Data(shared.utf8), name: "shared", origin: "shared.json"))
        #expect(host.sharedDrive)
        let own = try Self.setup(["link.shared=1000GB/s"])
        let one = HardwareSetup(host: try HostProfile(try library.load("hpca24-host").applying([try ProfileOverride(parsing: "link.shared=1000GB/s")])),
                                device: own.device, gpu: own.gpu)
        let sharedSetup = HardwareSetup(host: try HostProfile(host.profile.applying([try ProfileOverride(parsing: "link.shared=1000GB/s")])),
                                        device: own.device, gpu: own.gpu)
        let w = try Self.workload()
        func update(_ setup: HardwareSetup, _ devices: Int) throws -> Double {
            try StudyResult.run(.base, w, devices: devices, on: setup).seconds(.update)
        }
        // Own drives: four are about four times one (the link is out of the way).
        #expect(try update(one, 1) / update(one, 4) > 3.5)
        // One shared drive: four devices take as long as one, the flash time of every byte.
        #expect(abs(try update(sharedSetup, 4) / update(sharedSetup, 1) - 1) < 0.02)
        let flash = Double(w.parameters) * (16 / own.device.ssdRead + 12 / own.device.ssdWrite)
        #expect(try update(sharedSetup, 4) >= flash)
    }

    /// A device's flash must read 16 B and write 12 B per parameter of its slice: a lower bound on
    /// any SmartUpdate step; more devices, overlap and compression each help.
    @Test func smartUpdateScalesOverlapsAndCompresses() throws {
        let setup = try Self.setup()
        let w = try Self.workload()
        func update(_ mode: OffloadMode, _ devices: Int) throws -> Double {
            try StudyResult.run(mode, w, devices: devices, on: setup).seconds(.update)
        }
        let slice = Double(w.parameters) / 10
        #expect(try update(.su, 10) >= slice * (16 / setup.device.ssdRead + 12 / setup.device.ssdWrite))
        #expect(try update(.su, 10) < update(.su, 6))
        #expect(try update(.suO, 10) < update(.su, 10))
        #expect(try update(.suOC, 10) < update(.suO, 10))
        #expect(try update(.suO, 10) < update(.base, 10))
    }

    /// Forward and backward: FLOPs at the GPU's effective rates are a lower bound, and the
    /// compute time scales with the model.
    @Test func computeIsBoundByTheGPU() throws {
        let setup = try Self.setup()
        let w = try Self.workload()
        let r = try StudyResult.run(.suO, w, devices: 6, on: setup)
        let flops = w.model.forwardFLOPs
        #expect(r.seconds(.forward) >= flops / setup.gpu.forwardFLOPRate)
        // Recompute + backward (2×) at least.
        #expect(r.seconds(.backwardAndOffload) >= flops / setup.gpu.forwardFLOPRate + 2 * flops / setup.gpu.backwardFLOPRate)
    }

    @Test func planningIsDeterministic() throws {
        let setup = try Self.setup()
        let w = try Self.workload("gpt2-2.5b")
        for mode in OffloadMode.allCases {
            let a = try IterationPlanner.timeline(mode, w, devices: 4, on: setup)
            let b = try IterationPlanner.timeline(mode, w, devices: 4, on: setup)
            #expect(a.result == b.result)
        }
    }

    @Test func smartUpdateNeedsAnFPGA() throws {
        let library = try ProfileLibrary.locate()
        let nvme = try HardwareSetup(host: "hpca24-host", device: "nvme", gpu: "a5000", from: library)
        #expect(throws: PlanError.noFPGA(mode: "su+o", device: "nvme")) {
            try IterationPlanner.plan(.suO, try Self.workload(), devices: 2, on: nvme)
        }
        _ = try IterationPlanner.plan(.base, try Self.workload(), devices: 2, on: nvme)
    }

    /// The calibrated profiles meet the goals on the paper's Fig. 9 and Fig. 3b (in-sample;
    /// the cross-validated goal is `smartinf validate`'s, checked by the CLI tests).
    @Test func validationGoalsHold() throws {
        let library = try ProfileLibrary.locate()
        let directory = ReferenceSet.shippedDirectory(nextTo: library.directory)
        let points = try ReferenceSet.shippedNames.flatMap { try ReferenceSet(path: directory.appendingPathComponent($0 + ".json").path).points }
        #expect(points.count == 16 + 5)
        let validation = try Validation(points: points, setup: try Self.setup())
        #expect(validation.worstSpeedupError <= Validation.speedupTolerance)
        #expect(validation.worstTotalError <= Validation.totalTolerance)
    }

    /// 33B on 10 devices, su+o+c: plans and simulates well under a second (the budget).
    @Test func largestPresetPlansQuickly() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let r = try StudyResult.run(.suOC, try Self.workload("gpt2-33.0b"), devices: 10, on: try Self.setup())
        #expect(r.iterationSeconds > 0)
        #expect(clock.now - start < .seconds(5))  // debug build; release takes a fraction of this
    }
}

@Suite struct ModelShapeTests {
    /// Each preset reproduces the size in its name within 1 % (the paper's sizes); BERT-large's
    /// conventional "340M" names a 336M model, 1.1 % off.
    @Test(arguments: ModelPreset.paper.map(\.name))
    func presetSizes(name: String) throws {
        let shape = try ModelPreset.named(name).shape()
        let stated = Double(name.split(separator: "-")[1].dropLast())! * 1e9
        let tolerance = name == "bert-0.34b" ? 0.012 : 0.01
        #expect(abs(Double(shape.parameters) / stated - 1) < tolerance, "\(name): \(shape.parameters)")
    }

    /// Published counts: GPT-2 small (vocabulary 50257) 124,439,808; BERT-large's BertModel
    /// (embeddings, blocks, pooler) 335,141,888, to which the MLM head adds its transform, norm
    /// and output bias.
    @Test func publishedCounts() throws {
        let shape = try ModelShape(family: .gpt2, layers: 12, hidden: 768, heads: 12, sequence: 1024, batch: 1, vocabulary: 50257)
        #expect(shape.parameters == 124_439_808)
        let bert = try ModelPreset.named("bert-0.34b").shape()
        let h = bert.hidden
        #expect(bert.parameters - (h * h + h + 2 * h + bert.vocabulary) == 335_141_888)
    }

    @Test func badShapesAreNamed() {
        #expect(throws: ShapeError.headsDoNotDivideHidden(hidden: 100, heads: 3)) {
            try ModelShape(family: .gpt2, layers: 2, hidden: 100, heads: 3, sequence: 8, batch: 1)
        }
        #expect(throws: ShapeError.notPositive(field: "layers", value: 0)) {
            try ModelShape(family: .gpt2, layers: 0, hidden: 64, heads: 4, sequence: 8, batch: 1)
        }
        #expect((try? ModelPreset.named("gpt2-7b")) == nil)
    }
}
