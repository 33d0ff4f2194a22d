import Optim
import Testing
import SeededRandom

@Suite("GradientStatistics")
struct GradientStatisticsTests {
    @Test("sum of squares matches a float64 reference, every precision and odd length",
          arguments: Precision.allCases)
    func sumOfSquares(precision: Precision) {
        var rng = SplitMix64(seed: 42)
        for n in [0, 1, 15, 16, 17, 1003, 100_003] {
            let values: [Float] = (0..<n).map { _ in
                (Bool.random(using: &rng) ? 1 : -1) * representable(precision, exponents: -12...12, using: &rng)
            }
            let stats = GradientStatistics.scan(StreamBuffer(precision: precision, values: values))
            var reference = 0.0
            for x in values { reference += Double(x) * Double(x) }
            // Only the summation order differs; in float64 that costs ~n·2^-53 relative at most.
            #expect(abs(stats.sumOfSquares - reference) <= 1e-12 * reference, "\(precision) n=\(n)")
            #expect(abs(stats.norm - reference.squareRoot()) <= 1e-12 * reference.squareRoot())
            #expect(stats.allFinite)
        }
    }

    @Test("an empty gradient: zero and finite")
    func empty() {
        let stats = GradientStatistics.scan(StreamBuffer(precision: .fp16, count: 0))
        #expect(stats == GradientStatistics(sumOfSquares: 0, allFinite: true))
    }

    // n = 35: indices 0..<32 go through the 16-lane body, 32..<35 through the scalar tail.
    @Test("±inf and NaN anywhere (SIMD body and tail) make allFinite false",
          arguments: Precision.allCases, [Float.infinity, -.infinity, .nan])
    func nonFinite(precision: Precision, bad: Float) {
        let n = 35
        for position in [0, 5, 15, 16, 31, 32, 34] {
            var values: [Float] = (0..<n).map { Float($0 % 7) - 3 }
            values[position] = bad
            let stats = GradientStatistics.scan(StreamBuffer(precision: precision, values: values))
            #expect(!stats.allFinite, "\(precision) \(bad) at \(position)")
        }
        // A single element, which only the tail sees.
        #expect(!GradientStatistics.scan(StreamBuffer(precision: precision, values: [bad])).allFinite)
    }

    @Test("values whose squares overflow fp32 do not overflow the sum")
    func noOverflow() {
        let n = 37
        let stats = GradientStatistics.scan(StreamBuffer(precision: .fp32, values: Array(repeating: 1e20, count: n)))
        let reference = Double(n) * Double(Float(1e20)) * Double(Float(1e20))
        #expect(stats.allFinite)
        #expect(abs(stats.sumOfSquares - reference) <= 1e-14 * reference)

        let huge = GradientStatistics.scan(StreamBuffer(precision: .fp32,
                                                        values: Array(repeating: .greatestFiniteMagnitude, count: n)))
        #expect(huge.allFinite)
        #expect(huge.sumOfSquares.isFinite)
        #expect(abs(huge.norm - Double(n).squareRoot() * Double(Float.greatestFiniteMagnitude)) <= 1e-14 * huge.norm)

        // fp16's largest finite value is finite, and so is a bf16 near fp32's maximum.
        #expect(GradientStatistics.scan(StreamBuffer(precision: .fp16, values: Array(repeating: 65504, count: n))).allFinite)
        let bfMax = Float(bitPattern: 0x7F7F_0000)
        let bf = GradientStatistics.scan(StreamBuffer(precision: .bf16, values: Array(repeating: bfMax, count: n)))
        #expect(bf.allFinite && bf.sumOfSquares.isFinite)
    }

    @Test("merge adds sums and ANDs finiteness")
    func merge() {
        var a = GradientStatistics(sumOfSquares: 3, allFinite: true)
        a.merge(GradientStatistics(sumOfSquares: 4.5, allFinite: true))
        #expect(a == GradientStatistics(sumOfSquares: 7.5, allFinite: true))
        a.merge(GradientStatistics(sumOfSquares: 1, allFinite: false))
        #expect(a == GradientStatistics(sumOfSquares: 8.5, allFinite: false))
        a.merge(GradientStatistics())
        #expect(!a.allFinite)
        #expect(GradientStatistics(sumOfSquares: 9).norm == 3)
    }

    @Test("scanning through a raw pointer equals scanning the buffer")
    func rawPointerScan() {
        let values: [Float16] = (0..<50).map { Float16(Float($0) * 0.25 - 5) }
        let buffer = StreamBuffer.fp16(AlignedBuffer(values))
        let viaBuffer = GradientStatistics.scan(buffer)
        let viaPointer = values.withUnsafeBytes { GradientStatistics.scan($0.baseAddress!, count: 50, precision: .fp16) }
        #expect(viaBuffer == viaPointer)
        var reference = 0.0
        for x in values { reference += Double(x) * Double(x) }
        #expect(viaBuffer.sumOfSquares == reference)  // every square and partial sum is exact here
    }
}

