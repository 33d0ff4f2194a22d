import Foundation
import GPT
import OffloadVocabulary
import Optim
import SeededRandom
import Testing
import Trainer

/// Gradient accumulation (`--grad-accum N`, DeepSpeed's `gradient_accumulation_steps`): N
/// micro-batches' backward passes, each at loss × 1/N, add into one gradient, then one optimizer
/// step; and DeepSpeed's schedulers in a run, which follow applied updates only.
@Suite(.serialized) struct GradientAccumulationTests {
    static let spec = "gpt2:2,4,64,32,256"

    func model(batch: Int) throws -> GPTModel {
        var rng = SplitMix64(seed: 7)
        let checkpoint = GPTCheckpoint(gpt2Initialization: try GPTConfig(initSpec: Self.spec), using: &rng)
        return GPTModel(config: checkpoint.config, parameters: checkpoint.parameters,
                        shape: try BatchShape(batchSize: batch, sequenceLength: 16, config: checkpoint.config))
    }

    func loader(_ data: (train: String, val: String), _ model: GPTModel) throws -> TokenBatchLoader {
        try TokenBatchLoader(tokens: try TokenFile.read(from: data.train), shape: model.shape)
    }

    /// Two micro-batches of 2 sequences accumulated at loss × ½ against (a) the mean of their
    /// gradients computed one by one and (b) the gradient of the 4-sequence batch they make up
    /// (in file order batch k covers tokens k·B·T..<(k+1)·B·T, so the B=4 batch is the two B=2
    /// ones). Not bit-identical: the second pass adds each product into the first pass's sums,
    /// an order of fp32 additions neither reference uses. Stated bound: every tensor within
    /// 1e-5 of its largest element, ~170 fp32 ulps of it, for sums of at most B·T = 64 terms
    /// per element; measured ≤ 3.5e-7 (qkvw against the whole batch) when written.
    @Test func accumulatedGradientsAreTheMeanOfTheMicroBatches() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let micro = try model(batch: 2)
        var batches = try loader(data, micro)
        let (first, second) = (batches.next(), batches.next())

        micro.zeroGradients()
        _ = micro.forward(first)
        micro.backward(lossScale: 0.5)
        _ = micro.forward(second)
        micro.backward(lossScale: 0.5)
        let accumulated = micro.gradients.array

        let separate = [first, second].map { batch -> [Float] in
            micro.zeroGradients()
            _ = micro.forward(batch)
            micro.backward()
            return micro.gradients.array
        }
        let mean = zip(separate[0], separate[1]).map { (Double($0) + Double($1)) / 2 }

        let whole = try model(batch: 4)
        var wholeBatches = try loader(data, whole)
        whole.zeroGradients()
        _ = whole.forward(wholeBatches.next())
        whole.backward()
        let wholeGradient = whole.gradients.array

        for tensor in ParameterTensor.allCases {
            let range = micro.layout.range(of: tensor)
            let largest = range.map { abs(mean[$0]) }.max() ?? 0
            let fromMean = range.map { abs(Double(accumulated[$0]) - mean[$0]) }.max() ?? 0
            let fromWhole = range.map { abs(Double(accumulated[$0]) - Double(wholeGradient[$0])) }.max() ?? 0
            #expect(fromMean <= 1e-5 * largest, "\(tensor): \(fromMean) vs largest \(largest)")
            #expect(fromWhole <= 1e-5 * largest, "\(tensor): \(fromWhole) vs largest \(largest)")
        }
        #expect(accumulated != separate[0])
    }

    /// A run with 2 micro-batches per step equals, bit for bit, the loop written here: the
    /// in-process model and AdamW kernel, two backward passes at ½ each into a zeroed gradient,
    /// the two added (the canonical order's sum of two leaves, docs/SCALE-OUT.md), one update;
    /// the loss is the micro-batches' mean. No gradient goes out early (it is final only once
    /// summed), with and without the overlapped forward pass.
    @Test(arguments: [(OffloadMode.suO, false), (.suO, true), (.base, false)])
    func aRunWithAccumulationIsTheLoopWrittenHere(mode: OffloadMode, overlap: Bool) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = options(dir, data: data, mode: mode, steps: 4)
        o.gradientAccumulationSteps = 2
        o.overlapForward = overlap
        let run = try TrainingRun(o)
        defer { run.finish() }
        try run.run()

        let reference = try model(batch: 2)
        let trainer = AdamWTrainer(model: reference, hyperparameters: AdamWHyperparameters(weightDecay: 0.01))
        var batches = try loader(data, reference)
        var losses: [Double] = []
        for _ in 0..<4 {
            var sum = 0.0
            var microBatchGradients: [[Float]] = []
            for _ in 0..<2 {
                reference.zeroGradients()
                sum += Double(reference.forward(batches.next()))
                reference.backward(lossScale: 0.5)
                microBatchGradients.append(reference.gradients.array)
            }
            let gradients = reference.gradients
            for i in 0..<gradients.count { gradients[i] = microBatchGradients[0][i] + microBatchGradients[1][i] }
            trainer.applyUpdate(learningRate: 1e-3)
            losses.append(sum / 2)
        }
        #expect(run.records.map(\.loss.bitPattern) == losses.map(\.bitPattern))
        #expect(run.model.parameters.array.map(\.bitPattern) == reference.parameters.array.map(\.bitPattern))
        if overlap { #expect(run.earlyParameterSubgroups > 0) }
    }

    /// A DeepSpeed scheduler in a run: each step's lr is the schedule's after the updates applied
    /// before it, so an fp16 overflow (step 2 skipped) holds the schedule back a step, as
    /// DeepSpeed's engine does by not stepping its scheduler.
    @Test func aDeepSpeedScheduleFollowsAppliedUpdatesInARun() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let schedule = DeepSpeedSchedule(.warmup(minimum: 1e-4, maximum: 1e-3), warmupSteps: 4, warmupType: .linear)
        var o = options(dir, data: data, mode: .suO, steps: 7)
        o.schedule = .deepSpeed(schedule)
        o.precision = .fp16
        let run = try TrainingRun(o)
        defer { run.finish() }
        run.gradientFault = { step, g in if step == 2 { g[7] = .infinity } }
        try run.run()
        #expect(run.records.map(\.skipped) == [false, true, false, false, false, false, false])
        // Updates applied before each step: 0, 1, 1 (step 2 was skipped), 2, 3, 4, 5.
        let expected = [0, 1, 1, 2, 3, 4, 5].map { Double(Float(schedule.learningRate(appliedSteps: $0))) }
        #expect(run.records.map(\.lr) == expected)
        // The minimum for iterations −1 and 0, the maximum from iteration 4 (5 updates) on.
        #expect(expected[0] == Double(Float(1e-4)) && expected[1] == expected[0])
        #expect(abs(expected[6] - 1e-3) <= 1e-10)
    }
}
