import Foundation
import HardwareModel
import Testing

/// Each kind of bad profile, made by editing a shipped profile's JSON, with the message asserted.
@Suite struct ProfileSchemaErrorTests {
    /// The shipped `name` profile with `edit` applied, validated as if read from `bad.json`.
    func message(editing name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let url = try shippedLibrary().directory.appendingPathComponent(name + ".json")
        var document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&document)
        return message(json: try JSONSerialization.data(withJSONObject: document))
    }

    func message(json: Data) -> String {
        do {
            _ = try Profile(json: json, name: "bad", origin: "bad.json")
            return "accepted"
        } catch {
            return error.description
        }
    }

    /// Sets `document[section][key] = value` (or removes it for nil).
    func set(_ document: inout [String: Any], _ section: String, _ key: String, _ value: Any?) {
        var members = document[section] as? [String: Any] ?? [:]
        members[key] = value
        document[section] = members
    }

    @Test func unknownKey() throws {
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shraed", ["value": "8GB/s", "source": "typo"]) }
            == "bad.json: unknown key 'link.shraed' (expected one of: shared, sharedNominal)")
        #expect(try message(editing: "hpca24-host") { $0["ssd"] = [:] }
            == "bad.json: unknown key 'ssd' (expected one of: schema, kind, description, link, cpu, latency, storage, net)")
        #expect(try message(editing: "hpca24-host") { set(&$0, "cpu", "update", ["value": "32GB/s", "source": "x", "unit": "GB/s"]) }
            == "bad.json: unknown key 'cpu.update.unit' (expected one of: value, source, range)")
    }

    @Test func missingKey() throws {
        #expect(try message(editing: "hpca24-host") { set(&$0, "cpu", "update", nil) }
            == #"bad.json: missing key 'cpu.update' (expected {"value": …, "source": "…"} with a bandwidth such as "3.2GB/s")"#)
        #expect(try message(editing: "hpca24-host") { $0["latency"] = nil }
            == "bad.json: missing key 'latency' (expected a section with command)")
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["source": "paper"]) }
            == #"bad.json: missing key 'link.shared.value' (expected a bandwidth such as "3.2GB/s")"#)
        #expect(try message(editing: "hpca24-host") { $0["kind"] = nil }
            == "bad.json: missing key 'kind' (expected one of host, device, gpu)")
        #expect(try message(editing: "smartssd") { set(&$0, "fpga", "dram", nil) }
            == #"bad.json: missing key 'fpga.dram' (expected {"value": …, "source": "…"} with a size such as "4GiB")"#)
    }

    @Test func wrongType() throws {
        #expect(try message(editing: "hpca24-host") { $0["cpu"] = "fast" }
            == #"bad.json: key 'cpu': expected a section with update, found the string "fast""#)
        #expect(try message(editing: "hpca24-host") { set(&$0, "cpu", "update", "32GB/s") }
            == #"bad.json: key 'cpu.update': expected {"value": …, "source": "…"} with a bandwidth such as "3.2GB/s", found the string "32GB/s""#)
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": true, "source": "paper"]) }
            == #"bad.json: key 'link.shared': expected a bandwidth such as "3.2GB/s", found true"#)
        #expect(try message(editing: "a5000") { set(&$0, "compute", "forwardEfficiency", ["value": "0.3", "source": "guess"]) }
            == #"bad.json: key 'compute.forwardEfficiency': expected a number in (0, 1] such as 0.5, found the string "0.3""#)
        #expect(try message(editing: "a5000") {
            set(&$0, "hostTraffic", "offloadActivationCheckpoints", ["value": 1, "source": "guess"])
        } == "bad.json: key 'hostTraffic.offloadActivationCheckpoints': expected true or false, found the number 1")
        #expect(message(json: Data("[1, 2]".utf8)) == "bad.json: key '(top level)': expected an object, found an array")
    }

    @Test func numberWithoutUnit() throws {
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": 8, "source": "paper"]) }
            == #"bad.json: key 'link.shared': the number 8 has no unit; expected a bandwidth such as "3.2GB/s""#)
        #expect(try message(editing: "smartssd") { set(&$0, "ssd", "read", ["value": "3.0", "source": "paper"]) }
            == #"bad.json: key 'ssd.read': "3.0" has no unit; expected a bandwidth such as "3.2GB/s""#)
    }

    @Test func badQuantities() throws {
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": "-8GB/s", "source": "paper"]) }
            == #"bad.json: key 'link.shared': "-8GB/s" is negative; expected a bandwidth such as "3.2GB/s""#)
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": "0GB/s", "source": "paper"]) }
            == #"bad.json: key 'link.shared': "0GB/s" is zero; expected a bandwidth such as "3.2GB/s""#)
        #expect(try message(editing: "hpca24-host") { set(&$0, "latency", "command", ["value": "10GB/s", "source": "x"]) }
            == #"bad.json: key 'latency.command': "10GB/s" has an unknown unit "GB/s" (duration units: ms, us, µs, ns, s); expected a duration such as "10us""#)
        #expect(try message(editing: "a5000") { set(&$0, "compute", "peak", ["value": "fast", "source": "x"]) }
            == #"bad.json: key 'compute.peak': "fast" does not start with a number; expected a FLOP rate such as "27.8TFLOP/s""#)
    }

    @Test func numbersOutOfRange() throws {
        #expect(try message(editing: "a5000") { set(&$0, "compute", "backwardEfficiency", ["value": 1.5, "source": "x"]) }
            == "bad.json: key 'compute.backwardEfficiency': 1.5 is outside (0, 1]; expected a number in (0, 1] such as 0.5")
        #expect(try message(editing: "a5000") { set(&$0, "hostTraffic", "parameterFetches", ["value": 2.5, "source": "x"]) }
            == "bad.json: key 'hostTraffic.parameterFetches': 2.5 is not a whole number ≥ 1; expected a whole number ≥ 1 such as 2")
    }

    @Test func missingOrEmptySource() throws {
        let expected = #"bad.json: key 'link.shared' has no source; every value must say where it comes from: {"value": …, "source": "…"}"#
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": "8GB/s"]) } == expected)
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": "8GB/s", "source": " "]) } == expected)
        #expect(try message(editing: "hpca24-host") { set(&$0, "link", "shared", ["value": "8GB/s", "source": 8]) }
            == "bad.json: key 'link.shared.source': expected a string saying where the value comes from, found the number 8")
    }

    @Test func headerProblems() throws {
        #expect(try message(editing: "hpca24-host") { $0["kind"] = "cpu" }
            == #"bad.json: key 'kind': the string "cpu" is not a profile kind; expected one of host, device, gpu"#)
        #expect(try message(editing: "hpca24-host") { $0["schema"] = 2 }
            == "bad.json: key 'schema': the number 2 is not a supported schema version; expected 1")
        #expect(try message(editing: "hpca24-host") { $0["description"] = "" }
            == #"bad.json: key 'description': expected a non-empty string saying what this hardware is, found the string """#)
        // A host file declared as a device is checked against the device schema.
        #expect(try message(editing: "hpca24-host") { $0["kind"] = "device" }
            == "bad.json: unknown key 'cpu' (expected one of: schema, kind, description, ssd, pcie, fpga, device)")
    }

    /// A price is a positive number of US dollars with its unit, like every other quantity.
    @Test func badPrices() throws {
        func price(_ value: Any) throws -> String {
            try message(editing: "smartssd") { set(&$0, "device", "price", ["value": value, "source": "a price list"]) }
        }
        let expected = #"expected a price in US dollars such as "517USD""#
        #expect(try price("-517USD") == #"bad.json: key 'device.price': "-517USD" is negative; "# + expected)
        #expect(try price("cheap") == #"bad.json: key 'device.price': "cheap" does not start with a number; "# + expected)
        #expect(try price("0USD") == #"bad.json: key 'device.price': "0USD" is zero; "# + expected)
        #expect(try price(517) == "bad.json: key 'device.price': the number 517 has no unit; " + expected)
        #expect(try price("517EUR")
            == #"bad.json: key 'device.price': "517EUR" has an unknown unit "EUR" (price units: USD, kUSD); "# + expected)
        #expect(try price(true) == "bad.json: key 'device.price': expected \(expected.dropFirst(9)), found true")
        #expect(try price("1.5kUSD") == "accepted")
    }

    @Test func invalidJSONSaysWhere() {
        #expect(message(json: Data(#"{"schema": 1,"#.utf8)) == "bad.json: not valid JSON (Unexpected end of file during JSON parse.)")
        #expect(message(json: Data("{\n\"a\": 1\n\"b\": 2}".utf8)) == "bad.json: not valid JSON (Invalid value around character 9.)")
    }

    @Test func fileErrorsNameTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("profile-errors-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("mine.json").path
        try Data(#"{"schema": 1, "kind": "host", "description": "test"}"#.utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: ProfileError.self) { try ProfileLibrary(directory: folder).load(path) }
        #expect(error?.description == "\(path): missing key 'link' (expected a section with shared, sharedNominal)")
        let missing = folder.appendingPathComponent("absent.json").path
        #expect(throws: ProfileError.unreadable(file: missing, reason: "no such file")) { try Profile.load(file: missing) }
        #expect(ProfileError.unreadable(file: missing, reason: "no such file").description
            == "\(missing): cannot read the profile (no such file)")
        #expect(throws: ProfileError.unreadable(file: folder.path, reason: "it is a directory")) {
            try Profile.load(file: folder.path)
        }
    }
}
