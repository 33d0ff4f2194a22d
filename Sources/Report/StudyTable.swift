import Foundation
import OffloadVocabulary

/// The study table as CSV (RFC 4180): the header line `columns`, then one record per `StudyRow`.
/// This is what `smartinf sweep` writes and what the report reads.
///
/// - Fields are separated by `,`, records by LF or CRLF; a field holding `,`, `"`, CR or LF is
///   quoted, with `"` doubled inside. Blank lines are skipped.
/// - `overrides` is a `;`-separated list of `key=value` (may be empty); `speedup_vs_base` is empty
///   when the study has no base row to compare with.
/// - Numbers are written in Swift's shortest round-tripping form, so `parseCSV(csv(rows:))`
///   returns `rows` exactly.
/// - `hosts`, `network_bytes` and `network_s` came with many-host studies, then `what_ifs`
///   (a `;`-separated list like `overrides`), `device_price_usd`, `device_cost_usd` (hosts ×
///   devices × price) and `steps_per_hour_per_kusd` (3600 / iteration_s / (cost / 1000)); the
///   three price columns say `n/a` where the device profile has no price, and the two derived
///   ones must be what their formulas give. A table written before them still reads: one host,
///   the paper's workload, no price.
public enum StudyTable {
    public static let columns = manyHostColumns + ["what_ifs", "device_price_usd", "device_cost_usd", "steps_per_hour_per_kusd"]

    /// What a price column holds where there is no price.
    public static let notAvailable = "n/a"

    /// The columns of a table written before workload what-ifs and prices.
    static let manyHostColumns = oneHostColumns + ["hosts", "network_bytes", "network_s"]

    /// The columns of a table written before many-host studies.
    static let oneHostColumns = [
        "model", "parameters", "devices", "mode", "topk_ratio", "host", "device", "gpu", "overrides", "fw_s",
        "bw_grad_offload_s", "update_s", "iteration_s", "speedup_vs_base", "shared_link_bytes",
        "shared_link_bytes_per_param", "device_bytes_per_device",
    ]

    /// Reads the table in `path`; errors name the file.
    public static func read(path: String) throws(ReportError) -> [StudyRow] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .io(path: path, detail: "cannot read: \(error.localizedDescription)")
        }
        return try parseCSV(String(decoding: data, as: UTF8.self), source: path)
    }

    /// Parses the table; `source` names the input in errors (`source:line: column N (name): ...`).
    public static func parseCSV(_ text: String, source: String) throws(ReportError) -> [StudyRow] {
        let records = try CSVReader.records(text, source: source)
        guard let header = records.first else { throw .empty(source: source) }
        let names = header.fields
        let expected = [oneHostColumns, manyHostColumns].first { $0 == names } ?? columns
        if names != expected {
            let differing = zip(names, columns).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(names.count, columns.count)
            throw .badHeader(source: source, line: header.line, column: differing + 1, expected: columns, found: names)
        }
        var rows: [StudyRow] = []
        rows.reserveCapacity(records.count - 1)
        for record in records.dropFirst() {
            rows.append(try row(record, columns: expected, source: source))
        }
        return rows
    }

    /// The table in the format `parseCSV` reads, header first, LF line ends.
    public static func csv(rows: [StudyRow]) -> String {
        var out = columns.joined(separator: ",") + "\n"
        for r in rows {
            let fields = [
                r.model, String(r.parameters), String(r.devices), r.mode.rawValue, number(r.topkRatio), r.host, r.device,
                r.gpu, r.overrides.joined(separator: ";"), number(r.fwSeconds), number(r.bwGradOffloadSeconds),
                number(r.updateSeconds), number(r.iterationSeconds), r.speedupVsBase.map(number) ?? "",
                number(r.sharedLinkBytes), number(r.sharedLinkBytesPerParam), number(r.deviceBytesPerDevice), String(r.hosts),
                number(r.networkBytes), number(r.networkSeconds), r.whatIfs.joined(separator: ";"), priced(r.devicePrice),
                priced(r.deviceCost), priced(r.stepsPerHourPerThousandUSD),
            ]
            out += fields.map(quoted).joined(separator: ",") + "\n"
        }
        return out
    }

    static func number(_ x: Double) -> String { "\(x)" }

    /// A price or a figure derived from one, or n/a.
    static func priced(_ x: Double?) -> String { x.map(number) ?? notAvailable }

    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            return field
        }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One record of a table whose header is `columns` (`columns`, `manyHostColumns` or `oneHostColumns`).
    private static func row(_ record: CSVReader.Record, columns: [String], source: String) throws(ReportError) -> StudyRow {
        let f = record.fields
        guard f.count == columns.count else {
            throw .wrongColumnCount(source: source, line: record.line, column: min(f.count, columns.count) + 1,
                                    expected: columns.count, found: f.count)
        }
        func bad(_ i: Int, _ expected: String) -> ReportError {
            .badValue(source: source, line: record.line, column: i + 1, name: columns[i], expected: expected, found: f[i])
        }
        func integer(_ i: Int) throws(ReportError) -> Int {
            guard let v = Int(f[i].trimmingCharacters(in: .whitespaces)), v >= 0 else { throw bad(i, "a non-negative integer") }
            return v
        }
        func double(_ i: Int) throws(ReportError) -> Double {
            guard let v = Double(f[i].trimmingCharacters(in: .whitespaces)), v.isFinite else { throw bad(i, "a finite number") }
            return v
        }
        func hosts(_ i: Int) throws(ReportError) -> Int {
            guard let v = Int(f[i].trimmingCharacters(in: .whitespaces)), v >= 1 else { throw bad(i, "a whole number of hosts ≥ 1") }
            return v
        }
        func text(_ i: Int, _ what: String) throws(ReportError) -> String {
            guard !f[i].isEmpty else { throw bad(i, what) }
            return f[i]
        }
        guard let mode = OffloadMode(rawValue: f[3].trimmingCharacters(in: .whitespaces)) else {
            throw .unknownMode(source: source, line: record.line, column: 4, found: f[3])
        }
        var overrides: [String] = []
        for item in f[8].split(separator: ";", omittingEmptySubsequences: true) {
            let s = String(item)
            guard let eq = s.firstIndex(of: "="), eq != s.startIndex else {
                throw bad(8, "a ;-separated list of key=value (or nothing)")
            }
            overrides.append(s)
        }
        func price(_ i: Int) throws(ReportError) -> Double? {
            let text = f[i].trimmingCharacters(in: .whitespaces)
            if text == notAvailable { return nil }
            guard let v = Double(text), v.isFinite, v > 0 else { throw bad(i, "a positive number of US dollars or \(notAvailable)") }
            return v
        }
        /// A column derived from the price: what `derived` gives for this row, to the last digit.
        func check(_ i: Int, is derived: Double?, formula: String) throws(ReportError) {
            guard f[i].trimmingCharacters(in: .whitespaces) == priced(derived) else {
                throw bad(i, "\(formula) = \(priced(derived))")
            }
        }
        let speedup: Double?
        if f[13].trimmingCharacters(in: .whitespaces).isEmpty { speedup = nil } else {
            guard let v = Double(f[13].trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw bad(13, "a finite number or nothing")
            }
            speedup = v
        }
        let row = StudyRow(
            model: try text(0, "a model name"), parameters: try integer(1), devices: try integer(2), mode: mode,
            topkRatio: try double(4), host: try text(5, "a host profile name"), device: try text(6, "a device profile name"),
            gpu: try text(7, "a GPU profile name"), overrides: overrides, fwSeconds: try double(9),
            bwGradOffloadSeconds: try double(10), updateSeconds: try double(11), iterationSeconds: try double(12),
            speedupVsBase: speedup, sharedLinkBytes: try double(14), sharedLinkBytesPerParam: try double(15),
            deviceBytesPerDevice: try double(16), hosts: columns.count > 17 ? try hosts(17) : 1,
            networkBytes: columns.count > 18 ? try double(18) : 0, networkSeconds: columns.count > 19 ? try double(19) : 0,
            whatIfs: columns.count > 20 ? f[20].split(separator: ";").map(String.init) : [],
            devicePrice: columns.count > 21 ? try price(21) : nil)
        if columns.count > 22 {
            try check(22, is: row.deviceCost, formula: "hosts × devices × device_price_usd")
            try check(23, is: row.stepsPerHourPerThousandUSD, formula: "3600 / iteration_s / (device_cost_usd / 1000)")
        }
        return row
    }
}

