import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Report
import OffloadVocabulary
import Testing

/// Parses an SVG document (must be well-formed XML) and finds elements by local name.
struct ParsedSVG {
    let document: XMLDocument

    init(_ text: String) throws {
        document = try XMLDocument(xmlString: text, options: [])
    }

    var root: XMLElement? { document.rootElement() }

    func elements(_ name: String, where predicate: (XMLElement) -> Bool = { _ in true }) throws -> [XMLElement] {
        try document.nodes(forXPath: "//*[local-name()='\(name)']").compactMap { $0 as? XMLElement }.filter(predicate)
    }

    func texts() throws -> [String] { try elements("text").compactMap(\.stringValue) }
}

extension XMLElement {
    /// (FoundationXML's `attribute(forName:)` misses attributes of elements in a default namespace.)
    func value(_ name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
    func number(_ name: String) -> Double? { value(name).flatMap(Double.init) }
}

@Suite struct ReportChartTests {
    static func chart(_ id: String, _ rows: [StudyRow]) throws -> ParsedSVG {
        let chart = try #require(StudyReport.charts(rows).first { $0.id == id })
        return try ParsedSVG("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + chart.svg)
    }

    @Test func everyChartIsWellFormedSVG() throws {
        for rows in [Fixtures.study(), Fixtures.study(ratios: false), [], Array(Fixtures.study().prefix(3))] {
            for chart in StudyReport.charts(rows) {
                let svg = try ParsedSVG(chart.svg)
                #expect(svg.root?.localName == "svg")
                #expect(svg.root?.uri == "http://www.w3.org/2000/svg")
                #expect(svg.root?.value("viewBox") != nil)
                #expect(try svg.elements("title").first?.stringValue == chart.title)
                #expect(!chart.svg.contains("<script"))
            }
        }
    }

    @Test func rowsWithNonFiniteNumbersAreLeftOutOfTheCharts() throws {
        var rows = Fixtures.study()
        rows[0].fwSeconds = .nan
        rows[1].speedupVsBase = .infinity
        rows[2].updateSeconds = -1
        for chart in StudyReport.charts(rows) {
            _ = try ParsedSVG(chart.svg)
            #expect(!chart.svg.lowercased().contains("nan") && !chart.svg.contains("inf"))
        }
        let bars = try Self.chart("breakdown", rows).elements("rect") { $0.value("class") == "bar" }
        #expect(bars.count == 2 * 2 * 4 * 3 - 3 * 3)
        #expect(StudyReport.html(rows: rows, title: "t").contains("3 left out of the charts"))
    }

    /// Hand-computed: base stacks 1 + 2 + 7 = 10 s, su 1 + 2 + 2 = 5 s. The axis tops at 12.5 s
    /// (the first nice tick above 10 s + 4%), the plot is 240 px high: 19.2 px per second.
    @Test func breakdownBarsAreStackedAndProportional() throws {
        func row(_ mode: OffloadMode, _ update: Double) -> StudyRow {
            StudyRow(model: "m", parameters: 1_000_000, devices: 4, mode: mode, topkRatio: 0.01, host: "h", device: "d",
                     gpu: "g", fwSeconds: 1, bwGradOffloadSeconds: 2, updateSeconds: update, iterationSeconds: 3 + update,
                     speedupVsBase: 10 / (3 + update), sharedLinkBytes: 32e6, sharedLinkBytesPerParam: 32,
                     deviceBytesPerDevice: 0)
        }
        #expect(BreakdownChart.plotHeight == 240)
        let svg = try Self.chart("breakdown", [row(.base, 7), row(.su, 2)])
        let bars = try svg.elements("rect") { $0.value("class") == "bar" }
        #expect(bars.count == 6)
        func bar(_ mode: String, _ phase: String) throws -> XMLElement {
            let found = bars.filter { $0.value("data-mode") == mode && $0.value("data-phase") == phase }
            #expect(found.count == 1)
            return try #require(found.first)
        }
        let expected: [(String, String, Double)] = [
            ("base", "fw", 19.2), ("base", "bw_grad_offload", 38.4), ("base", "update", 134.4),
            ("su", "fw", 19.2), ("su", "bw_grad_offload", 38.4), ("su", "update", 38.4),
        ]
        for (mode, phase, height) in expected {
            #expect(try bar(mode, phase).number("height") == height, "\(mode) \(phase)")
        }
        // Stacked bottom-up: FW on the axis, BW on FW, update on BW.
        for mode in ["base", "su"] {
            let fw = try bar(mode, "fw"), bw = try bar(mode, "bw_grad_offload"), up = try bar(mode, "update")
            #expect(abs(fw.number("y")! - (bw.number("y")! + bw.number("height")!)) < 0.011)
            #expect(abs(bw.number("y")! - (up.number("y")! + up.number("height")!)) < 0.011)
            #expect(fw.number("x") == up.number("x"))
        }
        #expect(try bar("base", "fw").number("y")! + 19.2 == bar("su", "fw").number("y")! + 19.2)
        // Totals labelled, the axis tops at 12.5.
        let totals = try svg.elements("text") { $0.value("class") == "total" }.compactMap(\.stringValue)
        #expect(totals == ["10", "5"])
        let texts = try svg.texts()
        #expect(texts.contains("12.5") && texts.contains("seconds per iteration"))
    }

    @Test func breakdownHasOneRectPerGroupModeAndPhase() throws {
        let rows = Fixtures.study()
        let svg = try Self.chart("breakdown", rows)
        let bars = try svg.elements("rect") { $0.value("class") == "bar" }
        // 2 models × 2 device counts × 4 modes × 3 phases; su+o+c at the primary ratio only.
        #expect(bars.count == 2 * 2 * 4 * 3)
        let keys = Set(bars.map { "\($0.value("data-model")!)|\($0.value("data-devices")!)|\($0.value("data-mode")!)|\($0.value("data-phase")!)" })
        #expect(keys.count == bars.count)
        // Heights ∝ seconds within a panel.
        for model in ["gpt2-4b", "gpt2-8b"] {
            let scales = bars.filter { $0.value("data-model") == model && $0.number("data-seconds")! > 0.5 }
                .map { $0.number("height")! / $0.number("data-seconds")! }
            #expect(scales.max()! - scales.min()! < 0.02 * scales.min()!)
        }
        // The su+o+c bars use the paper's 0.01 (the rows at 0.001 and 0.1 are as frequent).
        let suoc = bars.first { $0.value("data-model") == "gpt2-4b" && $0.value("data-devices") == "10"
            && $0.value("data-mode") == "su+o+c" && $0.value("data-phase") == "update" }
        #expect(suoc?.number("data-seconds") == 12.1 - 4.7)
    }

    @Test func speedupChartHasOnePolylinePerModeAndModel() throws {
        let svg = try Self.chart("speedup", Fixtures.study())
        let lines = try svg.elements("polyline") { $0.value("class") == "series" }
        #expect(lines.count == 2 * 4)
        for model in ["gpt2-4b", "gpt2-8b"] {
            let modes = lines.filter { $0.value("data-model") == model }.compactMap { $0.value("data-mode") }
            #expect(modes == OffloadMode.allCases.map(\.rawValue))
        }
        // Two points each (6 and 10 devices), the same colour as the mode's bars elsewhere.
        for line in lines {
            #expect(line.value("points")?.split(separator: " ").count == 2)
            #expect(line.value("stroke") == Palette.mode(OffloadMode(rawValue: line.value("data-mode")!)!))
        }
        // One model: one polyline per mode.
        let single = try Self.chart("speedup", Fixtures.study().filter { $0.model == "gpt2-4b" })
        #expect(try single.elements("polyline") { $0.value("class") == "series" }.count == 4)
        #expect(try single.texts().contains("1.95×"))
        // No base rows: no speedups, a message instead of an empty plot.
        let none = try Self.chart("speedup", Fixtures.study().map { var r = $0; r.speedupVsBase = nil; return r })
        #expect(try none.elements("polyline").isEmpty)
        #expect(try none.texts().contains { $0.hasPrefix("no speedup_vs_base values") })
    }

    /// Hand-computed: the update falls as 1/N from 8 s at one host, the network is busy 0, 3,
    /// 4.5, 5.25 s at 1, 2, 4, 8 hosts. The axis tops at 10 s (the first nice tick above 8 s +
    /// 8%), the plot is 240 px high: 24 px per second.
    @Test func hostsChartDrawsTheUpdateOfEachModeAndTheNetworkAgainstTheHosts() throws {
        let hosts = [1, 2, 4, 8]
        let rows = hosts.flatMap { n in
            [OffloadMode.base, .suO].map { mode in
                StudyRow(model: "llama", parameters: 70_000_000_000, devices: 8, mode: mode, topkRatio: 0.01, host: "h", device: "d",
                         gpu: "g", fwSeconds: 1, bwGradOffloadSeconds: 2, updateSeconds: (mode == .base ? 8 : 6) / Double(n),
                         iterationSeconds: 3 + 8 / Double(n), speedupVsBase: nil, sharedLinkBytes: 0, sharedLinkBytesPerParam: 0,
                         deviceBytesPerDevice: 0, hosts: n, networkBytes: 1, networkSeconds: 6 * Double(n - 1) / Double(n))
            }
        }
        let svg = try Self.chart("hosts", rows)
        let lines = try svg.elements("polyline") { $0.value("class") == "series" }
        #expect(lines.compactMap { $0.value("data-mode") } == ["base", "su+o"])
        let network = try #require(try svg.elements("polyline") { $0.value("class") == "network" }.first)
        func ys(_ line: XMLElement) -> [Double] {
            (line.value("points") ?? "").split(separator: " ").compactMap { Double($0.split(separator: ",").last ?? "") }
        }
        let base = ys(lines[0]), net = ys(network)
        #expect(base.count == 4 && net.count == 4)
        // 24 px per second: base falls 8 → 4 → 2 → 1 s, the network rises 0 → 3 → 4.5 → 5.25 s.
        for (a, b) in zip(base, base.dropFirst()) { #expect(b > a) }
        #expect(abs((base[1] - base[0]) - 4 * 24) < 0.01 && abs((net[0] - net[1]) - 3 * 24) < 0.01)
        #expect(try svg.texts().contains("hosts") && svg.texts().contains("8"))
        // One host count (the Fig. 9 study): a message, no lines.
        let none = try Self.chart("hosts", Fixtures.study())
        #expect(try none.elements("polyline").isEmpty)
        #expect(try none.texts().contains { $0.hasPrefix("one host count per model and machine") })
    }

    /// One line per device at its price and mode, through its device counts, placed by what the
    /// devices cost: 4 and 8 drives at 1000 USD (4000, 8000 USD), 4 and 8 CSDs at 2000 USD (8000,
    /// 16000 USD). A device without a price is left out and the caption names it.
    @Test func costChartPlacesEachLineByWhatItsDevicesCost() throws {
        func row(_ device: String, _ mode: OffloadMode, devices: Int, seconds: Double, price: Double?) -> StudyRow {
            StudyRow(model: "llama3-70b", parameters: 70_000_000_000, devices: devices, mode: mode, topkRatio: 0.01,
                     host: "pcie-gen5-host", device: device, gpu: "h100", fwSeconds: 6, bwGradOffloadSeconds: 27,
                     updateSeconds: seconds - 33, iterationSeconds: seconds, speedupVsBase: nil, sharedLinkBytes: 0,
                     sharedLinkBytesPerParam: 0, deviceBytesPerDevice: 0, devicePrice: price)
        }
        let rows = [row("nvme-gen5", .base, devices: 4, seconds: 80, price: 1000), row("nvme-gen5", .base, devices: 8, seconds: 80, price: 1000),
                    row("smartssd-gen5", .suO, devices: 4, seconds: 70, price: 2000),
                    row("smartssd-gen5", .suO, devices: 8, seconds: 65, price: 2000),
                    row("csd-gen4", .suO, devices: 8, seconds: 75, price: nil)]
        let svg = try Self.chart("cost", rows)
        let lines = try svg.elements("polyline") { $0.value("class") == "series" }
        #expect(lines.map { $0.value("data-device") } == ["nvme-gen5", "smartssd-gen5"])
        #expect(lines.map { $0.value("data-price") } == ["1000", "2000"])
        func points(_ line: XMLElement) -> [(x: Double, y: Double)] {
            (line.value("points") ?? "").split(separator: " ").map { pair in
                let xy = pair.split(separator: ",").compactMap { Double($0) }
                return (xy[0], xy[1])
            }
        }
        let drives = points(lines[0]), csds = points(lines[1])
        // 8 drives cost what 4 CSDs cost; the x axis is linear in dollars.
        #expect(abs(drives[1].x - csds[0].x) < 0.011)
        #expect(abs((csds[1].x - csds[0].x) - 2 * (drives[1].x - drives[0].x)) < 0.05)
        // Base's flat 80 s; the CSDs 10 and 15 s faster (y grows downwards).
        #expect(drives[0].y == drives[1].y)
        #expect(abs((csds[0].y - drives[0].y) / (csds[1].y - drives[0].y) - 10.0 / 15) < 0.01)
        let caption = try #require(StudyReport.charts(rows).first { $0.id == "cost" }).caption
        #expect(caption.contains("Left out, without a price (n/a in the table): csd-gen4"))
        // No price anywhere: a message saying how to give one.
        let none = try Self.chart("cost", Fixtures.study())
        #expect(try none.elements("polyline").isEmpty)
        #expect(try none.texts().contains { $0.hasPrefix("no row has a device price") })
        // The table says n/a where there is no price.
        let html = StudyReport.html(rows: rows, title: "t")
        #expect(html.contains("<td class=\"n\">n/a</td>") && html.contains("<td class=\"n\">16000</td>"))
        #expect(html.contains("device prices: nvme-gen5 1000 USD, smartssd-gen5 2000 USD, csd-gen4 n/a"))
    }

    @Test func compressionChartDrawsOneLinePerModelAndDevicesOrSaysOneRatio() throws {
        let svg = try Self.chart("compression", Fixtures.study())
        let lines = try svg.elements("polyline") { $0.value("class") == "series" }
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0.value("points")?.split(separator: " ").count == 3 })
        let texts = try svg.texts()
        #expect(texts.contains("0.001") && texts.contains("0.01") && texts.contains("0.1"))
        #expect(texts.contains("top-k ratio (log scale)"))
        // Log axis: 0.001 → 0.01 and 0.01 → 0.1 are the same distance apart.
        let xs = lines[0].value("points")!.split(separator: " ").map { Double($0.split(separator: ",")[0])! }
        #expect(abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.02)

        let single = try Self.chart("compression", Fixtures.study(ratios: false))
        #expect(try single.elements("polyline").isEmpty)
        #expect(try single.texts().contains { $0.hasPrefix("one ratio in this study") })
        let none = try Self.chart("compression", Fixtures.study().filter { $0.mode != .suOC })
        #expect(try none.texts().contains("no su+o+c rows in this study"))
    }

