import Foundation
import OffloadVocabulary

/// One chart of the report: its standalone SVG (no XML declaration) and the caption under it.
struct Chart {
    var id: String
    var file: String
    var title: String
    var svg: String
    var caption: String
}

private let chartWidth = 1200.0
private let margin = 20.0

/// Draws a y axis with gridlines for a plot at (`x`, `y`, `w`, `h`) over [0, ticks.last].
private func yAxis(_ c: inout SVGCanvas, x: Double, y: Double, w: Double, h: Double,
                   ticks: [Double], step: Double, label: String) {
    let top = ticks.last!
    c.open("g", [("class", "y-axis")])
    for t in ticks {
        let ty = y + h - t / top * h
        c.line(x1: x, y1: ty, x2: x + w, y2: ty, stroke: t == 0 ? Palette.axis : Palette.grid, width: t == 0 ? 1.2 : 1)
        c.line(x1: x - 4, y1: ty, x2: x, y2: ty, stroke: Palette.axis)
        c.text(tickLabel(t, step: step), x: x - 7, y: ty + 4, size: 11, anchor: .end, fill: Palette.axis)
    }
    c.line(x1: x, y1: y, x2: x, y2: y + h, stroke: Palette.axis, width: 1.2)
    let widest = ticks.map { textWidth(tickLabel($0, step: step), size: 11) }.max() ?? 20
    let lx = x - widest - 16
    c.text(label, x: lx, y: y + h / 2, size: 12, anchor: .middle, fill: Palette.axis, rotate: -90)
    c.close("g")
}

/// The frame of a chart of line panels, up to three a row: the title, the legend under it, and
/// the top-left corner of each of `count` panels, or `emptyMessage` where there are none.
private func linePanels(title: String, legend items: [(SVGCanvas.Swatch, String)], heading: String, count: Int,
                        emptyMessage: String) -> (canvas: SVGCanvas, panelWidth: Double, origins: [(Double, Double)]) {
    var probe = SVGCanvas(width: chartWidth, height: 0, title: "")
    let legendBottom = probe.legend(items, x: margin, y: 58, maxX: chartWidth - margin, heading: heading)
    let columns = max(1, min(count, 3))
    let panelWidth = (chartWidth - 2 * margin) / Double(columns)
    let panelHeight = panelTitleHeight + 14 + 240 + 52.0
    let rowsOfPanels = max(1, (count + columns - 1) / columns)
    let height = legendBottom + 8 + Double(rowsOfPanels) * (panelHeight + 12) + 8
    var c = SVGCanvas(width: chartWidth, height: height, title: title)
    header(&c, title)
    c.legend(items, x: margin, y: 58, maxX: chartWidth - margin, heading: heading)
    if count == 0 {
        c.message(emptyMessage, x: margin, y: legendBottom + 8, width: chartWidth - 2 * margin, height: panelHeight)
    }
    let origins = (0..<count).map { i in
        (margin + Double(i % columns) * panelWidth, legendBottom + 8 + Double(i / columns) * (panelHeight + 12))
    }
    return (c, panelWidth, origins)
}

/// x ticks at `values` (placed by `x`) on an axis at height `y`, skipping labels that would
/// collide, and the axis's `label` under them.
private func xTicks(_ c: inout SVGCanvas, _ values: [Int], at x: (Int) -> Double, y: Double, centre: Double, label: String) {
    c.open("g", [("class", "x-axis")])
    var lastRight = -Double.infinity
    for v in values {
        c.line(x1: x(v), y1: y, x2: x(v), y2: y + 4, stroke: Palette.axis)
        let w = textWidth(String(v), size: 11)
        if x(v) - w / 2 > lastRight + 4 {
            c.text(String(v), x: x(v), y: y + 17, size: 11, anchor: .middle, fill: Palette.axis)
            lastRight = x(v) + w / 2
        }
    }
    c.text(label, x: centre, y: y + 36, size: 12, anchor: .middle, fill: Palette.axis)
    c.close("g")
}

/// Positions for labels at `ys` pushed apart to at least `gap` (kept in [lo, hi] where possible).
func spread(_ ys: [Double], gap: Double, lo: Double, hi: Double) -> [Double] {
    let order = ys.indices.sorted { ys[$0] < ys[$1] }
    var placed = order.map { ys[$0] }
    for i in placed.indices.dropFirst() where placed[i] < placed[i - 1] + gap { placed[i] = placed[i - 1] + gap }
    if let last = placed.last, last > hi {
        placed[placed.count - 1] = hi
        for i in placed.indices.reversed().dropFirst() where placed[i] > placed[i + 1] - gap { placed[i] = placed[i + 1] - gap }
    }
    if let first = placed.first, first < lo {
        placed[0] = lo
        for i in placed.indices.dropFirst() where placed[i] < placed[i - 1] + gap { placed[i] = placed[i - 1] + gap }
    }
    var out = ys
    for (rank, index) in order.enumerated() { out[index] = placed[rank] }
    return out
}

private func header(_ c: inout SVGCanvas, _ title: String) {
    c.text(title, x: margin, y: 32, size: 19, weight: "bold", extra: [("class", "chart-title")])
}

/// Shortens `text` with an ellipsis to fit `width` at `size`.
func fit(_ text: String, width: Double, size: Double) -> String {
    guard textWidth(text, size: size) > width else { return text }
    let keep = max(1, Int(width / (size * 0.6)) - 1)
    return String(text.prefix(keep)) + "…"
}

