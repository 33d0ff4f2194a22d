import Foundation

/// One hardware profile file from `Emulator/`, validated against the schema of its kind: every
/// value present, of the right type, with a unit where it needs one and with its source.
///
/// This is the documented form that reports and traces print; the typed views (`HostProfile`,
/// `DeviceProfile`, `GPUProfile`) read their numbers from it.
public struct Profile: Sendable, Equatable {
    /// The file's base name, e.g. `smartssd`.
    public let name: String
    public let kind: ProfileKind
    /// Where it was read from (a path), used in every error message.
    public let origin: String
    /// The file's `description`.
    public let summary: String
    /// Every value with its source, in schema order.
    public let entries: [ProfileEntry]

    /// The entry at `section.name`, if this profile has it.
    public subscript(keyPath: String) -> ProfileEntry? { entries.first { $0.keyPath == keyPath } }

    /// Reads and validates the profile at `path`; its name is the file name without `.json`.
    public static func load(file path: String) throws(ProfileError) -> Profile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(file: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw .unreadable(file: path, reason: "it is a directory") }
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadable(file: path, reason: error.localizedDescription) }
        return try Profile(json: data, name: url.deletingPathExtension().lastPathComponent, origin: path)
    }

    /// Validates a profile document held in memory; `origin` names it in error messages.
    public init(json data: Data, name: String, origin: String) throws(ProfileError) {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw .invalidJSON(file: origin, reason: JSONValue.syntaxError(in: data) ?? "\(error)")
        }
        guard case .object(let members) = root else {
            throw .wrongType(file: origin, key: "(top level)", expected: "an object", found: root.found)
        }
        let reader = SchemaReader(origin: origin)
        let kind = try reader.header(members)
        self.init(name: name, kind: kind, origin: origin, summary: try reader.summary(members),
                  entries: try reader.entries(members, schema: kind.schema))
    }

    init(name: String, kind: ProfileKind, origin: String, summary: String, entries: [ProfileEntry]) {
        self.name = name
        self.kind = kind
        self.origin = origin
        self.summary = summary
        self.entries = entries
    }

}

/// Walks a decoded profile document against a schema, failing on the first problem with the
/// file, the key and what was expected. Keys are visited in sorted or schema order, so the
/// error reported for a file never depends on dictionary order.
private struct SchemaReader {
    let origin: String

    func header(_ members: [String: JSONValue]) throws(ProfileError) -> ProfileKind {
        let kinds = ProfileKind.allCases.map(\.rawValue)
        guard let version = members["schema"] else {
            throw .missingKey(file: origin, key: "schema", expected: "the schema version \(ProfileSchema.version)")
        }
        guard version == .number(Double(ProfileSchema.version)) else {
            throw .badValue(file: origin, key: "schema", problem: "\(version.found) is not a supported schema version",
                            expected: "\(ProfileSchema.version)")
        }
        guard let kindValue = members["kind"] else {
            throw .missingKey(file: origin, key: "kind", expected: "one of \(kinds.joined(separator: ", "))")
        }
        guard case .string(let text) = kindValue, let kind = ProfileKind(rawValue: text) else {
            throw .badValue(file: origin, key: "kind", problem: "\(kindValue.found) is not a profile kind",
                            expected: "one of \(kinds.joined(separator: ", "))")
        }
        return kind
    }

