/// Why a received gradient payload was rejected.
///
/// Every case names the field, what was found and what was expected, because a rejected payload
/// usually means a bug or a corrupted transfer on the other side, and the message is all the
/// operator gets. The decoder raises these before writing a single element of its destination.
public enum PayloadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the fixed header.
    case truncatedHeader(found: Int, expected: Int)
    /// A header field holds a value this decoder does not accept.
    case invalidField(field: String, found: String, expected: String)
    /// A CRC32C did not match: `field` is "header checksum" or "body checksum".
    case checksumMismatch(field: String, stored: UInt32, computed: UInt32)
    /// The buffer is shorter (truncated) or longer (trailing bytes) than the header says.
    case lengthMismatch(found: Int, expected: Int)
    /// The caller's dense destination does not have n elements.
    case destinationSizeMismatch(found: Int, expected: Int)
    /// The index stream cannot be parsed (bad varint, wrong block counts, wrong length).
    case malformedIndexStream(String)
    /// An index is not above its predecessor.
    case indexNotIncreasing(position: Int, index: UInt64, previous: UInt64)
    /// An index is not below n.
    case indexOutOfRange(position: Int, index: UInt64, elementCount: Int)
    /// zstd could not restore the index stream to its recorded size.
    case decompressionFailed(String)

    public var description: String {
        switch self {
        case .truncatedHeader(let found, let expected):
            "payload length: found \(found) bytes, expected at least the \(expected)-byte header"
        case .invalidField(let field, let found, let expected):
            "payload \(field): found \(found), expected \(expected)"
        case .checksumMismatch(let field, let stored, let computed):
            "payload \(field): stored \(hex(stored)), computed \(hex(computed)) (the payload is corrupted)"
        case .lengthMismatch(let found, let expected):
            "payload length: found \(found) bytes, expected \(expected) as the header records"
        case .destinationSizeMismatch(let found, let expected):
            "decode destination: holds \(found) elements, expected \(expected) (the payload's n)"
        case .malformedIndexStream(let detail):
            "payload index stream: \(detail)"
        case .indexNotIncreasing(let position, let index, let previous):
            "payload index \(position): found \(index) after \(previous), expected strictly increasing indices"
        case .indexOutOfRange(let position, let index, let n):
            "payload index \(position): found \(index), expected an index below n = \(n)"
        case .decompressionFailed(let detail):
            "payload index stream zstd: \(detail)"
        }
    }
}

/// `0x` followed by eight hex digits, the way checksums and magics are usually written.
func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
