import Foundation
import OffloadVocabulary

/// How the charts see a study: rows grouped by model (and hardware configuration, when the study
/// has several), one row per (model, devices, mode) cell.
///
/// When a cell has several rows (a sweep over top-k ratios repeats the cell), the charts other than
/// the compression chart use `primaryRatio` for su+o+c — the ratio most su+o+c rows have (ties: the
/// one nearest the paper's top-1%) — and the first row in table order otherwise.
struct StudyView {
    struct ModelKey: Hashable {
        var model: String
        var config: String
    }

    struct CellKey: Hashable {
        var key: ModelKey
        var devices: Int
        var mode: OffloadMode
    }

    let rows: [StudyRow]
    /// Hardware configurations (`host/device/gpu [overrides]`) in table order.
    let configs: [String]
    /// Models (with configuration) ordered by parameter count, then name, then configuration.
    let modelKeys: [ModelKey]
    let parameters: [ModelKey: Int]
    let primaryRatio: Double?
    private let cells: [CellKey: StudyRow]

    /// The configuration of a row: its host count when it has several (first, so that a panel
    /// title cut to its width keeps it), then its `setting`.
    /// Without its device profile (`device: false`): what the cost chart compares drives on.
    static func config(_ r: StudyRow, device: Bool = true) -> String {
        (r.hosts > 1 ? "\(r.hosts) hosts · " : "") + setting(r, device: device)
    }

    /// A row's profiles, overrides and workload what-ifs. Not its device price: a price changes
    /// no time, so rows that differ only in it share their configuration (and the cost chart
    /// tells them apart).
    static func setting(_ r: StudyRow, device: Bool = true) -> String {
        (device ? "\(r.host)/\(r.device)/\(r.gpu)" : "\(r.host)/\(r.gpu)")
            + (r.overrides.isEmpty ? "" : " [\(r.overrides.joined(separator: ";"))]")
            + (r.whatIfs.isEmpty ? "" : " {\(r.whatIfs.joined(separator: ";"))}")
    }

    static func key(_ r: StudyRow) -> ModelKey { ModelKey(model: r.model, config: config(r)) }

    /// Rows the charts leave out: a number that is not finite, or negative seconds or bytes.
    let leftOut: Int

    static func drawable(_ r: StudyRow) -> Bool {
        let values = [r.topkRatio, r.fwSeconds, r.bwGradOffloadSeconds, r.updateSeconds, r.iterationSeconds,
                      r.speedupVsBase ?? 1, r.sharedLinkBytes, r.sharedLinkBytesPerParam, r.deviceBytesPerDevice, r.networkBytes,
                      r.networkSeconds]
        return values.allSatisfy { $0.isFinite && $0 >= 0 }
    }

    init(_ all: [StudyRow]) {
        let rows = all.filter(Self.drawable)
        leftOut = all.count - rows.count
        self.rows = rows
        var configs: [String] = []
        var parameters: [ModelKey: Int] = [:]
        var order: [ModelKey] = []
        for r in rows {
            let c = Self.config(r)
            if !configs.contains(c) { configs.append(c) }
            let k = Self.key(r)
            if parameters[k] == nil { parameters[k] = r.parameters; order.append(k) }
        }
        self.configs = configs
        self.parameters = parameters
        modelKeys = order.sorted { a, b in
            let pa = parameters[a]!, pb = parameters[b]!
            if pa != pb { return pa < pb }
            if a.model != b.model { return a.model < b.model }
            return configs.firstIndex(of: a.config)! < configs.firstIndex(of: b.config)!
        }
        // The su+o+c ratio to show where one ratio must be chosen.
        var counts: [Double: Int] = [:]
        for r in rows where r.mode == .suOC { counts[r.topkRatio, default: 0] += 1 }
        func distance(_ x: Double) -> Double { x > 0 ? abs(log10(x) - log10(0.01)) : .infinity }
        primaryRatio = counts.max { a, b in
            if a.value != b.value { return a.value < b.value }
            if distance(a.key) != distance(b.key) { return distance(a.key) > distance(b.key) }
            return a.key > b.key
        }?.key
        var cells: [CellKey: StudyRow] = [:]
        for r in rows {
            let ck = CellKey(key: Self.key(r), devices: r.devices, mode: r.mode)
            if let existing = cells[ck] {
                if r.mode == .suOC && existing.topkRatio != primaryRatio && r.topkRatio == primaryRatio { cells[ck] = r }
            } else {
                cells[ck] = r
            }
        }
        self.cells = cells
    }

    var multipleConfigs: Bool { configs.count > 1 }

    /// A model's name for titles and legends (with its configuration when the study has several).
    func label(_ k: ModelKey) -> String { multipleConfigs ? "\(k.model) · \(k.config)" : k.model }

    /// "4.0B parameters" and the like.
    func parameterLabel(_ k: ModelKey) -> String {
        let p = Double(parameters[k] ?? 0)
        if p >= 1e9 { return String(format: "%.1f", p / 1e9) + "B parameters" }
        if p >= 1e6 { return String(format: "%.1f", p / 1e6) + "M parameters" }
        return "\(Int(p)) parameters"
    }

    func cell(_ k: ModelKey, devices: Int, mode: OffloadMode) -> StudyRow? {
        cells[CellKey(key: k, devices: devices, mode: mode)]
    }

    func devices(_ k: ModelKey) -> [Int] {
        Array(Set(rows.filter { Self.key($0) == k }.map(\.devices))).sorted()
    }

    var allDevices: [Int] { Array(Set(rows.map(\.devices))).sorted() }
    var modes: [OffloadMode] { OffloadMode.allCases.filter { m in rows.contains { $0.mode == m } } }

    var ratios: [Double] { Array(Set(rows.filter { $0.mode == .suOC }.map(\.topkRatio))).sorted() }

    /// The rows a line chart across devices, hosts or cost draws: su+o+c at `primaryRatio` only,
    /// as the other charts show it (the compression chart draws the other ratios).
    var primaryRows: [StudyRow] { rows.filter { $0.mode != .suOC || primaryRatio == nil || $0.topkRatio == primaryRatio } }
}
