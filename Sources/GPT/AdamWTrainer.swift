import Optim

/// Trains a `GPTModel` in process with AdamW on flat m and v vectors: one step is zero the
/// gradients, forward, backward, and the `Optim` update kernel over the whole parameter vector.
///
/// This is the trainer without offload, for tests, benchmarks and the parity check; its update
/// is the same kernel the devices run, so offloaded training must match it.
public final class AdamWTrainer {
    public let model: GPTModel
    public let hyperparameters: AdamWHyperparameters
    /// First and second moments, flat, in the parameters' layout.
    public let firstMoment: AlignedBuffer<Float>
    public let secondMoment: AlignedBuffer<Float>
    /// Updates applied so far; the next one uses bias correction at t = completedSteps + 1.
    public private(set) var completedSteps = 0
    private let kernel: UpdateKernel

    /// Zeroed moments for `model`; `updateThreads` threads run the update kernel.
    public init(model: GPTModel, hyperparameters: AdamWHyperparameters, updateThreads: Int = 1) {
        self.model = model
        self.hyperparameters = hyperparameters
        firstMoment = AlignedBuffer(count: model.parameters.count)
        secondMoment = AlignedBuffer(count: model.parameters.count)
        kernel = UpdateKernel(threads: updateThreads)
    }

    /// One training step on `batch` at `learningRate`; returns the loss before the update.
    @discardableResult
    public func step(on batch: TokenBatch, learningRate: Float) -> Float {
        let loss = computeGradients(on: batch)
        applyUpdate(learningRate: learningRate)
        return loss
    }

    /// The first half of a step: fresh gradients of the loss on `batch`; returns the loss.
    public func computeGradients(on batch: TokenBatch) -> Float {
        model.zeroGradients()
        let loss = model.forward(batch)
        model.backward()
        return loss
    }

    /// The second half of a step: AdamW over the whole flat vector with the current gradients.
    public func applyUpdate(learningRate: Float) {
        let update = OptimizerConfig.adamw(hyperparameters)
            .prepare(step: completedSteps + 1, learningRate: learningRate, combinedUnscale: 1)
        kernel.run(update, parameters: model.parameters, states: [firstMoment, secondMoment],
                   gradient: .fp32(model.gradients))
        completedSteps += 1
    }
}
