import DurableWrite
import Foundation
import Plan

/// A trace as Chrome Trace Event JSON (the object form, `{"traceEvents": […], "displayTimeUnit":
/// "ms"}`), which Perfetto (ui.perfetto.dev) and chrome://tracing open directly.
///
/// Layout — the machine as the paper draws it, one process per place:
///
/// - pid 1 `host`, pid 2 `GPU`, pid 3 `shared link`, pid 10 + i `device i`;
/// - compute operations on one track (thread) per actor: the host's threads, the GPU, each
///   device's engine (`device 3` runs on `device 3 engine`);
/// - transfers on one track per link: the first resource of the transfer's path that is not at
///   the GPU or host (the shared link ↓/↑, a device's internal link or its flash), else the
///   first resource. A transfer from device 3's flash over its link and the shared link thus
///   sits with device 3, where it starts, while the shared link's own counter still shows it;
/// - each operation a complete event (`X`) at its modeled time, in microseconds, with its
///   phase as the category and amount, unit, layer, subgroup, device and wall times as args;
/// - dependencies that cross tracks as flow arrows (`s` on the predecessor's track, `f` with
///   `bp: "e"` on the successor's). Arrows within a track add nothing the track's order does
///   not already show. Perfetto slows to a crawl with hundreds of thousands of arrows, so only
///   the first `maximumFlowArrows` (in operation order) are kept; `droppedFlowArrows` says how
///   many were not;
/// - a counter (`C`) per resource that carries transfers, in bytes per second: each transfer
///   spreads its bytes evenly over its modeled interval, and the counter takes a value at every
///   instant where that sum changes. A transfer with a zero-length interval has no rate and is
///   left out of the counters.
///
/// The flow ends are placed just inside their slices (one nanosecond, or half the slice if it
/// is shorter) because Perfetto binds a flow event to the slice that encloses it, and at a
/// slice's exact end or start that could be a neighbour.
public struct PerfettoExport: Sendable {
    /// The most flow arrows an export holds.
    public static let maximumFlowArrows = 20_000

    /// The JSON document.
    public let json: Data
    /// Events in `traceEvents`, metadata included.
    public let eventCount: Int
    /// Flow arrows kept (each one `s` and one `f` event).
    public let flowArrows: Int
    /// Cross-track dependencies beyond `maximumFlowArrows`, not drawn.
    public let droppedFlowArrows: Int

    /// Builds the export. The trace is validated first (as `TraceFile.read` does), so that a
    /// hand-built trace with a dangling id is reported rather than trapped on.
    public init(_ trace: TraceFile) throws(TraceError) {
        try trace.validate()
        var builder = Builder(trace)
        builder.build()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every number was made finite as the events were built, and nothing else in them can
        // fail to encode.
        json = try! encoder.encode(builder.document()) + Data("\n".utf8)
        eventCount = builder.events.count
        flowArrows = builder.flowArrows
        droppedFlowArrows = builder.droppedFlowArrows
    }

    /// Writes the JSON to `path` durably (`DurableFile`).
    public func write(to path: String) throws(TraceError) {
        do throws(DurableFileError) { try DurableFile.write(json, to: path) } catch { throw TraceError(file: path, .cannotWrite(error)) }
    }
}

/// Process ids, one per place.
private enum Pid {
    static let host = 1, gpu = 2, sharedLink = 3, network = 4
    static func device(_ i: Int) -> Int { 10 + i }

    static func of(_ place: ResourcePlace) -> Int {
        switch place {
        case .host: host
        case .gpu: gpu
        case .sharedLink: sharedLink
        case .network: network
        case .device(let i): device(i)
        }
    }

    static func name(_ pid: Int) -> String {
        switch pid {
        case host: "host"
        case gpu: "GPU"
        case sharedLink: "shared link"
        case network: "network"
        default: "device \(pid - 10)"
        }
    }
}

/// One Chrome Trace Event: `ph` is its type (`M` metadata, `X` complete, `s`/`f` flow ends,
/// `C` counter), `ts` and `dur` are in microseconds.
private struct Event: Encodable {
    var ph: String
    var name: String
    var cat: String?
    var pid: Int
    var tid: Int
    var ts: Double
    var dur: Double?
    var id: Int?
    var bp: String?
    var args: Arguments?
}

/// An event's `args`: what its type carries.
private enum Arguments: Encodable {
    /// A process or thread name (metadata).
    case name(String)
    /// A process or thread sort index (metadata).
    case sortIndex(Int)
    /// A counter's value, bytes per second.
    case rate(Double)
    case operation(OperationArguments)

