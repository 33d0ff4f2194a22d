import OffloadVocabulary
import HardwareModel

/// The model's prediction of one reference point on one machine, and how far it is from the
/// measurement: relative errors (model ÷ reference − 1) of the iteration time and of the speedup,
/// for whichever of the two the point has.
public struct PointPrediction: Sendable {
    public let point: ReferenceSet.Point
    public let result: StudyResult
    /// The modeled speedup over the point's baseline configuration, if it has one.
    public let speedup: Double?

    public var totalError: Double? { point.iterationSeconds.map { result.iterationSeconds / $0 - 1 } }
    public var speedupError: Double? {
        guard let measured = point.speedup, let speedup, !point.speedupIsTrivial else { return nil }
        return speedup / measured - 1
    }

    /// Every error the point contributes to a fit, in a fixed order (total, then speedup).
    public var errors: [Double] { [totalError, speedupError].compactMap { $0 } }
}

/// Predicts reference points on a machine. Configurations repeat across points (every Fig. 9
/// speedup is over the base of its group; every Fig. 3b speedup over base at one SSD), so each
/// configuration is planned and simulated once per call.
public enum ReferencePredictor {
    public static func predict(_ points: [ReferenceSet.Point], on setup: HardwareSetup) throws -> [PointPrediction] {
        var cache: [String: StudyResult] = [:]
        func run(_ workload: IterationWorkload, _ devices: Int, _ mode: OffloadMode) throws -> StudyResult {
            let key = "\(workload)|\(devices)|\(mode.rawValue)"
            if let known = cache[key] { return known }
            let result = try StudyResult.run(mode, workload, devices: devices, on: setup)
            cache[key] = result
            return result
        }
        return try points.map { point in
            let result = try run(point.workload, point.devices, point.mode)
            let speedup = try point.baseline.map { b in
                try run(point.workload, b.devices, b.mode).iterationSeconds / result.iterationSeconds
            }
            return PointPrediction(point: point, result: result, speedup: speedup)
        }
    }
}

/// Summary statistics of relative errors: the mean absolute percentage error and the worst.
public struct ErrorSummary: Sendable, Equatable {
    /// Mean of |error| (a fraction: 0.05 is 5 %).
    public let meanAbsolute: Double
    /// Largest |error|.
    public let worst: Double
    public let count: Int

    public init(_ errors: [Double]) {
        count = errors.count
        meanAbsolute = errors.isEmpty ? 0 : errors.map(abs).reduce(0, +) / Double(errors.count)
        worst = errors.map(abs).max() ?? 0
    }
}
