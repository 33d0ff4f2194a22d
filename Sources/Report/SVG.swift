import Foundation
import OffloadVocabulary

/// Escapes text for XML and HTML content and attribute values.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        // Characters XML 1.0 forbids: replace rather than emit an unparsable document.
        case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": out += "\u{FFFD}"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Colours: the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies).
/// Modes and phases keep the same colour in every chart.
enum Palette {
    static let black = "#000000", orange = "#E69F00", skyBlue = "#56B4E9", bluishGreen = "#009E73",
               yellow = "#F0E442", blue = "#0072B2", vermillion = "#D55E00", reddishPurple = "#CC79A7"

    static func mode(_ m: OffloadMode) -> String {
        switch m {
        case .base: vermillion
        case .su: skyBlue
        case .suO: blue
        case .suOC: bluishGreen
        }
    }

    /// Line series that are not modes (compression chart): every colour but yellow, which is too
    /// faint for a line on white.
    static let series = [black, orange, skyBlue, bluishGreen, blue, vermillion, reddishPurple]

    static let text = "#222222", axis = "#444444", grid = "#E3E3E3", muted = "#666666"
}

/// The three phases of an iteration, in stacking order (bottom first).
enum Phase: String, CaseIterable {
    case fw, bwGradOffload = "bw_grad_offload", update

    var label: String {
        switch self {
        case .fw: "FW"
        case .bwGradOffload: "BW + grad offload"
        case .update: "update + optimizer I/O"
        }
    }

    var colour: String {
        switch self {
        case .fw: Palette.orange
        case .bwGradOffload: Palette.reddishPurple
        case .update: Palette.yellow
        }
    }

    func seconds(_ r: StudyRow) -> Double {
        switch self {
        case .fw: r.fwSeconds
        case .bwGradOffload: r.bwGradOffloadSeconds
        case .update: r.updateSeconds
        }
    }
}

/// Line style per mode, so that modes differ by more than colour.
enum ModeStyle {
    static func dash(_ m: OffloadMode) -> String? { m == .base ? "7 4" : nil }

    static func marker(_ m: OffloadMode) -> Marker {
        switch m {
        case .base: .circle
        case .su: .square
        case .suO: .triangle
        case .suOC: .diamond
        }
    }
}

enum Marker { case circle, square, triangle, diamond }