/// RFC 4180 records with the line each starts on.
enum CSVReader {
    struct Record {
        var line: Int
        var fields: [String]
    }

    static func records(_ text: String, source: String) throws(ReportError) -> [Record] {
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // a UTF-8 byte-order mark
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var records: [Record] = []
        var i = 0
        var line = 1
        let n = bytes.count
        while i < n {
            // Skip blank lines.
            if bytes[i] == lf { line += 1; i += 1; continue }
            if bytes[i] == cr { i += 1; if i < n && bytes[i] == lf { i += 1 }; line += 1; continue }
            let recordLine = line
            var fields: [String] = []
            while true {
                let column = fields.count + 1
                var field: [UInt8] = []
                if i < n && bytes[i] == quote {
                    let fieldLine = line
                    i += 1
                    var closed = false
                    while i < n {
                        let b = bytes[i]
                        if b == quote {
                            if i + 1 < n && bytes[i + 1] == quote { field.append(quote); i += 2; continue }
                            i += 1; closed = true; break
                        }
                        if b == lf { line += 1 } else if b == cr && !(i + 1 < n && bytes[i + 1] == lf) { line += 1 }
                        field.append(b)
                        i += 1
                    }
                    guard closed else {
                        throw .badQuoting(source: source, line: fieldLine, column: column,
                                          detail: "unterminated quoted field; expected a closing \"")
                    }
                    if i < n && bytes[i] != comma && bytes[i] != lf && bytes[i] != cr {
                        throw .badQuoting(source: source, line: line, column: column,
                                          detail: "text after the closing quote; expected , or the end of the line")
                    }
                } else {
                    while i < n && bytes[i] != comma && bytes[i] != lf && bytes[i] != cr {
                        if bytes[i] == quote {
                            throw .badQuoting(source: source, line: line, column: column,
                                              detail: "a \" inside an unquoted field; expected the field to be quoted")
                        }
                        field.append(bytes[i])
                        i += 1
                    }
                }
                fields.append(String(decoding: field, as: UTF8.self))
                if i < n && bytes[i] == comma { i += 1; continue }
                // End of record (or of input).
                if i < n && bytes[i] == cr { i += 1 }
                if i < n && bytes[i] == lf { i += 1 }
                line += 1
                break
            }
            records.append(Record(line: recordLine, fields: fields))
        }
        return records
    }
}
