import DurableWrite
import Foundation
import Testing
import Trace

/// Every bad trace gets a message naming the file, the line and the field, with what was found
/// and what was expected. Lines are numbered from 1: line 1 is the header, line k + 2 operation k.
@Suite struct TraceErrorTests {
    let lines: [String]

    init() throws {
        lines = try sampleTrace().encodeLines()
    }

    @Test func newerVersionIsRefusedForItsVersion() throws {
        // A version-2 header may have renamed anything else; the version is what it is refused for.
        let object: [String: Any] = ["record": "header", "schema": "smartinfinity.trace", "version": 2, "clock": ["kind": "virtual"]]
        let header = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let error = try #require(decodeError([header] + lines.dropFirst()))
        #expect(error.problem == .unsupportedVersion(2))
        #expect(error.description == "run.trace line 1, field 'version': trace version 2 is newer than this smartinf, which reads version 1")
    }

    @Test func wrongSchemaOrNoHeaderIsNotATrace() throws {
        let schema = try #require(decodeError(try editing(lines, line: 0, "schema", "chrome.trace")))
        #expect(schema.line == 1 && schema.field == "schema")
        #expect(schema.description.contains(#"found "chrome.trace"; expected "smartinfinity.trace""#))

        let headless = try #require(decodeError(Array(lines.dropFirst())))
        #expect(headless.line == 1 && headless.field == "record")
        #expect(headless.description.contains(#"found "op"; expected "header""#))

        let version = try #require(decodeError(try editing(lines, line: 0, "version", "one")))
        #expect(version.line == 1 && version.field == "version" && version.description.contains(#"the string "one""#))
    }

    @Test func truncatedLineIsMalformedJSONAtItsLine() throws {
        var truncated = Array(lines.prefix(4))
        truncated[3] = String(truncated[3].prefix(truncated[3].count / 2))
        let error = try #require(decodeError(truncated))
        #expect(error.line == 4)
        #expect(error.description.hasPrefix("run.trace line 4: malformed JSON ("))

        // The same through a file cut mid-line, as a crash would leave it.
        try withTemporaryDirectory { directory in
            let path = directory + "/cut.trace"
            let whole = try sampleTrace().encoded()
            try whole.prefix(whole.count - 20).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: TraceError.self) { try TraceFile.read(from: path) }
            #expect(error.description.hasPrefix("\(path) line \(lines.count): malformed JSON"))
        }

