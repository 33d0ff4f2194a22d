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
        json = builder.document()
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
    static let host = 1, gpu = 2, sharedLink = 3
    static func device(_ i: Int) -> Int { 10 + i }

    static func of(_ place: ResourcePlace) -> Int {
        switch place {
        case .host: host
        case .gpu: gpu
        case .sharedLink: sharedLink
        case .device(let i): device(i)
        }
    }

    static func name(_ pid: Int) -> String {
        switch pid {
        case host: "host"
        case gpu: "GPU"
        case sharedLink: "shared link"
        default: "device \(pid - 10)"
        }
    }
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
    /// One JSON object per event, already serialized.
    var events: [String] = []
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
                events.append(#"{"ph":"C","name":\#(string(name)),"pid":\#(track.pid),"tid":\#(track.tid),"ts":\#(number(time * 1e6)),"args":{"B/s":\#(number(rate))}}"#)
            }
        }
    }

    func document() -> Data {
        let h = trace.header
        var text = "{\"traceEvents\":[\n"
        text += events.joined(separator: ",\n")
        text += "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{"
        text += "\"schema\":\(string(TraceHeader.schema)),\"version\":\(TraceHeader.version),"
        text += "\"created\":\(string(h.created)),\"source\":\(string(h.source.rawValue)),\"clock\":\(string(h.clock.rawValue)),"
        text += "\"mode\":\(string(h.config.mode.rawValue)),\"devices\":\(h.config.devices),"
        text += "\"flowArrows\":\(flowArrows),\"droppedFlowArrows\":\(droppedFlowArrows)}}\n"
        return Data(text.utf8)
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
            events.append(#"{"ph":"M","name":"process_name","pid":\#(pid),"tid":0,"ts":0,"args":{"name":\#(string(Pid.name(pid)))}}"#)
            events.append(#"{"ph":"M","name":"process_sort_index","pid":\#(pid),"tid":0,"ts":0,"args":{"sort_index":\#(pid)}}"#)
        }
        for track in tracks {
            events.append(#"{"ph":"M","name":"thread_name","pid":\#(track.pid),"tid":\#(track.tid),"ts":0,"args":{"name":\#(string(track.name))}}"#)
            events.append(#"{"ph":"M","name":"thread_sort_index","pid":\#(track.pid),"tid":\#(track.tid),"ts":0,"args":{"sort_index":\#(track.tid)}}"#)
        }
    }

    // MARK: Events

    mutating func complete(_ operation: TraceOperation, on track: Track) {
        let resources = trace.header.resources
        var args = "\"id\":\(operation.id),\"actor\":\(string(operation.actor)),\"kind\":\(string(operation.kind.rawValue))"
        args += ",\"amount\":\(number(operation.amount)),\"unit\":\(string(operation.unit))"
        if let layer = operation.layer { args += ",\"layer\":\(layer)" }
        if let subgroup = operation.subgroup { args += ",\"subgroup\":\(subgroup)" }
        if let device = operation.device { args += ",\"device\":\(device)" }
        if !operation.path.isEmpty {
            args += ",\"path\":[" + operation.path.map { string(resources[$0].name) }.joined(separator: ",") + "]"
        }
        if let wall = operation.wall {
            args += ",\"wall_start_s\":\(number(wall.start)),\"wall_end_s\":\(number(wall.end))"
        }
        let m = operation.modeled
        events.append(#"{"ph":"X","name":\#(string(operation.name)),"cat":\#(string(operation.phase.rawValue)),"pid":\#(track.pid),"tid":\#(track.tid),"ts":\#(number(m.start * 1e6)),"dur":\#(number(max(0, m.duration) * 1e6)),"args":{\#(args)}}"#)
    }

    mutating func flows() {
        let operations = trace.operations
        var kept: [String] = []
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
                kept.append(#"{"ph":"s","id":\#(id),"name":"dependency","cat":"dependency","pid":\#(source.pid),"tid":\#(source.tid),"ts":\#(number(s))}"#)
                kept.append(#"{"ph":"f","bp":"e","id":\#(id),"name":"dependency","cat":"dependency","pid":\#(target.pid),"tid":\#(target.tid),"ts":\#(number(f))}"#)
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

/// A JSON string literal.
private func string(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A JSON number. Swift's shortest round-trip spelling (`1e-05`, `2.5e+20`) is valid JSON.
private func number(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    return formatNumber(value)
}
