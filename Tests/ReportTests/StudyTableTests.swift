import Foundation
import Report
import Testing

@Suite struct StudyTableTests {
    static let header = StudyTable.columns.joined(separator: ",")

    /// A valid record to corrupt, with one field replaced.
    static func record(_ replace: [Int: String] = [:]) -> String {
        var fields = ["gpt2-4b", "4000000000", "6", "su+o", "0.01", "hpca24-host", "smartssd", "a5000", "", "1.5", "3",
                      "10.5", "15", "1.3", "3.2e10", "8", "1.8e10", "4", "2.1e11", "4.4"]
        for (i, v) in replace { fields[i] = v }
        return fields.joined(separator: ",")
    }

    @Test func roundTripsAwkwardValues() throws {
        var rows = Fixtures.study()
        rows[0].model = "gpt2 L49 h2560, \"wide\""
        rows[1].model = "two\nlines"
        rows[2].overrides = ["fpga.decompressUpdate=8.2GB/s", "host.sharedLink=12GB/s"]
        rows[3].speedupVsBase = nil
        rows[4].fwSeconds = 0.1 + 0.2
        rows[4].sharedLinkBytes = 3.3e16
        rows[5].topkRatio = 1e-7
        rows[6].hosts = 16
        rows[6].networkBytes = 0.1 + 1.2e11
        rows[6].networkSeconds = 2.5
        let text = StudyTable.csv(rows: rows)
        #expect(text.hasPrefix(Self.header + "\n"))
        let parsed = try StudyTable.parseCSV(text, source: "rows.csv")
        #expect(parsed == rows)
        #expect(StudyTable.csv(rows: parsed) == text)
        // CRLF line ends and a trailing blank line read the same.
        let crlf = text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
        #expect(try StudyTable.parseCSV(crlf.replacingOccurrences(of: "two\r\nlines", with: "two\nlines"), source: "x") == rows)
    }

    @Test func readsTheSweepFormat() throws {
        let text = Self.header + "\n" + Self.record([0: "\"gpt2 L49 h2560\"", 8: "a=1;b=2", 13: ""]) + "\n"
        let rows = try StudyTable.parseCSV(text, source: "sweep.csv")
        #expect(rows.count == 1)
        let r = try #require(rows.first)
        #expect(r.model == "gpt2 L49 h2560" && r.parameters == 4_000_000_000 && r.devices == 6 && r.mode == .suO)
        #expect(r.overrides == ["a=1", "b=2"] && r.speedupVsBase == nil && r.sharedLinkBytes == 3.2e10)
        #expect(r.hosts == 4 && r.networkBytes == 2.1e11 && r.networkSeconds == 4.4)
        #expect(try StudyTable.parseCSV(Self.header + "\n", source: "x").isEmpty)
    }