/// A panel's heading: the model in bold, then its size (and hardware, when the study has several)
/// in a smaller line; both cut to the panel's width. Takes `panelTitleHeight` px.
private let panelTitleHeight = 36.0

private func panelTitle(_ c: inout SVGCanvas, _ view: StudyView, _ k: StudyView.ModelKey, x: Double, y: Double,
                        width: Double) {
    c.text(fit(k.model, width: width, size: 14), x: x, y: y + 14, size: 14, weight: "bold", extra: [("class", "panel-title")])
    let detail = view.parameterLabel(k) + (view.multipleConfigs ? " · " + k.config : "")
    c.text(fit(detail, width: width, size: 11.5), x: x, y: y + 30, size: 11.5, fill: Palette.muted)
}

private func modeLegendItems(_ modes: [OffloadMode], lines: Bool) -> [(SVGCanvas.Swatch, String)] {
    modes.map { m in
        (lines ? .line(Palette.mode(m), dash: ModeStyle.dash(m), marker: ModeStyle.marker(m)) : .box(Palette.mode(m)), m.rawValue)
    }
}

private func ratioNote(_ view: StudyView) -> String {
    guard let r = view.primaryRatio, view.ratios.count > 1 else { return "" }
    return " su+o+c is shown at top-k ratio \(valueLabel(r)) (the study's most common); the compression chart shows the others."
}

// MARK: - 1. Phase breakdown

enum BreakdownChart {
    static let slot = 38.0, groupGap = 18.0, plotHeight = 240.0, axisWidth = 66.0

    static func make(_ view: StudyView) -> Chart {
        let chartTitle = "Iteration time by phase"
        let file = "breakdown.svg"
        var legendProbe = SVGCanvas(width: chartWidth, height: 0, title: "")
        let legendItems: [(SVGCanvas.Swatch, String)] = Phase.allCases.reversed().map { (.box($0.colour), $0.label) }
        // Panels: one per model; inside, a group per device count and a bar per mode.
        struct Panel { var key: StudyView.ModelKey; var groups: [(devices: Int, rows: [StudyRow])] }
        let panels: [Panel] = view.modelKeys.map { k in
            Panel(key: k, groups: view.devices(k).compactMap { d in
                let rows = OffloadMode.allCases.compactMap { view.cell(k, devices: d, mode: $0) }
                return rows.isEmpty ? nil : (d, rows)
            })
        }.filter { !$0.groups.isEmpty }
        func needed(_ p: Panel) -> Double {
            let bars = Double(p.groups.reduce(0) { $0 + $1.rows.count })
            return axisWidth + 24 + bars * slot + Double(p.groups.count - 1) * groupGap + 16
        }
        let widest = panels.map(needed).max() ?? 0
        let available = chartWidth - 2 * margin
        let columns = max(1, min(panels.count, 3, Int(available / max(widest, 1))))
        let width = max(chartWidth, widest + 2 * margin)
        let panelWidth = columns == 1 ? width - 2 * margin : available / Double(columns)
        let legendBottom = legendProbe.legend(legendItems, x: margin, y: 58, maxX: width - margin, heading: "Phase:")
        let titleHeight = panelTitleHeight, topPad = 20.0, bottomPad = 56.0
        let panelHeight = titleHeight + topPad + plotHeight + bottomPad
        let rowsOfPanels = (panels.count + columns - 1) / columns
        let height = legendBottom + 8 + Double(max(rowsOfPanels, 1)) * (panelHeight + 12) + 8

        var c = SVGCanvas(width: width, height: height, title: chartTitle)
        header(&c, chartTitle)
        c.legend(legendItems, x: margin, y: 58, maxX: width - margin, heading: "Phase:")
        if panels.isEmpty {
            c.message("no rows in this study", x: margin, y: legendBottom + 8, width: width - 2 * margin, height: panelHeight)
        }
        for (index, panel) in panels.enumerated() {
            let px = margin + Double(index % columns) * panelWidth
            let py = legendBottom + 8 + Double(index / columns) * (panelHeight + 12)
            c.open("g", [("class", "panel"), ("data-model", view.label(panel.key))])
            panelTitle(&c, view, panel.key, x: px + axisWidth, y: py, width: panelWidth - axisWidth - 16)
            let plotX = px + axisWidth, plotY = py + titleHeight + topPad
            let plotW = panelWidth - axisWidth - 16
            let stackTop = panel.groups.flatMap(\.rows).map { r in
                max(r.iterationSeconds, Phase.allCases.reduce(0.0) { $0 + $1.seconds(r) })
            }.max() ?? 1
            let (ticks, step) = niceTicks(maximum: stackTop * 1.04)
            yAxis(&c, x: plotX, y: plotY, w: plotW, h: plotHeight, ticks: ticks, step: step, label: "seconds per iteration")
            let yMax = ticks.last!
            let bars = Double(panel.groups.reduce(0) { $0 + $1.rows.count })
            let gaps = Double(panel.groups.count - 1) * groupGap
            let slotWidth = min(64, (plotW - 24 - gaps) / bars)
            let barWidth = (slotWidth * 0.72).rounded()
            let blockWidth = bars * slotWidth + gaps
            var x = plotX + (plotW - blockWidth) / 2
            let baseline = plotY + plotHeight
            for group in panel.groups {
                let groupStart = x
                for r in group.rows {
                    let bx = x + (slotWidth - barWidth) / 2
                    var y = baseline
                    for phase in Phase.allCases {
                        let s = phase.seconds(r)
                        let h = s / yMax * plotHeight
                        y -= h
                        c.rect(x: bx, y: y, width: barWidth, height: h, fill: phase.colour,
                               extra: [("class", "bar"), ("data-model", view.label(panel.key)), ("data-devices", String(r.devices)),
                                       ("data-mode", r.mode.rawValue), ("data-phase", phase.rawValue),
                                       ("data-seconds", "\(s)"), ("stroke", "#FFFFFF"), ("stroke-width", "0.6")],
                               tooltip: "\(view.label(panel.key)), \(r.devices) devices, \(r.mode.rawValue): \(phase.label) \(valueLabel(s)) s")
                    }
                    let labelY = min(y, baseline - r.iterationSeconds / yMax * plotHeight) - 5
                    c.text(valueLabel(r.iterationSeconds), x: bx + barWidth / 2, y: labelY, size: 10.5, anchor: .middle,
                           extra: [("class", "total")])
                    c.rect(x: bx, y: baseline + 3, width: barWidth, height: 4, fill: Palette.mode(r.mode))
                    c.text(r.mode.rawValue, x: bx + barWidth / 2, y: baseline + 19, size: 10, anchor: .middle)
                    x += slotWidth
                }
                let centre = (groupStart + x) / 2
                c.text("\(group.devices) device\(group.devices == 1 ? "" : "s")", x: centre, y: baseline + 38, size: 12,
                       anchor: .middle, weight: "bold", fill: Palette.axis)
                x += groupGap
            }
            c.close("g")
        }
        let caption = "Modeled seconds of one training iteration, split into forward (FW), backward with the gradient "
            + "offload, and the optimizer update with its I/O, for each mode (bars) and device count (groups); one panel "
            + "per model. The number above a bar is the whole iteration (iteration_s); phases that overlap or small steps "
            + "left out can make it differ slightly from the stack." + ratioNote(view)
        return Chart(id: "breakdown", file: file, title: chartTitle, svg: c.document(id: "breakdown"), caption: caption)
    }
}

