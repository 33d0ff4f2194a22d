import Foundation
import HardwareModel

/// Fits named physical quantities of a machine's profiles (`ssd.write`, `link.shared`, …) to
/// reference points, by least squares over the points' relative errors, each value kept within
/// the range its sources allow (the profile entry's `range`).
///
/// Only physical quantities are fitted, never the points: a value moves every prediction that
/// depends on it, at every device count, mode and model size, so a fit that matches one figure
/// by bending a quantity pays for it on every other point. Leave-one-group-out cross-validation
/// (`crossValidate`) measures exactly that: fit without one device count (or model size), then
/// predict it.
///
/// The search is Levenberg–Marquardt on the logarithms of the values (rates and efficiencies
/// act multiplicatively, and a log step keeps them positive), with a forward-difference Jacobian
/// and every step projected back into the ranges.
public struct Calibration: Sendable {
    /// One quantity to fit: where it is, where it starts, and the range it may take.
    public struct Parameter: Sendable, Equatable {
        public let keyPath: String
        public let start: Double
        public let range: ClosedRange<Double>
        /// The base unit a value is written in for an override (`B/s`, `FLOP/s`, `s`; empty for
        /// fractions).
        let unit: String

        /// `value` within the range: exp(log(bound)) can land an ulp outside it.
        func clamped(_ value: Double) -> Double { min(max(value, range.lowerBound), range.upperBound) }

        /// A dimensionless fraction (an efficiency), written as a bare number.
        public var isFraction: Bool { unit.isEmpty }

        /// The override that sets this quantity to `value` (base units).
        func override(_ value: Double) -> ProfileOverride {
            // "%.17g" keeps every bit and the base unit makes it a valid quantity, so it parses.
            try! ProfileOverride(parsing: keyPath + "=" + String(format: "%.17g", value) + unit)
        }
    }

    /// What a fit found.
    public struct Fit: Sendable {
        public let parameters: [Parameter]
        /// Fitted values in base units, in the order of `parameters`.
        public let values: [Double]
        /// One standard error of each value, relative (0.03 is ±3 %), from the Jacobian at the
        /// optimum; nil where the points do not determine the value (it sits at a bound or the
        /// points do not depend on it).
        public let standardErrors: [Double?]
        /// Mean |∂ ln prediction / ∂ ln value| over the fitted errors: how much the points move,
        /// in percent, per percent of the value.
        public let sensitivities: [Double]
        /// Whether each value ended at a bound of its range.
        public let atBound: [Bool]
        /// The machine with the fitted values applied.
        public let setup: HardwareSetup
        /// The fitted points, predicted on `setup`.
        public let predictions: [PointPrediction]
        public let iterations: Int

        public var summary: ErrorSummary { ErrorSummary(predictions.flatMap(\.errors)) }
    }

    /// Cross-validation's grouping: which points are left out together.
    public enum Grouping: String, Sendable, CaseIterable {
        case devices, model

        func key(_ point: ReferenceSet.Point) -> String {
            switch self {
            case .devices: "\(point.devices)"
            case .model: point.modelName
            }
        }
    }

    /// One fold: the group left out, and its points predicted by a fit on the others.
    public struct Fold: Sendable {
        public let group: String
        public let fit: Fit
        public let predictions: [PointPrediction]

        public var summary: ErrorSummary { ErrorSummary(predictions.flatMap(\.errors)) }
    }

    public let setup: HardwareSetup
    public let parameters: [Parameter]

    /// The quantities at `keyPaths` of `setup`; each must be a quantity or a fraction with a
    /// range in its profile.
    public init(setup: HardwareSetup, fitting keyPaths: [String]) throws(CalibrationError) {
        guard !keyPaths.isEmpty else { throw .nothingToFit }
        var parameters: [Parameter] = []
        for keyPath in keyPaths {
            guard !parameters.contains(where: { $0.keyPath == keyPath }) else { throw .duplicate(keyPath) }
            let profiles = [setup.host.profile, setup.device.profile, setup.gpu.profile]
            guard let (profile, entry) = profiles.lazy.compactMap({ p in p[keyPath].map { (p, $0) } }).first else {
                throw .unknownKey(keyPath, known: profiles.flatMap { $0.entries.map(\.keyPath) })
            }
            let unit: String
            switch entry.value {
            case .quantity(_, let dimension):
                switch dimension {
                case .bandwidth: unit = "B/s"
                case .size: unit = "B"
                case .flopRate: unit = "FLOP/s"
                case .duration: unit = "s"
                // No modeled time depends on a price, so no reference time can fit one.
                case .price: throw .notTiming(keyPath)
                }
            case .fraction: unit = ""
            case .count, .flag: throw .notContinuous(keyPath)
            }
            guard let range = entry.range else { throw .noRange(keyPath, profile: profile.name) }
            guard range.lowerBound > 0, range.upperBound > range.lowerBound else { throw .emptyRange(keyPath, profile: profile.name) }
            parameters.append(Parameter(keyPath: keyPath, start: entry.number, range: range, unit: unit))
        }
        self.setup = setup
        self.parameters = parameters
    }