    func encode(to encoder: Encoder) throws {
        switch self {
        case .name(let name): try ["name": name].encode(to: encoder)
        case .sortIndex(let index): try ["sort_index": index].encode(to: encoder)
        case .rate(let rate): try ["B/s": rate].encode(to: encoder)
        case .operation(let operation): try operation.encode(to: encoder)
        }
    }
}

/// What a complete event shows of its operation.
private struct OperationArguments: Encodable {
    var id: Int
    var actor: String
    var kind: String
    var amount: Double
    var unit: String
    var layer: Int?
    var subgroup: Int?
    var device: Int?
    /// The resources' names; absent for an operation without a path.
    var path: [String]?
    var wallStart: Double?
    var wallEnd: Double?

    enum CodingKeys: String, CodingKey {
        case id, actor, kind, amount, unit, layer, subgroup, device, path
        case wallStart = "wall_start_s", wallEnd = "wall_end_s"
    }
}

/// The export's top level: the events, the display unit, and where the trace came from.
private struct Document: Encodable {
    struct OtherData: Encodable {
        var schema: String
        var version: Int
        var created: String
        var source: String
        var clock: String
        var mode: String
        var devices: Int
        var flowArrows: Int
        var droppedFlowArrows: Int
    }

    var traceEvents: [Event]
    var displayTimeUnit = "ms"
    var otherData: OtherData
}

private struct Builder {
    enum TrackKey: Hashable {
        case actor(String, pid: Int)
        case resource(Int)
    }

    struct Track {
        let pid: Int
        let tid: Int
        let name: String
    }

    let trace: TraceFile
    var tracks: [Track] = []
    var trackIndex: [TrackKey: Int] = [:]
    /// The track of each operation.
    var operationTrack: [Int] = []
    var events: [Event] = []
    var flowArrows = 0
    var droppedFlowArrows = 0

    init(_ trace: TraceFile) { self.trace = trace }

    mutating func build() {
        let resources = trace.header.resources
        operationTrack = trace.operations.map { track(for: $0) }
        let counters = counterSamples()
        // Every resource with a counter gets its track, named, even if no transfer starts there.
        for resource in counters.keys.sorted() { _ = track(.resource(resource), pid: Pid.of(resources[resource].place), name: resources[resource].name) }
        metadata()
        for (operation, track) in zip(trace.operations, operationTrack) { complete(operation, on: tracks[track]) }
        flows()
        for resource in counters.keys.sorted() {
            let track = tracks[trackIndex[.resource(resource)]!]
            let name = resources[resource].name
            for (time, rate) in counters[resource]! {
                events.append(Event(ph: "C", name: name, pid: track.pid, tid: track.tid, ts: finite(time * 1e6),
                                    args: .rate(finite(rate))))
            }
        }
    }

    func document() -> Document {
        let h = trace.header
        return Document(traceEvents: events, otherData: Document.OtherData(
            schema: TraceHeader.schema, version: TraceHeader.version, created: h.created, source: h.source.rawValue,
            clock: h.clock.rawValue, mode: h.config.mode.rawValue, devices: h.config.devices, flowArrows: flowArrows,
            droppedFlowArrows: droppedFlowArrows))
    }

    // MARK: Tracks

    mutating func track(_ key: TrackKey, pid: Int, name: String) -> Int {
        if let index = trackIndex[key] { return index }
        tracks.append(Track(pid: pid, tid: tracks.count + 1, name: name))
        trackIndex[key] = tracks.count - 1
        return tracks.count - 1
    }

    mutating func track(for operation: TraceOperation) -> Int {
        let resources = trace.header.resources
        if operation.kind == .transfer, let first = operation.path.first {
            let link = operation.path.first { resources[$0].place != .gpu && resources[$0].place != .host } ?? first
            return track(.resource(link), pid: Pid.of(resources[link].place), name: resources[link].name)
        }
        let pid = Self.pid(ofActor: operation.actor, device: operation.device)
        return track(.actor(operation.actor, pid: pid), pid: pid, name: Self.trackName(ofActor: operation.actor))
    }

    /// `gpu…` on the GPU, `device 3…` on device 3 (its number from the actor, else from the
    /// operation's device), everything else on the host.
    static func pid(ofActor actor: String, device: Int?) -> Int {
        let a = actor.lowercased()
        if a.hasPrefix("gpu") { return Pid.gpu }
        if a.hasPrefix("device") {
            let digits = a.dropFirst("device".count).drop { $0 == " " }.prefix { $0.isNumber }
            if let i = Int(digits) ?? device, i >= 0 { return Pid.device(i) }
        }
        return Pid.host
    }

    /// A bare `device 3` actor is that device's engine.
    static func trackName(ofActor actor: String) -> String {
        let parts = actor.split(separator: " ")
        if parts.count == 2, parts[0] == "device", Int(parts[1]) != nil { return actor + " engine" }
        return actor
    }