// MARK: - 2. Speedup vs devices

enum SpeedupChart {
    static func make(_ view: StudyView) -> Chart {
        let chartTitle = "Speedup over base vs number of devices"
        let keys = view.modelKeys.filter { k in view.rows.contains { StudyView.key($0) == k && $0.speedupVsBase != nil } }
        let modes = view.modes.filter { m in view.rows.contains { $0.mode == m && $0.speedupVsBase != nil } }
        let frame = linePanels(title: chartTitle, legend: modeLegendItems(modes, lines: true), heading: "Mode:", count: keys.count,
                               emptyMessage: "no speedup_vs_base values in this study (no base rows to compare with)")
        var c = frame.canvas
        let panelWidth = frame.panelWidth
        for (k, (px, py)) in zip(keys, frame.origins) {
            let plotX = px + 60, plotY = py + panelTitleHeight + 14, plotW = panelWidth - 60 - 58, plotH = 240.0
            c.open("g", [("class", "panel"), ("data-model", view.label(k))])
            panelTitle(&c, view, k, x: plotX, y: py, width: panelWidth - 60 - 12)
            let devices = view.devices(k)
            let series: [(OffloadMode, [(Int, Double)])] = modes.compactMap { m in
                let points = devices.compactMap { d in view.cell(k, devices: d, mode: m)?.speedupVsBase.map { (d, $0) } }
                return points.isEmpty ? nil : (m, points)
            }
            let top = max(1, series.flatMap { $0.1.map(\.1) }.max() ?? 1)
            let (ticks, step) = niceTicks(maximum: top * 1.08)
            yAxis(&c, x: plotX, y: plotY, w: plotW, h: plotH, ticks: ticks, step: step, label: "speedup vs base (×)")
            let yMax = ticks.last!
            let used = Array(Set(series.flatMap { $0.1.map(\.0) })).sorted()
            var lo = Double(used.first ?? 1), hi = Double(used.last ?? 1)
            if lo == hi { lo -= 1; hi += 1 }
            let pad = (hi - lo) * 0.06
            lo -= pad; hi += pad
            func sx(_ d: Int) -> Double { plotX + (Double(d) - lo) / (hi - lo) * plotW }
            func sy(_ v: Double) -> Double { plotY + plotH - v / yMax * plotH }
            xTicks(&c, used, at: sx, y: plotY + plotH, centre: plotX + plotW / 2, label: "devices")
            for (m, points) in series {
                c.polyline(points.map { (sx($0.0), sy($0.1)) }, stroke: Palette.mode(m), width: 2.5, dash: ModeStyle.dash(m),
                           extra: [("class", "series"), ("data-mode", m.rawValue), ("data-model", view.label(k))])
                for (d, v) in points {
                    c.marker(ModeStyle.marker(m), x: sx(d), y: sy(v), fill: Palette.mode(m),
                             tooltip: "\(view.label(k)), \(d) devices, \(m.rawValue): \(String(format: "%.2f", v))×")
                }
            }
            // Value labels at the right end of each line, pushed apart so that they do not overlap.
            let ends = series.map { ($0.0, $0.1.last!) }
            let ys = spread(ends.map { sy($0.1.1) + 4 }, gap: 13, lo: plotY + 8, hi: plotY + plotH)
            for (i, (m, end)) in ends.enumerated() {
                c.text(String(format: "%.2f×", end.1), x: sx(end.0) + 9, y: ys[i], size: 11, fill: Palette.text,
                       extra: [("class", "end-label"), ("data-mode", m.rawValue)])
            }
            c.close("g")
        }
        let caption = "Speedup of each mode over base (base's iteration time ÷ the mode's, at the same model, device "
            + "count and hardware) against the number of devices; one panel per model, base is 1 by definition. "
            + "The number at the end of a line is the speedup at the most devices." + ratioNote(view)
        return Chart(id: "speedup", file: "speedup.svg", title: chartTitle, svg: c.document(id: "speedup"), caption: caption)
    }
}

