import Foundation
import Plan
import Testing
import Trace

/// The export parsed back with JSONSerialization and checked against the Chrome Trace Event
/// format's rules, not against the exporter's own output.
@Suite struct PerfettoExportTests {
    struct Parsed {
        var events: [[String: Any]]
        var processNames: [Int: String] = [:]
        var threadNames: [[Int]: String] = [:]

        func ofPhase(_ ph: String) -> [[String: Any]] { events.filter { $0["ph"] as? String == ph } }

        /// The X event of operation `id`.
        func slice(_ id: Int) -> [String: Any]? {
            ofPhase("X").first { ($0["args"] as? [String: Any])?["id"] as? Int == id }
        }

        /// Per [pid, tid], the X events' operation ids and spans.
        func slicesByTrack() -> [[Int]: [(id: Int, start: Double, end: Double)]] {
            Dictionary(grouping: ofPhase("X")) { [$0["pid"] as! Int, $0["tid"] as! Int] }.mapValues { events in
                events.map { event in
                    let start = event["ts"] as! Double
                    return (((event["args"] as? [String: Any])?["id"] as? Int) ?? -1, start, start + (event["dur"] as! Double))
                }
            }
        }

        /// The operation whose X event encloses `event` on its track.
        func slice(at event: [String: Any], among slices: [[Int]: [(id: Int, start: Double, end: Double)]]) -> Int? {
            let ts = event["ts"] as! Double
            return slices[[event["pid"] as! Int, event["tid"] as! Int]]?.first { $0.start <= ts && ts <= $0.end }?.id
        }

        func thread(of event: [String: Any]) -> String? {
            threadNames[[event["pid"] as! Int, event["tid"] as! Int]]
        }

        /// (ts, B/s) of the counter named `name`, in order.
        func counter(_ name: String) -> [(Double, Double)] {
            ofPhase("C").filter { $0["name"] as? String == name }.map {
                ($0["ts"] as! Double, ($0["args"] as! [String: Any])["B/s"] as! Double)
            }
        }
    }

