/// A caller handed the compressor something it cannot work with: a bad ratio, a buffer of the
/// wrong size, indices that are not a valid selection. Thrown before anything is written, so the
/// caller's buffers (and an error-feedback residual) are unchanged when it is raised.
public enum CompressionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kept fraction must be a number in (0, 1].
    case invalidRatio(Double)
    /// Element counts travel as u32 in the payload header, so a subgroup holds at most
    /// `UInt32.max` elements.
    case elementCountOutOfRange(Int)
    /// The number of kept elements must lie in 0...n.
    case keptCountOutOfRange(kept: Int, elementCount: Int)
    /// A caller-provided buffer cannot hold what must be written into it.
    case bufferTooSmall(buffer: String, required: Int, available: Int)
    /// Two buffers that describe the same elements have different lengths.
    case bufferSizeMismatch(buffer: String, expected: Int, found: Int)
    /// Indices handed to the encoder must be strictly increasing.
    case indicesNotIncreasing(position: Int, index: UInt32, previous: UInt32)
    /// Indices handed to the encoder must be below the element count.
    case indexOutOfRange(position: Int, index: UInt32, elementCount: Int)
    /// zstd levels above 3 cost more time than the index stream is worth.
    case invalidZstdLevel(Int)
    /// A count of steps cannot be negative.
    case invalidStepCount(name: String, value: Int)

    public var description: String {
        switch self {
        case .invalidRatio(let ratio):
            "compression ratio: found \(ratio), expected a number in (0, 1]"
        case .elementCountOutOfRange(let n):
            "element count: found \(n), expected 0...\(UInt32.max)"
        case .keptCountOutOfRange(let k, let n):
            "kept count: found \(k), expected 0...\(n) (the element count)"
        case .bufferTooSmall(let buffer, let required, let available):
            "\(buffer): holds \(available), expected at least \(required)"
        case .bufferSizeMismatch(let buffer, let expected, let found):
            "\(buffer): holds \(found) elements, expected \(expected)"
        case .indicesNotIncreasing(let position, let index, let previous):
            "indices[\(position)]: found \(index) after \(previous), expected strictly increasing indices"
        case .indexOutOfRange(let position, let index, let n):
            "indices[\(position)]: found \(index), expected an index below the element count \(n)"
        case .invalidZstdLevel(let level):
            "index zstd level: found \(level), expected 1...3"
        case .invalidStepCount(let name, let value):
            "\(name): found \(value), expected a count >= 0"
        }
    }
}
