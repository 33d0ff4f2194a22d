import Foundation
import SeededRandom

/// A mutation fuzzer without coverage instrumentation: it mutates the seeds (and inputs kept for
/// an outcome not seen before — a cheap stand-in for coverage feedback, since each rejection
/// names the check that fired), runs the target on each, and counts.
///
/// Runs are reproducible: the same target, seeds and seed give the same inputs. A trap in the
/// decoder ends the process (nothing here catches it); a `FuzzViolation` is returned with the
/// input that caused it.
public final class MutationFuzzer {
    public let target: any FuzzTarget
    public private(set) var executions = 0
    /// Inputs the decoder accepted.
    public private(set) var accepted = 0
    /// Distinct outcomes (acceptances and rejection kinds) seen so far.
    public private(set) var outcomes: Set<String> = []
    /// Called with each input just before it runs, so that a caller can keep it somewhere a
    /// crash does not destroy.
    public var willExecute: ((UnsafeRawBufferPointer) -> Void)?

    private var mutator: Mutator
    private let seeds: [[UInt8]]
    private var pool: [[UInt8]] = []
    private let poolLimit: Int
    static let outcomeLimit = 1 << 18

    public init(target: any FuzzTarget, seeds: [[UInt8]], seed: UInt64, maximumLength: Int? = nil, poolLimit: Int = 4096) {
        self.target = target
        self.seeds = seeds.isEmpty ? [[]] : seeds
        self.poolLimit = poolLimit
        let longest = seeds.map(\.count).max() ?? 0
        mutator = Mutator(seed: seed, maximumLength: maximumLength ?? max(4096, 2 * longest))
    }

    /// Runs `input` as it is.
    public func run(_ input: [UInt8]) -> FuzzViolation? {
        input.withUnsafeBytes { willExecute?($0) }
        executions += 1
        do {
            let outcome = try target.execute(input)
            if outcome.hasPrefix("ok") || outcome.hasPrefix("frame ok") { accepted += 1 }
            // Novelty is tracked up to a bound, so that a long run's memory stays flat.
            if outcomes.count < Self.outcomeLimit, outcomes.insert(outcome).inserted, pool.count < poolLimit {
                pool.append(input)
            }
            return nil
        } catch {
            return error
        }
    }

    /// Runs one mutated input; returns it with the violation it caused, if any.
    public func step() -> (input: [UInt8], violation: FuzzViolation)? {
        let base = pool.isEmpty || mutator.below(2) == 0 ? pick(seeds, &mutator.random) : pick(pool, &mutator.random)
        let input = mutator.mutate(base, corpus: seeds + (pool.isEmpty ? [] : [pick(pool, &mutator.random)]), target: target)
        return run(input).map { (input, $0) }
    }

    /// Runs every seed once, then `iterations` mutated inputs; returns the violations.
    public func run(iterations: Int) -> [(input: [UInt8], violation: FuzzViolation)] {
        var found: [(input: [UInt8], violation: FuzzViolation)] = []
        for seed in seeds {
            if let violation = run(seed) { found.append((seed, violation)) }
        }
        for _ in 0..<iterations {
            if let finding = step() { found.append(finding) }
        }
        return found
    }

    /// Runs mutated inputs until `seconds` have passed or one causes a violation, which is
    /// returned. `progress` is called about every `every` seconds.
    public func run(seconds: Double, every: Double = 10, progress: (MutationFuzzer, Double) -> Void = { _, _ in })
        -> (input: [UInt8], violation: FuzzViolation)? {
        let start = ContinuousClock.now
        var nextReport = every
        for seed in seeds {
            if let violation = run(seed) { return (seed, violation) }
        }
        while true {
            for _ in 0..<64 {
                if let finding = step() { return finding }
            }
            let elapsed = (ContinuousClock.now - start) / .seconds(1)
            if elapsed >= nextReport {
                progress(self, elapsed)
                nextReport += every
            }
            if elapsed >= seconds { return nil }
        }
    }
}

/// A short deterministic fuzz run for the test suites: every seed, then mutated seeds.
public struct RegressionRun: Sendable {
    /// The outcome of each seed, in order.
    public var seedOutcomes: [String]
    public var executions: Int
    public var accepted: Int
    public var distinctOutcomes: Int
    /// Each violation with its input (base64), so that a failing test says how to reproduce it:
    /// `base64 -d > input; smartinf-fuzz replay TARGET input`.
    public var violations: [String]

    /// Runs the target called `name` on its seeds and on `iterations` mutations of them.
    public static func run(_ name: String, iterations: Int = 2000, seed: UInt64 = 0x5EED_F022) throws -> RegressionRun {
        guard let target = try FuzzTargets.make(name) else { throw FuzzViolation(name, "no such target") }
        let seeds = try target.seeds()
        var seedOutcomes: [String] = []
        var violations: [String] = []
        for input in seeds {
            do {
                seedOutcomes.append(try target.execute(input))
            } catch {
                seedOutcomes.append("violation")
                violations.append("seed: \(error); input (base64) \(Data(input).base64EncodedString())")
            }
        }
        let fuzzer = MutationFuzzer(target: target, seeds: seeds, seed: seed)
        for _ in 0..<iterations {
            if let (input, violation) = fuzzer.step() {
                violations.append("\(violation); input (base64) \(Data(input).base64EncodedString())")
            }
        }
        return RegressionRun(seedOutcomes: seedOutcomes, executions: fuzzer.executions, accepted: fuzzer.accepted,
                             distinctOutcomes: fuzzer.outcomes.count, violations: violations)
    }

    /// Runs the target called `name` once on each file of the repository's `fuzz/corpus/<name>/`
    /// whose name starts with `prefix` (kept findings, hand-made inputs at the bounds); returns
    /// each file's name and outcome, sorted by name. A violation is thrown, a trap kills the run.
    public static func replayCorpus(_ name: String, prefix: String, sourceFile: String = #filePath) throws -> [(file: String, outcome: String)] {
        guard let target = try FuzzTargets.make(name) else { throw FuzzViolation(name, "no such target") }
        let repository = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = repository.appendingPathComponent("fuzz/corpus/\(name)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(prefix) }.sorted()
        return try files.map { file in
            let input = [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
            return (file, try target.execute(input))
        }
    }
}
