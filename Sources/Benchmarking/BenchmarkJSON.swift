import Foundation

/// The `--json` form of every `smartinf bench …` command: one document,
/// `{"benchmark": NAME, "rows": [...]}`, with stable key order so scripts can diff runs.
public enum BenchmarkJSON {
    struct Document<Row: Encodable>: Encodable {
        var benchmark: String
        var rows: [Row]
    }

    public static func document<Row: Encodable>(benchmark: String, rows: [Row]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(Document(benchmark: benchmark, rows: rows)), as: UTF8.self)
    }
}