        let array = try #require(decodeError(Array(lines.prefix(2)) + ["[1, 2]"]))
        #expect(array.line == 3 && array.description.contains("an array, not an object"))
        let blank = try #require(decodeError(Array(lines.prefix(2)) + ["  "] + [lines[2]]))
        #expect(blank.line == 3 && blank.description.contains("the line is empty"))
    }

    @Test func unknownPhaseOrKindNamesTheChoices() throws {
        let phase = try #require(decodeError(try editing(lines, line: 2, "phase", "FORWARD")))
        #expect(phase.line == 3 && phase.field == "phase")
        #expect(phase.description == #"run.trace line 3, field 'phase': found "FORWARD"; expected one of FW, BW, COMPRESS, GRAD_OFFLOAD, STATE_LOAD, UPDATE, PARAM_UPLOAD, STATE_WRITEBACK, GRAD_REDUCE_SCATTER, PARAM_ALLGATHER"#)

        let kind = try #require(decodeError(try editing(lines, line: 4, "kind", "copy")))
        #expect(kind.line == 5 && kind.field == "kind" && kind.description.hasSuffix(#"found "copy"; expected one of compute, transfer"#))
    }

    @Test func dependencyOnALaterOperationIsRefused() throws {
        // Operation 1 (line 3) waiting for operation 3.
        let forward = try #require(decodeError(try editing(lines, line: 2, "after", [3])))
        #expect(forward.line == 3 && forward.field == "after[0]")
        #expect(forward.description.contains("operation 1 depends on operation 3, which is not earlier"))
        // On itself, and on an id that is not there at all.
        let own = try #require(decodeError(try editing(lines, line: 2, "after", [0, 1])))
        #expect(own.line == 3 && own.field == "after[1]" && own.problem == .laterDependency(1, of: 1))
        let negative = try #require(decodeError(try editing(lines, line: 2, "after", [-1])))
        #expect(negative.field == "after[0]" && negative.description.contains("found -1"))
    }

    @Test func unknownResourceIsRefused() throws {
        let error = try #require(decodeError(try editing(lines, line: 4, "path", [2, 9])))
        #expect(error.line == 5 && error.field == "path[1]")
        #expect(error.description.hasSuffix("references resource 9; expected a header resource id, 0 to 5"))
    }

    @Test func idsMustRunInOrder() throws {
        let error = try #require(decodeError(try editing(lines, line: 3, "id", 7)))
        #expect(error.line == 4 && error.field == "id" && error.problem == .idOutOfOrder(found: 7, expected: 2))
    }

    @Test func impossibleTimesAndAmountsAreRefused() throws {
        let backwards = try #require(decodeError(try editing(lines, line: 2, "modeled", [0.5, 0.25])))
        #expect(backwards.line == 3 && backwards.field == "modeled" && backwards.description.contains("found [0.5, 0.25]"))
        let notAPair = try #require(decodeError(try editing(lines, line: 2, "wall", [1])))
        #expect(notAPair.line == 3 && notAPair.field == "wall")
        let negative = try #require(decodeError(try editing(lines, line: 3, "amount", -5)))
        #expect(negative.line == 4 && negative.field == "amount")
        #expect(negative.description.hasSuffix("found -5; expected a non-negative amount"))
        let text = try #require(decodeError(try editing(lines, line: 3, "amount", "lots")))
        #expect(text.field == "amount" && text.description.contains(#"found the string "lots""#))
        let fraction = try #require(decodeError(try editing(lines, line: 3, "id", 2.5)))
        #expect(fraction.line == 4 && fraction.field == "id" && fraction.description.contains("found the number 2.5"))
        let element = try #require(decodeError(try editing(lines, line: 3, "path", [2, "3"])))
        #expect(element.line == 4 && element.field == "path[1]" && element.description.contains(#"found the string "3""#))
        let layer = try #require(decodeError(try editing(lines, line: 3, "layer", -1)))
        #expect(layer.line == 4 && layer.field == "layer")
        let missing = try #require(decodeError(try editing(lines, line: 3, "amount", nil)))
        #expect(missing.line == 4 && missing.field == "amount" && missing.description.contains("missing; expected"))
    }

    @Test func headerFieldsAreNamedByTheirPath() throws {
        let header = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        var list = header["resources"] as! [[String: Any]]
        list[1]["capacity"] = -1
        let capacity = try #require(decodeError(try editing(lines, line: 0, "resources", list)))
        #expect(capacity.line == 1 && capacity.field == "resources[1].capacity")
        list[1]["capacity"] = 1
        list[1]["place"] = "moon"
        let place = try #require(decodeError(try editing(lines, line: 0, "resources", list)))
        #expect(place.field == "resources[1].place" && place.description.contains("expected one of shared, gpu, host, device"))

        let mode = try #require(decodeError(try editing(lines, line: 0, "config", ["mode": "fast", "devices": 2])))
        #expect(mode.field == "config.mode" && mode.description.contains("expected one of base, su, su+o, su+o+c"))

        var workload = header["workload"] as! [String: Any]
        var model = workload["model"] as! [String: Any]
        model["layers"] = 0
        workload["model"] = model
        let layers = try #require(decodeError(try editing(lines, line: 0, "workload", workload)))
        #expect(layers.line == 1 && layers.field == "workload.model.layers"
            && layers.description.contains("found 0; expected a positive whole number"))
        model["layers"] = 2
        model.removeValue(forKey: "hidden")
        workload["model"] = model
        let hidden = try #require(decodeError(try editing(lines, line: 0, "workload", workload)))
        #expect(hidden.field == "workload.model.hidden" && hidden.description.contains("missing"))
    }

    /// A model whose sizes would overflow what is counted from them (parameters, activations,
    /// bytes) is refused on line 1 at the field that makes it too large; before the bound, such a
    /// trace read, and `replay` trapped counting its parameters.
    @Test(arguments: [
        ("hidden", 1 << 62, "hidden", "1099511627776 (2^40)"),
        ("hidden", 1 << 20, "hidden", "parameters per block"),
        ("layers", 100_000, "layers", "expected at most 65536"),
        ("vocabulary", Int.max, "vocabulary", "embedding parameters"),
        ("batch", Int.max, "batch", "activation elements"),
    ])
    func hugeModelSizesAreRefusedNamingTheField(key: String, value: Int, field: String, expected: String) throws {
        let header = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        var workload = header["workload"] as! [String: Any]
        var model = workload["model"] as! [String: Any]
        model[key] = value
        if key == "hidden" { model["heads"] = 1 }
        workload["model"] = model
        let error = try #require(decodeError(try editing(lines, line: 0, "workload", workload)))
        #expect(error.line == 1 && error.field == "workload.model.\(field)")
        #expect(error.description.contains("field 'workload.model.\(field)': found \(value); expected"), "\(error)")
        #expect(error.description.contains(expected), "\(error)")
    }

    /// A replay builds a modeled device for each of `config.devices`: more than
    /// `IterationPlanner.maximumDevices` are refused on line 1, naming the field, and the writer
    /// refuses what the reader would. Before the bound, 10^12 devices read, and `replay` ran out
    /// of memory building them.
    @Test(arguments: [1_000_000_000_000, 4097, 1 << 40])
    func tooManyDevicesAreRefusedNamingTheField(devices: Int) throws {
        let error = try #require(decodeError(try editing(lines, line: 0, "config", ["mode": "su+o", "devices": devices])))
        #expect(error.line == 1 && error.field == "config.devices")
        #expect(error.description.contains("field 'config.devices': found \(devices); expected a whole number of devices from 1 to 4096"),
                "\(error)")
        var trace = try sampleTrace()
        trace.header.config.devices = devices
        let written = try #require(throws: TraceError.self) { try trace.encodeLines() }
        #expect(written.field == "config.devices")
    }

    /// `config.hosts` is 1 to `IterationPlanner.maximumHosts`; absent (every trace before many
    /// hosts, and every one-host trace since) it is one host.
    @Test(arguments: [0, -2, 65_537])
    func badHostsAreRefusedNamingTheField(hosts: Int) throws {
        let error = try #require(decodeError(try editing(lines, line: 0, "config", ["mode": "su+o", "devices": 2, "hosts": hosts])))
        #expect(error.line == 1 && error.field == "config.hosts")
        #expect(error.description.contains("field 'config.hosts': found ") && error.description.contains(
            "\(hosts); expected a whole number of hosts from 1 to 65536, or no hosts key for one"), "\(error)")
        var trace = try sampleTrace()
        trace.header.config.hosts = hosts
        let written = try #require(throws: TraceError.self) { try trace.encodeLines() }
        #expect(written.field == "config.hosts")
    }

    @Test func hostsReadAndAreWrittenOnlyWhenMoreThanOne() throws {
        #expect(!lines[0].contains("\"hosts\""))
        #expect(try TraceFile.decode(lines: lines, file: "run.trace").header.config.hosts == 1)
        let many = try editing(lines, line: 0, "config", ["mode": "su+o", "devices": 2, "hosts": 16])
        let trace = try TraceFile.decode(lines: many, file: "run.trace")
        #expect(trace.header.config == TraceConfig(mode: .suO, devices: 2, hosts: 16))
        #expect(try trace.encodeLines()[0].contains(#""config":{"devices":2,"hosts":16,"mode":"su+o"}"#))
        let network = try editing(lines, line: 0, "resources", [["id": 0, "name": "network ↑", "capacity": 4.8e10, "place": "network",
                                                                 "device": NSNull()]])
        #expect(try TraceFile.decode(lines: Array(network.prefix(1)), file: "run.trace").header.resources.first?.place == .network)
    }

    @Test func theMostDevicesRead() throws {
        let most = try editing(lines, line: 0, "config", ["mode": "su+o", "devices": 4096])
        #expect(try TraceFile.decode(lines: most, file: "run.trace").header.config.devices == 4096)
    }

    @Test func summaryMustBeLast() throws {
        let error = try #require(decodeError(lines + [lines[2]]))
        #expect(error.line == lines.count + 1 && error.field == "record" && error.problem == .recordAfterSummary)
        let second = try #require(decodeError(Array(lines.prefix(3)) + [lines[0]]))
        #expect(second.line == 4 && second.field == "record" && second.description.contains("one header, on line 1"))
    }

    @Test func emptyOrMissingFileNamesTheFile() throws {
        try withTemporaryDirectory { directory in
            let empty = directory + "/empty.trace"
            try Data().write(to: URL(fileURLWithPath: empty))
            let error = try #require(throws: TraceError.self) { try TraceFile.read(from: empty) }
            #expect(error.problem == .empty)
            #expect(error.description == "\(empty): the file is empty; expected a trace header on line 1")

            try Data("\n  \n".utf8).write(to: URL(fileURLWithPath: empty))
            #expect(throws: TraceError(file: empty, .empty)) { try TraceFile.read(from: empty) }

            let missing = directory + "/missing.trace"
            let absent = try #require(throws: TraceError.self) { try TraceFile.read(from: missing) }
            #expect(absent.description == "\(missing): cannot read the trace (No such file or directory)")
        }
    }

    /// Writing checks what reading would, before a byte is written, and an error leaves the
    /// previous file as it was.
    @Test func invalidTraceIsNotWrittenAndThePreviousFileSurvives() throws {
        let good = try sampleTrace()
        try withTemporaryDirectory { directory in
            let path = directory + "/run.trace"
            try good.write(to: path)
            var bad = good
            bad.operations[3].after = [4]
            let error = try #require(throws: TraceError.self) { try bad.write(to: path) }
            #expect(error.file == path && error.line == 5 && error.field == "after[0]")
            bad = good
            bad.operations[1].modeled = TraceInterval(start: .nan, end: 1)
            #expect(throws: TraceError.self) { try bad.write(to: path) }
            #expect(try TraceFile.read(from: path) == good)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["run.trace"])
            // Into a directory that does not exist: the system's reason, nothing created.
            let nowhere = directory + "/no/such/run.trace"
            let unwritable = try #require(throws: TraceError.self) { try good.write(to: nowhere) }
            #expect(unwritable.problem == .cannotWrite(DurableFileError(path: nowhere, call: .openDirectory, code: ENOENT)))
            #expect(unwritable.description.hasPrefix("\(nowhere): cannot write (open(2) of its directory failed: "))
            #expect(unwritable.description.contains("No such file or directory"))
        }
    }
}
