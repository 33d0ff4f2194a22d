import Foundation
import HardwareModel
import Plan
import SeededRandom
import Trace

/// The trace reader (`TraceFile.read(from:)`, which splits the file into lines and runs
/// `TraceFile.decode(lines:file:)`): JSON Lines written by smartinf and read back by `replay`,
/// `export` and `report`, possibly much later or by hand.
///
/// A trace that reads must encode (the writer makes the reader's checks, so a trace the reader
/// accepts and the writer refuses is a disagreement between them), and its lines must read
/// back to the same trace. Its model's counts — parameters, activations, FLOPs, what `replay`
/// plans with — are computed too: the reader bounds the model's sizes so that these cannot
/// overflow, and a size it let through that traps there is a finding.
///
/// Then the target sizes the plan `replay` would make of the trace's workload, mode and device
/// count (on the shipped profiles: a trace's own profile names are paths `replay` would read),
/// as `IterationPlanner.plan` does before building anything: it must be refused with a
/// `PlanError` or have at most `maximumOperations` operations, and a small one is built and
/// must have exactly the operations counted.
public final class TraceTarget: FuzzTarget {
    public let name = "trace"
    public var isText: Bool { true }
    private let scratch: ScratchDirectory
    /// The shipped profiles, or nil where they are not found (the plan is then not sized).
    private let setup: HardwareSetup?

    /// Plans of at most this many operations are built to check the count; larger ones are only
    /// sized, to keep executions fast.
    static let builtPlanLimit = 20_000