// MARK: - 3. Compression-ratio sensitivity

enum CompressionChart {
    static let dashes: [String?] = [nil, "8 4", "3 3", "10 3 2 3"]
    static let markers: [Marker] = [.circle, .square, .triangle, .diamond]

    static func make(_ view: StudyView) -> Chart {
        let chartTitle = "Compression-ratio sensitivity (su+o+c)"
        let rows = view.rows.filter { $0.mode == .suOC && $0.topkRatio > 0 }
        let ratios = Array(Set(rows.map(\.topkRatio))).sorted()
        let useSpeedup = !rows.isEmpty && rows.allSatisfy { $0.speedupVsBase != nil }
        let metric: (StudyRow) -> Double = useSpeedup ? { $0.speedupVsBase! } : { $0.iterationSeconds }
        let yLabel = useSpeedup ? "speedup vs base (×)" : "seconds per iteration"
        // Series: one per (model, devices), points ordered by ratio (the first row per ratio); one
        // panel per model, the device count told by colour, dash and marker alike in every panel.
        struct Series { var devices: Int; var points: [(Double, Double)] }
        var panels: [(key: StudyView.ModelKey, series: [Series])] = []
        for k in view.modelKeys {
            var series: [Series] = []
            for d in view.devices(k) {
                var points: [(Double, Double)] = []
                for r in rows where StudyView.key(r) == k && r.devices == d && !points.contains(where: { $0.0 == r.topkRatio }) {
                    points.append((r.topkRatio, metric(r)))
                }
                if !points.isEmpty { series.append(Series(devices: d, points: points.sorted { $0.0 < $1.0 })) }
            }
            if !series.isEmpty { panels.append((k, series)) }
        }
        let deviceCounts = Array(Set(panels.flatMap { $0.series.map(\.devices) })).sorted()
        func style(_ devices: Int) -> (colour: String, dash: String?, marker: Marker) {
            let i = deviceCounts.firstIndex(of: devices)!
            return (Palette.series[i % Palette.series.count], dashes[(i / Palette.series.count + i) % dashes.count],
                    markers[i % markers.count])
        }
        let items: [(SVGCanvas.Swatch, String)] = deviceCounts.map { d in
            let s = style(d)
            return (.line(s.colour, dash: s.dash, marker: s.marker), "\(d) device\(d == 1 ? "" : "s")")
        }
        let drawn = ratios.count > 1
        var probe = SVGCanvas(width: chartWidth, height: 0, title: "")
        let legendBottom = drawn ? probe.legend(items, x: margin, y: 58, maxX: chartWidth - margin, heading: "Devices:") : 58
        let columns = drawn ? max(1, min(panels.count, 3)) : 1
        let panelWidth = (chartWidth - 2 * margin) / Double(columns)
        let plotH = columns == 1 ? 300.0 : 240
        let panelHeight = panelTitleHeight + 14 + plotH + 56
        let rowsOfPanels = drawn ? max(1, (panels.count + columns - 1) / columns) : 1
        let height = legendBottom + 8 + Double(rowsOfPanels) * (panelHeight + 12) + 8
        var c = SVGCanvas(width: chartWidth, height: height, title: chartTitle)
        header(&c, chartTitle)
        let caption: String
        guard drawn else {
            let text = ratios.isEmpty ? "no su+o+c rows in this study"
                : "one ratio in this study (top-k ratio \(ratioLabel(ratios[0]))): nothing to compare"
            c.message(text, x: margin, y: legendBottom + 8, width: chartWidth - 2 * margin, height: panelHeight)
            caption = "How su+o+c responds to the top-k ratio of the gradient compression. "
                + (ratios.isEmpty ? "This study has no su+o+c rows." : "This study ran a single ratio, so there is no curve to draw.")
            return Chart(id: "compression", file: "compression.svg", title: chartTitle, svg: c.document(id: "compression"),
                         caption: caption)
        }
        c.legend(items, x: margin, y: 58, maxX: chartWidth - margin, heading: "Devices:")
        // One x range for every panel, so that panels compare.
        let lmin = log10(ratios.first!), lmax = log10(ratios.last!)
        let pad = (lmax - lmin) * 0.05
        let lo = lmin - pad, hi = lmax + pad
        var tickValues: [Double] = []
        for k in Int(floor(lo))...Int(ceil(hi)) {
            for m in [1.0, 2, 5] {
                let v = m * pow(10, Double(k))
                if log10(v) >= lo - 1e-12 && log10(v) <= hi + 1e-12 { tickValues.append(v) }
            }
        }
        for (index, panel) in panels.enumerated() {
            let px = margin + Double(index % columns) * panelWidth
            let py = legendBottom + 8 + Double(index / columns) * (panelHeight + 12)
            let plotX = px + 64, plotY = py + panelTitleHeight + 14, plotW = panelWidth - 64 - 24
            c.open("g", [("class", "panel"), ("data-model", view.label(panel.key))])
            panelTitle(&c, view, panel.key, x: plotX, y: py, width: panelWidth - 64 - 12)
            let top = max(useSpeedup ? 1 : 0, panel.series.flatMap { $0.points.map(\.1) }.max() ?? 1)
            let (ticks, step) = niceTicks(maximum: top * 1.08)
            yAxis(&c, x: plotX, y: plotY, w: plotW, h: plotH, ticks: ticks, step: step, label: yLabel)
            let yMax = ticks.last!
            func sx(_ r: Double) -> Double { plotX + (log10(r) - lo) / (hi - lo) * plotW }
            func sy(_ v: Double) -> Double { plotY + plotH - v / yMax * plotH }
            // Log ticks at 1, 2, 5 × 10^k; labels skipped where they would collide (powers of ten first).
            c.open("g", [("class", "x-axis")])
            var labelled: [(Double, Double)] = []
            let ordered = tickValues.filter { isDecade($0) } + tickValues.filter { !isDecade($0) }
            for v in ordered {
                let x = sx(v)
                let major = isDecade(v)
                c.line(x1: x, y1: plotY, x2: x, y2: plotY + plotH, stroke: Palette.grid, width: major ? 1 : 0.6,
                       dash: major ? nil : "2 3")
                c.line(x1: x, y1: plotY + plotH, x2: x, y2: plotY + plotH + (major ? 5 : 3), stroke: Palette.axis)
                let label = ratioLabel(v)
                let half = textWidth(label, size: 11) / 2
                if !labelled.contains(where: { abs($0.0 - x) < $0.1 + half + 6 }) {
                    c.text(label, x: x, y: plotY + plotH + 18, size: 11, anchor: .middle, fill: Palette.axis)
                    labelled.append((x, half))
                }
            }
            c.text("top-k ratio (log scale)", x: plotX + plotW / 2, y: plotY + plotH + 40, size: 12, anchor: .middle,
                   fill: Palette.axis)
            c.close("g")
            for s in panel.series {
                let st = style(s.devices)
                c.polyline(s.points.map { (sx($0.0), sy($0.1)) }, stroke: st.colour, width: 2.5, dash: st.dash,
                           extra: [("class", "series"), ("data-model", view.label(panel.key)), ("data-devices", String(s.devices))])
                for (r, v) in s.points {
                    c.marker(st.marker, x: sx(r), y: sy(v), fill: st.colour,
                             tooltip: "\(view.label(panel.key)), \(s.devices) devices, ratio \(ratioLabel(r)): "
                                 + (useSpeedup ? String(format: "%.2f×", v) : "\(valueLabel(v)) s"))
                }
            }
            c.close("g")
        }
        caption = "How su+o+c responds to the top-k ratio of the gradient compression (the fraction of gradient "
            + "elements sent): "
            + (useSpeedup ? "speedup over base (higher is better)" : "modeled seconds per iteration (lower is better)")
            + " against the ratio on a log axis; one panel per model, one line per device count."
        return Chart(id: "compression", file: "compression.svg", title: chartTitle, svg: c.document(id: "compression"),
                     caption: caption)
    }

