import Foundation
import Report
import Testing

@Suite struct StudyTableTests {
    static let header = StudyTable.columns.joined(separator: ",")

    /// A valid record to corrupt, with one field replaced.
    static func record(_ replace: [Int: String] = [:]) -> String {
        var fields = ["gpt2-4b", "4000000000", "6", "su+o", "0.01", "hpca24-host", "smartssd", "a5000", "", "1.5", "3",
                      "10.5", "15", "1.3", "3.2e10", "8", "1.8e10", "4", "2.1e11", "4.4", "", "n/a", "n/a", "n/a"]
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
        rows[7].devicePrice = 517
        rows[7].whatIfs = ["host-share=0.2", "lora-targets=q,k,v,o"]
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
        let oneHost = Array(StudyTable.columns.dropLast(7))
        let record = Self.record().split(separator: ",", omittingEmptySubsequences: false).dropLast(7).joined(separator: ",")
        let rows = try StudyTable.parseCSV(oneHost.joined(separator: ",") + "\n" + record + "\n", source: "old.csv")
        #expect(rows.count == 1 && rows[0].hosts == 1 && rows[0].networkBytes == 0 && rows[0].networkSeconds == 0)
        #expect(rows[0].devices == 6 && rows[0].deviceBytesPerDevice == 1.8e10)
        // Its rows carry the old number of columns, not the new.
        #expect(error(oneHost.joined(separator: ",") + "\n" + Self.record())
            == .wrongColumnCount(source: "study.csv", line: 2, column: 18, expected: 17, found: 24))
        #expect(error(Self.header + "\n" + Self.record([17: "0"]))
            == .badValue(source: "study.csv", line: 2, column: 18, name: "hosts", expected: "a whole number of hosts ≥ 1", found: "0"))
    }

    /// A table written before what-ifs and prices (its last column network_s) reads as the paper's
    /// workload with no price.
    @Test func readsATableWithoutPrices() throws {
        let manyHosts = Array(StudyTable.columns.dropLast(4))
        #expect(manyHosts.last == "network_s")
        let record = Self.record().split(separator: ",", omittingEmptySubsequences: false).dropLast(4).joined(separator: ",")
        let rows = try StudyTable.parseCSV(manyHosts.joined(separator: ",") + "\n" + record + "\n", source: "hosts.csv")
        #expect(rows.count == 1 && rows[0].hosts == 4 && rows[0].whatIfs.isEmpty && rows[0].devicePrice == nil)
        #expect(rows[0].deviceCost == nil && rows[0].stepsPerHourPerThousandUSD == nil)
    }

    /// By hand: two hosts of 8 devices at 517 USD cost 2 × 8 × 517 = 8272 USD; at 57.16 s per
    /// iteration that is 3600 / 57.16 = 62.981 iterations per hour, 62.981 / 8.272 = 7.6138 per
    /// 1000 USD. One host: 4136 USD and 15.2275. The table writes them and checks them on reading.
    @Test func theCostColumnsAreTheirFormulas() throws {
        var row = Fixtures.row(model: "llama3-70b", parameters: 70_553_706_496, devices: 8, mode: .suOC, total: 57.16, fwbw: 27.79,
                               base: 80.32)
        row.devicePrice = 517
        #expect(row.deviceCost == 4136)
        #expect(abs(row.stepsPerHourPerThousandUSD! - 15.22754) < 1e-5)
        row.hosts = 2
        #expect(row.deviceCost == 8272)
        #expect(abs(row.stepsPerHourPerThousandUSD! - 7.61377) < 1e-5)
        row.whatIfs = ["state-bits=8", "overlap-backward"]
        var unpriced = row
        unpriced.devicePrice = nil
        let text = StudyTable.csv(rows: [row, unpriced])
        let lines = text.split(separator: "\n")
        #expect(lines[1].hasSuffix(",state-bits=8;overlap-backward,517.0,8272.0,\(3600 / 57.16 / 8.272)"))
        #expect(lines[2].hasSuffix(",state-bits=8;overlap-backward,n/a,n/a,n/a"))
        #expect(try StudyTable.parseCSV(text, source: "cost.csv") == [row, unpriced])
        // A derived column that is not its formula is refused naming the column and what it should be.
        let edited = text.replacingOccurrences(of: ",517.0,8272.0,", with: ",517.0,8000,")
        #expect(error(edited) == .badValue(source: "study.csv", line: 2, column: 23, name: "device_cost_usd",
                                           expected: "hosts × devices × device_price_usd = 8272.0", found: "8000"))
        #expect(error(text.replacingOccurrences(of: "n/a,n/a,n/a", with: "n/a,1,n/a"))?.description
            == "study.csv:3: column 23 (device_cost_usd): expected hosts × devices × device_price_usd = n/a, got \"1\"")
    }

    @Test func aBadPriceIsRefusedNamingItsColumn() throws {
        for bad in ["-517", "0", "cheap", "", "inf"] {
            #expect(error(Self.header + "\n" + Self.record([21: bad]))
                == .badValue(source: "study.csv", line: 2, column: 22, name: "device_price_usd",
                             expected: "a positive number of US dollars or n/a", found: bad), "\(bad)")
        }
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
        #expect(e == .wrongColumnCount(source: "study.csv", line: 2, column: 24, expected: 24, found: 23))
        #expect(e.description == "study.csv:2: column 24: expected 24 columns, got 23")
        #expect(error(Self.header + "\n" + Self.record() + ",extra") ==
            .wrongColumnCount(source: "study.csv", line: 2, column: 25, expected: 24, found: 25))
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
