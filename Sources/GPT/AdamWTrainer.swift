import Optim

/// Trains a `GPTModel` in process with AdamW on flat m and v vectors: one step is zero the
/// gradients, forward, backward, and the `Optim` update kernel over the whole parameter vector.
///
/// This is the trainer without offload, for tests, benchmarks and the parity check; its update
/// is the same kernel the devices run, so offloaded training must match it. A mixed-precision
/// model is updated the way a device does it: fp32 masters and moments here, the model's 16-bit
/// gradients in, its 16-bit compute copy written out (without loss scaling).
public final class AdamWTrainer {
    public let model: GPTModel
    public let hyperparameters: AdamWHyperparameters
    /// First and second moments, flat, in the parameters' layout.
    public let firstMoment: AlignedBuffer<Float>
    public let secondMoment: AlignedBuffer<Float>
    /// The fp32 parameters the update applies to: the model's own in fp32.
    public let masters: AlignedBuffer<Float>
    /// Updates applied so far; the next one uses bias correction at t = completedSteps + 1.
    public private(set) var completedSteps = 0
    private let kernel: UpdateKernel

    /// Zeroed moments for `model`; `updateThreads` threads run the update kernel. A
    /// mixed-precision model needs its fp32 `masters` (it keeps only their rounding).
    public init(model: GPTModel, hyperparameters: AdamWHyperparameters, updateThreads: Int = 1,
                masters: AlignedBuffer<Float>? = nil) {
        precondition(model.precision == .fp32 || masters?.count == model.computeParameters.count,
                     "a \(model.precision) model needs its fp32 masters")
        self.model = model
        self.hyperparameters = hyperparameters
        self.masters = masters ?? model.parameters
        firstMoment = AlignedBuffer(count: self.masters.count)
        secondMoment = AlignedBuffer(count: self.masters.count)
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
        kernel.run(update, parameters: masters, states: [firstMoment, secondMoment], gradient: model.computeGradients,
                   copyOut: model.precision == .fp32 ? nil : model.computeParameters)
        completedSteps += 1
    }
}