    @Test func sharedLinkChartHasOneBarPerModelAndMode() throws {
        let svg = try Self.chart("shared-link-bytes", Fixtures.study())
        let bars = try svg.elements("rect") { $0.value("class") == "bar" }
        #expect(bars.count == 2 * 4)  // bytes per parameter do not change with the device count
        let base = bars.filter { $0.value("data-mode") == "base" }
        let suoc = bars.filter { $0.value("data-mode") == "su+o+c" }
        #expect(base.allSatisfy { $0.number("data-value") == 32 && $0.value("fill") == Palette.mode(.base) })
        #expect(suoc.allSatisfy { $0.number("data-value") == 4.08 })
        let ratio = base[0].number("height")! / suoc[0].number("height")!
        #expect(abs(ratio - 32 / 4.08) < 0.01)
    }

    @Test func htmlHasAllChartsAndEscapesText() throws {
        var rows = Fixtures.study()
        for i in rows.indices where rows[i].model == "gpt2-4b" { rows[i].model = "<script>alert('x')</script> & co" }
        let html = StudyReport.html(rows: rows, title: "Study <b>1</b>")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for id in ["breakdown", "speedup", "compression", "shared-link-bytes", "hosts", "cost"] {
            #expect(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\""))
        }
        #expect(html.components(separatedBy: "<svg ").count == 7)
        #expect(html.components(separatedBy: "<figcaption>").count == 7)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<b>1</b>"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"))
        #expect(html.contains("<title>Study &lt;b&gt;1&lt;/b&gt;</title>"))
        // The table has a row per study row.
        #expect(html.components(separatedBy: "<tr>").count == rows.count + 2)
        for chart in StudyReport.charts(rows) { _ = try ParsedSVG(chart.svg) }
    }

