import DurableWrite

/// Everything that can be wrong with a trace file, or with writing one.
///
/// Traces are read back long after they were written — by `replay`, by `export`, by another
/// version of smartinf — so a bad one must say exactly where it is bad: every message names the
/// file, the line (when there is one), the field (when there is one), what was found and what was
/// expected, e.g.
///
///     run.trace line 7, field 'phase': found "FORWARD"; expected one of FW, BW, COMPRESS, …
public struct TraceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file's path, or the name given to `TraceFile.decode(lines:file:)`.
    public var file: String
    /// 1-based line number, when the problem is on a line.
    public var line: Int?
    /// The field at fault, as a path: `phase`, `config.mode`, `resources[2].capacity`.
    public var field: String?
    public var problem: Problem

    public init(file: String, line: Int? = nil, field: String? = nil, _ problem: Problem) {
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem
    }

    public enum Problem: Equatable, Sendable {
        /// The file could not be opened or read (the system's reason).
        case cannotRead(reason: String)
        /// The file could not be written (the durable write says which call failed and what
        /// it left at the path).
        case cannotWrite(DurableFileError)
        /// No bytes (or only white space): not even a header.
        case empty
        /// Line 1's `record` is not `"header"`.
        case notAHeader(found: String)
        /// The header's `schema` is not `smartinfinity.trace`: some other JSON Lines file.
        case wrongSchema(found: String)
        /// The header's `version` is newer than the one this build reads.
        case unsupportedVersion(Int)
        /// The line is not one JSON object.
        case malformedJSON(reason: String)
        /// A required field is absent.
        case missing(expected: String)
        /// A field holds a value of the wrong type or out of range.
        case invalid(found: String, expected: String)
        /// Operation ids must be 0, 1, 2… in file order, so that they index the operations.
        case idOutOfOrder(found: Int, expected: Int)
        /// An `after` entry names the operation itself or a later one: dependencies point back.
        case laterDependency(Int, of: Int)
        /// A `path` entry names a resource the header does not declare.
        case unknownResource(Int, declared: Int)
        /// A record follows the summary, which must be the last line.
        case recordAfterSummary
        /// Anything else, already phrased as "what; expected what".
        case other(String)
    }

    public var description: String {
        var where_ = file
        if let line { where_ += " line \(line)" }
        if let field { where_ += ", field '\(field)'" }
        return where_ + ": " + problem.message
    }
}

extension TraceError.Problem {
    var message: String {
        switch self {
        case .cannotRead(let reason):
            "cannot read the trace (\(reason))"
        case .cannotWrite(let failure):
            "cannot write (\(failure.reason)); \(failure.outcome)"
        case .empty:
            "the file is empty; expected a trace header on line 1"
        case .notAHeader(let found):
            "found \(found); expected \"header\" (a trace starts with its header line)"
        case .wrongSchema(let found):
            "found \(found); expected \"\(TraceHeader.schema)\" (this is not a SmartInfinity trace)"
        case .unsupportedVersion(let version):
            "trace version \(version) is newer than this smartinf, which reads version \(TraceHeader.version)"
        case .malformedJSON(let reason):
            "malformed JSON (\(reason)); expected one JSON object per line"
        case .missing(let expected):
            "missing; expected \(expected)"
        case .invalid(let found, let expected):
            "found \(found); expected \(expected)"
        case .idOutOfOrder(let found, let expected):
            "found \(found); expected \(expected) (operation ids run 0, 1, 2… in file order)"
        case .laterDependency(let dependency, let operation):
            "operation \(operation) depends on operation \(dependency), which is not earlier; "
                + "expected ids of earlier operations (below \(operation))"
        case .unknownResource(let resource, let declared):
            declared == 0
                ? "references resource \(resource), but the header declares no resources"
                : "references resource \(resource); expected a header resource id, 0 to \(declared - 1)"
        case .recordAfterSummary:
            "found a record after the summary; expected the summary to be the last line"
        case .other(let message):
            message
        }
    }
}

/// A problem found while decoding one line or checking one value, before the file and line are
/// known; `TraceFile` turns it into a `TraceError`.
struct FieldError: Error {
    var field: String?
    var problem: TraceError.Problem

    init(_ field: String?, _ problem: TraceError.Problem) {
        self.field = field
        self.problem = problem
    }

    func at(file: String, line: Int?) -> TraceError {
        TraceError(file: file, line: line, field: field, problem)
    }

    /// `field` prefixed by where the value sits: `resources[2]` + `capacity`.
    func prefixed(_ prefix: String) -> FieldError {
        FieldError(field.map { joinField(prefix, $0) } ?? prefix, problem)
    }
}

func joinField(_ prefix: String, _ field: String) -> String {
    if prefix.isEmpty { return field }
    if field.isEmpty { return prefix }
    return field.hasPrefix("[") ? prefix + field : prefix + "." + field
}