@Suite("GradientClipping")
struct GradientClippingTests {
    @Test("no clipping: factor 1, combined_unscale = 1/loss_scale")
    func noClipping() {
        let c = GradientClipping(maxNorm: nil)
        #expect(c.clipFactor(scaledNorm: 1e30, lossScale: 65536) == 1)
        #expect(c.combinedUnscale(scaledNorm: 1e30, lossScale: 65536) == 0x1p-16)
        #expect(c.combinedUnscale(scaledNorm: 5, lossScale: 1024) == 1.0 / 1024)
    }

    @Test("norm under the maximum: factor 1")
    func underMaximum() {
        let c = GradientClipping(maxNorm: 1)
        // ‖g‖ = 0.5·65536 scaled → 0.5 unscaled; (0.5 + 1e-6)/1 < 1.
        #expect(c.clipFactor(scaledNorm: 0.5 * 65536, lossScale: 65536) == 1)
        #expect(c.combinedUnscale(scaledNorm: 0.5 * 65536, lossScale: 65536) == 0x1p-16)
        // Exactly at the maximum the 1e-6 tips it over 1, but only by 1e-6.
        #expect(abs(c.clipFactor(scaledNorm: 65536, lossScale: 65536) - 1.000001) <= 1e-15)
    }

    @Test("norm over the maximum: clip = (‖g‖/scale + 1e-6)/max_norm, combined_unscale = 1/(scale·clip)")
    func overMaximum() {
        let c = GradientClipping(maxNorm: 0.5)
        // ‖g‖/scale = 3 → clip = 3.000001 / 0.5 = 6.000002.
        let clip = c.clipFactor(scaledNorm: 3 * 1024, lossScale: 1024)
        #expect(abs(clip - 6.000002) <= 6.000002 * 1e-15)
        // 1/(1024 · 6.000002) = 1.6276036...e-4, rounded once to fp32.
        let unscale = c.combinedUnscale(scaledNorm: 3 * 1024, lossScale: 1024)
        #expect(ulpDistance(unscale, Float(1.0 / 6144.002048)) <= 1)
        #expect(abs(Double(unscale) - 1.0 / 6144.002048) <= 0.5 * Double(unscale.ulp))

        let two = GradientClipping(maxNorm: 1)
        #expect(abs(two.clipFactor(scaledNorm: 2 * 65536, lossScale: 65536) - 2.000001) <= 1e-15 * 2)
    }
}

@Suite("LearningRateSchedule")
struct LearningRateScheduleTests {
    @Test("constant")
    func constant() {
        let s = LearningRateSchedule.constant(1e-3)
        for step in [1, 2, 1000, 1_000_000] { #expect(s.learningRate(step: step, appliedSteps: step - 1) == Float(1e-3)) }
    }

    // peak 1e-3, minimum 1e-5, warm-up 10 steps, cosine over steps 11...110.
    static let schedule = LearningRateSchedule.warmupCosine(peak: 1e-3, minimum: 1e-5, warmupSteps: 10, totalSteps: 110)

    /// Values computed by hand (warm-up: peak·step/10; then 1e-5 + ½(1 + cos(π(step−10)/100))·0.99e-3),
    /// compared within 1 fp32 ulp: the expression order and libm's cos may move the last bit.
    @Test("warm-up is linear, the cosine passes its midpoint and ends at the minimum", arguments: [
        (1, 1e-4), (2, 2e-4), (5, 5e-4), (10, 1e-3),
        (11, 9.997557473810372e-4), (35, 8.55017856687341e-4), (60, 5.05e-4),
        (110, 1e-5), (111, 1e-5), (200, 1e-5), (100_000, 1e-5),
    ])
    func warmupCosine(step: Int, expected: Double) {
        let lr = Self.schedule.learningRate(step: step, appliedSteps: step - 1)
        #expect(ulpDistance(lr, Float(expected)) <= 1, "step \(step): \(lr), want \(Float(expected))")
    }

    @Test("the cosine part decreases monotonically and never goes below the minimum")
    func monotone() {
        var previous = Self.schedule.learningRate(step: 10, appliedSteps: 9)
        for step in 11...150 {
            let lr = Self.schedule.learningRate(step: step, appliedSteps: step - 1)
            #expect(lr <= previous, "step \(step)")
            #expect(lr >= Float(1e-5), "step \(step)")
            previous = lr
        }
    }

    @Test("total ≤ warm-up: the minimum right after the warm-up")
    func degenerate() {
        let s = LearningRateSchedule.warmupCosine(peak: 1, minimum: 0.25, warmupSteps: 4, totalSteps: 4)
        #expect(s.learningRate(step: 2, appliedSteps: 1) == 0.5)
        #expect(s.learningRate(step: 4, appliedSteps: 3) == 1)
        #expect(s.learningRate(step: 5, appliedSteps: 4) == 0.25)
        #expect(s.learningRate(step: 50, appliedSteps: 49) == 0.25)
    }
}
