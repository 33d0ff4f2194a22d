import DurableWrite
import Foundation

/// A study's report: one self-contained HTML page (charts inline as SVG, a caption under each, the
/// table of rows; no scripts, fonts or style sheets from elsewhere) and each chart as its own SVG.
public enum StudyReport {
    /// The files `write` produces, in the order it returns them (the last only with reference
    /// comparisons).
    public static let files = ["index.html", "breakdown.svg", "speedup.svg", "compression.svg", "shared-link-bytes.svg",
                               "hosts.svg", "cost.svg", "model-vs-reference.svg"]

    /// Writes the report for `rows` into `directory` (created if missing), each file durably
    /// (`DurableFile`). Returns the paths written, `index.html` first. The output depends only on
    /// `rows`, `title` and `reference`: with reference comparisons (`smartinf validate`'s points),
    /// the page ends with the model-vs-reference chart.
    @discardableResult
    public static func write(rows: [StudyRow], title: String, reference: [ReferenceComparison] = [],
                             to directory: String) throws(ReportError) -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, detail: "cannot create the directory: \(error.localizedDescription)")
        }
        let charts = self.charts(rows) + (reference.isEmpty ? [] : [ReferenceChart.make(reference)])
        var outputs: [(String, String)] = [("index.html", html(rows: rows, title: title, charts: charts))]
        for chart in charts {
            outputs.append((chart.file, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + chart.svg))
        }
        var paths: [String] = []
        for (name, text) in outputs {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            try write(text, to: path)
            paths.append(path)
        }
        return paths
    }

    /// The page alone (what `write` puts in index.html).
    public static func html(rows: [StudyRow], title: String) -> String {
        html(rows: rows, title: title, charts: charts(rows))
    }

    static func charts(_ rows: [StudyRow]) -> [Chart] {
        let view = StudyView(rows)
        return [BreakdownChart.make(view), SpeedupChart.make(view), CompressionChart.make(view),
                SharedLinkChart.make(view), HostsChart.make(view), CostChart.make(view)]
    }

    static func html(rows: [StudyRow], title: String, charts: [Chart]) -> String {
        let view = StudyView(rows)
        var h = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(xmlEscape(title))</title>
            <style>
            body { font-family: Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif; color: #222; margin: 24px auto; max-width: 1240px; padding: 0 16px; background: #fff; }
            h1 { font-size: 26px; margin: 0 0 6px; }
            h2 { font-size: 19px; margin: 28px 0 8px; }
            p.summary { color: #444; margin: 0 0 18px; }
            figure { margin: 0 0 26px; padding: 0; }
            figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #ddd; }
            figcaption { color: #333; font-size: 14px; line-height: 1.45; margin-top: 6px; max-width: 1200px; }
            figcaption a { color: #0072B2; }
            .table { overflow-x: auto; }
            table { border-collapse: collapse; font-size: 12px; }
            th, td { border: 1px solid #ddd; padding: 3px 6px; white-space: nowrap; }
            th { background: #f2f2f2; text-align: left; white-space: normal; vertical-align: bottom; }
            td.n { text-align: right; font-variant-numeric: tabular-nums; }
            </style>
            </head>
            <body>

            """
        h += "<h1>\(xmlEscape(title))</h1>\n"
        h += "<p class=\"summary\">\(xmlEscape(summary(view)))</p>\n"
        for chart in charts {
            h += "<figure id=\"fig-\(chart.id)\">\n"
            h += chart.svg
            h += "<figcaption>\(xmlEscape(chart.caption)) <a href=\"\(chart.file)\">\(chart.file)</a></figcaption>\n"
            h += "</figure>\n"
        }
        h += "<h2>Rows</h2>\n<div class=\"table\">\n<table>\n<thead><tr>"
        // Headers may break after an underscore, so that the table stays narrow.
        for c in StudyTable.columns { h += "<th>\(xmlEscape(c).replacingOccurrences(of: "_", with: "_<wbr>"))</th>" }
        h += "</tr></thead>\n<tbody>\n"
        for r in rows {
            let cells: [(String, Bool)] = [
                (r.model, false), (String(r.parameters), true), (String(r.devices), true), (r.mode.rawValue, false),
                (tableNumber(r.topkRatio), true), (r.host, false), (r.device, false), (r.gpu, false),
                (r.overrides.joined(separator: ";"), false), (tableNumber(r.fwSeconds), true),
                (tableNumber(r.bwGradOffloadSeconds), true), (tableNumber(r.updateSeconds), true),
                (tableNumber(r.iterationSeconds), true), (r.speedupVsBase.map(tableNumber) ?? "", true),
                (tableNumber(r.sharedLinkBytes), true), (tableNumber(r.sharedLinkBytesPerParam), true),
                (tableNumber(r.deviceBytesPerDevice), true), (String(r.hosts), true), (tableNumber(r.networkBytes), true),
                (tableNumber(r.networkSeconds), true), (r.whatIfs.joined(separator: ";"), false),
                (r.devicePrice.map(tableNumber) ?? StudyTable.notAvailable, true),
                (r.deviceCost.map(tableNumber) ?? StudyTable.notAvailable, true),
                (r.stepsPerHourPerThousandUSD.map(tableNumber) ?? StudyTable.notAvailable, true),
            ]
            h += "<tr>" + cells.map { "<td\($0.1 ? " class=\"n\"" : "")>\(xmlEscape($0.0))</td>" }.joined() + "</tr>\n"
        }
        h += "</tbody>\n</table>\n</div>\n"
        h += "<p class=\"summary\">Modeled seconds (the flow-level model), not wall time. Colours: Okabe–Ito palette.</p>\n"
        h += "</body>\n</html>\n"
        return h
    }

    static func summary(_ view: StudyView) -> String {
        let rows = view.rows
        var parts = ["\(rows.count + view.leftOut) row\(rows.count + view.leftOut == 1 ? "" : "s")"]
        if view.leftOut > 0 {
            parts.append("\(view.leftOut) left out of the charts (a number that is not finite, or negative)")
        }
        let models = view.modelKeys.map(\.model).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        if !models.isEmpty { parts.append("models: " + models.joined(separator: ", ")) }
        if !view.allDevices.isEmpty { parts.append("devices: " + view.allDevices.map(String.init).joined(separator: ", ")) }
        if !view.modes.isEmpty { parts.append("modes: " + view.modes.map(\.rawValue).joined(separator: ", ")) }
        if !view.ratios.isEmpty { parts.append("top-k ratios: " + view.ratios.map(CompressionChart.ratioLabel).joined(separator: ", ")) }
        if !view.configs.isEmpty { parts.append("hardware: " + view.configs.joined(separator: "; ")) }
        var prices: [String] = []
        for r in rows {
            let price = "\(r.device) " + (r.devicePrice.map { tableNumber($0) + " USD" } ?? StudyTable.notAvailable)
            if !prices.contains(price) { prices.append(price) }
        }
        if !prices.isEmpty { parts.append("device prices: " + prices.joined(separator: ", ")) }
        return parts.joined(separator: " · ")
    }

    /// Up to six significant digits, for the table; large values (byte counts) in exponent form.
    static func tableNumber(_ v: Double) -> String {
        if abs(v) >= 1e7 { return String(format: "%.4g", v).replacingOccurrences(of: "e+", with: "e") }
        if v == v.rounded() { return String(Int(v)) }
        return String(format: "%.6g", v)
    }

    /// Writes `text` durably (`DurableFile`).
    static func write(_ text: String, to path: String) throws(ReportError) {
        do throws(DurableFileError) { try DurableFile.write(text.utf8, to: path) } catch { throw .cannotWrite(error) }
    }
}
