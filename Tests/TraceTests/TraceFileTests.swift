import Foundation
import Plan
import Testing
import Trace

@Suite struct TraceFileTests {
    @Test func writtenTraceReadsBackEqual() throws {
        let trace = try sampleTrace()
        try withTemporaryDirectory { directory in
            let path = directory + "/run.trace"
            try trace.write(to: path)
            #expect(try TraceFile.read(from: path) == trace)
            // Written atomically: nothing but the trace is left in the directory.
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["run.trace"])
            // The file is the lines, each ended by a newline.
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text == (try trace.encodeLines()).joined(separator: "\n") + "\n")
        }
        // Without the optional summary too.
        let bare = try sampleTrace(summary: false)
        #expect(try TraceFile.decode(lines: bare.encodeLines()) == bare)
    }

    /// The lines checked with JSONSerialization against the format as specified, not against
    /// the decoder.
    @Test func encodedLinesAreOneJSONObjectEachHeaderFirst() throws {
        let trace = try sampleTrace()
        let lines = try trace.encodeLines()
        #expect(lines.count == 1 + trace.operations.count + 1)
        let objects = try lines.map { line in
            #expect(!line.contains("\n"))
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let header = objects[0]
        #expect(header["record"] as? String == "header")
        #expect(header["schema"] as? String == "smartinfinity.trace")
        #expect(header["version"] as? Int == 1)
        #expect(header["created"] as? String == "2026-11-28T03:00:00Z")
        #expect(header["source"] as? String == "synth")
        #expect(header["clock"] as? String == "virtual")
        #expect((header["config"] as? [String: Any])?["mode"] as? String == "su+o")
        #expect((header["profile"] as? [String: Any])?["overrides"] as? [String] == ["link.shared=12GB/s"])
        let resources = try #require(header["resources"] as? [[String: Any]])
        #expect(resources.count == 6)
        #expect(resources[0]["place"] as? String == "shared" && resources[0]["device"] is NSNull)
        #expect(resources[2]["place"] as? String == "device" && resources[2]["device"] as? Int == 0)
        #expect(resources[4]["place"] as? String == "gpu")
        let workload = try #require(header["workload"] as? [String: Any])
        #expect((workload["model"] as? [String: Any])?["layers"] as? Int == 2)

        for (i, op) in objects.dropFirst().dropLast().enumerated() {
            #expect(op["record"] as? String == "op")
            #expect(op["id"] as? Int == i)
        }
        let load = objects[4]
        #expect(load["phase"] as? String == "STATE_LOAD")
        #expect(load["kind"] as? String == "transfer")
        #expect(load["path"] as? [Int] == [2, 3])
        #expect(load["after"] as? [Int] == [2])
        #expect(load["modeled"] as? [Double] == [0.08, 0.38])
        #expect(load["amount"] as? Double == 9e8)
        // Absent values are explicit nulls.
        #expect(load["layer"] is NSNull && load["wall"] is NSNull)
        #expect(objects[5]["wall"] as? [Double] == [1.5, 1.75])

        let summary = try #require(objects.last)
        #expect(summary["record"] as? String == "summary")
        #expect(summary["phases"] as? [String: Double] == ["fw": 0.01, "bw_grad_offload": 0.07, "update": 0.52])
        #expect(summary["deviceBytes"] as? [Double] == [1e9])

        // Deterministic: the same trace encodes to the same bytes.
        #expect(try trace.encodeLines() == lines)
    }

    /// A trace written by hand as the format describes it (keys in any order) decodes.
    @Test func handWrittenLinesDecode() throws {
        let lines = [
            #"{"record":"header","schema":"smartinfinity.trace","version":1,"created":"2026-11-28T03:00:00Z","source":"train","clock":"paced","dilation":4.0,"#
                + #""workload":{"model":{"family":"gpt2","layers":2,"hidden":64,"heads":4,"sequence":32,"batch":1,"vocabulary":256,"positions":1024},"#
                + #""optimizer":"adamw","subgroupElements":1000,"topkRatio":0.01,"compressedFraction":0.02},"#
                + #""config":{"mode":"su+o+c","devices":4},"profile":{"host":"hpca24-host","device":"smartssd","gpu":"a5000","overrides":[]},"#
                + #""resources":[{"id":0,"name":"shared link ↑","capacity":8e9,"place":"shared","device":null},{"id":1,"name":"device 3 flash","capacity":3e9,"place":"device","device":3}]}"#,
            #"{"record":"op","id":0,"actor":"gpu","phase":"FW","kind":"compute","name":"forward layer 3","unit":"FLOP","amount":1.2e12,"path":[],"after":[],"layer":3,"subgroup":null,"device":null,"modeled":[0.0,0.01],"wall":null}"#,
            #"{"record":"op","id":1,"actor":"device 3","phase":"PARAM_UPLOAD","kind":"transfer","name":"upload","unit":"B","amount":4096,"path":[1,0],"after":[0],"subgroup":2,"device":3,"modeled":[0.01,0.02],"wall":[0.5,0.75]}"#,
            #"{"record":"summary","phases":{"fw":0.01,"bw_grad_offload":0,"update":0.01},"iteration":0.02,"sharedLinkBytes":4096,"deviceBytes":[0,0,0,4096]}"#,
            "",
        ]
        let trace = try TraceFile.decode(lines: lines)
        #expect(trace.header.source == .train && trace.header.clock == .paced && trace.header.dilation == 4)
        #expect(trace.header.config == TraceConfig(mode: .suOC, devices: 4))
        #expect(trace.header.workload.model.layers == 2 && trace.header.workload.compressedFraction == 0.02)
        #expect(trace.header.resources[1] == TraceResource(id: 1, name: "device 3 flash", capacity: 3e9, place: .device(3)))
        #expect(trace.operations.count == 2)
        let upload = trace.operations[1]
        #expect(upload.phase == .parameterUpload && upload.kind == .transfer && upload.path == [1, 0] && upload.after == [0])
        #expect(upload.layer == nil && upload.subgroup == 2 && upload.device == 3)  // absent layer reads as nil
        #expect(upload.wall == TraceInterval(start: 0.5, end: 0.75))
        #expect(trace.operations[0].modeled == TraceInterval(start: 0, end: 0.01) && trace.operations[0].wall == nil)
        #expect(trace.summary?.phases[.backwardAndOffload] == 0 && trace.summary?.deviceBytes == [0, 0, 0, 4096])
    }

    @Test func operationFromAPlannerTagKeepsItsVocabulary() throws {
        // A tag as a planner makes one, decoded from its Codable form (its memberwise init is internal to Plan).
        let tag = try JSONDecoder().decode(OperationTag.self, from: Data(
            #"{"actor":"device 2","phase":"STATE_WRITEBACK","kind":"transfer","name":"write back subgroup 5","subgroup":5,"device":2,"unit":"B"}"#.utf8))
        let operation = TraceOperation(id: 0, tag: tag, amount: 10, modeled: TraceInterval(start: 0, end: 1))
        #expect(operation.actor == "device 2" && operation.phase == .stateWriteBack && operation.kind == .transfer)
        #expect(operation.name == "write back subgroup 5" && operation.subgroup == 5 && operation.device == 2 && operation.layer == nil)
        #expect(operation.unit == "B")
    }
}
