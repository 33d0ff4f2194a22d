import OffloadVocabulary
import Foundation
import HardwareModel
import Optim

/// A set of measured or published iteration times the model is checked against (`smartinf
/// validate`) and fitted to (`smartinf calibrate`): the paper's Fig. 9 and Fig. 3b in
/// `traces/reference/`, or a user's own measurements in the same format (docs/REFERENCE-SETS.md).
///
/// A point is one configuration — a model, a device count, a mode — and what was measured of it:
/// the seconds per iteration, and/or its speedup over another configuration of the same model
/// (Fig. 3b publishes only speedups over one SSD). Files are read strictly: an unknown key, a
/// missing value or a value of the wrong kind is refused, naming the field (`points[3].devices`).
public struct ReferenceSet: Sendable {
    /// The configuration a speedup is measured against: same model and workload, this device
    /// count and mode.
    public struct Baseline: Sendable, Equatable, Hashable {
        public let devices: Int
        public let mode: OffloadMode

        public init(devices: Int, mode: OffloadMode) {
            self.devices = devices
            self.mode = mode
        }
    }

    public struct Point: Sendable {
        /// The file it came from (its base name) and its index there: `hpca24-fig9[3]`.
        public let label: String
        /// The set it belongs to: `hpca24-fig9`.
        public var setName: String { String(label.prefix { $0 != "[" }) }
        /// A preset name (`gpt2-4.0b`) or a description of the shape.
        public let modelName: String
        public let workload: IterationWorkload
        public let devices: Int
        public let mode: OffloadMode
        /// Seconds per iteration, if measured.
        public let iterationSeconds: Double?
        /// Forward + backward (with the gradient offload), if given; reported, never fitted.
        public let forwardBackwardSeconds: Double?
        /// Seconds per breakdown phase, if measured (a live run's); reported, never fitted.
        public let phaseSeconds: [BreakdownPhase: Double]
        /// Speedup over `baseline`, if measured.
        public let speedup: Double?
        public let baseline: Baseline?

        /// The speedup is over the point itself (Fig. 3b's "1 SSD: 1.0"): it says nothing.
        var speedupIsTrivial: Bool { baseline == Baseline(devices: devices, mode: mode) }

        /// How many errors the point contributes to a fit: its total and its speedup, if measured.
        var errorCount: Int { (iterationSeconds == nil ? 0 : 1) + (speedup == nil || speedupIsTrivial ? 0 : 1) }
    }

    /// The file's base name, e.g. `hpca24-fig9`.
    public let name: String
    public let source: String
    public let points: [Point]

    /// The format's name and version, written at the top of every file.
    public static let formatName = "smartinf-reference"
    public static let formatVersion = 1

    /// Reads and validates the file at `path`.
    public init(path: String) throws(ReferenceSetError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        try self.init(json: data, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, origin: path)
    }

    /// Validates a document held in memory; `origin` names it in errors.
    public init(json data: Data, name: String, origin: String) throws(ReferenceSetError) {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw .notJSON(origin)
        }
        let reader = ReferenceReader(origin: origin)
        let members = try reader.object(root, at: "(top level)")
        try reader.refuseUnknown(members, allowed: ["format", "version", "source", "setup", "notes", "points"], at: "")
        guard try reader.string(members["format"], at: "format") == Self.formatName else {
            throw .badField(origin, field: "format", expected: "\"\(Self.formatName)\"", found: members["format"]?.found ?? "nothing")
        }
        guard try reader.wholeNumber(members["version"], at: "version", minimum: 1) == Self.formatVersion else {
            throw .badField(origin, field: "version", expected: "\(Self.formatVersion)", found: members["version"]?.found ?? "nothing")
        }
        source = try reader.string(members["source"], at: "source")
        if let setup = members["setup"] {
            let fields = try reader.object(setup, at: "setup")
            try reader.refuseUnknown(fields, allowed: ["host", "device", "gpu"], at: "setup.")
            for (key, value) in fields { _ = try reader.string(value, at: "setup." + key) }
        }
        guard case .array(let rows)? = members["points"], !rows.isEmpty else {
            throw .badField(origin, field: "points", expected: "a non-empty array of points", found: members["points"]?.found ?? "nothing")
        }
        var points: [Point] = []
        for (i, row) in rows.enumerated() {
            points.append(try reader.point(row, at: "points[\(i)]", label: "\(name)[\(i)]"))
        }
        self.name = name
        self.points = points
    }

    /// `traces/reference/` beside the profiles' `Emulator/` directory, and the sets shipped there.
    public static func shippedDirectory(nextTo emulatorDirectory: URL) -> URL {
        emulatorDirectory.deletingLastPathComponent().appendingPathComponent("traces/reference")
    }

    /// The paper's two figures, Fig. 9 then Fig. 3b.
    public static let shippedNames = ["hpca24-fig9", "hpca24-fig3b"]
}

