import Foundation
import Plan
import Trace

/// A small hand-built trace: forward and backward on the GPU, a gradient offload over the shared
/// link, a state load from device 0's flash over its internal link, the update on device 0's
/// engine, the parameter upload. Times are chosen by hand, not simulated.
func sampleTrace(summary: Bool = true) throws -> TraceFile {
    let model = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 32, batch: 1, vocabulary: 256)
    let workload = try IterationWorkload(model: model, subgroupElements: 1000, topkRatio: 0.01)
    let header = TraceHeader(
        created: "2026-11-28T03:00:00Z", source: .synth, clock: .virtual, dilation: 1, workload: workload,
        config: TraceConfig(mode: .suO, devices: 1),
        profile: TraceProfile(host: "hpca24-host", device: "smartssd", gpu: "a5000", overrides: ["link.shared=12GB/s"]),
        resources: [
            TraceResource(id: 0, name: "shared link ↓", capacity: 8e9, place: .sharedLink),
            TraceResource(id: 1, name: "shared link ↑", capacity: 8e9, place: .sharedLink),
            TraceResource(id: 2, name: "device 0 SSD read", capacity: 3e9, place: .device(0)),
            TraceResource(id: 3, name: "device 0 internal link", capacity: 3.2e9, place: .device(0)),
            TraceResource(id: 4, name: "GPU", capacity: 2.5e13, place: .gpu),
            TraceResource(id: 5, name: "device 0 FPGA", capacity: 8e9, place: .device(0)),
        ])
    let operations = [
        TraceOperation(id: 0, actor: "gpu", phase: .forward, kind: .compute, name: "forward layer 0", unit: "FLOP",
                       amount: 1.2e12, path: [4], layer: 0, modeled: TraceInterval(start: 0, end: 0.01)),
        TraceOperation(id: 1, actor: "gpu", phase: .backward, kind: .compute, name: "backward layer 0", unit: "FLOP",
                       amount: 2.4e12, path: [4], after: [0], layer: 0, modeled: TraceInterval(start: 0.01, end: 0.03)),
        TraceOperation(id: 2, actor: "host", phase: .gradientOffload, kind: .transfer, name: "offload gradients", unit: "B",
                       amount: 4e8, path: [0], after: [1], device: 0, modeled: TraceInterval(start: 0.03, end: 0.08)),
        TraceOperation(id: 3, actor: "device 0", phase: .stateLoad, kind: .transfer, name: "load subgroup 0", unit: "B",
                       amount: 9e8, path: [2, 3], after: [2], subgroup: 0, device: 0, modeled: TraceInterval(start: 0.08, end: 0.38)),
        TraceOperation(id: 4, actor: "device 0", phase: .update, kind: .compute, name: "update subgroup 0", unit: "B",
                       amount: 1.2e9, path: [5], after: [3], subgroup: 0, device: 0, modeled: TraceInterval(start: 0.38, end: 0.53),
                       wall: TraceInterval(start: 1.5, end: 1.75)),
        TraceOperation(id: 5, actor: "device 0", phase: .parameterUpload, kind: .transfer, name: "upload subgroup 0", unit: "B",
                       amount: 1e8, path: [3, 1], after: [4], subgroup: 0, device: 0, modeled: TraceInterval(start: 0.53, end: 0.6)),
    ]
    let s = TraceSummary(phases: [.forward: 0.01, .backwardAndOffload: 0.07, .update: 0.52], iteration: 0.6,
                         sharedLinkBytes: 5e8, deviceBytes: [1.0e9])
    return TraceFile(header: header, operations: operations, summary: summary ? s : nil)
}

/// A fresh directory, removed by `body`'s end.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trace-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try body(directory)
}

/// Line `index` (0-based) of `lines` with `key` set to `value` (or removed when `value` is nil),
/// edited through JSONSerialization so the test does not depend on the encoder's spelling.
func editing(_ lines: [String], line index: Int, _ key: String, _ value: Any?) throws -> [String] {
    var object = try JSONSerialization.jsonObject(with: Data(lines[index].utf8)) as! [String: Any]
    object[key] = value
    var edited = lines
    edited[index] = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    return edited
}

/// The error decoding `lines` throws, or nil.
func decodeError(_ lines: [String], file: String = "run.trace") -> TraceError? {
    do {
        _ = try TraceFile.decode(lines: lines, file: file)
        return nil
    } catch {
        return error
    }
}
