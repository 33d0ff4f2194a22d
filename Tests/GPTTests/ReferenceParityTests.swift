import Foundation
import GPT
import Optim
import Testing

/// Parity with an independent float64 reference (Reference/gpt2_reference.py, numpy), which
/// implements GPT-2 as llm.c's train_gpt2.c defines it, with llm.c's AdamW.
///
/// Tolerances: our model computes in fp32 (unit roundoff 6e-8) with sums of up to a few
/// thousand terms in a different order than numpy's fp64, so a step-1 loss or gradient element
/// differs from the exact value by roughly 1e-6 relative, and more where LayerNorm's backward
/// subtracts nearly equal means. Per-tensor gradient norms average those element errors, so
/// 1e-3 relative is a generous bound that still catches any wrong term (a wrong term shifts a
/// norm by percent, not per mille). Losses over 20 AdamW steps also carry the drift of
/// parameters updated from slightly different gradients; Adam normalises each update to about
/// lr per element, so the drift stays near the per-step error, well below 1e-4 relative, while
/// a wrong update rule or a wrong batch changes the loss in the second or third digit.
/// (Measured: losses agree to about 2e-7 relative over the 20 steps, norms to about 3e-7.)
@Suite struct ReferenceParityTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Reference/gpt2_reference.py").path

    struct ReferenceResult: Decodable {
        var losses: [Double]
        var gradient_norms: [String: Double]
    }

    /// Runs python3 with `arguments`; fails the test with the reason if it cannot.
    static func runPython(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw ReferenceUnavailable("could not start python3 (\(error)); the float64 reference needs python3 with numpy (`make test` installs them)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ReferenceUnavailable("python3 \(arguments.first ?? "") exited with status \(process.terminationStatus): \(stderr)")
        }
        return data
    }

    struct ReferenceUnavailable: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// With GPT-2's initialisation, and with widened weights that drive GELU and the attention
    /// softmax into their non-linear range (see `widened`).
    @Test(arguments: [1, 8] as [Float])
    func lossesAndGradientsMatchTheFloat64Reference(weightFactor: Float) throws {
        do {
            _ = try Self.runPython(["-c", "import numpy"])
        } catch {
            throw ReferenceUnavailable("the float64 reference needs python3 with numpy (`make test` installs numpy): \(error)")
        }

        let scratch = try ScratchDirectory()
        let checkpointPath = scratch.file("model.bin")
        let tokensPath = scratch.file("train.bin")
        let (batch, sequence, steps) = (2, 16, 20)
        let (learningRate, weightDecay): (Float, Float) = (1e-3, 0.1)
        try widened(initialized(smallConfig, seed: 7), factor: weightFactor).write(to: checkpointPath)
        // Enough for 20 batches without wrapping, plus a partial one the loader must skip.
        let tokens = learnableTokens(count: steps * batch * sequence + 9, vocabSize: smallConfig.vocabSize, seed: 3)
        try TokenFile.write(tokens, to: tokensPath)

        let output = try Self.runPython([
            Self.script, "--checkpoint", checkpointPath, "--tokens", tokensPath, "--batch", "\(batch)",
            "--seq", "\(sequence)", "--steps", "\(steps)", "--lr", "\(learningRate)", "--weight-decay", "\(weightDecay)",
        ])
        let reference = try JSONDecoder().decode(ReferenceResult.self, from: output)

        let checkpoint = try GPTCheckpoint.read(from: checkpointPath)
        let shape = try BatchShape(batchSize: batch, sequenceLength: sequence, config: checkpoint.config)
        var loader = try TokenBatchLoader(tokens: TokenFile.read(from: tokensPath, vocabSize: checkpoint.config.vocabSize),
                                          shape: shape)
        let model = GPTModel(checkpoint: checkpoint, shape: shape)
        let trainer = AdamWTrainer(model: model, hyperparameters: AdamWHyperparameters(
            beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay))

        var losses: [Double] = []
        for step in 1...steps {
            losses.append(Double(trainer.step(on: loader.next(), learningRate: learningRate)))
            guard step == 1 else { continue }
            // The gradients stay in the model after the update: these are step 1's.
            for tensor in ParameterTensor.allCases {
                let ours = norm(model.gradients, model.layout.range(of: tensor))
                let theirs = try #require(reference.gradient_norms[tensor.description])
                #expect(abs(ours - theirs) <= 1e-3 * theirs, "‖d \(tensor)‖ \(ours) vs reference \(theirs)")
            }
        }
        #expect(reference.losses.count == steps)
        for (step, (ours, theirs)) in zip(losses, reference.losses).enumerated() {
            #expect(abs(ours - theirs) <= 1e-4 * theirs, "step \(step + 1): loss \(ours) vs reference \(theirs)")
        }
        // The corpus is learnable: the run must actually train.
        #expect(losses.last! < losses.first! - 0.5)
    }
}