    public init() throws {
        scratch = try ScratchDirectory("trace")
        setup = (try? ProfileLibrary.locate()).flatMap { library in
            try? HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: library)
        }
    }

    public func seeds() throws -> [[UInt8]] {
        var traces = [try Self.handBuilt(summary: true), try Self.handBuilt(summary: false)]
        if let synthesized = try Self.synthesized() { traces.append(synthesized) }
        return try traces.map { [UInt8](try $0.encoded(file: "seed")) }
    }

    /// A small trace made by hand: every record kind, every place, a wall interval, nulls.
    static func handBuilt(summary: Bool) throws -> TraceFile {
        let model = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 32, batch: 1, vocabulary: 256)
        let workload = try IterationWorkload(model: model, optimizer: summary ? .adamw : .adagrad, subgroupElements: 1000,
                                             topkRatio: 0.01)
        let header = TraceHeader(
            created: summary ? "2026-11-28T03:00:00Z" : "2026-11-28T03:00:00.250Z", source: summary ? .synth : .train,
            clock: summary ? .virtual : .paced, dilation: summary ? 1 : 2.5, workload: workload,
            config: TraceConfig(mode: summary ? .suO : .suOC, devices: 1),
            profile: TraceProfile(host: "hpca24-host", device: "smartssd", gpu: "a5000", overrides: ["link.shared=12GB/s"]),
            resources: [
                TraceResource(id: 0, name: "shared link ↓", capacity: 8e9, place: .sharedLink),
                TraceResource(id: 1, name: "shared link ↑", capacity: 8e9, place: .sharedLink),
                TraceResource(id: 2, name: "device 0 SSD read", capacity: 3e9, place: .device(0)),
                TraceResource(id: 3, name: "host cpu", capacity: 2e10, place: .host),
                TraceResource(id: 4, name: "GPU", capacity: 2.5e13, place: .gpu),
            ])
        let operations = [
            TraceOperation(id: 0, actor: "gpu", phase: .forward, kind: .compute, name: "forward layer 0", unit: "FLOP",
                           amount: 1.2e12, path: [4], layer: 0, modeled: TraceInterval(start: 0, end: 0.01)),
            TraceOperation(id: 1, actor: "gpu", phase: .backward, kind: .compute, name: "backward layer 0", unit: "FLOP",
                           amount: 2.4e12, path: [4], after: [0], layer: 0, modeled: TraceInterval(start: 0.01, end: 0.03)),
            TraceOperation(id: 2, actor: "host", phase: .gradientOffload, kind: .transfer, name: "offload gradients", unit: "B",
                           amount: 4e8, path: [0], after: [1], device: 0, modeled: TraceInterval(start: 0.03, end: 0.08)),
            TraceOperation(id: 3, actor: "device 0", phase: .stateLoad, kind: .transfer, name: "load subgroup 0", unit: "B",
                           amount: 9e8, path: [2], after: [2], subgroup: 0, device: 0,
                           modeled: TraceInterval(start: 0.08, end: 0.38), wall: TraceInterval(start: 1.5, end: 1.75)),
            TraceOperation(id: 4, actor: "host cpu", phase: .update, kind: .compute, name: "join", unit: "B",
                           amount: 0, after: [1, 3], modeled: TraceInterval(start: 0.38, end: 0.38)),
        ]
        let s = TraceSummary(phases: [.forward: 0.01, .backwardAndOffload: 0.07, .update: 0.3], iteration: 0.38,
                             sharedLinkBytes: 4e8, deviceBytes: [9e8])
        return TraceFile(header: header, operations: operations, summary: summary ? s : nil)
    }

    /// A planned and simulated iteration of a one-layer GPT-2 on one device (su+o+c), as
    /// `smartinf synth` records it; nil when the shipped profiles are not found.
    static func synthesized() throws -> TraceFile? {
        guard let library = try? ProfileLibrary.locate() else { return nil }
        let setup = try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: library)
        let model = try ModelShape(family: .gpt2, layers: 1, hidden: 64, heads: 2, sequence: 16, batch: 1, vocabulary: 128)
        let workload = try IterationWorkload(model: model, subgroupElements: 1_000_000, topkRatio: 0.05)
        let timeline = try IterationPlanner.timeline(.suOC, workload, devices: 1, on: setup)
        var trace = TraceFile(timeline, workload: workload, mode: .suOC, devices: 1,
                              profile: TraceProfile(host: "hpca24-host", device: "smartssd", gpu: "a5000"), source: .synth)
        trace.header.created = "2026-11-28T03:00:00Z"
        return trace
    }

    /// Sets one of the header's model sizes, the subgroup size or the device count to an edge
    /// value — at, just past and far past the shape and device bounds, beyond Int's products —
    /// sometimes with one head so that a huge hidden size divides.
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool {
        editJSONLine(&input, line: 0) { header in
            guard var workload = header["workload"] as? [String: Any], var model = workload["model"] as? [String: Any],
                  var config = header["config"] as? [String: Any] else {
                return false
            }
            let key = pick(["layers", "hidden", "heads", "sequence", "batch", "vocabulary", "positions", "subgroupElements",
                            "devices"], &random)
            let value = pick(Self.edgeSizes, &random)
            switch key {
            case "subgroupElements": workload[key] = value
            case "devices": config[key] = value
            default: model[key] = value
            }
            if random.next() % 2 == 0 { model["heads"] = 1 }
            workload["model"] = model
            header["workload"] = workload
            header["config"] = config
            return true
        }
    }

    static let edgeSizes: [Int] = [0, -1, 1, 2, 10, 4096, 4097, 1 << 16, (1 << 16) + 1, 1 << 20, 1 << 24, 1 << 31, 1 << 33,
                                   1 << 40, (1 << 40) + 1, 1 << 62, Int.max, Int.min]

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let path = scratch.write(input, to: "input.trace")
        let trace: TraceFile
        do {
            trace = try TraceFile.read(from: path)
        } catch {
            return try rejection(name, error)
        }
        let model = trace.header.workload.model
        let counts = (model.parameters, model.blockParameters, model.embeddingParameters, model.checkpointElements,
                      model.tokens, trace.header.workload.parameters)
        guard counts.0 <= ModelShape.maximumElements, counts.3 <= ModelShape.maximumElements,
              model.layers <= ModelShape.maximumLayers, model.forwardFLOPs.isFinite else {
            throw FuzzViolation(name, "accepted a model beyond the shape bounds: \(model) has \(counts.0) parameters")
        }
        let lines: [String]
        do {
            lines = try trace.encodeLines(file: "re-encoded")
        } catch {
            throw FuzzViolation(name, "a trace the reader accepts does not encode: \(error)")
        }
        let again: TraceFile
        do {
            again = try TraceFile.decode(lines: lines, file: "re-encoded")
        } catch {
            throw FuzzViolation(name, "a trace the reader accepts, re-encoded, does not read back: \(error)")
        }
        guard again == trace else {
            throw FuzzViolation(name, "a trace the reader accepts reads back different after re-encoding")
        }
        return try sizePlan(trace.header)
    }

    /// What `replay` does next: sizes the plan, and builds it when it is small.
    private func sizePlan(_ header: TraceHeader) throws(FuzzViolation) -> String {
        guard let setup else { return "ok" }
        let (mode, workload, devices, hosts) = (header.config.mode, header.workload, header.config.devices, header.config.hosts)
        guard devices <= IterationPlanner.maximumDevices else {
            throw FuzzViolation(name, "accepted \(devices) devices, more than the \(IterationPlanner.maximumDevices) a plan may have")
        }
        guard (1...IterationPlanner.maximumHosts).contains(hosts) else {
            throw FuzzViolation(name, "accepted \(hosts) hosts, outside the 1 to \(IterationPlanner.maximumHosts) a plan may have")
        }
        let size: PlanSize
        do {
            size = try IterationPlanner.size(mode, workload, devices: devices, hosts: hosts, on: setup)
        } catch {
            return "ok; replay refuses: " + (try rejection(name, error))
        }
        guard size.operations <= IterationPlanner.maximumOperations else {
            throw FuzzViolation(name, "sized a plan of \(size.operations) operations without refusing it")
        }
        guard size.operations <= Self.builtPlanLimit else { return "ok; plan sized" }
        let plan: PlannedIteration
        do {
            plan = try IterationPlanner.plan(mode, workload, devices: devices, hosts: hosts, on: setup)
        } catch {
            throw FuzzViolation(name, "a plan the sizing accepts is refused: \(error)")
        }
        guard plan.graph.operationCount == size.operations else {
            throw FuzzViolation(name, "the plan has \(plan.graph.operationCount) operations, the sizing counted \(size.operations)")
        }
        return "ok; plan built"
    }
}
