import Foundation

/// A plain-text table with right-aligned numeric columns, for benchmark output on a terminal.
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]] = []

    public init(_ header: [String]) { self.header = header }

    public mutating func append(_ row: [String]) {
        precondition(row.count == header.count, "row has \(row.count) cells, table has \(header.count) columns")
        rows.append(row)
    }

    public var rendered: String {
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// Number formatting shared by the benchmark tables.
public enum Figures {
    /// `value` with `digits` decimals, at any magnitude (printf's `%.*f`: the binary value
    /// rounded half to even); "-" for a value that is not finite.
    public static func fixed(_ value: Double, _ digits: Int = 2) -> String {
        precondition(digits >= 0, "a negative number of decimals")
        guard value.isFinite else { return "-" }
        return String(format: "%.*f", Int32(digits), value)
    }

    /// A count with an SI suffix: 64M, 1.5G.
    public static func count(_ value: Double) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, suffix) in units where abs(value) >= scale { return fixed(value / scale, 2) + suffix }
        return fixed(value, 0)
    }
}
