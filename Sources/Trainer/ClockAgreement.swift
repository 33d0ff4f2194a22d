import Foundation
import LiveClock
import Logging
import Offload
import OffloadVocabulary

/// Model against reality on this machine: the same small training run under the paced clock,
/// whose wall time ÷ dilation must agree with the modeled seconds the virtual clock charges
/// for the same operations (docs/ARCHITECTURE.md, "Clocks"). Disagreement is software overhead the model does not
/// know of, or sharing the pacer and the fluid model resolve differently.
public enum ClockAgreement {
    public struct Point: Sendable, Encodable {
        public var mode: OffloadMode
        public var devices: Int
        public var dilation: Double
        /// Medians over the measured steps (the first step is a warm-up and is left out).
        public var modeledIteration: Double
        public var pacedIteration: Double
        public var modeledUpdate: Double
        public var pacedUpdate: Double
        /// The virtual clock's modeled iteration for the same run (same work, no pacing).
        public var virtualIteration: Double

        public var iterationError: Double { pacedIteration / virtualIteration - 1 }
        public var updateError: Double { pacedUpdate / modeledUpdate - 1 }

        enum CodingKeys: String, CodingKey {
            case mode, devices, dilation, modeledIteration, pacedIteration, modeledUpdate, pacedUpdate, virtualIteration
            case iterationError, updateError
        }

        /// Seconds and errors as `bench clock --json` prints them.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(mode.rawValue, forKey: .mode)
            try c.encode(devices, forKey: .devices)
            try c.encode(dilation, forKey: .dilation)
            try c.encode(modeledIteration, forKey: .modeledIteration)
            try c.encode(pacedIteration, forKey: .pacedIteration)
            try c.encode(modeledUpdate, forKey: .modeledUpdate)
            try c.encode(pacedUpdate, forKey: .pacedUpdate)
            try c.encode(virtualIteration, forKey: .virtualIteration)
            try c.encode(iterationError, forKey: .iterationError)
            try c.encode(updateError, forKey: .updateError)
        }
    }

    /// Runs `base` (a small model's options) once under the virtual clock and once paced, for
    /// each mode and device count; `steps` ≥ 2. `logger` is told of each point as it is measured.
    public static func measure(_ base: TrainingOptions, modes: [OffloadMode], devices: [Int], dilation: Double,
                               logger: Logger = Logger(label: "smartinf.clock", factory: SwiftLogNoOpLogHandler.init)) throws -> [Point] {
        var points: [Point] = []
        for mode in modes {
            for count in devices {
                var options = base
                options.mode = mode
                options.devices = count
                options.clock.kind = .virtual
                let virtual = try run(options, logger: logger.forNestedRun)
                options.clock.kind = .paced
                options.clock.dilation = dilation
                let paced = try run(options, logger: logger.forNestedRun)
                let measured = Array(paced.dropFirst())
                func median(_ values: [Double]) -> Double {
                    let sorted = values.sorted()
                    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
                }
                let point = Point(
                    mode: mode, devices: count, dilation: dilation,
                    modeledIteration: median(measured.compactMap { $0.modeled?.iteration }),
                    pacedIteration: median(measured.map { $0.seconds.total / dilation }),
                    modeledUpdate: median(measured.compactMap { $0.modeled?.fleetStep }),
                    pacedUpdate: median(measured.map { $0.seconds.update / dilation }),
                    virtualIteration: median(virtual.dropFirst().compactMap { $0.modeled?.iteration }))
                logger.info("\(String(format: "%@ × %d: modeled %.4f ms, paced %.4f ms", mode.rawValue, count, point.virtualIteration * 1e3, point.pacedIteration * 1e3))")
                points.append(point)
            }
        }
        return points
    }

    private static func run(_ options: TrainingOptions, logger: Logger) throws -> [StepRecord] {
        let run = try TrainingRun(options, logger: logger)
        defer { run.finish() }
        try run.run()
        return run.records
    }
}
