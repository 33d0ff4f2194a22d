import Foundation
import Testing

/// The AdamW test vector is printed once for readers, in docs/ARCHITECTURE.md, "Update math", and
/// the kernel is checked against `DesignVectorTests`' copy of it: the two must be the same numbers,
/// digit for digit, or the page would promise what the test no longer checks.
@Suite struct DocumentedVectorTests {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/ARCHITECTURE.md")

    /// The cells of the vector table's rows: `| i | p | g | p' t=1 | m' t=1 | v' t=1 | p' t=2 |`.
    static func documentedRows() throws -> [[String]] {
        let text = try String(contentsOf: page, encoding: .utf8)
        guard let section = text.range(of: "## Update math") else { return [] }
        let rest = text[section.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return rest[..<end].split(separator: "\n").compactMap { line -> [String]? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard line.hasPrefix("|"), cells.count == 7, Int(cells[0]) != nil else { return nil }
            return cells
        }
    }

    @Test("the page prints the vector the kernel is tested against")
    func pageMatchesTheTest() throws {
        let rows = try Self.documentedRows()
        try #require(rows.count == 4, "expected the four rows of the AdamW vector in \(Self.page.path), found \(rows.count)")
        for (i, row) in rows.enumerated() {
            #expect(row[0] == "\(i)")
            #expect(Float(row[1]) == DesignVectorTests.initialParameters[i], "p[\(i)]: \(row[1])")
            #expect(Float(row[2]) == DesignVectorTests.gradients[i], "g[\(i)]: \(row[2])")
            #expect(row[3] == DesignVectorTests.p1[i], "p' t=1 [\(i)]")
            #expect(row[4] == DesignVectorTests.m1[i], "m' t=1 [\(i)]")
            #expect(row[5] == DesignVectorTests.v1[i], "v' t=1 [\(i)]")
            #expect(row[6] == DesignVectorTests.p2[i], "p' t=2 [\(i)]")
        }
    }
}
