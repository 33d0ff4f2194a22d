import Foundation
import OffloadVocabulary
import Report

/// Study rows for the tests: the paper's Fig. 9 (GPT-2 4.0B and 8.4B on 6 and 10 SmartSSDs; totals
/// and FW+BW read from the figure) with a top-k ratio sweep for su+o+c, the phases split 1:2 between
/// FW and BW.
enum Fixtures {
    static let fig9: [(model: String, parameters: Int, rows: [(Int, OffloadMode, Double, Double)])] = [
        ("gpt2-4b", 4_000_000_000, [
            (6, .base, 23.8, 6.2), (6, .su, 19.1, 6.0), (6, .suO, 18.3, 6.0), (6, .suOC, 15.6, 4.7),
            (10, .base, 23.6, 5.7), (10, .su, 15.6, 6.0), (10, .suO, 14.7, 6.3), (10, .suOC, 12.1, 4.7),
        ]),
        ("gpt2-8b", 8_400_000_000, [
            (6, .base, 50.0, 11.9), (6, .su, 40.5, 11.9), (6, .suO, 39.8, 11.6), (6, .suOC, 35.2, 9.1),
            (10, .base, 48.9, 11.6), (10, .su, 32.4, 11.4), (10, .suO, 31.6, 11.6), (10, .suOC, 26.3, 9.1),
        ]),
    ]

    static func row(model: String, parameters: Int, devices: Int, mode: OffloadMode, total: Double, fwbw: Double,
                    base: Double?, ratio: Double = 0.01) -> StudyRow {
        let bytes: Double = switch mode {
        case .base: 32
        case .su, .suO: 8
        case .suOC: 4 + 4 * 2 * ratio
        }
        return StudyRow(model: model, parameters: parameters, devices: devices, mode: mode, topkRatio: ratio,
                        host: "hpca24-host", device: "smartssd", gpu: "a5000", overrides: [],
                        fwSeconds: fwbw / 3, bwGradOffloadSeconds: fwbw * 2 / 3, updateSeconds: total - fwbw,
                        iterationSeconds: total, speedupVsBase: base.map { $0 / total },
                        sharedLinkBytes: bytes * Double(parameters), sharedLinkBytesPerParam: bytes,
                        deviceBytesPerDevice: mode == .base ? 0 : 28 * Double(parameters) / Double(devices))
    }

    /// Fig. 9, plus su+o+c at top-k ratios 0.001 and 0.1 (slower and faster than the paper's 0.01).
    static func study(ratios: Bool = true) -> [StudyRow] {
        var rows: [StudyRow] = []
        for (model, parameters, points) in fig9 {
            for devices in [6, 10] {
                let here = points.filter { $0.0 == devices }
                let base = here.first { $0.1 == .base }!.2
                for (_, mode, total, fwbw) in here {
                    rows.append(row(model: model, parameters: parameters, devices: devices, mode: mode, total: total,
                                    fwbw: fwbw, base: base))
                    if mode == .suOC && ratios {
                        rows.append(row(model: model, parameters: parameters, devices: devices, mode: mode,
                                        total: total * 0.97, fwbw: fwbw, base: base, ratio: 0.001))
                        rows.append(row(model: model, parameters: parameters, devices: devices, mode: mode,
                                        total: total * 1.18, fwbw: fwbw * 1.1, base: base, ratio: 0.1))
                    }
                }
            }
        }
        return rows
    }

    static func temporaryDirectory(_ tag: String) -> String {
        "/tmp/smartinf-report-\(tag)-\(getpid())-\(UUID().uuidString.prefix(8))"
    }
}