    @Test func writesAllFilesAtomicallyAndDeterministically() throws {
        let root = Fixtures.temporaryDirectory("write")
        let dir = root + "/nested/report"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let reference = [ReferenceComparison(set: "fig9", label: "gpt2-4.0b, 6 devices, base", quantity: .seconds, published: 23.8,
                                             modeled: 23.3),
                         ReferenceComparison(set: "fig3b", label: "gpt2-4.0b, 4 devices, base", quantity: .speedup, published: 2.15,
                                             modeled: 2.21)]
        let paths = try StudyReport.write(rows: Fixtures.study(), title: "Fig. 9", reference: reference, to: dir)
        #expect(paths == StudyReport.files.map { dir + "/" + $0 })
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(listing == StudyReport.files.sorted())  // no temporary files left behind
        let first = try paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        try StudyReport.write(rows: Fixtures.study(), title: "Fig. 9", reference: reference, to: dir)
        let second = try paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(first == second)
        for (path, data) in zip(paths, first) where path.hasSuffix(".svg") {
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "))
            _ = try ParsedSVG(text)
        }
        // An empty study still gives a report.
        let empty = Fixtures.temporaryDirectory("empty")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(try StudyReport.write(rows: [], title: "nothing", to: empty).count == 7)
        // A path that cannot be a directory is an error naming it.
        #expect(throws: ReportError.self) { try StudyReport.write(rows: [], title: "x", to: "/dev/null/report") }
    }