    mutating func metadata() {
        for pid in Set(tracks.map(\.pid)).sorted() {
            events.append(Event(ph: "M", name: "process_name", pid: pid, tid: 0, ts: 0, args: .name(Pid.name(pid))))
            events.append(Event(ph: "M", name: "process_sort_index", pid: pid, tid: 0, ts: 0, args: .sortIndex(pid)))
        }
        for track in tracks {
            events.append(Event(ph: "M", name: "thread_name", pid: track.pid, tid: track.tid, ts: 0, args: .name(track.name)))
            events.append(Event(ph: "M", name: "thread_sort_index", pid: track.pid, tid: track.tid, ts: 0, args: .sortIndex(track.tid)))
        }
    }

    // MARK: Events

    mutating func complete(_ operation: TraceOperation, on track: Track) {
        let resources = trace.header.resources
        let args = OperationArguments(
            id: operation.id, actor: operation.actor, kind: operation.kind.rawValue, amount: finite(operation.amount),
            unit: operation.unit, layer: operation.layer, subgroup: operation.subgroup, device: operation.device,
            path: operation.path.isEmpty ? nil : operation.path.map { resources[$0].name },
            wallStart: operation.wall.map { finite($0.start) }, wallEnd: operation.wall.map { finite($0.end) })
        let m = operation.modeled
        events.append(Event(ph: "X", name: operation.name, cat: operation.phase.rawValue, pid: track.pid, tid: track.tid,
                            ts: finite(m.start * 1e6), dur: finite(max(0, m.duration) * 1e6), args: .operation(args)))
    }

    mutating func flows() {
        let operations = trace.operations
        var kept: [Event] = []
        for operation in operations {
            let to = operationTrack[operation.id]
            var seen: Set<Int> = []
            for predecessor in operation.after where seen.insert(predecessor).inserted {
                let from = operationTrack[predecessor]
                guard from != to else { continue }
                guard flowArrows < PerfettoExport.maximumFlowArrows else { droppedFlowArrows += 1; continue }
                flowArrows += 1
                let id = flowArrows
                let p = operations[predecessor].modeled
                let s = (p.end - min(p.duration / 2, 1e-9)) * 1e6
                let f = (operation.modeled.start + min(operation.modeled.duration / 2, 1e-9)) * 1e6
                let source = tracks[from], target = tracks[to]
                kept.append(Event(ph: "s", name: "dependency", cat: "dependency", pid: source.pid, tid: source.tid, ts: finite(s),
                                  id: id))
                kept.append(Event(ph: "f", name: "dependency", cat: "dependency", pid: target.pid, tid: target.tid, ts: finite(f),
                                  id: id, bp: "e"))
            }
        }
        events += kept
    }

    /// Per resource, (time, bytes per second) at every instant the rate changes: each transfer
    /// in bytes adds amount/duration over [start, end) to every resource of its path. One sort
    /// of all the starts and ends: O(n log n) in the number of (transfer, resource) pairs.
    func counterSamples() -> [Int: [(Double, Double)]] {
        struct Change {
            let resource: Int
            let time: Double
            let rate: Double   // + at a start, − at an end
            let opens: Int     // +1 / −1: how many transfers are running, to return to exact 0
        }
        var changes: [Change] = []
        var carriers: Set<Int> = []
        for operation in trace.operations where operation.kind == .transfer && operation.unit == "B" {
            for resource in Set(operation.path) {
                carriers.insert(resource)
                let m = operation.modeled
                guard m.duration > 0, operation.amount > 0 else { continue }
                let rate = operation.amount / m.duration
                changes.append(Change(resource: resource, time: m.start, rate: rate, opens: 1))
                changes.append(Change(resource: resource, time: m.end, rate: -rate, opens: -1))
            }
        }
        changes.sort { ($0.resource, $0.time) < ($1.resource, $1.time) }
        var samples: [Int: [(Double, Double)]] = [:]
        for resource in carriers { samples[resource] = [] }
        var i = 0
        while i < changes.count {
            let resource = changes[i].resource
            var rate = 0.0, running = 0
            while i < changes.count, changes[i].resource == resource {
                let time = changes[i].time
                while i < changes.count, changes[i].resource == resource, changes[i].time == time {
                    rate += changes[i].rate
                    running += changes[i].opens
                    i += 1
                }
                // Rounding must not leave a link "carrying" 1e-7 B/s after its last transfer.
                if running == 0 { rate = 0 }
                samples[resource]!.append((time, max(0, rate)))
            }
        }
        return samples
    }
}

/// A number JSON can carry: a value that is not finite (never in a validated trace) becomes 0.
private func finite(_ value: Double) -> Double { value.isFinite ? value : 0 }