    static func isDecade(_ v: Double) -> Bool { abs(log10(v) - log10(v).rounded()) < 1e-9 }

    static func ratioLabel(_ v: Double) -> String {
        if v >= 1 { return trimmed(String(format: "%.2f", v)) }
        let decimals = Int((-log10(v)).rounded(.up)) + 1
        return trimmed(String(format: "%.\(min(decimals, 9))f", v))
    }
}

// MARK: - 4. Shared-link bytes per parameter

enum SharedLinkChart {
    static func make(_ view: StudyView) -> Chart {
        let chartTitle = "Bytes per parameter on the host's shared link"
        struct Group { var key: StudyView.ModelKey; var devices: Int?; var rows: [StudyRow] }
        var groups: [Group] = []
        // Splitting a model's bars by device count is only affordable for a few bars; otherwise each
        // model shows its largest device count.
        let splitBars = view.modelKeys.reduce(0) { total, k in
            total + view.devices(k).reduce(0) { n, d in n + OffloadMode.allCases.filter { view.cell(k, devices: d, mode: $0) != nil }.count }
        }
        let splitAllowed = splitBars <= 40
        var largestOnly = false
        for k in view.modelKeys {
            let devices = view.devices(k)
            // One group per model unless the bytes differ between device counts.
            let varies = OffloadMode.allCases.contains { m in
                let values = devices.compactMap { view.cell(k, devices: $0, mode: m)?.sharedLinkBytesPerParam }
                guard let first = values.first else { return false }
                return values.contains { abs($0 - first) > 1e-9 * max(abs(first), 1) }
            }
            if varies && splitAllowed {
                for d in devices {
                    let rows = OffloadMode.allCases.compactMap { view.cell(k, devices: d, mode: $0) }
                    if !rows.isEmpty { groups.append(Group(key: k, devices: d, rows: rows)) }
                }
            } else {
                if varies { largestOnly = true }
                let order = varies ? Array(devices.reversed()) : devices
                let rows = OffloadMode.allCases.compactMap { m in order.lazy.compactMap { view.cell(k, devices: $0, mode: m) }.first }
                if !rows.isEmpty { groups.append(Group(key: k, devices: nil, rows: rows)) }
            }
        }
        let items = modeLegendItems(view.modes, lines: false)
        var groupGap = 28.0
        let bars = Double(groups.reduce(0) { $0 + $1.rows.count })
        let axisWidth = 76.0
        let fixed = 2 * margin + axisWidth + 24 + Double(max(groups.count - 1, 0)) * groupGap + 10
        let width = max(chartWidth, fixed + bars * 30)
        var probe = SVGCanvas(width: width, height: 0, title: "")
        let legendBottom = probe.legend(items, x: margin, y: 58, maxX: width - margin, heading: "Mode:")
        let plotX = margin + axisWidth, plotY = legendBottom + 26, plotW = width - margin - axisWidth - margin - 10
        let plotH = 260.0
        let slotWidth = groups.isEmpty ? 0 : min(64, (plotW - 24 - Double(groups.count - 1) * groupGap) / bars)
        // Few bars: spread the groups rather than leave the plot empty on both sides.
        if groups.count > 1 {
            groupGap = min(140, max(groupGap, (plotW * 0.8 - bars * slotWidth) / Double(groups.count - 1)))
        }
        let barWidth = (slotWidth * 0.72).rounded()
        // Group labels wrap to the group's width.
        let labels: [[String]] = groups.map { g in
            let w = max(Double(g.rows.count) * slotWidth + groupGap - 8, 60)
            var text = view.label(g.key)
            if let d = g.devices { text += " · \(d) device\(d == 1 ? "" : "s")" }
            return wrap(text, width: w, size: 12) + [view.parameterLabel(g.key)]
        }
        let labelLines = Double(labels.map(\.count).max() ?? 1)
        let height = plotY + plotH + 10 + labelLines * 14.4 + 16
        var c = SVGCanvas(width: width, height: height, title: chartTitle)
        header(&c, chartTitle)
        c.legend(items, x: margin, y: 58, maxX: width - margin, heading: "Mode:")
        if groups.isEmpty {
            c.message("no rows in this study", x: margin, y: plotY, width: width - 2 * margin, height: plotH)
        } else {
            let top = groups.flatMap(\.rows).map(\.sharedLinkBytesPerParam).max() ?? 1
            let (ticks, step) = niceTicks(maximum: max(top, 1e-9) * 1.06)
            yAxis(&c, x: plotX, y: plotY, w: plotW, h: plotH, ticks: ticks, step: step, label: "bytes per parameter")
            let yMax = ticks.last!
            let baseline = plotY + plotH
            let block = bars * slotWidth + Double(groups.count - 1) * groupGap
            var x = plotX + (plotW - block) / 2
            for (g, group) in groups.enumerated() {
                let start = x
                for r in group.rows {
                    let v = r.sharedLinkBytesPerParam
                    let h = v / yMax * plotH
                    let bx = x + (slotWidth - barWidth) / 2
                    c.rect(x: bx, y: baseline - h, width: barWidth, height: h, fill: Palette.mode(r.mode),
                           extra: [("class", "bar"), ("data-model", view.label(group.key)),
                                   ("data-devices", group.devices.map(String.init) ?? "all"), ("data-mode", r.mode.rawValue),
                                   ("data-value", "\(v)")],
                           tooltip: "\(view.label(group.key)), \(r.mode.rawValue): \(valueLabel(v)) B/parameter")
                    let label = valueLabel(v)
                    let rotate = textWidth(label, size: 10.5) > slotWidth - 2
                    if rotate {
                        c.text(label, x: bx + barWidth / 2 + 4, y: baseline - h - 5, size: 10.5, rotate: -90)
                    } else {
                        c.text(label, x: bx + barWidth / 2, y: baseline - h - 5, size: 10.5, anchor: .middle)
                    }
                    x += slotWidth
                }
                c.lines(labels[g], x: (start + x) / 2, y: baseline + 18, size: 12, fill: Palette.axis)
                x += groupGap
            }
        }
        let caption = "Bytes that cross the host's shared PCIe link per model parameter in one iteration, for each mode "
            + "(colour), grouped by model (and by device count where it changes the bytes). Base moves the gradient, the "
            + "parameters and the optimizer states across the link; SmartUpdate keeps the states inside the devices, and "
            + "compression shrinks the gradient."
            + (largestOnly ? " Where the bytes change with the device count, a model's bars are at its most devices." : "")
            + ratioNote(view)
        return Chart(id: "shared-link-bytes", file: "shared-link-bytes.svg", title: chartTitle,
                     svg: c.document(id: "shared-link-bytes"), caption: caption)
    }
}