    func summary(_ members: [String: JSONValue]) throws(ProfileError) -> String {
        let expected = "a non-empty string saying what this hardware is"
        guard let value = members["description"] else {
            throw .missingKey(file: origin, key: "description", expected: expected)
        }
        guard case .string(let text) = value, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .wrongType(file: origin, key: "description", expected: expected, found: value.found)
        }
        return text
    }

    func entries(_ members: [String: JSONValue], schema: ProfileSchema) throws(ProfileError) -> [ProfileEntry] {
        try refuseUnknownKeys(members, allowed: ProfileSchema.headerKeys + schema.sections.map(\.name), prefix: "")
        var entries: [ProfileEntry] = []
        for section in schema.sections {
            let fieldNames = section.fields.map(\.name)
            guard let node = members[section.name] else {
                if section.isOptional { continue }
                throw .missingKey(file: origin, key: section.name,
                                  expected: "a section with \(fieldNames.joined(separator: ", "))")
            }
            guard case .object(let fields) = node else {
                throw .wrongType(file: origin, key: section.name,
                                 expected: "a section with \(fieldNames.joined(separator: ", "))", found: node.found)
            }
            try refuseUnknownKeys(fields, allowed: fieldNames, prefix: section.name + ".")
            for field in section.fields {
                entries.append(try entry(fields[field.name], keyPath: "\(section.name).\(field.name)", kind: field.kind))
            }
        }
        return entries
    }

    /// One `{"value": …, "source": "…"}` leaf.
    private func entry(_ node: JSONValue?, keyPath: String, kind: ProfileValueKind) throws(ProfileError) -> ProfileEntry {
        let leafShape = #"{"value": …, "source": "…"} with "# + kind.expectation
        guard let node else { throw .missingKey(file: origin, key: keyPath, expected: leafShape) }
        guard case .object(let leaf) = node else {
            throw .wrongType(file: origin, key: keyPath, expected: leafShape, found: node.found)
        }
        try refuseUnknownKeys(leaf, allowed: ["value", "source", "range"], prefix: keyPath + ".")
        guard let json = leaf["value"] else {
            throw .missingKey(file: origin, key: keyPath + ".value", expected: kind.expectation)
        }
        guard let sourceValue = leaf["source"] else { throw .missingSource(file: origin, key: keyPath) }
        guard case .string(let source) = sourceValue else {
            throw .wrongType(file: origin, key: keyPath + ".source", expected: "a string saying where the value comes from",
                             found: sourceValue.found)
        }
        guard !source.trimmingCharacters(in: .whitespaces).isEmpty else { throw .missingSource(file: origin, key: keyPath) }
        let value: ProfileValue, text: String
        do {
            (value, text) = try kind.read(json)
        } catch {
            throw error.profileError(file: origin, key: keyPath, kind: kind)
        }
        guard let rangeNode = leaf["range"] else {
            return ProfileEntry(keyPath: keyPath, value: value, text: text, source: source)
        }
        let (range, rangeText) = try self.range(rangeNode, keyPath: keyPath + ".range", kind: kind)
        let entry = ProfileEntry(keyPath: keyPath, value: value, text: text, source: source, range: range, rangeText: rangeText)
        guard range.contains(entry.number) else {
            throw .badValue(file: origin, key: keyPath, problem: "\(text) is outside its range \(rangeText.joined(separator: " to "))",
                            expected: "a value within the range its sources allow")
        }
        return entry
    }

    /// A `"range": [low, high]` beside a quantity or fraction: two values of the value's own
    /// kind, low ≤ high.
    private func range(_ node: JSONValue, keyPath: String, kind: ProfileValueKind) throws(ProfileError)
        -> (ClosedRange<Double>, [String]) {
        let expected = "[low, high], each " + kind.expectation
        guard case .array(let bounds) = node, bounds.count == 2 else {
            throw .wrongType(file: origin, key: keyPath, expected: expected, found: node.found)
        }
        var numbers: [Double] = [], texts: [String] = []
        for bound in bounds {
            let read: (value: ProfileValue, text: String)
            do { read = try kind.read(bound) } catch { throw error.profileError(file: origin, key: keyPath, kind: kind) }
            switch read.value {
            case .quantity(let number, _), .fraction(let number): numbers.append(number)
            case .count, .flag:
                throw .wrongType(file: origin, key: keyPath, expected: "no range: only quantities and fractions have one", found: node.found)
            }
            texts.append(read.text)
        }
        guard numbers[0] <= numbers[1] else {
            throw .badValue(file: origin, key: keyPath, problem: "\(texts[0]) is above \(texts[1])", expected: expected + ", low ≤ high")
        }
        return (numbers[0]...numbers[1], texts)
    }

    private func refuseUnknownKeys(_ members: [String: JSONValue], allowed: [String], prefix: String) throws(ProfileError) {
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .unknownKey(file: origin, key: prefix + unknown, allowed: allowed)
        }
    }
}

extension ValueProblem {
    /// The problem placed at a key of a file (or of a `--set` argument).
    func profileError(file: String, key: String, kind: ProfileValueKind) -> ProfileError {
        switch self {
        case .wrongType(let found): .wrongType(file: file, key: key, expected: kind.expectation, found: found)
        case .unacceptable(let problem): .badValue(file: file, key: key, problem: problem, expected: kind.expectation)
        }
    }
}

/// Typed reads for the profile views. The schema has already guaranteed that each key exists
/// with the right kind of value, so a mismatch here is a bug in a view, not bad input.
extension Profile {
    func require(_ expected: ProfileKind) throws(ProfileError) {
        guard kind == expected else { throw .wrongKind(file: origin, found: kind, expected: expected) }
    }

    func has(section: String) -> Bool { entries.contains { $0.keyPath.hasPrefix(section + ".") } }

    func quantity(_ keyPath: String) -> Double {
        guard case .quantity(let value, _) = self[keyPath]?.value else { preconditionFailure("\(keyPath) is not a quantity") }
        return value
    }

    /// A size in whole bytes (`3.84TB` is not exactly representable before rounding).
    func bytes(_ keyPath: String) -> Int { Int(quantity(keyPath).rounded()) }

    func fraction(_ keyPath: String) -> Double {
        guard case .fraction(let value) = self[keyPath]?.value else { preconditionFailure("\(keyPath) is not a fraction") }
        return value
    }

    func count(_ keyPath: String) -> Int {
        guard case .count(let value) = self[keyPath]?.value else { preconditionFailure("\(keyPath) is not a count") }
        return value
    }

    func flag(_ keyPath: String) -> Bool {
        guard case .flag(let value) = self[keyPath]?.value else { preconditionFailure("\(keyPath) is not a flag") }
        return value
    }
}