    /// Parses the document and checks every rule the format and the brief set.
    func parseAndCheck(_ export: PerfettoExport) throws -> Parsed {
        let document = try #require(try JSONSerialization.jsonObject(with: export.json) as? [String: Any])
        #expect(document["displayTimeUnit"] as? String == "ms")
        let events = try #require(document["traceEvents"] as? [[String: Any]])
        #expect(events.count == export.eventCount)
        var parsed = Parsed(events: events)
        for event in events {
            // Every event: ph, ts, pid, tid.
            #expect(event["ph"] is String && event["ts"] is Double && event["pid"] is Int && event["tid"] is Int, "\(event)")
            guard event["ph"] as? String == "M" else { continue }
            let name = (event["args"] as? [String: Any])?["name"] as? String
            switch event["name"] as? String {
            case "process_name": parsed.processNames[event["pid"] as! Int] = name
            case "thread_name": parsed.threadNames[[event["pid"] as! Int, event["tid"] as! Int]] = name
            default: break
            }
        }
        // Every track used is named.
        for event in events where event["ph"] as? String != "M" {
            #expect(parsed.thread(of: event) != nil, "no thread_name for \(event)")
            #expect(parsed.processNames[event["pid"] as! Int] != nil)
        }
        // Complete events have a duration ≥ 0.
        for event in parsed.ofPhase("X") {
            let duration = try #require(event["dur"] as? Double)
            #expect(duration >= 0)
            #expect(event["name"] is String && event["cat"] is String)
        }
        // Flow arrows: one s and one f per id, f binding to its enclosing slice, each end inside
        // a slice of its own track, the arrow pointing forward in time.
        var starts: [Int: [String: Any]] = [:], finishes: [Int: [String: Any]] = [:]
        for event in parsed.ofPhase("s") {
            let id = try #require(event["id"] as? Int)
            #expect(starts.updateValue(event, forKey: id) == nil, "two s events with id \(id)")
        }
        for event in parsed.ofPhase("f") {
            let id = try #require(event["id"] as? Int)
            #expect(event["bp"] as? String == "e")
            #expect(finishes.updateValue(event, forKey: id) == nil, "two f events with id \(id)")
        }
        #expect(Set(starts.keys) == Set(finishes.keys))
        #expect(starts.count == export.flowArrows)
        let slices = parsed.slicesByTrack()
        func inside(_ event: [String: Any]) -> Bool {
            let ts = event["ts"] as! Double
            return (slices[[event["pid"] as! Int, event["tid"] as! Int]] ?? []).contains { $0.start <= ts && ts <= $0.end }
        }
        for (id, start) in starts {
            let finish = try #require(finishes[id])
            #expect(inside(start) && inside(finish))
            #expect((start["ts"] as! Double) <= (finish["ts"] as! Double))
            #expect([start["pid"] as! Int, start["tid"] as! Int] != [finish["pid"] as! Int, finish["tid"] as! Int])
        }
        // Counters are rates: never negative.
        for event in parsed.ofPhase("C") {
            for value in (event["args"] as! [String: Any]).values { #expect((value as! Double) >= 0) }
        }
        return parsed
    }

    @Test func sampleTraceExportsToTheLayout() throws {
        let export = try PerfettoExport(try sampleTrace())
        let parsed = try parseAndCheck(export)
        #expect(parsed.processNames == [2: "GPU", 3: "shared link", 10: "device 0"])

        let forward = try #require(parsed.slice(0))
        #expect(forward["name"] as? String == "forward layer 0" && forward["cat"] as? String == "FW")
        #expect(forward["pid"] as? Int == 2 && parsed.thread(of: forward) == "gpu")
        #expect(forward["ts"] as? Double == 0 && forward["dur"] as? Double == 10_000)
        #expect((forward["args"] as? [String: Any])?["layer"] as? Int == 0)

        // A transfer sits on the first resource of its path away from the GPU and host.
        let offload = try #require(parsed.slice(2))
        #expect(offload["pid"] as? Int == 3 && parsed.thread(of: offload) == "shared link ↓")
        let load = try #require(parsed.slice(3))
        #expect(load["pid"] as? Int == 10 && parsed.thread(of: load) == "device 0 SSD read")
        #expect(load["cat"] as? String == "STATE_LOAD")
        #expect(load["ts"] as? Double == 80_000 && abs((load["dur"] as! Double) - 300_000) < 1e-6)
        let args = try #require(load["args"] as? [String: Any])
        #expect(args["amount"] as? Double == 9e8 && args["unit"] as? String == "B")
        #expect(args["subgroup"] as? Int == 0 && args["device"] as? Int == 0 && args["layer"] == nil)
        #expect(args["path"] as? [String] == ["device 0 SSD read", "device 0 internal link"])
        let upload = try #require(parsed.slice(5))
        #expect(parsed.thread(of: upload) == "device 0 internal link")

        // A device's compute runs on its engine's track, with its wall times.
        let update = try #require(parsed.slice(4))
        #expect(update["pid"] as? Int == 10 && parsed.thread(of: update) == "device 0 engine")
        let wall = try #require(update["args"] as? [String: Any])
        #expect(wall["wall_start_s"] as? Double == 1.5 && wall["wall_end_s"] as? Double == 1.75)

        // Dependencies 1→2, 2→3, 3→4, 4→5 cross tracks; 0→1 (both on the GPU) does not.
        #expect(export.flowArrows == 4 && export.droppedFlowArrows == 0)

        // The shared link ↑ carries only the upload: 1e8 B over [0.53, 0.6].
        let up = parsed.counter("shared link ↑")
        #expect(up.count == 2)
        #expect(up.map(\.0) == [530_000, 600_000])
        #expect(abs(up[0].1 - 1e8 / 0.07) < 1e-3 && up[1].1 == 0)
        // The internal link carries the load (9e8 B over 0.3 s) and, later, the upload.
        let link = parsed.counter("device 0 internal link")
        #expect(link.map(\.0) == [80_000, 380_000, 530_000, 600_000])
        #expect(abs(link[0].1 - 3e9) < 1e-3 && link[1].1 == 0 && abs(link[2].1 - 1e8 / 0.07) < 1e-3 && link[3].1 == 0)
        // Compute resources have no counter.
        #expect(parsed.counter("GPU").isEmpty && parsed.counter("device 0 FPGA").isEmpty)
    }

    /// Two overlapping transfers of known bytes on one link: 1 GB over [0, 1] s and 2 GB over
    /// [0.5, 1.5] s carry 1, 3, 2, then 0 GB/s.
    @Test func overlappingTransfersAddTheirRates() throws {
        var trace = try sampleTrace(summary: false)
        trace.header.resources = [
            TraceResource(id: 0, name: "device 1 link", capacity: 4e9, place: .device(1)),
            TraceResource(id: 1, name: "GPU", capacity: 1e13, place: .gpu),
            TraceResource(id: 2, name: "host memory", capacity: 1e11, place: .host),
            TraceResource(id: 3, name: "shared link ↑", capacity: 8e9, place: .sharedLink),
        ]
        trace.operations = [
            TraceOperation(id: 0, actor: "device 1", phase: .stateLoad, kind: .transfer, name: "a", unit: "B",
                           amount: 1e9, path: [0], modeled: TraceInterval(start: 0, end: 1)),
            TraceOperation(id: 1, actor: "device 1", phase: .stateLoad, kind: .transfer, name: "b", unit: "B",
                           amount: 2e9, path: [0], modeled: TraceInterval(start: 0.5, end: 1.5)),
            // Zero-length: no rate, left out of the counter.
            TraceOperation(id: 2, actor: "device 1", phase: .stateLoad, kind: .transfer, name: "c", unit: "B",
                           amount: 5e8, path: [0], modeled: TraceInterval(start: 0.75, end: 0.75)),
            // GPU and host resources are passed over for the track, unless there is nothing else.
            TraceOperation(id: 3, actor: "gpu", phase: .parameterUpload, kind: .transfer, name: "d", unit: "B",
                           amount: 1e6, path: [1, 3], after: [0], modeled: TraceInterval(start: 1.5, end: 2)),
            TraceOperation(id: 4, actor: "gpu", phase: .parameterUpload, kind: .transfer, name: "e", unit: "B",
                           amount: 1e6, path: [1, 2], after: [3], modeled: TraceInterval(start: 2, end: 2)),
            TraceOperation(id: 5, actor: "host cpu", phase: .update, kind: .compute, name: "f", unit: "B",
                           amount: 1e6, path: [], after: [1, 1, 4], modeled: TraceInterval(start: 2, end: 3)),
        ]
        let export = try PerfettoExport(trace)
        let parsed = try parseAndCheck(export)
        let rates = parsed.counter("device 1 link")
        #expect(rates.map(\.0) == [0, 500_000, 1_000_000, 1_500_000])
        #expect(rates.map(\.1) == [1e9, 3e9, 2e9, 0])
        #expect(parsed.counter("GPU").map(\.1) == [2e6, 0])

        #expect(parsed.thread(of: try #require(parsed.slice(0))) == "device 1 link")
        #expect(parsed.slice(0)?["pid"] as? Int == 11)
        #expect(parsed.thread(of: try #require(parsed.slice(3))) == "shared link ↑")
        let gpuOnly = try #require(parsed.slice(4))
        #expect(gpuOnly["pid"] as? Int == 2 && parsed.thread(of: gpuOnly) == "GPU" && gpuOnly["dur"] as? Double == 0)
        let host = try #require(parsed.slice(5))
        #expect(host["pid"] as? Int == 1 && parsed.thread(of: host) == "host cpu")
        #expect(parsed.processNames[1] == "host" && parsed.processNames[11] == "device 1")
        // 0→3, 3→4 and 1→5, 4→5 cross tracks (1 is listed twice after 5, drawn once).
        #expect(export.flowArrows == 4)
    }

    @Test func flowArrowsAreCappedAtTheFirst20000() throws {
        // 150 GPU operations in a row, then 140 transfers each waiting for all of them: 21000
        // cross-track dependencies from few operations.
        var trace = try sampleTrace(summary: false)
        let computes = 150, transfers = 140
        trace.operations = (0..<computes).map { i in
            TraceOperation(id: i, actor: "gpu", phase: .backward, kind: .compute, name: "backward \(i)", unit: "FLOP",
                           amount: 1e9, modeled: TraceInterval(start: Double(i) * 1e-3, end: Double(i + 1) * 1e-3))
        } + (0..<transfers).map { k in
            let start = Double(computes) * 1e-3 + Double(k) * 1e-3
            return TraceOperation(id: computes + k, actor: "host", phase: .gradientOffload, kind: .transfer, name: "offload \(k)",
                                  unit: "B", amount: 1e3, path: [0], after: Array(0..<computes),
                                  modeled: TraceInterval(start: start, end: start + 1e-3))
        }
        let export = try PerfettoExport(trace)
        #expect(export.flowArrows == PerfettoExport.maximumFlowArrows)
        #expect(export.droppedFlowArrows == computes * transfers - PerfettoExport.maximumFlowArrows)
        let parsed = try parseAndCheck(export)
        #expect(parsed.ofPhase("s").count == PerfettoExport.maximumFlowArrows)
        // The first ones, in operation order, are kept: 133 transfers × 150 arrows = 19950, then
        // 50 of transfer 133's; none of the later transfers'.
        let slices = parsed.slicesByTrack()
        let finishes = Dictionary(grouping: parsed.ofPhase("f")) { parsed.slice(at: $0, among: slices) ?? -1 }.mapValues(\.count)
        #expect(finishes[computes + 132] == computes && finishes[computes + 133] == 50 && finishes[computes + 134] == nil)
        #expect(finishes.values.reduce(0, +) == PerfettoExport.maximumFlowArrows && finishes[-1] == nil)
    }

    @Test func exportIsWrittenAtomicallyAndRefusesBadTraces() throws {
        let export = try PerfettoExport(try sampleTrace())
        try withTemporaryDirectory { directory in
            let path = directory + "/run.json"
            try export.write(to: path)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == export.json)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["run.json"])
        }
        var bad = try sampleTrace()
        bad.operations[2].path = [42]
        let error = try #require(throws: TraceError.self) { try PerfettoExport(bad) }
        #expect(error.line == 4 && error.field == "path[0]")
    }
}
