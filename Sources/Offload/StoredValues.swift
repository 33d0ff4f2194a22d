import Optim

/// A read-only run of values stored in some precision: a device's part of the model's flat
/// gradient, which is fp32 or, in mixed precision, fp16 / bf16.
///
/// It is a view: the `StreamBuffer` it came from must outlive it (the fleet holds one only for
/// the length of a step).
struct StoredValues: @unchecked Sendable {
    // Safe to hand to the device workers: a read-only view, and the buffer it views is not
    // written until the step reading it has settled.
    let base: UnsafeRawPointer
    let precision: Precision
    let count: Int

    /// The elements in `range` (which must lie within this run).
    func slice(_ range: Range<Int>) -> StoredValues {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "\(range) is outside 0..<\(count)")
        return StoredValues(base: base + range.lowerBound * precision.byteWidth, precision: precision, count: range.count)
    }

    /// The fp32 values themselves, when they are fp32.
    var fp32: UnsafeBufferPointer<Float>? {
        precision == .fp32 ? UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: count) : nil
    }

    /// Writes the values as fp32 into the start of `destination` and zeros into the rest.
    func widen(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= count)
        precision.widen(base, into: UnsafeMutableBufferPointer(rebasing: destination[0..<count]))
        UnsafeMutableBufferPointer(rebasing: destination[count...]).update(repeating: 0)
    }
}

extension StreamBuffer {
    /// Runs `body` on a view of the whole buffer.
    func withStoredValues<R>(_ body: (StoredValues) throws -> R) rethrows -> R {
        try withUnsafeMutableRawPointer { try body(StoredValues(base: UnsafeRawPointer($0), precision: precision, count: count)) }
    }
}