    /// `setup` with `values` (base units, in parameter order) applied.
    public func setup(with values: [Double]) throws -> HardwareSetup {
        try setup.applying(zip(parameters, values).map { $0.override($0.clamped($1)) })
    }

    /// Fits the parameters to `points`, starting from `start` (default: the profiles' values).
    public func fit(_ points: [ReferenceSet.Point], from start: [Double]? = nil, maximumIterations: Int = 30) throws -> Fit {
        guard points.contains(where: { $0.errorCount > 0 }) else { throw CalibrationError.noErrorsToFit }
        let low = parameters.map { log($0.range.lowerBound) }
        let high = parameters.map { log($0.range.upperBound) }
        func clamp(_ u: [Double]) -> [Double] { zip(u, zip(low, high)).map { min(max($0, $1.0), $1.1) } }
        func residuals(_ u: [Double]) throws -> [Double] {
            try ReferencePredictor.predict(points, on: setup(with: u.map(exp))).flatMap(\.errors)
        }
        func cost(_ r: [Double]) -> Double { r.reduce(0) { $0 + $1 * $1 } }

        var u = clamp((start ?? parameters.map(\.start)).map(log))
        var r = try residuals(u)
        var lambda = 1e-2
        var iterations = 0
        var jacobian = try self.jacobian(at: u, residuals: r, low: low, high: high, evaluate: residuals)
        let m = parameters.count
        while iterations < maximumIterations {
            iterations += 1
            var jtj = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
            var jtr = [Double](repeating: 0, count: m)
            for i in 0..<r.count {
                for a in 0..<m {
                    jtr[a] += jacobian[i][a] * r[i]
                    for b in 0..<m { jtj[a][b] += jacobian[i][a] * jacobian[i][b] }
                }
            }
            // A value at a bound that the gradient pushes further out stays there (the active
            // set): stepping it would only be clamped back, and the damped steps of the others
            // would creep towards the bound forever.
            let free = (0..<m).filter { k in
                let atLow = u[k] - low[k] < 1e-9, atHigh = high[k] - u[k] < 1e-9
                return !((atLow && jtr[k] > 0) || (atHigh && jtr[k] < 0))
            }
            guard !free.isEmpty else { break }
            var accepted: (u: [Double], r: [Double])?
            while lambda < 1e8 {
                // (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr over the free values.
                var damped = free.map { a in free.map { b in jtj[a][b] } }
                for i in free.indices { damped[i][i] += lambda * max(jtj[free[i]][free[i]], 1e-12) }
                guard let step = Self.solve(damped, free.map { -jtr[$0] }) else { lambda *= 10; continue }
                var candidate = u
                for (i, k) in free.enumerated() { candidate[k] += step[i] }
                candidate = clamp(candidate)
                let trial = try residuals(candidate)
                if cost(trial) < cost(r) {
                    accepted = (candidate, trial)
                    lambda = max(lambda / 3, 1e-7)
                    break
                }
                lambda *= 4
            }
            guard let (next, nextResiduals) = accepted else { break }
            let gain = cost(r) - cost(nextResiduals)
            let moved = zip(next, u).map { abs($0 - $1) }.max() ?? 0
            u = next
            r = nextResiduals
            // Converged: the last step changed the values by under 0.1 % or the cost by under 0.1 %.
            if moved < 1e-3 || gain < 1e-3 * cost(r) { break }
            jacobian = try self.jacobian(at: u, residuals: r, low: low, high: high, evaluate: residuals)
        }
        return try summarize(u: u, residuals: r, jacobian: jacobian, low: low, high: high, points: points, iterations: iterations)
    }

    /// Leave-one-group-out: for each group of `points` under `grouping`, fit on the rest (from
    /// `start`, e.g. the full fit's values, so that every fold searches the same basin) and
    /// predict the group. A group whose removal leaves nothing to fit is skipped.
    public func crossValidate(_ points: [ReferenceSet.Point], by grouping: Grouping, from start: [Double]? = nil) throws -> [Fold] {
        var order: [String] = []
        for point in points where !order.contains(grouping.key(point)) { order.append(grouping.key(point)) }
        var folds: [Fold] = []
        for group in order {
            let training = points.filter { grouping.key($0) != group }
            let held = points.filter { grouping.key($0) == group }
            guard held.contains(where: { $0.errorCount > 0 }), training.contains(where: { $0.errorCount > 0 }) else { continue }
            let fit = try self.fit(training, from: start)
            folds.append(Fold(group: group, fit: fit, predictions: try ReferencePredictor.predict(held, on: fit.setup)))
        }
        return folds
    }

