import Foundation

/// One reference value and the model's prediction of it, as `smartinf validate` computes them.
public struct ReferenceComparison: Sendable, Equatable {
    public enum Quantity: String, Sendable, CaseIterable {
        case seconds = "iteration time (s)"
        case speedup = "speedup (×)"
    }

    /// The reference set it comes from, e.g. `hpca24-fig9`.
    public var set: String
    /// What the point is: `gpt2-4.0b, 6 devices, su+o`.
    public var label: String
    public var quantity: Quantity
    public var published: Double
    public var modeled: Double

    public init(set: String, label: String, quantity: Quantity, published: Double, modeled: Double) {
        self.set = set
        self.label = label
        self.quantity = quantity
        self.published = published
        self.modeled = modeled
    }
}

/// "Model vs reference": every reference value against its prediction, one panel for iteration
/// times and one for speedups, on the diagonal where they agree, with the ±10 % band shaded.
public enum ReferenceChart {
    /// The band the issue's speedup goal allows.
    public static let band = 0.10

    /// The chart as a standalone SVG document (with its XML declaration).
    public static func svg(_ comparisons: [ReferenceComparison]) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + make(comparisons).svg
    }

    static func make(_ comparisons: [ReferenceComparison]) -> Chart {
        let title = "Model vs reference"
        let width = 1200.0, margin = 20.0, plot = 420.0
        let sets = comparisons.reduce(into: [String]()) { if !$0.contains($1.set) { $0.append($1.set) } }
        let items: [(SVGCanvas.Swatch, String)] = sets.enumerated().map { i, s in
            (.line(Palette.series[(i + 1) % Palette.series.count], dash: nil, marker: markers[i % markers.count]), s)
        }
        var probe = SVGCanvas(width: width, height: 0, title: "")
        let legendBottom = probe.legend(items, x: margin, y: 58, maxX: width - margin, heading: "Reference set:")
        let height = legendBottom + 30 + plot + 60
        var c = SVGCanvas(width: width, height: height, title: title)
        c.text(title, x: margin, y: 32, size: 19, weight: "bold", extra: [("class", "chart-title")])
        c.legend(items, x: margin, y: 58, maxX: width - margin, heading: "Reference set:")
        if comparisons.isEmpty {
            c.message("no reference points", x: margin, y: legendBottom + 8, width: width - 2 * margin, height: plot)
        }
        let panels = ReferenceComparison.Quantity.allCases.filter { q in comparisons.contains { $0.quantity == q } }
        for (p, quantity) in panels.enumerated() {
            let points = comparisons.filter { $0.quantity == quantity }
            let x0 = margin + 80 + Double(p) * (width / 2), y0 = legendBottom + 30
            let top = (points.flatMap { [$0.published, $0.modeled] }.max() ?? 1) * 1.15
            let (ticks, step) = niceTicks(maximum: top)
            let span = ticks.last!
            func sx(_ v: Double) -> Double { x0 + v / span * plot }
            func sy(_ v: Double) -> Double { y0 + plot - v / span * plot }
            c.open("g", [("class", "panel"), ("data-quantity", quantity.rawValue)])
            // The ±10 % band around the diagonal, then the diagonal.
            let area = [(0.0, 0.0), (span / (1 + band), span), (span, span), (span, span * (1 - band)), (0.0, 0.0)]
            c.raw("<polygon class=\"band\" points=\"\(area.map { "\(num(sx($0.0))),\(num(sy($0.1)))" }.joined(separator: " "))\" "
                + "fill=\"#E8F1FA\" stroke=\"none\"><title>within ±\(Int(band * 100)) %</title></polygon>\n")
            for t in ticks {
                c.line(x1: sx(t), y1: sy(0), x2: sx(t), y2: sy(span), stroke: Palette.grid)
                c.line(x1: sx(0), y1: sy(t), x2: sx(span), y2: sy(t), stroke: Palette.grid)
                c.text(tickLabel(t, step: step), x: sx(t), y: sy(0) + 16, size: 11, anchor: .middle, fill: Palette.axis)
                c.text(tickLabel(t, step: step), x: sx(0) - 6, y: sy(t) + 4, size: 11, anchor: .end, fill: Palette.axis)
            }
            c.line(x1: sx(0), y1: sy(0), x2: sx(span), y2: sy(span), stroke: Palette.muted, width: 1.2, dash: "5 4")
            c.line(x1: sx(0), y1: sy(0), x2: sx(span), y2: sy(0), stroke: Palette.axis, width: 1.2)
            c.line(x1: sx(0), y1: sy(0), x2: sx(0), y2: sy(span), stroke: Palette.axis, width: 1.2)
            c.text("published " + quantity.rawValue, x: sx(span / 2), y: sy(0) + 36, size: 12, anchor: .middle, fill: Palette.axis)
            c.text("modeled " + quantity.rawValue, x: sx(0) - 46, y: sy(span / 2), size: 12, anchor: .middle, fill: Palette.axis,
                   rotate: -90)
            for point in points {
                let i = sets.firstIndex(of: point.set) ?? 0
                let error = point.modeled / point.published - 1
                c.marker(markers[i % markers.count], x: sx(point.published), y: sy(point.modeled),
                         fill: Palette.series[(i + 1) % Palette.series.count],
                         tooltip: "\(point.set): \(point.label): published \(valueLabel(point.published)), modeled "
                             + "\(valueLabel(point.modeled)) (\(String(format: "%+.1f", error * 100)) %)")
            }
            c.close("g")
        }
        let caption = "Each reference value (x: as published or measured) against the model's prediction of it (y), on the "
            + "profiles given; the dashed diagonal is perfect agreement and the shaded band ±\(Int(band * 100)) %. Iteration "
            + "times on the left, speedups on the right (Fig. 3b publishes only speedups over one SSD)."
        return Chart(id: "model-vs-reference", file: "model-vs-reference.svg", title: title, svg: c.document(id: "model-vs-reference"),
                     caption: caption)
    }

    private static let markers: [Marker] = [.circle, .square, .triangle, .diamond]
}
