import DurableWrite
import Foundation

/// A trace: the header, one operation per line, and optionally a summary as the last line.
///
/// The format is JSON Lines (one JSON object per line, UTF-8) so that a trace can be written as
/// a run goes, cut with `head`/`tail`, grepped and diffed; every line carries every field (absent
/// values as `null`) with its keys sorted, so the same trace always encodes to the same bytes.
///
///     {"clock":"virtual","config":{…},"created":"2026-11-28T03:00:00Z",…,"record":"header","schema":"smartinfinity.trace","version":1,…}
///     {"actor":"gpu","after":[],"amount":1.2e12,…,"id":0,"kind":"compute",…,"phase":"FW","record":"op",…}
///     {"deviceBytes":[…],"iteration":6.0,"phases":{…},"record":"summary","sharedLinkBytes":1e9}
///
/// Reading checks everything a consumer relies on — operation ids are 0…n−1 in order, `after`
/// names only earlier operations (so the file is already in a valid execution order), `path`
/// names only declared resources, times and amounts are sane — and writing checks the same
/// before a byte is written, so smartinf never writes a trace it would refuse to read.
public struct TraceFile: Sendable, Equatable {
    public var header: TraceHeader
    /// `operations[i].id == i`.
    public var operations: [TraceOperation]
    public var summary: TraceSummary?

    public init(header: TraceHeader, operations: [TraceOperation], summary: TraceSummary? = nil) {
        self.header = header
        self.operations = operations
        self.summary = summary
    }

    // MARK: Reading

    /// Reads and checks the trace at `path`.
    public static func read(from path: String) throws(TraceError) -> TraceFile {
        let bytes = try FileBytes.read(path)
        return try decode(lines: splitLines(bytes), file: path)
    }

    /// Decodes and checks a trace given as its lines (without their newlines). `file` names the
    /// trace in error messages.
    public static func decode(lines: [String], file: String = "trace") throws(TraceError) -> TraceFile {
        try decode(lines: lines.map { Data($0.utf8) }, file: file)
    }

    static func decode(lines: [Data], file: String) throws(TraceError) -> TraceFile {
        // White space after the last record (a final newline, an editor's blank line) is not a line.
        guard let last = lines.lastIndex(where: { !isBlank($0) }) else {
            throw TraceError(file: file, .empty)
        }
        let decoder = JSONDecoder()
        let header = try decodeLine(TraceHeader.self, lines[0], decoder, file: file, line: 1)
        var operations: [TraceOperation] = []
        var summary: TraceSummary?
        for index in lines.indices.dropFirst() where index <= last {
            let line = index + 1
            guard !isBlank(lines[index]) else {
                throw TraceError(file: file, line: line, .malformedJSON(reason: "the line is empty"))
            }
            if summary != nil { throw TraceError(file: file, line: line, field: "record", .recordAfterSummary) }
            switch try decodeLine(BodyRecord.self, lines[index], decoder, file: file, line: line) {
            case .operation(let operation):
                do throws(FieldError) {
                    try operation.check(index: operations.count, resourceCount: header.resources.count)
                } catch {
                    throw error.at(file: file, line: line)
                }
                operations.append(operation)
            case .summary(let s):
                summary = s
            }
        }
        return TraceFile(header: header, operations: operations, summary: summary)
    }

