import Foundation

/// Wall-clock timing for benchmarks on a shared, noisy machine: every figure is a median of
/// several samples, and limits are sampled interleaved with the work they bound so that both
/// see the same machine load.
public enum Timing {
    /// Seconds taken by `body`, on `ContinuousClock`.
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return elapsed / .seconds(1)
    }

    /// The median of `samples` (the mean of the middle two for an even count).
    public static func median(_ samples: [Double]) -> Double {
        precondition(!samples.isEmpty, "median of no samples")
        let sorted = samples.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Runs `warmup` untimed rounds, then `repetitions` timed rounds of every body in turn, and
    /// returns each body's samples in seconds.
    public static func interleaved(repetitions: Int, warmup: Int = 1, _ bodies: [() -> Void]) -> [[Double]] {
        for _ in 0..<warmup { bodies.forEach { $0() } }
        var samples = Array(repeating: [Double](), count: bodies.count)
        for _ in 0..<repetitions {
            for (i, body) in bodies.enumerated() { samples[i].append(seconds(body)) }
        }
        return samples
    }
}

/// A figure with its spread, in the unit of the caller's choosing.
public struct SampledFigure: Codable, Sendable, Equatable {
    public var median: Double
    public var minimum: Double
    public var maximum: Double

    public init(_ samples: [Double]) {
        median = Timing.median(samples)
        minimum = samples.min() ?? .nan
        maximum = samples.max() ?? .nan
    }
}
