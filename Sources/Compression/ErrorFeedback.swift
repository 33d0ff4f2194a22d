import Optim

/// Error feedback for one subgroup: what top-k compression did not transmit is kept and added to
/// the next step's gradient, so no gradient mass is ever lost.
///
/// Smart-Infinity drops the unselected gradient outright; accumulating it instead (as in
/// deep-gradient-compression style training) lets small but persistent gradient components reach
/// the parameters eventually, which keeps aggressive ratios from hurting convergence.
///
/// Each step, through `GradientCompressor.compress(_:subgroup:step:feedback:into:)`:
/// 1. acc = gradient + residual (computed in place in `residual`);
/// 2. top-k on acc, and the kept values are transmitted in the payload's value encoding;
/// 3. residual = acc − (the transmitted value as the receiver decodes it) at kept positions, and
///    acc at dropped ones. Because the rounded value is subtracted, even the fp16/bf16 rounding
///    error is carried forward: over any number of steps, the sum of the inputs equals the sum of
///    what was decoded plus the residual, up to fp32 rounding of the additions in step 1.
///
/// The first `denseWarmUpSteps` steps send everything (k = n); the residual then holds only the
/// value-rounding error (zero for fp32 values). A non-finite accumulated value (an overflowed
/// gradient, or one past the fp16 range) makes its residual entry non-finite; skip such steps
/// before compressing, as the loss scaler does.
///
/// The residual buffer belongs to the caller, who sizes it to the subgroup, can checkpoint it,
/// and starts it at zero. Not thread-safe.
public final class ErrorFeedback {
    /// The untransmitted gradient, one entry per subgroup element.
    public let residual: AlignedBuffer<Float>
    public let denseWarmUpSteps: Int
    /// Steps compressed with this feedback so far (restore it when resuming from a checkpoint).
    public private(set) var completedSteps: Int

    /// - Throws: `CompressionError.invalidStepCount` for a negative warm-up or step count.
    public init(residual: AlignedBuffer<Float>, denseWarmUpSteps: Int = 0,
                completedSteps: Int = 0) throws(CompressionError) {
        guard denseWarmUpSteps >= 0 else {
            throw .invalidStepCount(name: "dense warm-up steps", value: denseWarmUpSteps)
        }
        guard completedSteps >= 0 else { throw .invalidStepCount(name: "completed steps", value: completedSteps) }
        self.residual = residual
        self.denseWarmUpSteps = denseWarmUpSteps
        self.completedSteps = completedSteps
    }

    /// Whether the next step is a dense warm-up step.
    public var nextStepIsDense: Bool { completedSteps < denseWarmUpSteps }

    /// residual += gradient, element by element (`gradient` has the residual's length).
    func accumulate(_ gradient: UnsafeBufferPointer<Float>) {
        guard let gradientBase = gradient.baseAddress else { return }
        residual.withUnsafeMutableBufferPointer { Precision.fp32.accumulate(UnsafeRawPointer(gradientBase), into: $0) }
    }

    /// After a dense step: residual −= the decoded value of every element.
    func retainDenseError(transmitted: UnsafeRawPointer, encoding: Precision) {
        residual.withUnsafeMutableBufferPointer { accumulated in
            let acc = UnsafeMutableRawPointer(accumulated.baseAddress!)
            ValueCoding.forEachDecodedGroup(transmitted, count: accumulated.count, encoding: encoding) { first, group, lanes in
                if lanes == 16 {
                    FP32Elements.store16(FP32Elements.load16(acc, first) - group, acc, first)
                } else {
                    for lane in 0..<lanes { accumulated[first &+ lane] -= group[lane] }
                }
            }
        }
        completedSteps += 1
    }

    /// After a sparse step: residual[indices[j]] −= the decoded value j; dropped entries keep acc.
    func retainSparseError(indices: UnsafePointer<UInt32>, count k: Int, transmitted: UnsafeRawPointer,
                           encoding: Precision) {
        residual.withUnsafeMutableBufferPointer { accumulated in
            let acc = accumulated.baseAddress!
            ValueCoding.forEachDecodedGroup(transmitted, count: k, encoding: encoding) { first, group, lanes in
                for lane in 0..<lanes { acc[Int(indices[first &+ lane])] -= group[lane] }
            }
        }
        completedSteps += 1
    }
}
