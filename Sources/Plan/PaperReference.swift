import Foundation
import OffloadVocabulary

/// The paper's published Fig. 9 (HPCA'24): seconds per iteration and speedups of GPT-2 4.0B and
/// 8.4B at 6 and 10 SmartSSDs for each mode, read from `traces/reference/hpca24-fig9.json`.
public struct PaperReference: Sendable {
    public struct Point: Sendable, Equatable {
        /// The file's key, e.g. `gpt2_4.0B`, and the preset it corresponds to, `gpt2-4.0b`.
        public let model: String
        public let preset: String
        public let devices: Int
        public let mode: OffloadMode
        public let totalSeconds: Double
        public let forwardBackwardSeconds: Double
        public let speedup: Double
    }

    public let points: [Point]
    public let source: String

    public init(path: String) throws(ReferenceError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .malformed(path, "not a JSON object")
        }
        source = root["source"] as? String ?? ""
        var points: [Point] = []
        for key in root.keys.sorted() where key.hasPrefix("gpt2_") {
            guard let rows = root[key] as? [[Any]] else { throw .malformed(path, "\(key) is not a list of rows") }
            let preset = "gpt2-" + key.dropFirst("gpt2_".count).lowercased()
            for (i, row) in rows.enumerated() {
                guard row.count == 5, let devices = (row[0] as? NSNumber)?.intValue, let modeName = row[1] as? String,
                      let mode = OffloadMode(rawValue: modeName.lowercased()),
                      let total = (row[2] as? NSNumber)?.doubleValue, let fb = (row[3] as? NSNumber)?.doubleValue,
                      let speedup = (row[4] as? NSNumber)?.doubleValue
                else { throw .malformed(path, "\(key)[\(i)]: expected [devices, mode, total_s, fw_plus_bw_s, speedup]") }
                points.append(Point(model: key, preset: preset, devices: devices, mode: mode, totalSeconds: total,
                                    forwardBackwardSeconds: fb, speedup: speedup))
            }
        }
        guard !points.isEmpty else { throw .malformed(path, "no gpt2_* tables") }
        self.points = points
    }

    /// `traces/reference/hpca24-fig9.json` beside the profiles' `Emulator/` directory.
    public static func locate(nextTo emulatorDirectory: String) -> String {
        URL(fileURLWithPath: emulatorDirectory).deletingLastPathComponent()
            .appendingPathComponent("traces/reference/hpca24-fig9.json").path
    }
}

public enum ReferenceError: Error, CustomStringConvertible {
    case unreadable(String)
    case malformed(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the reference table \(path)"
        case .malformed(let path, let why): "reference table \(path): \(why)"
        }
    }
}