    /// ∂r/∂u by forward differences of 1 % in the log (inward at an upper bound).
    private func jacobian(at u: [Double], residuals r: [Double], low: [Double], high: [Double],
                          evaluate: ([Double]) throws -> [Double]) throws -> [[Double]] {
        var columns: [[Double]] = []
        for k in u.indices {
            var h = 0.01
            if u[k] + h > high[k] { h = -h }
            var shifted = u
            shifted[k] += h
            let moved = try evaluate(shifted)
            columns.append(zip(moved, r).map { ($0 - $1) / h })
        }
        return r.indices.map { i in columns.map { $0[i] } }
    }

    private func summarize(u: [Double], residuals r: [Double], jacobian: [[Double]], low: [Double], high: [Double],
                           points: [ReferenceSet.Point], iterations: Int) throws -> Fit {
        let m = parameters.count
        let atBound = u.indices.map { abs(u[$0] - low[$0]) < 1e-9 || abs(u[$0] - high[$0]) < 1e-9 }
        var jtj = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        for row in jacobian { for a in 0..<m { for b in 0..<m { jtj[a][b] += row[a] * row[b] } } }
        let dof = max(1, r.count - m)
        let variance = r.reduce(0) { $0 + $1 * $1 } / Double(dof)
        let covariance = Self.inverse(jtj)
        let errors: [Double?] = (0..<m).map { k in
            guard !atBound[k], let covariance, covariance[k][k] > 0, jtj[k][k] > 1e-12 else { return nil }
            return sqrt(variance * covariance[k][k])
        }
        let sensitivities = (0..<m).map { k in jacobian.map { abs($0[k]) }.reduce(0, +) / Double(max(1, jacobian.count)) }
        let values = zip(parameters, u).map { $0.clamped(exp($1)) }
        let fitted = try setup(with: values)
        return Fit(parameters: parameters, values: values, standardErrors: errors, sensitivities: sensitivities, atBound: atBound,
                   setup: fitted, predictions: try ReferencePredictor.predict(points, on: fitted), iterations: iterations)
    }

    /// Solves a small dense system by Gaussian elimination with partial pivoting; nil if singular.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        let n = b.count
        var m = a
        var x = b
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(m[$0][col]) < abs(m[$1][col]) }), abs(m[pivot][col]) > 1e-300 else { return nil }
            m.swapAt(col, pivot)
            x.swapAt(col, pivot)
            for row in (col + 1)..<n {
                let f = m[row][col] / m[col][col]
                for k in col..<n { m[row][k] -= f * m[col][k] }
                x[row] -= f * x[col]
            }
        }
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[row]
            for k in (row + 1)..<n { sum -= m[row][k] * x[k] }
            x[row] = sum / m[row][row]
        }
        return x
    }

    static func inverse(_ a: [[Double]]) -> [[Double]]? {
        let n = a.count
        var columns: [[Double]] = []
        for k in 0..<n {
            guard let column = solve(a, (0..<n).map { $0 == k ? 1 : 0 }) else { return nil }
            columns.append(column)
        }
        return (0..<n).map { i in columns.map { $0[i] } }
    }
}

/// Why a calibration cannot start. Each names the key and what to do.
public enum CalibrationError: Error, Equatable, CustomStringConvertible {
    case nothingToFit
    case duplicate(String)
    case unknownKey(String, known: [String])
    case notContinuous(String)
    /// A value no modeled time depends on (a price).
    case notTiming(String)
    case noRange(String, profile: String)
    case emptyRange(String, profile: String)
    case noErrorsToFit

    public var description: String {
        switch self {
        case .nothingToFit: "--fit names no quantity; give keys such as ssd.write,link.shared"
        case .duplicate(let key): "--fit names \(key) twice"
        case .unknownKey(let key, let known): "--fit \(key): no such key in the profiles (known: \(known.joined(separator: ", ")))"
        case .notContinuous(let key): "--fit \(key): only quantities and fractions can be fitted, not counts or flags"
        case .notTiming(let key): "--fit \(key): no modeled time depends on it, so no reference time can fit it"
        case .noRange(let key, let profile):
            "--fit \(key): profile '\(profile)' gives no range for it; add \"range\": [low, high] from its sources to the entry"
        case .emptyRange(let key, let profile): "--fit \(key): the range in profile '\(profile)' is empty or not positive"
        case .noErrorsToFit: "the reference points have no iteration time or non-trivial speedup to fit"
        }
    }
}