// MARK: - 5. Scaling with hosts

enum HostsChart {
    /// One model on one machine (its profiles and overrides) at one device count per host: the
    /// rows a panel draws across the host counts.
    struct Panel: Hashable {
        var model: String
        var machine: String
        var devices: Int
    }

    static func make(_ view: StudyView) -> Chart {
        let chartTitle = "Update phase and network time per host vs number of hosts"
        let rows = view.primaryRows
        var byPanel: [Panel: [StudyRow]] = [:]
        var order: [Panel] = []
        for r in rows {
            let panel = Panel(model: r.model, machine: StudyView.setting(r), devices: r.devices)
            if byPanel[panel] == nil { order.append(panel) }
            byPanel[panel, default: []].append(r)
        }
        let panels = order.filter { Set(byPanel[$0]!.map(\.hosts)).count > 1 }
        let modes = view.modes.filter { m in panels.contains { byPanel[$0]!.contains { $0.mode == m } } }
        let items = modeLegendItems(modes, lines: true) + [(.line(Palette.black, dash: "2 3", marker: .square), "network busy")]
        let frame = linePanels(title: chartTitle, legend: items, heading: "Update phase of:", count: panels.count,
                               emptyMessage: "one host count per model and machine in this study: sweep --hosts 1,2,4,8 to draw this chart")
        var c = frame.canvas
        let panelWidth = frame.panelWidth
        for (panel, (px, py)) in zip(panels, frame.origins) {
            let panelRows = byPanel[panel]!
            let plotX = px + 60, plotY = py + panelTitleHeight + 14, plotW = panelWidth - 60 - 58, plotH = 240.0
            let label = "\(panel.model) · \(panel.devices) device\(panel.devices == 1 ? "" : "s") per host"
            c.open("g", [("class", "panel"), ("data-model", label)])
            c.text(fit(label, width: panelWidth - 72, size: 14), x: plotX, y: py + 14, size: 14, weight: "bold",
                   extra: [("class", "panel-title")])
            c.text(fit(panel.machine, width: panelWidth - 72, size: 11.5), x: plotX, y: py + 30, size: 11.5, fill: Palette.muted)
            let hosts = Array(Set(panelRows.map(\.hosts))).sorted()
            // Host counts grow by factors, so they sit at even steps.
            func sx(_ h: Int) -> Double {
                hosts.count == 1 ? plotX + plotW / 2
                    : plotX + plotW * (0.04 + 0.92 * Double(hosts.firstIndex(of: h)!) / Double(hosts.count - 1))
            }
            let series: [(OffloadMode, [(Int, Double)])] = modes.compactMap { m in
                let points = hosts.compactMap { h in panelRows.first { $0.mode == m && $0.hosts == h }.map { (h, $0.updateSeconds) } }
                return points.isEmpty ? nil : (m, points)
            }
            let network = hosts.compactMap { h in panelRows.first { $0.hosts == h }.map { (h, $0.networkSeconds) } }
            let top = max(series.flatMap { $0.1.map(\.1) }.max() ?? 0, network.map(\.1).max() ?? 0, 1e-9)
            let (ticks, step) = niceTicks(maximum: top * 1.08)
            yAxis(&c, x: plotX, y: plotY, w: plotW, h: plotH, ticks: ticks, step: step, label: "seconds per iteration, per host")
            func sy(_ v: Double) -> Double { plotY + plotH - v / ticks.last! * plotH }
            xTicks(&c, hosts, at: sx, y: plotY + plotH, centre: plotX + plotW / 2, label: "hosts")
            for (m, points) in series {
                c.polyline(points.map { (sx($0.0), sy($0.1)) }, stroke: Palette.mode(m), width: 2.5, dash: ModeStyle.dash(m),
                           extra: [("class", "series"), ("data-mode", m.rawValue), ("data-model", label)])
                for (h, v) in points {
                    c.marker(ModeStyle.marker(m), x: sx(h), y: sy(v), fill: Palette.mode(m),
                             tooltip: "\(label), \(h) host\(h == 1 ? "" : "s"), \(m.rawValue): update \(String(format: "%.2f", v)) s")
                }
            }
            c.polyline(network.map { (sx($0.0), sy($0.1)) }, stroke: Palette.black, width: 2, dash: "2 3",
                       extra: [("class", "network"), ("data-model", label)])
            for (h, v) in network {
                c.marker(.square, x: sx(h), y: sy(v), size: 3.5, fill: Palette.black,
                         tooltip: "\(label), \(h) host\(h == 1 ? "" : "s"): network busy \(String(format: "%.2f", v)) s")
            }
            c.close("g")
        }
        let caption = "Per host, at a fixed batch per host: each mode's update + optimizer I/O phase (the optimizer states "
            + "are partitioned over the hosts, so each host's devices step 1/N of them), and the seconds the host's network "
            + "is busy with the gradients' reduce-scatter and the new parameters' all-gather (black, the same in every "
            + "mode). The update falls as 1/N while the network's bytes grow towards 4 per parameter; where the lines "
            + "meet, the network, not the drives, bounds the update. One panel per model, machine and device count swept "
            + "over two or more host counts." + ratioNote(view)
        return Chart(id: "hosts", file: "hosts.svg", title: chartTitle, svg: c.document(id: "hosts"), caption: caption)
    }
}

