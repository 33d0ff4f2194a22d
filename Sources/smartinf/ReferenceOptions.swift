import ArgumentParser
import Foundation
import HardwareModel
import Plan
import Report

/// The reference sets a command checks or fits the model against: `--reference FILE`
/// (repeatable), by default the paper's Fig. 9 and Fig. 3b shipped in `traces/reference/`.
struct ReferenceOptions: ParsableArguments {
    @Option(name: .customLong("reference"),
            help: ArgumentHelp("A reference set (docs/REFERENCE-SETS.md); repeatable. Default: traces/reference/hpca24-fig9.json and hpca24-fig3b.json.",
                               valueName: "file"))
    var files: [String] = []

    func sets(library: ProfileLibrary) throws -> [ReferenceSet] {
        let paths = files.isEmpty
            ? ReferenceSet.shippedNames.map { ReferenceSet.shippedDirectory(nextTo: library.directory).appendingPathComponent($0 + ".json").path }
            : files
        return try paths.map { (path) throws(ReferenceSetError) in try ReferenceSet(path: path) }
    }
}

/// The quantities the shipped profiles were calibrated on (`smartinf calibrate`'s default
/// `--fit`, and what `validate` refits in each cross-validation fold).
enum ShippedCalibration {
    static let keyPaths = ["ssd.write", "fpga.peerToPeerWrite", "link.shared"]
}

extension ReferenceSet.Point {
    /// `gpt2-4.0b, 6 devices, su+o`.
    var configuration: String { "\(modelName), \(devices) device\(devices == 1 ? "" : "s"), \(mode.rawValue)" }
}

extension PointPrediction {
    /// The reference values of this point with the model's, for the model-vs-reference chart.
    func comparisons(set: String) -> [ReferenceComparison] {
        var out: [ReferenceComparison] = []
        if let measured = point.iterationSeconds {
            out.append(.init(set: set, label: point.configuration, quantity: .seconds, published: measured, modeled: result.iterationSeconds))
        }
        if speedupError != nil, let measured = point.speedup, let speedup {
            out.append(.init(set: set, label: point.configuration + " over \(point.baseline!.mode.rawValue) at \(point.baseline!.devices)",
                             quantity: .speedup, published: measured, modeled: speedup))
        }
        return out
    }
}

/// Formats a relative error as a signed percentage, or "-" when there is none.
func percent(_ error: Double?) -> String { error.map { String(format: "%+.1f%%", $0 * 100) } ?? "-" }
