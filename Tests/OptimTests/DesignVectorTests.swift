import Optim
import Testing

/// The AdamW test vector of docs/ARCHITECTURE.md, "Update math", bit for bit.
///
/// p=[1, -0.5, 0.25, 2], m=v=0, fp16 grads [512, -1024, 0.5, 0], combined_unscale=1/1024,
/// lr=1e-3, β=(0.9, 0.999), eps=1e-8, wd=0.01; t=1 then t=2 chained on the same gradients.
@Suite("the AdamW test vector of docs/ARCHITECTURE.md")
struct DesignVectorTests {
    static let initialParameters: [Float] = [1, -0.5, 0.25, 2]
    static let gradients: [Float] = [512, -1024, 0.5, 0]

    // The published values, exactly as docs/ARCHITECTURE.md, "Update math" prints them.
    static let p1 = ["0.99899000", "-0.49899501", "0.24899752", "1.99997997"]
    static let m1 = ["0.05000001", "-0.10000002", "4.8828137e-05", "0"]
    static let v1 = ["2.4999678e-04", "9.999871e-04", "2.3841551e-10", "0"]
    static let p2 = ["0.99798000", "-0.49799001", "0.24799506", "1.99995995"]

    static let config = OptimizerConfig.adamw(
        AdamWHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01))

    /// The number of significant decimal digits in a published value like "4.8828137e-05".
    static func significantDigits(_ s: String) -> Int {
        let mantissa = s.split(separator: "e").first.map(String.init) ?? s
        let digits = mantissa.filter(\.isNumber).drop { $0 == "0" }
        return digits.count
    }

    /// The half-width of the rounding interval of a published decimal: half a unit in its last
    /// printed digit.
    static func halfUnit(_ s: String) -> Double {
        let value = abs(Double(s)!)
        let exponent10 = Int((value.log10Floor))
        let k = significantDigits(s)
        return 0.5 * pow10(exponent10 - k + 1)
    }

    static func pow10(_ e: Int) -> Double {
        var r = 1.0
        if e >= 0 { for _ in 0..<e { r *= 10 } } else { for _ in 0..<(-e) { r /= 10 } }
        return r
    }

    /// The fp32 values whose shortest description could have been printed as `s`: every float in
    /// [d - half unit, d + half unit].
    static func floatsPrintingAs(_ s: String) -> [Float] {
        let d = Double(s)!
        let half = halfUnit(s)
        var f = Float(d - half)
        if Double(f) < d - half { f = f.nextUp }
        var found: [Float] = []
        while Double(f) <= d + half {
            found.append(f)
            f = f.nextUp
        }
        return found
    }

    /// Checks `actual` against a published decimal. A value of 0 must be +0 exactly. When the
    /// printed digits pin exactly one fp32 (all 8-significant-digit values here do), the result
    /// must be that float, bit for bit, i.e. `Float(s)`. When they do not, the result must be
    /// within 1 ulp of `Float(s)` and must itself round to the printed digits. Two published values
    /// do not pin: m'[0] = "0.05000001" (7 digits) and m'[1] = "-0.10000002" (8 digits, but the
    /// fp32 spacing just above 0.1 is 7.45e-9, so both -0.100000016 and -0.100000024 print as
    /// -0.10000002; the kernel's value is the latter, 1 ulp from `Float("-0.10000002")`).
    static func check(_ actual: Float, published s: String, _ what: String,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = Float(s)!
        if expected == 0 {
            #expect(actual.bitPattern == 0, "\(what): \(actual) vs published \(s)", sourceLocation: sourceLocation)
            return
        }
        let candidates = floatsPrintingAs(s)
        #expect(!candidates.isEmpty, "\(s) has no fp32 in its rounding interval", sourceLocation: sourceLocation)
        if candidates.count == 1 {
            #expect(candidates[0].bitPattern == expected.bitPattern, sourceLocation: sourceLocation)
            #expect(actual.bitPattern == expected.bitPattern,
                    "\(what): \(actual) (0x\(String(actual.bitPattern, radix: 16))) vs published \(s) = \(expected) (0x\(String(expected.bitPattern, radix: 16)))",
                    sourceLocation: sourceLocation)
        } else {
            #expect(ulpDistance(actual, expected) <= 1, "\(what): \(actual) vs published \(s)",
                    sourceLocation: sourceLocation)
            #expect(candidates.contains(actual), "\(what): \(actual) does not print as \(s)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test("the published values that need it are pinned by their digits")
    func publishedDigitsPinValues() {
        // Guards the check above: these printed values name exactly one fp32 each, so their
        // comparisons are bit-exact (all of p' at t=1 and t=2 among them); only the two below
        // fall back to 1 ulp.
        for s in Self.p1 + Self.p2 + ["4.8828137e-05", "2.4999678e-04", "9.999871e-04", "2.3841551e-10"] {
            #expect(Self.floatsPrintingAs(s) == [Float(s)!], "\(s)")
        }
        for s in ["0.05000001", "-0.10000002"] {
            #expect(Self.floatsPrintingAs(s).count > 1, "\(s)")
        }
        #expect(Float("0.99899000")!.bitPattern == 0x3F7F_BDCF)
    }

    @Test("t=1 and chained t=2 match the published vector bit for bit, for every copy-out, path and position",
          arguments: [nil, Precision.fp32, .fp16, .bf16], UpdateKernel.Path.allCases)
    func designVector(copyOut precision: Precision?, path: UpdateKernel.Path) {
        // 1 replica runs the scalar loop only; 5 replicas (n = 20) put the first 16 elements
        // through the SIMD body and the last 4 through the tail.
        for replicas in [1, 5] {
            let n = 4 * replicas
            let p = AlignedBuffer<Float>((0..<n).map { Self.initialParameters[$0 % 4] })
            let m = AlignedBuffer<Float>(count: n)
            let v = AlignedBuffer<Float>(count: n)
            let g = StreamBuffer(precision: .fp16, values: (0..<n).map { Self.gradients[$0 % 4] })
            let copy = precision.map { StreamBuffer(precision: $0, count: n) }
            let kernel = UpdateKernel(threads: 1, path: path)

            let step1 = Self.config.prepare(step: 1, learningRate: 1e-3, combinedUnscale: 1.0 / 1024)
            kernel.run(step1, parameters: p, states: [m, v], gradient: g, copyOut: copy)
            for i in 0..<n {
                let where_ = "t=1 n=\(n) i=\(i) path=\(path) copy=\(precision?.description ?? "none")"
                Self.check(p[i], published: Self.p1[i % 4], "p' \(where_)")
                Self.check(m[i], published: Self.m1[i % 4], "m' \(where_)")
                Self.check(v[i], published: Self.v1[i % 4], "v' \(where_)")
                if let copy { Self.checkCopy(copy, i, p[i], where_) }
            }

            let step2 = Self.config.prepare(step: 2, learningRate: 1e-3, combinedUnscale: 1.0 / 1024)
            kernel.run(step2, parameters: p, states: [m, v], gradient: g, copyOut: copy)
            for i in 0..<n {
                let where_ = "t=2 n=\(n) i=\(i) path=\(path) copy=\(precision?.description ?? "none")"
                Self.check(p[i], published: Self.p2[i % 4], "p' \(where_)")
                if let copy { Self.checkCopy(copy, i, p[i], where_) }
            }
        }
    }

    static func checkCopy(_ copy: StreamBuffer, _ i: Int, _ p: Float, _ where_: String) {
        switch copy {
        case .fp32(let b): #expect(b[i].bitPattern == p.bitPattern, "fp32 copy \(where_)")
        case .fp16(let b): #expect(b[i].bitPattern == Float16(p).bitPattern, "fp16 copy \(where_)")
        case .bf16(let b): #expect(b[i].bitPattern == BFloat16(p).bitPattern, "bf16 copy \(where_)")
        }
    }

    @Test("the step-1 scalars are the fp32 values the documented order gives")
    func preparedScalars() throws {
        guard case .adamw(let r) = Self.config.prepare(step: 1, learningRate: 1e-3, combinedUnscale: 1.0 / 1024)
        else { Issue.record("adamw config did not prepare an AdamW rule"); return }
        let one: Float = 1
        let lr: Float = 1e-3
        #expect(r.combinedUnscale == 1.0 / 1024)
        #expect(r.oneMinusBeta1 == one - Float(0.9))
        #expect(r.oneMinusBeta2 == one - Float(0.999))
        #expect(r.stepSize == -lr / (one - Float(0.9)))
        #expect(r.decayFactor == one + (-lr * Float(0.01)))
        #expect(r.biasCorrection2 == one / (one - Float(0.999)).squareRoot())
    }
}

extension Double {
    /// ⌊log10 |x|⌋ for positive finite x, without relying on libm rounding at exact powers of 10.
    var log10Floor: Int {
        var e = 0
        var x = self
        while x >= 10 { x /= 10; e += 1 }
        while x < 1 { x *= 10; e -= 1 }
        return e
    }
}