// MARK: - 6. Time against the devices' cost

enum CostChart {
    /// One model on one machine short of its storage (the GPU, the host and its count, the
    /// overrides, the what-ifs): what a panel compares drives and their counts on.
    struct Panel: Hashable {
        var model: String
        var machine: String
    }

    /// One line: a device profile at one price, in one mode, across the device counts.
    struct Series: Hashable {
        var device: String
        var price: Double
        var mode: OffloadMode
    }

    static func make(_ view: StudyView) -> Chart {
        let chartTitle = "Seconds per iteration vs what the storage devices cost"
        let shown = view.primaryRows
        let priced = shown.filter { $0.devicePrice != nil }
        var byPanel: [Panel: [Series: [StudyRow]]] = [:]
        var panels: [Panel] = []
        var kinds: [Series] = []
        for r in priced {
            let panel = Panel(model: r.model, machine: StudyView.config(r, device: false))
            let series = Series(device: r.device, price: r.devicePrice!, mode: r.mode)
            if byPanel[panel] == nil { panels.append(panel) }
            if !kinds.contains(series) { kinds.append(series) }
            if !(byPanel[panel]?[series]?.contains { $0.devices == r.devices } ?? false) {
                byPanel[panel, default: [:]][series, default: []].append(r)
            }
        }
        // A colour per device at a price; the mode by dash and marker, as in the other charts.
        var drives: [String] = []
        for s in kinds where !drives.contains(drive(s)) { drives.append(drive(s)) }
        func colour(_ s: Series) -> String { Palette.series[drives.firstIndex(of: drive(s))! % Palette.series.count] }
        let modes = OffloadMode.allCases.filter { m in kinds.contains { $0.mode == m } }
        let items: [(SVGCanvas.Swatch, String)] = drives.enumerated().map { (.box(Palette.series[$0.offset % Palette.series.count]), $0.element) }
            + modes.map { (.line(Palette.black, dash: ModeStyle.dash($0), marker: ModeStyle.marker($0)), $0.rawValue) }
        let frame = linePanels(title: chartTitle, legend: items, heading: "Device at its price, and mode:", count: panels.count,
                               emptyMessage: "no row has a device price: give one with --set device.price=…USD or sweep --prices PROFILE=…USD")
        var c = frame.canvas
        let panelWidth = frame.panelWidth
        for (panel, (px, py)) in zip(panels, frame.origins) {
            let lines = byPanel[panel]!.map { ($0.key, $0.value.sorted { $0.deviceCost! < $1.deviceCost! }) }
                .sorted { kinds.firstIndex(of: $0.0)! < kinds.firstIndex(of: $1.0)! }
            let plotX = px + 60, plotY = py + panelTitleHeight + 14, plotW = panelWidth - 60 - 40, plotH = 240.0
            c.open("g", [("class", "panel"), ("data-model", panel.model)])
            c.text(fit(panel.model, width: panelWidth - 72, size: 14), x: plotX, y: py + 14, size: 14, weight: "bold",
                   extra: [("class", "panel-title")])
            c.text(fit(panel.machine, width: panelWidth - 72, size: 11.5), x: plotX, y: py + 30, size: 11.5, fill: Palette.muted)
            let rows = lines.flatMap(\.1)
            let (yTicks, yStep) = niceTicks(maximum: max(rows.map(\.iterationSeconds).max() ?? 0, 1e-9) * 1.08)
            yAxis(&c, x: plotX, y: plotY, w: plotW, h: plotH, ticks: yTicks, step: yStep, label: "seconds per iteration")
            let (xTicks, xStep) = niceTicks(maximum: max(rows.compactMap(\.deviceCost).max() ?? 0, 1e-9) * 1.05)
            func sx(_ cost: Double) -> Double { plotX + cost / xTicks.last! * plotW }
            func sy(_ v: Double) -> Double { plotY + plotH - v / yTicks.last! * plotH }
            c.open("g", [("class", "x-axis")])
            for t in xTicks {
                c.line(x1: sx(t), y1: plotY + plotH, x2: sx(t), y2: plotY + plotH + 4, stroke: Palette.axis)
                c.text(tickLabel(t, step: xStep), x: sx(t), y: plotY + plotH + 17, size: 11, anchor: .middle, fill: Palette.axis)
            }
            c.text("US dollars of storage devices (every host's)", x: plotX + plotW / 2, y: plotY + plotH + 36, size: 12,
                   anchor: .middle, fill: Palette.axis)
            c.close("g")
            for (series, points) in lines {
                let name = "\(drive(series)), \(series.mode.rawValue)"
                c.polyline(points.map { (sx($0.deviceCost!), sy($0.iterationSeconds)) }, stroke: colour(series), width: 2.5,
                           dash: ModeStyle.dash(series.mode),
                           extra: [("class", "series"), ("data-device", series.device), ("data-mode", series.mode.rawValue),
                                   ("data-price", num(series.price))])
                for r in points {
                    c.marker(ModeStyle.marker(series.mode), x: sx(r.deviceCost!), y: sy(r.iterationSeconds), fill: colour(series),
                             tooltip: "\(panel.model), \(r.devices) × \(name): \(num(r.deviceCost!)) USD, "
                                 + "\(String(format: "%.2f", r.iterationSeconds)) s, "
                                 + "\(String(format: "%.3g", r.stepsPerHourPerThousandUSD!)) iterations per hour per 1000 USD")
                }
            }
            c.close("g")
        }
        let unpriced = Array(Set(shown.filter { $0.devicePrice == nil }.map(\.device))).sorted()
        let caption = "Modeled seconds per iteration against what the storage devices cost (hosts × devices × the price per "
            + "device; lower and further left is better): one line per device profile at its price and mode, through its "
            + "device counts, so a budget reads off as the fastest line above it. The table's steps_per_hour_per_kusd "
            + "(3600 / seconds / (cost / 1000)) puts both on one number. Only the storage is priced: the GPU and the host "
            + "are the same in every line of a panel."
            + (unpriced.isEmpty ? "" : " Left out, without a price (n/a in the table): " + unpriced.joined(separator: ", ")
                + "; give one with --set device.price=…USD or sweep --prices.") + ratioNote(view)
        return Chart(id: "cost", file: "cost.svg", title: chartTitle, svg: c.document(id: "cost"), caption: caption)
    }

    /// `smartssd at 517 USD`.
    static func drive(_ s: Series) -> String { "\(s.device) at \(num(s.price)) USD" }
}
