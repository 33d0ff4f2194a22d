import Optim
import Testing

/// The loss scaler against sequences worked out by hand from DeepSpeed's
/// `DynamicLossScaler.update_scale`:
///
///     if overflow:
///         if hysteresis == 1 or cur_hysteresis == 1: scale = max(scale / factor, min_scale)
///         else: cur_hysteresis -= 1
///         last_overflow_iter = cur_iter
///     else:
///         if consecutive_hysteresis: cur_hysteresis = hysteresis
///         if (cur_iter - last_overflow_iter) % window == 0:
///             if not consecutive_hysteresis: cur_hysteresis = hysteresis
///             scale *= factor
///     cur_iter += 1
@Suite("DynamicLossScaler")
struct DynamicLossScalerTests {
    typealias Config = DynamicLossScaler.Configuration
    static let T = true   // overflow
    static let F = false  // clean step

    /// Feeds `overflows` and checks the decision, the scale and the hysteresis budget after each.
    func expectSequence(_ config: Config, _ overflows: [Bool], scales: [Double], remaining: [Int]? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        precondition(overflows.count == scales.count)
        var scaler = DynamicLossScaler(config)
        var gotScales: [Double] = []
        var gotRemaining: [Int] = []
        for (i, overflow) in overflows.enumerated() {
            let decision = scaler.update(overflow: overflow)
            #expect(decision == (overflow ? .skip : .apply), "step \(i)", sourceLocation: sourceLocation)
            #expect(scaler.iteration == i + 1, sourceLocation: sourceLocation)
            gotScales.append(scaler.scale)
            gotRemaining.append(scaler.remainingHysteresis)
        }
        #expect(gotScales == scales, sourceLocation: sourceLocation)
        if let remaining { #expect(gotRemaining == remaining, sourceLocation: sourceLocation) }
    }

    @Test("initial state, DeepSpeed defaults")
    func initialState() {
        let scaler = DynamicLossScaler()
        #expect(scaler.scale == 65536)
        #expect(scaler.remainingHysteresis == 2)
        #expect(scaler.iteration == 0)
        #expect(scaler.lastOverflowIteration == -1)
        #expect(scaler.configuration == Config(initialScale: 65536, factor: 2, window: 1000, hysteresis: 2,
                                               consecutiveHysteresis: false, minimumScale: 1))
        let custom = DynamicLossScaler(Config(initialScale: 128, hysteresis: 3))
        #expect(custom.scale == 128)
        #expect(custom.remainingHysteresis == 3)
    }

    @Test("the scale grows after exactly `window` clean steps, and again `window` later")
    func growthAfterWindow() {
        let F = Self.F
        expectSequence(Config(initialScale: 1024, factor: 2, window: 3, hysteresis: 1),
                       [F, F, F, F, F, F, F],
                       scales: [1024, 1024, 2048, 2048, 2048, 4096, 4096])
        // Window 1: every clean step grows; another factor.
        expectSequence(Config(initialScale: 1, factor: 4, window: 1, hysteresis: 1),
                       [F, F, F], scales: [4, 16, 64])
    }

    @Test("defaults: 999 clean steps keep 65536, the 1000th doubles it")
    func defaultWindow() {
        var scaler = DynamicLossScaler()
        for _ in 0..<999 { _ = scaler.update(overflow: false) }
        #expect(scaler.scale == 65536)
        #expect(scaler.update(overflow: false) == .apply)
        #expect(scaler.scale == 131072)
    }

    @Test("hysteresis 1: every overflow skips and halves")
    func noHysteresis() {
        let (T, F) = (Self.T, Self.F)
        expectSequence(Config(initialScale: 1024, window: 100, hysteresis: 1),
                       [T, T, F, T], scales: [512, 256, 256, 128], remaining: [1, 1, 1, 1])
    }

    @Test("hysteresis 2: the first overflow keeps the scale, the second halves it; clean steps don't refill")
    func hysteresisTwo() {
        let (T, F) = (Self.T, Self.F)
        expectSequence(Config(initialScale: 1024, window: 100, hysteresis: 2),
                       [T, T, F, T, T],
                       scales: [1024, 512, 512, 256, 128],
                       remaining: [1, 1, 1, 1, 1])
        // The same with a clean step between the first two overflows: still not refilled
        // (non-consecutive hysteresis), so the second overflow halves.
        expectSequence(Config(initialScale: 1024, window: 100, hysteresis: 2),
                       [T, F, T, F, F, T, T],
                       scales: [1024, 1024, 512, 512, 512, 256, 128],
                       remaining: [1, 1, 1, 1, 1, 1, 1])
    }

    @Test("growth refills the hysteresis budget")
    func growthRefillsHysteresis() {
        let (T, F) = (Self.T, Self.F)
        // iter 0 overflow (budget 2→1); iters 1-2 clean, growth at iter 2 = 0 + window; the
        // refilled budget absorbs the overflow at iter 3; iter 4 halves.
        expectSequence(Config(initialScale: 1024, window: 2, hysteresis: 2),
                       [T, F, F, T, T],
                       scales: [1024, 1024, 2048, 2048, 1024],
                       remaining: [1, 1, 2, 1, 1])
    }

    @Test("consecutive hysteresis: any clean step refills the budget")
    func consecutiveHysteresis() {
        let (T, F) = (Self.T, Self.F)
        expectSequence(Config(initialScale: 1024, window: 100, hysteresis: 2, consecutiveHysteresis: true),
                       [T, F, T, T, T, F, T],
                       scales: [1024, 1024, 1024, 512, 256, 256, 256],
                       remaining: [1, 2, 1, 1, 1, 2, 1])
        // The same flags without it: the budget is spent once and for all.
        expectSequence(Config(initialScale: 1024, window: 100, hysteresis: 2, consecutiveHysteresis: false),
                       [T, F, T, T, T, F, T],
                       scales: [1024, 1024, 512, 256, 128, 128, 64],
                       remaining: [1, 1, 1, 1, 1, 1, 1])
        // With consecutive hysteresis, growth does not depend on it: window 2 after the overflow.
        expectSequence(Config(initialScale: 1024, window: 2, hysteresis: 3, consecutiveHysteresis: true),
                       [T, F, F, F],
                       scales: [1024, 1024, 2048, 2048],
                       remaining: [2, 3, 3, 3])
    }

    @Test("the scale never drops below the minimum")
    func minimumScale() {
        let T = Self.T
        expectSequence(Config(initialScale: 8, window: 100, hysteresis: 1, minimumScale: 2),
                       [T, T, T, T], scales: [4, 2, 2, 2])
        // A minimum that is not on the halving ladder: 8 → 4 → max(2, 3) = 3 → 3.
        expectSequence(Config(initialScale: 8, window: 100, hysteresis: 1, minimumScale: 3),
                       [T, T, T], scales: [4, 3, 3])
        // Overflows at the floor still skip.
        var scaler = DynamicLossScaler(Config(initialScale: 1, window: 100, hysteresis: 1, minimumScale: 1))
        #expect(scaler.update(overflow: true) == .skip)
        #expect(scaler.scale == 1)
    }

    @Test("growth is counted from the last overflow")
    func growthCountedFromLastOverflow() {
        let (T, F) = (Self.T, Self.F)
        // Without the overflow at iter 1, growth would be at iter 2. It comes `window` = 3 clean
        // steps after each overflow instead: iters 4 and 9.
        let flags = [F, T, F, F, F, F, T, F, F, F]
        expectSequence(Config(initialScale: 1024, window: 3, hysteresis: 1), flags,
                       scales: [1024, 512, 512, 512, 1024, 1024, 512, 512, 512, 1024])
        var scaler = DynamicLossScaler(Config(initialScale: 1024, window: 3, hysteresis: 1))
        for (i, overflow) in flags.enumerated() {
            _ = scaler.update(overflow: overflow)
            #expect(scaler.lastOverflowIteration == (i >= 6 ? 6 : i >= 1 ? 1 : -1))
        }
    }

    @Test("a saved position is checked before a scaler continues from it")
    func aSavedPositionIsChecked() throws {
        let config = Config(initialScale: 1024, window: 3, hysteresis: 2)
        typealias P = DynamicLossScaler.Position
        let bad: [(P, DynamicLossScaler.PositionError)] = [
            (P(scale: .nan, remainingHysteresis: 1, iteration: 0, lastOverflowIteration: -1), .scale(.nan)),
            (P(scale: 0, remainingHysteresis: 1, iteration: 0, lastOverflowIteration: -1), .scale(0)),
            (P(scale: 8, remainingHysteresis: 3, iteration: 0, lastOverflowIteration: -1), .remainingHysteresis(3, configured: 2)),
            (P(scale: 8, remainingHysteresis: 0, iteration: 0, lastOverflowIteration: -1), .remainingHysteresis(0, configured: 2)),
            (P(scale: 8, remainingHysteresis: 2, iteration: 4, lastOverflowIteration: 4), .iterations(iteration: 4, lastOverflow: 4)),
            (P(scale: 8, remainingHysteresis: 2, iteration: -1, lastOverflowIteration: -1), .iterations(iteration: -1, lastOverflow: -1)),
        ]
        for (position, expected) in bad {
            #expect {
                _ = try DynamicLossScaler(config, continuing: position)
            } throws: { error in
                guard let error = error as? DynamicLossScaler.PositionError else { return false }
                // NaN never equals itself: compare that case by kind.
                if case .scale(let s) = error, case .scale(let e) = expected { return s.isNaN ? e.isNaN : s == e }
                return error == expected
            }
        }
        // A scaler saved mid-run continues exactly where it stood.
        var original = DynamicLossScaler(config)
        for overflow in [false, true, false, false] { _ = original.update(overflow: overflow) }
        var resumed = try DynamicLossScaler(config, continuing: original.position)
        #expect(resumed.position == original.position)
        for overflow in [true, true, false, false, false] {
            #expect(resumed.update(overflow: overflow) == original.update(overflow: overflow))
            #expect(resumed.position == original.position)
        }
    }
}
