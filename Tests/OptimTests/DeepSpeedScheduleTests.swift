import Foundation
import Optim
import Testing

/// DeepSpeed's schedulers against a reference written here the way DeepSpeed runs them: an
/// object whose `last_batch_iteration` starts at −1 and that the engine steps after each applied
/// update, its rate recomputed from the iteration in float64. Hand-derived values pin the
/// formulas themselves (DeepSpeed's `deepspeed/runtime/lr_schedules.py`).
@Suite struct DeepSpeedScheduleTests {
    /// DeepSpeed's scheduler as its engine drives it: created at iteration −1, stepped once per
    /// applied update; `rate(i)` is its formula at iteration i ≥ 0, `initial` its rate at −1.
    struct EngineReference {
        var iteration = -1
        let initial: Double
        let rate: (Int) -> Double
        var current: Double { iteration < 0 ? initial : rate(iteration) }
        mutating func applied() { iteration += 1 }
    }

    /// The warm-up's share at iteration i of a W-step warm-up, as DeepSpeed writes it.
    static func warmup(_ i: Int, _ w: Int, _ type: DeepSpeedSchedule.WarmupType) -> Double? {
        guard i < w else { return nil }
        return type == .log ? (1.0 / log(Double(w))) * log(Double(i + 1)) : Double(i) / Double(w)
    }

    static func reference(_ schedule: DeepSpeedSchedule, rawWarmup: Int) -> EngineReference {
        let w = max(2, rawWarmup)
        let type = schedule.warmupType
        switch schedule.shape {
        case let .warmup(lo, hi):
            return EngineReference(initial: lo) { i in lo + (hi - lo) * (warmup(i, w, type) ?? 1.0) }
        case let .warmupDecay(lo, hi, total):
            return EngineReference(initial: lo) { i in
                lo + (hi - lo) * (warmup(i, w, type) ?? max(0.0, Double(total - i) / max(1.0, Double(total - w))))
            }
        case let .warmupCosine(base, wmin, cmin, total):
            return EngineReference(initial: 0) { i in
                if let share = warmup(i, w, type) { return base * (wmin + share * (1.0 - wmin)) }
                let c = (1.0 + cos(Double.pi * Double(i - w + 1) / Double(total - w))) / 2.0
                return base * max(0.0, cmin + (1.0 - cmin) * c)
            }
        }
    }

    static let schedules: [(DeepSpeedSchedule, Int)] = [
        (DeepSpeedSchedule(.warmup(minimum: 1e-5, maximum: 3e-3), warmupSteps: 50, warmupType: .log), 50),
        (DeepSpeedSchedule(.warmup(minimum: 0, maximum: 1e-3), warmupSteps: 7, warmupType: .linear), 7),
        (DeepSpeedSchedule(.warmupDecay(minimum: 2e-5, maximum: 6e-4, totalSteps: 120), warmupSteps: 30), 30),
        (DeepSpeedSchedule(.warmupDecay(minimum: 0, maximum: 1e-3, totalSteps: 10), warmupSteps: 20, warmupType: .linear), 20),
        (DeepSpeedSchedule(.warmupCosine(base: 1e-3, warmupMinimumRatio: 0.1, cosineMinimumRatio: 0.01, totalSteps: 90),
                           warmupSteps: 15), 15),
        (DeepSpeedSchedule(.warmupCosine(base: 5e-4, warmupMinimumRatio: 0, cosineMinimumRatio: 1e-4, totalSteps: 40),
                           warmupSteps: 0, warmupType: .linear), 0),
    ]

    @Test func everyUpdatesRateIsTheEnginesSchedulersRate() {
        for (schedule, rawWarmup) in Self.schedules {
            var reference = Self.reference(schedule, rawWarmup: rawWarmup)
            // 300 updates: through the warm-up, the decay and (for the cosine) past its end.
            for applied in 0..<300 {
                let lr = schedule.learningRate(appliedSteps: applied)
                #expect(lr.bitPattern == reference.current.bitPattern, "\(schedule) after \(applied) updates: \(lr) ≠ \(reference.current)")
                reference.applied()
            }
        }
    }