    private static func decodeLine<T: Decodable>(_ type: T.Type, _ data: Data, _ decoder: JSONDecoder,
                                                 file: String, line: Int) throws(TraceError) -> T {
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as FieldError {
            throw error.at(file: file, line: line)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                if let reason = syntaxError(in: data) { throw TraceError(file: file, line: line, .malformedJSON(reason: reason)) }
                // Linux's JSONDecoder says "not valid JSON" for a number that does not fit an Int.
                throw TraceError(file: file, line: line, .other(
                    "a number does not fit its field; expected whole numbers where the format has ids, counts and sizes"))
            }
            throw error.fieldError.at(file: file, line: line)
        } catch {
            throw TraceError(file: file, line: line, .other("\(error)"))
        }
    }

    /// Where `data` stops being JSON, or nil if it is JSON. JSONDecoder's errors on Linux do not
    /// say; JSONSerialization's do.
    private static func syntaxError(in data: Data) -> String? {
        guard String(data: data, encoding: .utf8) != nil else { return "the line is not UTF-8" }
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)
            return nil
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            return reason.map { $0.hasSuffix(".") ? String($0.dropLast()) : $0 } ?? "not valid JSON"
        }
    }

    private static func isBlank(_ line: Data) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
    }

    /// Splits at `\n`, dropping a `\r` before it (files edited on Windows).
    static func splitLines(_ bytes: [UInt8]) -> [Data] {
        var lines: [Data] = []
        var start = 0
        bytes.withUnsafeBufferPointer { buffer in
            for i in 0...buffer.count where i == buffer.count || buffer[i] == 0x0A {
                var end = i
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                lines.append(Data(buffer[start..<end]))
                start = i + 1
            }
        }
        return lines
    }

    // MARK: Writing

    /// The checks `read` makes, on this value; errors name the line each record would be on.
    public func validate(file: String = "trace") throws(TraceError) {
        do throws(FieldError) { try header.check() } catch { throw error.at(file: file, line: 1) }
        for (i, operation) in operations.enumerated() {
            do throws(FieldError) {
                try operation.check()
                try operation.check(index: i, resourceCount: header.resources.count)
            } catch {
                throw error.at(file: file, line: i + 2)
            }
        }
        if let summary {
            do throws(FieldError) { try summary.check() } catch { throw error.at(file: file, line: operations.count + 2) }
        }
    }

    /// The trace as its lines, without newlines: the header, one per operation, the summary.
    /// Keys are sorted, so equal traces encode to equal bytes.
    public func encodeLines(file: String = "trace") throws(TraceError) -> [String] {
        try validate(file: file)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func encode<T: Encodable>(_ value: T, line: Int) throws(TraceError) -> String {
            do {
                return String(decoding: try encoder.encode(value), as: UTF8.self)
            } catch {
                throw TraceError(file: file, line: line, .other("cannot encode the record (\(error))"))
            }
        }
        var lines = [try encode(header, line: 1)]
        lines.reserveCapacity(operations.count + 2)
        for (i, operation) in operations.enumerated() {
            lines.append(try encode(operation, line: i + 2))
        }
        if let summary { lines.append(try encode(summary, line: operations.count + 2)) }
        return lines
    }

    /// The file's bytes: the lines, each ended by a newline.
    public func encoded(file: String = "trace") throws(TraceError) -> Data {
        var text = try encodeLines(file: file).joined(separator: "\n")
        text += "\n"
        return Data(text.utf8)
    }

    /// Writes the trace to `path` durably (`DurableFile`): a reader never sees half a trace and
    /// an error leaves any previous file as it was.
    public func write(to path: String) throws(TraceError) {
        let bytes = try encoded(file: path)
        do throws(DurableFileError) { try DurableFile.write(bytes, to: path) } catch { throw TraceError(file: path, .cannotWrite(error)) }
    }
}

/// A line after the header: an operation or the summary.
private enum BodyRecord: Decodable {
    case operation(TraceOperation)
    case summary(TraceSummary)

    enum Keys: String, CodingKey { case record }

    init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        let expected = "\"op\" or \"summary\""
        let record = try r.value(.record, String.self, expected: expected)
        switch record {
        case "op": self = .operation(try TraceOperation(from: decoder))
        case "summary": self = .summary(try TraceSummary(from: decoder))
        case "header": throw r.fail(.record, .invalid(found: "\"header\"", expected: expected + " (a trace has one header, on line 1)"))
        default: throw r.fail(.record, .invalid(found: quoted(record), expected: expected))
        }
    }
}
