import Optim

/// One call from a dense fp32 gradient to a payload: top-k at a fixed ratio, optional error
/// feedback, and encoding, with all scratch kept between calls so that the steady state
/// allocates nothing. This is the compute side of SmartComp, run once per subgroup per step.
///
/// Not thread-safe: use one per thread (they are cheap; the scratch grows to the largest
/// subgroup seen).
public final class GradientCompressor {
    /// Fraction of elements kept on sparse steps, in (0, 1].
    public let ratio: Double
    public let options: PayloadOptions
    private let selector = TopKSelector()
    private let encoder: GradientPayloadEncoder
    private var keptIndices: AlignedBuffer<UInt32>
    private var keptValues: AlignedBuffer<Float>

    /// - Throws: `CompressionError.invalidRatio` unless 0 < ratio <= 1, `.invalidZstdLevel` for a
    ///   zstd level outside 1...3.
    public init(ratio: Double, options: PayloadOptions = PayloadOptions()) throws(CompressionError) {
        try TopKSelector.validate(ratio: ratio)
        self.ratio = ratio
        self.options = options
        self.encoder = try GradientPayloadEncoder(options: options)
        self.keptIndices = AlignedBuffer(count: 0)
        self.keptValues = AlignedBuffer(count: 0)
    }

    /// The payload buffer size that fits any step for subgroups of `elementCount` elements: dense
    /// steps need room for all n values, so pass `includingDenseSteps` when error feedback has
    /// warm-up steps.
    public func maximumEncodedSize(elementCount n: Int, includingDenseSteps: Bool) throws(CompressionError) -> Int {
        let k = includingDenseSteps ? n : try TopKSelector.keptCount(ratio: ratio, elementCount: n)
        return GradientPayloadEncoder.maximumEncodedSize(elementCount: n, keptCount: k, options: options)
    }

    /// Compresses `gradient` into `payload` and returns the payload length.
    ///
    /// Without `feedback`, the top ceil(ratio·n) elements of `gradient` are sent. With it, the
    /// residual is added first, the top elements of the sum are sent (or all of them during the
    /// dense warm-up), and the residual keeps everything that was not transmitted, including value
    /// rounding (see `ErrorFeedback`).
    ///
    /// - Throws: `CompressionError` if the gradient does not fit the u32 header, the residual's
    ///   length differs from the gradient's, or `payload` is smaller than this step can need
    ///   (`maximumEncodedSize`). These are checked first: on error neither the payload nor the
    ///   residual has changed.
    public func compress(_ gradient: UnsafeBufferPointer<Float>, subgroup: UInt32, step: UInt64,
                         feedback: ErrorFeedback? = nil,
                         into payload: UnsafeMutableRawBufferPointer) throws(CompressionError) -> Int {
        let n = gradient.count
        let dense = feedback?.nextStepIsDense ?? false
        let k = dense ? n : try TopKSelector.keptCount(ratio: ratio, elementCount: n)
        guard n <= Int(UInt32.max) else { throw .elementCountOutOfRange(n) }
        if let feedback, feedback.residual.count != n {
            throw .bufferSizeMismatch(buffer: "error-feedback residual", expected: n, found: feedback.residual.count)
        }
        let required = GradientPayloadEncoder.maximumEncodedSize(elementCount: n, keptCount: k, options: options)
        guard payload.count >= required else {
            throw .bufferTooSmall(buffer: "payload buffer (bytes)", required: required, available: payload.count)
        }
        if keptIndices.count < k, k < n {
            keptIndices = AlignedBuffer(count: k)
            keptValues = AlignedBuffer(count: k)
        }
        guard let feedback else {
            return try encode(gradient, keeping: k, subgroup: subgroup, step: step, into: payload)
        }

        feedback.accumulate(gradient)
        let outcome = feedback.residual.withUnsafeBufferPointer { accumulated in
            Result { () throws(CompressionError) in
                try encode(accumulated, keeping: k, subgroup: subgroup, step: step, into: payload)
            }
        }
        let length = try outcome.get()
        let transmitted = UnsafeRawPointer(payload.baseAddress! + length - k * options.valueEncoding.byteWidth)
        if k == n {
            feedback.retainDenseError(transmitted: transmitted, encoding: options.valueEncoding)
        } else {
            keptIndices.withUnsafeBufferPointer { kept in
                feedback.retainSparseError(indices: kept.baseAddress!, count: k, transmitted: transmitted,
                                           encoding: options.valueEncoding)
            }
        }
        return length
    }

    /// The same compression over owned buffers.
    public func compress(_ gradient: AlignedBuffer<Float>, subgroup: UInt32, step: UInt64,
                         feedback: ErrorFeedback? = nil, into payload: AlignedBuffer<UInt8>) throws(CompressionError) -> Int {
        let outcome = gradient.withUnsafeBufferPointer { values in
            payload.withUnsafeMutableBufferPointer { bytes in
                Result { () throws(CompressionError) in
                    try compress(values, subgroup: subgroup, step: step, feedback: feedback,
                                 into: UnsafeMutableRawBufferPointer(bytes))
                }
            }
        }
        return try outcome.get()
    }

    /// Selects (unless k == n) and encodes `values`, leaving the kept indices in `keptIndices`.
    private func encode(_ values: UnsafeBufferPointer<Float>, keeping k: Int, subgroup: UInt32, step: UInt64,
                        into payload: UnsafeMutableRawBufferPointer) throws(CompressionError) -> Int {
        if k == values.count {
            return try encoder.encodeDense(values, subgroup: subgroup, step: step, into: payload)
        }
        let outcome = keptIndices.withUnsafeMutableBufferPointer { indexSlots in
            keptValues.withUnsafeMutableBufferPointer { valueSlots in
                Result { () throws(CompressionError) in
                    let indices = UnsafeMutableBufferPointer(rebasing: indexSlots[0..<k])
                    let kept = UnsafeMutableBufferPointer(rebasing: valueSlots[0..<k])
                    try selector.select(values, keeping: k, indices: indices, selectedValues: kept)
                    return try encoder.encode(indices: UnsafeBufferPointer(indices), values: UnsafeBufferPointer(kept),
                                              elementCount: values.count, subgroup: subgroup, step: step, into: payload)
                }
            }
        }
        return try outcome.get()
    }
}