    /// A table written before many-host studies (no hosts, network_bytes, network_s) reads as
    /// one host each; a host count below one is refused naming its column.
    @Test func readsATableWithoutHosts() throws {
        let oneHost = Array(StudyTable.columns.dropLast(3))
        let record = Self.record().split(separator: ",", omittingEmptySubsequences: false).dropLast(3).joined(separator: ",")
        let rows = try StudyTable.parseCSV(oneHost.joined(separator: ",") + "\n" + record + "\n", source: "old.csv")
        #expect(rows.count == 1 && rows[0].hosts == 1 && rows[0].networkBytes == 0 && rows[0].networkSeconds == 0)
        #expect(rows[0].devices == 6 && rows[0].deviceBytesPerDevice == 1.8e10)
        // Its rows carry the old number of columns, not the new.
        #expect(error(oneHost.joined(separator: ",") + "\n" + Self.record())
            == .wrongColumnCount(source: "study.csv", line: 2, column: 18, expected: 17, found: 20))
        #expect(error(Self.header + "\n" + Self.record([17: "0"]))
            == .badValue(source: "study.csv", line: 2, column: 18, name: "hosts", expected: "a whole number of hosts ≥ 1", found: "0"))
    }

    func error(_ text: String) -> ReportError? {
        do {
            _ = try StudyTable.parseCSV(text, source: "study.csv")
            return nil
        } catch {
            return error
        }
    }

    @Test func badHeaderListsTheExpectedColumns() throws {
        var names = StudyTable.columns
        names.swapAt(9, 10)
        let e = try #require(error(names.joined(separator: ",") + "\n" + Self.record()))
        guard case let .badHeader(source, line, column, expected, _) = e else { Issue.record("\(e)"); return }
        #expect(source == "study.csv" && line == 1 && column == 10 && expected == StudyTable.columns)
        #expect(e.description.hasPrefix("study.csv:1: column 10: bad header"))
        #expect(e.description.contains(Self.header))
        #expect(e.description.contains("should be \"fw_s\", got \"bw_grad_offload_s\""))
        #expect(error("") == .empty(source: "study.csv"))
        #expect(error("model,parameters\n")?.description.contains("column 3") == true)
    }

    @Test func nonNumericValueNamesLineAndColumn() throws {
        let text = Self.header + "\n" + Self.record() + "\n" + Self.record([9: "fast"]) + "\n"
        let e = try #require(error(text))
        #expect(e == .badValue(source: "study.csv", line: 3, column: 10, name: "fw_s", expected: "a finite number", found: "fast"))
        #expect(e.description == "study.csv:3: column 10 (fw_s): expected a finite number, got \"fast\"")
        #expect(error(Self.header + "\n" + Self.record([2: "6.5"])) ==
            .badValue(source: "study.csv", line: 2, column: 3, name: "devices", expected: "a non-negative integer", found: "6.5"))
        #expect(error(Self.header + "\n" + Self.record([12: "nan"]))?.description.contains("column 13 (iteration_s)") == true)
        #expect(error(Self.header + "\n" + Self.record([13: "x"]))?.description.contains("a finite number or nothing") == true)
        #expect(error(Self.header + "\n" + Self.record([8: "novalue"]))?.description.contains("column 9 (overrides): expected a ;-separated list of key=value") == true)
    }

    @Test func unknownModeListsTheModes() throws {
        let e = try #require(error(Self.header + "\n" + Self.record([3: "su+c"])))
        #expect(e == .unknownMode(source: "study.csv", line: 2, column: 4, found: "su+c"))
        #expect(e.description == "study.csv:2: column 4 (mode): unknown mode \"su+c\"; expected one of base, su, su+o, su+o+c")
    }

    @Test func wrongColumnCountNamesTheFirstMissingOrExtraColumn() throws {
        let short = Self.record().split(separator: ",", omittingEmptySubsequences: false).dropLast().joined(separator: ",")
        let e = try #require(error(Self.header + "\n" + short))
        #expect(e == .wrongColumnCount(source: "study.csv", line: 2, column: 20, expected: 20, found: 19))
        #expect(e.description == "study.csv:2: column 20: expected 20 columns, got 19")
        #expect(error(Self.header + "\n" + Self.record() + ",extra") ==
            .wrongColumnCount(source: "study.csv", line: 2, column: 21, expected: 20, found: 21))
    }

    @Test func lineNumbersCountPhysicalLines() throws {
        // A quoted newline in line 2's record makes the next record start on line 4.
        let text = Self.header + "\n" + Self.record([0: "\"a\nb\""]) + "\n" + Self.record([4: "r"]) + "\n"
        #expect(error(text) == .badValue(source: "study.csv", line: 4, column: 5, name: "topk_ratio",
                                         expected: "a finite number", found: "r"))
        // Blank lines are skipped but counted.
        #expect(error(Self.header + "\n\n" + Self.record([1: "-3"]))?.description.hasPrefix("study.csv:3: column 2 (parameters)") == true)
    }

    @Test func brokenQuotingIsAnError() throws {
        let open = try #require(error(Self.header + "\n" + Self.record([0: "\"gpt2"])))
        #expect(open == .badQuoting(source: "study.csv", line: 2, column: 1, detail: "unterminated quoted field; expected a closing \""))
        let after = try #require(error(Self.header + "\n" + Self.record([5: "\"host\"x"])))
        #expect(after.description.hasPrefix("study.csv:2: column 6: text after the closing quote"))
        let bare = try #require(error(Self.header + "\n" + Self.record([0: "gp\"t2"])))
        #expect(bare.description.hasPrefix("study.csv:2: column 1: a \" inside an unquoted field"))
    }
}