    @Test func handDerivedValues() {
        // WarmupLR, linear over 10: the first two updates run at the minimum (iterations −1, 0),
        // then i/10 of the way; from iteration 10 on, the maximum.
        let linear = DeepSpeedSchedule(.warmup(minimum: 0, maximum: 1e-3), warmupSteps: 10, warmupType: .linear)
        #expect(linear.learningRate(appliedSteps: 0) == 0)
        #expect(linear.learningRate(appliedSteps: 1) == 0)
        #expect(abs(linear.learningRate(appliedSteps: 6) - 5e-4) <= 1e-19)
        #expect(linear.learningRate(appliedSteps: 11) == 1e-3)
        #expect(linear.learningRate(appliedSteps: 5000) == 1e-3)
        // log: log(i+1)/log(10), so 1 at iteration 9.
        let logarithmic = DeepSpeedSchedule(.warmup(minimum: 0, maximum: 1), warmupSteps: 10)
        #expect(abs(logarithmic.learningRate(appliedSteps: 10) - 1) <= 1e-15)
        #expect(abs(logarithmic.learningRate(appliedSteps: 4) - log(4) / log(10)) <= 1e-15)
        // WarmupDecayLR: linear decay to 0 at total_num_steps, 0 after it.
        let decay = DeepSpeedSchedule(.warmupDecay(minimum: 0, maximum: 1e-3, totalSteps: 20), warmupSteps: 10, warmupType: .linear)
        #expect(abs(decay.learningRate(appliedSteps: 16) - 5e-4) <= 1e-19)   // iteration 15: (20−15)/10
        #expect(decay.learningRate(appliedSteps: 21) == 0)
        #expect(decay.learningRate(appliedSteps: 100) == 0)
        // WarmupCosineLR: 0 for the first update, the cosine's midpoint halfway, its floor at the
        // total, and (as DeepSpeed does) rising again past it.
        let cosine = DeepSpeedSchedule(.warmupCosine(base: 1e-3, warmupMinimumRatio: 0, cosineMinimumRatio: 0, totalSteps: 110),
                                       warmupSteps: 10)
        #expect(cosine.learningRate(appliedSteps: 0) == 0)
        #expect(abs(cosine.learningRate(appliedSteps: 60) - 5e-4) <= 1e-18)   // iteration 59: real step 50 of 100
        #expect(cosine.learningRate(appliedSteps: 110) == 0)                    // iteration 109: cos(π) = −1
        #expect(abs(cosine.learningRate(appliedSteps: 210) - 1e-3) <= 1e-18)  // iteration 209: cos(2π)
        // warmup_num_steps below 2 is taken as 2, as DeepSpeed does.
        #expect(DeepSpeedSchedule(.warmup(minimum: 0, maximum: 1), warmupSteps: 0).warmupSteps == 2)
    }

    @Test func thePeakReplacesTheMaximumOrTheCosinesBase() {
        let warmup = DeepSpeedSchedule(.warmup(minimum: 1e-5, maximum: 1e-3), warmupSteps: 4).peaking(at: 2e-3)
        #expect(warmup.shape == .warmup(minimum: 1e-5, maximum: 2e-3) && !warmup.scalesTheOptimizersRate)
        let cosine = DeepSpeedSchedule(.warmupCosine(base: 0, warmupMinimumRatio: 0, cosineMinimumRatio: 0, totalSteps: 9), warmupSteps: 4)
        #expect(cosine.scalesTheOptimizersRate)
        // Iteration 3, the warm-up's last: log(4)/log(4) of the base.
        #expect(abs(cosine.peaking(at: 3e-4).learningRate(appliedSteps: 4) - 3e-4) <= 1e-18)
    }

    @Test func theTrainersScheduleFollowsAppliedUpdatesAndRoundsOnce() {
        let schedule = DeepSpeedSchedule(.warmup(minimum: 1e-4, maximum: 1e-3), warmupSteps: 8, warmupType: .linear)
        let trainer = LearningRateSchedule.deepSpeed(schedule)
        // Step 5 after 3 applied updates (one skipped): the rate of 3 updates, not of 4.
        #expect(trainer.learningRate(step: 5, appliedSteps: 3) == Float(schedule.learningRate(appliedSteps: 3)))
        #expect(trainer.learningRate(step: 5, appliedSteps: 3) != trainer.learningRate(step: 5, appliedSteps: 4))
    }
}