    @Test func axisHelpers() {
        #expect(niceTicks(maximum: 10.4).ticks == [0, 2.5, 5, 7.5, 10, 12.5])
        #expect(niceTicks(maximum: 33.28).ticks == [0, 10, 20, 30, 40])
        #expect(niceTicks(maximum: 2.0952).ticks == [0, 0.5, 1, 1.5, 2, 2.5])
        #expect(tickLabel(2.5, step: 2.5) == "2.5" && tickLabel(10, step: 2.5) == "10.0" && tickLabel(20, step: 10) == "20")
        #expect(spread([100, 101, 150], gap: 12, lo: 0, hi: 200) == [100, 112, 150])
        #expect(CompressionChart.ratioLabel(0.001) == "0.001" && CompressionChart.ratioLabel(0.02) == "0.02")
        // 10 chars per line at 10 px (6 px a character); break after spaces and slashes, then cut.
        #expect(wrap("gpt2-8b · host/ssd/a100", width: 60, size: 10) == ["gpt2-8b ·", "host/ssd/", "a100"])
        #expect(wrap("a very long label that goes on", width: 60, size: 10, maxLines: 2) == ["a very", "long labe…"])
        #expect(fit("abcdefghijkl", width: 60, size: 10) == "abcdefghi…")
    }
}