/// A coordinate or length in SVG: at most two decimals, no trailing zeros (deterministic).
func num(_ x: Double) -> String {
    guard x.isFinite, abs(x) < 1e12 else { return "0" }
    let rounded = (x * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    var s = String(format: "%.2f", rounded)
    while s.hasSuffix("0") { s.removeLast() }
    return s
}

/// A value for a label: about three significant digits, plain decimal notation, no trailing zeros.
func valueLabel(_ v: Double) -> String {
    guard v.isFinite else { return "\(v)" }
    let a = abs(v)
    if a == 0 { return "0" }
    if a >= 100 { return String(format: "%.0f", v) }
    if a >= 10 { return trimmed(String(format: "%.1f", v)) }
    if a >= 1 { return trimmed(String(format: "%.2f", v)) }
    if a >= 0.001 { return trimmed(String(format: "%.4f", v)) }
    return String(format: "%.2e", v)
}

func trimmed(_ s: String) -> String {
    guard s.contains(".") else { return s }
    var s = s
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

/// A tick label for a linear axis with ticks `step` apart: as many decimals as the step needs.
func tickLabel(_ v: Double, step: Double) -> String {
    var decimals = 0
    while decimals < 6 {
        let scaled = step * pow(10, Double(decimals))
        if abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled) { break }
        decimals += 1
    }
    let s = String(format: "%.\(decimals)f", v)
    return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
}

/// Ticks 0, step, 2·step, … up to the first tick ≥ `maximum`: the smallest "nice" step (1, 2, 2.5
/// or 5 × 10^k) that needs at most `count` intervals.
func niceTicks(maximum: Double, count: Int = 5) -> (ticks: [Double], step: Double) {
    let top = maximum > 0 && maximum.isFinite ? maximum : 1
    let magnitude = pow(10, floor(log10(top / Double(count))))
    var step = 10 * magnitude
    for f in [1.0, 2, 2.5, 5, 10] where Int((top / (f * magnitude) - 1e-9).rounded(.up)) <= count {
        step = f * magnitude
        break
    }
    let n = max(1, Int((top / step - 1e-9).rounded(.up)))
    return ((0...n).map { Double($0) * step }, step)
}

/// Rough width of `text` at `size` px in a sans-serif face (generous, so labels do not collide).
func textWidth(_ text: String, size: Double) -> Double { Double(text.count) * size * 0.6 }

/// Splits `text` after spaces and slashes into at most `maxLines` lines no wider than `width`;
/// whatever does not fit is cut with an ellipsis.
func wrap(_ text: String, width: Double, size: Double, maxLines: Int = 3) -> [String] {
    var tokens: [String] = []
    var current = ""
    for ch in text {
        current.append(ch)
        if ch == " " || ch == "/" { tokens.append(current); current = "" }
    }
    if !current.isEmpty { tokens.append(current) }
    var lines: [String] = []
    var line = ""
    for (i, token) in tokens.enumerated() {
        let candidate = line + token
        if line.isEmpty || textWidth(candidate.trimmingCharacters(in: .whitespaces), size: size) <= width {
            line = candidate
        } else if lines.count == maxLines - 1 {
            line = candidate + tokens[(i + 1)...].joined()
            break
        } else {
            lines.append(line)
            line = token
        }
    }
    if !line.isEmpty { lines.append(line) }
    let fitted = lines.map { fit($0.trimmingCharacters(in: .whitespaces), width: width, size: size) }
    return fitted.isEmpty ? [""] : fitted
}

/// A small SVG writer: elements are appended as text, all text and attribute values escaped.
struct SVGCanvas {
    let width: Double
    var height: Double
    let title: String
    private(set) var body = ""

    init(width: Double, height: Double, title: String) {
        self.width = width
        self.height = height
        self.title = title
    }

    /// The document: `<svg>` root with its own `<title>`, a white background, then the body.
    func document(id: String) -> String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(xmlEscape(id))\" width=\"\(num(width))\" "
        s += "height=\"\(num(height))\" viewBox=\"0 0 \(num(width)) \(num(height))\" role=\"img\" "
        s += "font-family=\"Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif\" fill=\"\(Palette.text)\">\n"
        s += "<title>\(xmlEscape(title))</title>\n"
        s += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"\(num(width))\" height=\"\(num(height))\" fill=\"#FFFFFF\"/>\n"
        s += body
        s += "</svg>\n"
        return s
    }

    static func attributes(_ attrs: [(String, String)]) -> String {
        attrs.map { " \($0.0)=\"\(xmlEscape($0.1))\"" }.joined()
    }

    mutating func raw(_ s: String) { body += s }

    mutating func open(_ name: String, _ attrs: [(String, String)] = []) {
        body += "<\(name)\(Self.attributes(attrs))>\n"
    }

    mutating func close(_ name: String) { body += "</\(name)>\n" }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                       extra: [(String, String)] = [], tooltip: String? = nil) {
        let attrs: [(String, String)] = extra + [("x", num(x)), ("y", num(y)), ("width", num(width)),
                                                ("height", num(height)), ("fill", fill)]
        if let tooltip {
            body += "<rect\(Self.attributes(attrs))><title>\(xmlEscape(tooltip))</title></rect>\n"
        } else {
            body += "<rect\(Self.attributes(attrs))/>\n"
        }
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil) {
        var attrs: [(String, String)] = [("x1", num(x1)), ("y1", num(y1)), ("x2", num(x2)), ("y2", num(y2)),
                                         ("stroke", stroke), ("stroke-width", num(width))]
        if let dash { attrs.append(("stroke-dasharray", dash)) }
        body += "<line\(Self.attributes(attrs))/>\n"
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ s: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                       weight: String? = nil, fill: String? = nil, rotate: Double? = nil, extra: [(String, String)] = []) {
        var attrs: [(String, String)] = extra + [("x", num(x)), ("y", num(y)), ("font-size", num(size))]
        if anchor != .start { attrs.append(("text-anchor", anchor.rawValue)) }
        if let weight { attrs.append(("font-weight", weight)) }
        if let fill { attrs.append(("fill", fill)) }
        if let rotate { attrs.append(("transform", "rotate(\(num(rotate)) \(num(x)) \(num(y)))")) }
        body += "<text\(Self.attributes(attrs))>\(xmlEscape(s))</text>\n"
    }

    /// Several lines centred under `x`, the first baseline at `y`.
    mutating func lines(_ lines: [String], x: Double, y: Double, size: Double, anchor: Anchor = .middle,
                        fill: String? = nil, weight: String? = nil) {
        for (i, l) in lines.enumerated() {
            text(l, x: x, y: y + Double(i) * size * 1.2, size: size, anchor: anchor, weight: weight, fill: fill)
        }
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil,
                           extra: [(String, String)] = []) {
        var attrs: [(String, String)] = extra + [
            ("points", points.map { "\(num($0.0)),\(num($0.1))" }.joined(separator: " ")), ("fill", "none"),
            ("stroke", stroke), ("stroke-width", num(width)), ("stroke-linejoin", "round"),
        ]
        if let dash { attrs.append(("stroke-dasharray", dash)) }
        body += "<polyline\(Self.attributes(attrs))/>\n"
    }

    mutating func marker(_ kind: Marker, x: Double, y: Double, size: Double = 4.5, fill: String, tooltip: String? = nil) {
        let tail = tooltip.map { "><title>\(xmlEscape($0))</title>" } ?? "/>"
        let close: (String) -> String = { name in tooltip == nil ? "\n" : "</\(name)>\n" }
        let stroke = " stroke=\"#FFFFFF\" stroke-width=\"1\""
        switch kind {
        case .circle:
            body += "<circle class=\"marker\" cx=\"\(num(x))\" cy=\"\(num(y))\" r=\"\(num(size))\" fill=\"\(fill)\"\(stroke)\(tail)" + close("circle")
        case .square:
            let s = size * 0.9
            body += "<rect class=\"marker\" x=\"\(num(x - s))\" y=\"\(num(y - s))\" width=\"\(num(2 * s))\" height=\"\(num(2 * s))\" fill=\"\(fill)\"\(stroke)\(tail)" + close("rect")
        case .triangle:
            let s = size * 1.2
            let pts = [(x, y - s), (x + s, y + s * 0.8), (x - s, y + s * 0.8)]
            body += "<polygon class=\"marker\" points=\"\(pts.map { "\(num($0.0)),\(num($0.1))" }.joined(separator: " "))\" fill=\"\(fill)\"\(stroke)\(tail)" + close("polygon")
        case .diamond:
            let s = size * 1.25
            let pts = [(x, y - s), (x + s, y), (x, y + s), (x - s, y)]
            body += "<polygon class=\"marker\" points=\"\(pts.map { "\(num($0.0)),\(num($0.1))" }.joined(separator: " "))\" fill=\"\(fill)\"\(stroke)\(tail)" + close("polygon")
        }
    }

    /// A horizontal legend starting at (`x`, `y`), wrapping at `maxX`; returns the y below it.
    enum Swatch {
        case box(String)
        case line(String, dash: String?, marker: Marker?)
    }

    @discardableResult
    mutating func legend(_ items: [(Swatch, String)], x: Double, y: Double, maxX: Double, heading: String? = nil) -> Double {
        var cx = x
        var cy = y
        let size = 12.0
        if let heading {
            text(heading, x: cx, y: cy + 4, size: size, weight: "bold")
            cx += textWidth(heading, size: size) + 8
        }
        open("g", [("class", "legend")])
        for (swatch, label) in items {
            let w = 30 + textWidth(label, size: size) + 18
            if cx + w > maxX && cx > x { cx = x; cy += 20 }
            switch swatch {
            case let .box(fill):
                rect(x: cx, y: cy - 6, width: 14, height: 14, fill: fill, extra: [("stroke", "#333333"), ("stroke-width", "0.5")])
                text(label, x: cx + 20, y: cy + 5, size: size)
                cx += 20 + textWidth(label, size: size) + 18
            case let .line(stroke, dash, marker):
                line(x1: cx, y1: cy + 1, x2: cx + 26, y2: cy + 1, stroke: stroke, width: 2.5, dash: dash)
                if let marker { self.marker(marker, x: cx + 13, y: cy + 1, fill: stroke) }
                text(label, x: cx + 32, y: cy + 5, size: size)
                cx += w
            }
        }
        close("g")
        return cy + 20
    }

    /// A message centred in a box, for a chart with nothing to draw.
    mutating func message(_ s: String, x: Double, y: Double, width: Double, height: Double) {
        rect(x: x, y: y, width: width, height: height, fill: "#F7F7F7", extra: [("stroke", "#CCCCCC"), ("class", "empty")])
        text(s, x: x + width / 2, y: y + height / 2 + 5, size: 15, anchor: .middle, fill: Palette.muted,
             extra: [("class", "message")])
    }
}
