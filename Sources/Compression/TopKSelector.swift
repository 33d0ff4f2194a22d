import Optim

/// Selects the k largest-magnitude elements of an fp32 gradient in O(n), never sorting it.
///
/// SmartComp sends only the top r·n gradient elements of each subgroup, so selection runs once per
/// subgroup per step over the whole gradient and must keep up with memory bandwidth. The selector
/// finds the exact k-th largest magnitude (`SampledThreshold`, falling back to `RadixThreshold`
/// on heavy ties) and then emits the kept indices in ascending order in one pass.
///
/// The order is |g|, taken from the fp32 bit pattern with the sign cleared; NaN ranks above
/// infinity. Ties at the threshold go to the lowest indices. The result is therefore exactly
/// "sort by (|g| descending, index ascending), keep k, sort the indices".
///
/// The selector keeps its scratch (sample, candidates, histogram) between calls, so repeated
/// selections of the same size allocate nothing. It is not thread-safe: use one per thread.
public final class TopKSelector {
    private let sample: AlignedBuffer<UInt32>
    private let histogram: AlignedBuffer<Int>
    /// Grows to the largest bracket seen and then stays.
    private var candidates: AlignedBuffer<UInt32>

    public init() {
        sample = AlignedBuffer(count: SampledThreshold.maximumSampleSize)
        histogram = AlignedBuffer(count: RadixThreshold.histogramSize)
        candidates = AlignedBuffer(count: SampledThreshold.minimumCandidateCapacity)
    }

    /// The number of elements kept at ratio `ratio` of `elementCount`: ceil(r·n), at least one
    /// element of a non-empty subgroup.
    ///
    /// A product within a relative 1e-12 of an integer counts as that integer, so that decimal
    /// ratios behave as written: 0.07 × 100 is 7.000000000000001 in binary, and keeps 7, not 8.
    ///
    /// - Throws: `CompressionError.invalidRatio` unless 0 < r <= 1 (NaN included), and
    ///   `.elementCountOutOfRange` for a negative count or one that does not fit the u32 header.
    public static func keptCount(ratio: Double, elementCount n: Int) throws(CompressionError) -> Int {
        try validate(ratio: ratio)
        guard n >= 0, n <= Int(UInt32.max) else { throw .elementCountOutOfRange(n) }
        guard n > 0 else { return 0 }
        let product = ratio * Double(n)
        let nearest = product.rounded()
        let k = abs(product - nearest) <= max(product, 1) * 1e-12 ? nearest : product.rounded(.up)
        return min(n, max(1, Int(k)))
    }

    /// Accepts exactly the ratios in (0, 1]; NaN fails both comparisons.
    static func validate(ratio: Double) throws(CompressionError) {
        guard ratio > 0, ratio <= 1 else { throw .invalidRatio(ratio) }
    }

    /// Writes the indices of the `k` largest-magnitude elements of `values` into `indices[0..<k]`
    /// in ascending order, and their values into `selectedValues[0..<k]` if given.
    ///
    /// - Throws: `CompressionError` if `values` has more than `UInt32.max` elements, `k` is not in
    ///   0...n, or an output buffer holds fewer than `k` elements. Nothing is written then.
    public func select(_ values: UnsafeBufferPointer<Float>, keeping k: Int,
                       indices: UnsafeMutableBufferPointer<UInt32>,
                       selectedValues: UnsafeMutableBufferPointer<Float>? = nil) throws(CompressionError) {
        let n = values.count
        guard n <= Int(UInt32.max) else { throw .elementCountOutOfRange(n) }
        guard k >= 0, k <= n else { throw .keptCountOutOfRange(kept: k, elementCount: n) }
        guard indices.count >= k else {
            throw .bufferTooSmall(buffer: "selected indices", required: k, available: indices.count)
        }
        if let selectedValues, selectedValues.count < k {
            throw .bufferTooSmall(buffer: "selected values", required: k, available: selectedValues.count)
        }
        guard k > 0, let base = values.baseAddress, let indexBase = indices.baseAddress else { return }
        let valueBase = selectedValues?.baseAddress

        if k == n {
            for i in 0..<n { indexBase[i] = UInt32(truncatingIfNeeded: i) }
            valueBase?.update(from: base, count: n)
            return
        }
        let threshold = threshold(base, count: n, keep: k)
        SelectionEmitter.emit(base, count: n, keep: k, threshold: threshold, indices: indexBase,
                              selectedValues: valueBase)
    }

    /// The same selection over owned buffers.
    public func select(_ values: AlignedBuffer<Float>, keeping k: Int, indices: AlignedBuffer<UInt32>,
                       selectedValues: AlignedBuffer<Float>? = nil) throws(CompressionError) {
        let outcome = values.withUnsafeBufferPointer { valuePointer in
            indices.withUnsafeMutableBufferPointer { indexPointer in
                withOptionalMutableBuffer(selectedValues) { selectedPointer in
                    Result { () throws(CompressionError) in
                        try select(valuePointer, keeping: k, indices: indexPointer, selectedValues: selectedPointer)
                    }
                }
            }
        }
        try outcome.get()
    }

    /// The exact threshold for keeping `k` of `n` (0 < k < n).
    private func threshold(_ values: UnsafePointer<Float>, count n: Int, keep k: Int) -> SelectionThreshold {
        let raw = UnsafeRawPointer(values)
        let bracket = sample.withUnsafeMutableBufferPointer { sampleSlots in
            SampledThreshold.bracket(raw, count: n, keep: k, sample: sampleSlots.baseAddress!)
        }
        // Twice the expected candidates: the bracket's real population varies by a few percent,
        // so overflowing this means ties, which the radix path handles better anyway.
        let wanted = min(n, 2 * bracket.expectedCandidates + 1024)
        if candidates.count < wanted { candidates = AlignedBuffer(count: wanted) }
        let sampled = candidates.withUnsafeMutableBufferPointer { slots in
            SampledThreshold.threshold(raw, count: n, keep: k, bracket: bracket,
                                       candidates: slots.baseAddress!, capacity: slots.count)
        }
        if let sampled { return sampled }
        return histogram.withUnsafeMutableBufferPointer { counts in
            RadixThreshold.threshold(raw, count: n, keep: k, histogram: counts.baseAddress!)
        }
    }
}

/// Runs `body` with the elements of `buffer`, or with nil when there is no buffer, so that the
/// `AlignedBuffer` overload can forward its optional output to the pointer-based one.
private func withOptionalMutableBuffer<Element, Result>(
    _ buffer: AlignedBuffer<Element>?, _ body: (UnsafeMutableBufferPointer<Element>?) -> Result
) -> Result {
    guard let buffer else { return body(nil) }
    return buffer.withUnsafeMutableBufferPointer { body($0) }
}