/// Walks a decoded reference document, failing on the first problem with the field's path.
private struct ReferenceReader {
    let origin: String

    func object(_ value: JSONValue, at field: String) throws(ReferenceSetError) -> [String: JSONValue] {
        guard case .object(let members) = value else { throw .badField(origin, field: field, expected: "an object", found: value.found) }
        return members
    }

    func refuseUnknown(_ members: [String: JSONValue], allowed: [String], at prefix: String) throws(ReferenceSetError) {
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .unknownField(origin, field: prefix + unknown, allowed: allowed)
        }
    }

    func string(_ value: JSONValue?, at field: String) throws(ReferenceSetError) -> String {
        guard case .string(let text)? = value, !text.isEmpty else {
            throw .badField(origin, field: field, expected: "a non-empty string", found: value?.found ?? "nothing")
        }
        return text
    }

    func wholeNumber(_ value: JSONValue?, at field: String, minimum: Int) throws(ReferenceSetError) -> Int {
        guard let number = value?.wholeNumber, number >= minimum else {
            throw .badField(origin, field: field, expected: "a whole number ≥ \(minimum)", found: value?.found ?? "nothing")
        }
        return number
    }

    func positive(_ value: JSONValue?, at field: String) throws(ReferenceSetError) -> Double? {
        guard let value else { return nil }
        guard case .number(let number) = value, number > 0, number.isFinite else {
            throw .badField(origin, field: field, expected: "a positive number", found: value.found)
        }
        return number
    }

    func mode(_ value: JSONValue?, at field: String) throws(ReferenceSetError) -> OffloadMode {
        let names = OffloadMode.allCases.map(\.rawValue)
        guard case .string(let text)? = value, let mode = OffloadMode(rawValue: text.lowercased()) else {
            throw .badField(origin, field: field, expected: "one of \(names.joined(separator: ", "))", found: value?.found ?? "nothing")
        }
        return mode
    }

    func point(_ value: JSONValue, at field: String, label: String) throws(ReferenceSetError) -> ReferenceSet.Point {
        let members = try object(value, at: field)
        try refuseUnknown(members, allowed: ["model", "devices", "mode", "iteration_s", "fw_plus_bw_s", "phases_s", "speedup",
                                             "relative_to", "optimizer", "topk_ratio", "subgroup_elements"], at: field + ".")
        let (modelName, shape) = try model(members["model"], at: field + ".model")
        let devices = try wholeNumber(members["devices"], at: field + ".devices", minimum: 1)
        let mode = try mode(members["mode"], at: field + ".mode")
        var optimizer = OptimizerKind.adamw
        if members["optimizer"] != nil {
            let name = try string(members["optimizer"], at: field + ".optimizer")
            guard let kind = OptimizerKind(rawValue: name) else {
                throw .badField(origin, field: field + ".optimizer",
                                expected: "one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))", found: name)
            }
            optimizer = kind
        }
        let ratio = try positive(members["topk_ratio"], at: field + ".topk_ratio") ?? 0.01
        let subgroup = members["subgroup_elements"] == nil
            ? 1_000_000_000 : try wholeNumber(members["subgroup_elements"], at: field + ".subgroup_elements", minimum: 1)
        let workload: IterationWorkload
        do {
            workload = try IterationWorkload(model: shape, optimizer: optimizer, subgroupElements: subgroup, topkRatio: ratio)
        } catch {
            throw .badField(origin, field: field, expected: "a valid workload", found: "\(error)")
        }
        var phases: [BreakdownPhase: Double] = [:]
        if let node = members["phases_s"] {
            let fields = try object(node, at: field + ".phases_s")
            try refuseUnknown(fields, allowed: BreakdownPhase.allCases.map(\.rawValue), at: field + ".phases_s.")
            for phase in BreakdownPhase.allCases {
                phases[phase] = try positive(fields[phase.rawValue], at: "\(field).phases_s.\(phase.rawValue)")
            }
        }
        let speedup = try positive(members["speedup"], at: field + ".speedup")
        var baseline: ReferenceSet.Baseline?
        if let node = members["relative_to"] {
            let fields = try object(node, at: field + ".relative_to")
            try refuseUnknown(fields, allowed: ["devices", "mode"], at: field + ".relative_to.")
            baseline = .init(devices: try wholeNumber(fields["devices"], at: field + ".relative_to.devices", minimum: 1),
                             mode: try self.mode(fields["mode"], at: field + ".relative_to.mode"))
        }
        guard (speedup == nil) == (baseline == nil) else {
            throw .badField(origin, field: field + (speedup == nil ? ".speedup" : ".relative_to"),
                            expected: "speedup and relative_to together (a speedup is over another configuration)",
                            found: "only one of them")
        }
        let iteration = try positive(members["iteration_s"], at: field + ".iteration_s")
        guard iteration != nil || speedup != nil else {
            throw .badField(origin, field: field + ".iteration_s", expected: "iteration_s, or speedup with relative_to",
                            found: "neither")
        }
        return .init(label: label, modelName: modelName, workload: workload, devices: devices, mode: mode,
                     iterationSeconds: iteration, forwardBackwardSeconds: try positive(members["fw_plus_bw_s"], at: field + ".fw_plus_bw_s"),
                     phaseSeconds: phases, speedup: speedup, baseline: baseline)
    }

    /// A preset name, or a shape: {"family", "layers", "hidden", "heads", "seq", "batch", "vocabulary"}.
    func model(_ value: JSONValue?, at field: String) throws(ReferenceSetError) -> (String, ModelShape) {
        let presets = ModelPreset.all.map(\.name)
        switch value {
        case .string(let name)?:
            guard let preset = try? ModelPreset.named(name), let shape = try? preset.shape() else {
                throw .badField(origin, field: field, expected: "a preset (\(presets.joined(separator: ", "))) or a shape object",
                                found: value?.found ?? "nothing")
            }
            return (preset.name, shape)
        case .object(let members)?:
            try refuseUnknown(members, allowed: ["family", "layers", "hidden", "heads", "seq", "batch", "vocabulary"], at: field + ".")
            let familyName = members["family"] == nil ? "gpt2" : try string(members["family"], at: field + ".family")
            guard let family = ModelShape.Family(rawValue: familyName) else {
                throw .badField(origin, field: field + ".family", expected: "one of \(ModelShape.Family.allCases.map(\.rawValue).joined(separator: ", "))", found: members["family"]?.found ?? "nothing")
            }
            let layers = try wholeNumber(members["layers"], at: field + ".layers", minimum: 1)
            let hidden = try wholeNumber(members["hidden"], at: field + ".hidden", minimum: 1)
            let heads = try wholeNumber(members["heads"], at: field + ".heads", minimum: 1)
            let seq = try wholeNumber(members["seq"], at: field + ".seq", minimum: 1)
            let batch = try wholeNumber(members["batch"], at: field + ".batch", minimum: 1)
            let vocabulary = members["vocabulary"] == nil ? nil : try wholeNumber(members["vocabulary"], at: field + ".vocabulary", minimum: 1)
            do {
                let shape = try ModelShape(family: family, layers: layers, hidden: hidden, heads: heads, sequence: seq, batch: batch,
                                           vocabulary: vocabulary)
                return ("\(family.rawValue) L\(layers) h\(hidden)", shape)
            } catch {
                throw .badField(origin, field: field, expected: "a valid shape", found: "\(error)")
            }
        default:
            throw .badField(origin, field: field, expected: "a preset (\(presets.joined(separator: ", "))) or a shape object",
                            found: value?.found ?? "nothing")
        }
    }
}

/// Why a reference file was refused. Every case names the file and, where there is one, the
/// field (`points[3].devices`), so a user can fix it without reading the parser.
public enum ReferenceSetError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case notJSON(String)
    case unknownField(String, field: String, allowed: [String])
    case badField(String, field: String, expected: String, found: String)

    /// The field the problem is at, if any.
    public var field: String? {
        switch self {
        case .unreadable, .notJSON: nil
        case .unknownField(_, let field, _), .badField(_, let field, _, _): field
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the reference set \(path)"
        case .notJSON(let path): "reference set \(path): not valid JSON"
        case .unknownField(let path, let field, let allowed):
            "reference set \(path): unknown field '\(field)' (expected one of: \(allowed.joined(separator: ", ")))"
        case .badField(let path, let field, let expected, let found):
            "reference set \(path): '\(field)': expected \(expected), found \(found)"
        }
    }
}
