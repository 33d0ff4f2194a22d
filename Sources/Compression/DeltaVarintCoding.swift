/// The delta-varint index stream: the first index, then each index minus the one before it,
/// every number as an unsigned LEB128 varint (7 bits per byte, low bits first, high bit set on
/// all but the last byte).
///
/// Sorted indices at ratio r have gaps around 1/r, so at r = 0.01 most deltas fit in one byte
/// and the stream costs about 10 bits per index, against 32 for raw u32 indices.
enum DeltaVarintCoding {
    /// A u32 needs at most five 7-bit groups.
    static let maximumBytesPerIndex = 5

    @inline(__always)
    static func byteCount(of value: UInt32) -> Int {
        1 &+ (value >= 1 << 7 ? 1 : 0) &+ (value >= 1 << 14 ? 1 : 0)
            &+ (value >= 1 << 21 ? 1 : 0) &+ (value >= 1 << 28 ? 1 : 0)
    }

    /// The stream length for `indices` (already validated as strictly increasing).
    static func byteCount(_ indices: UnsafeBufferPointer<UInt32>) -> Int {
        var previous: UInt32 = 0
        var total = 0
        for index in indices {
            total &+= byteCount(of: index &- previous)
            previous = index
        }
        return total
    }

    /// Writes the stream for `indices` at `out` and returns its length.
    static func encode(_ indices: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableRawPointer) -> Int {
        var previous: UInt32 = 0
        var position = 0
        for index in indices {
            var value = index &- previous
            previous = index
            while value >= 0x80 {
                out.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: position, as: UInt8.self)
                value &>>= 7
                position &+= 1
            }
            out.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: position, as: UInt8.self)
            position &+= 1
        }
        return position
    }

    /// Decodes exactly `k` indices from `stream` into `indices`, requiring the stream to end right
    /// after the last one, every varint to be in shortest form and at most five bytes, every delta
    /// after the first to be positive, and every index to be below `n`.
    static func decode(_ stream: UnsafeRawBufferPointer, keptCount k: Int, elementCount n: Int,
                       into indices: UnsafeMutablePointer<UInt32>) throws(PayloadError) {
        guard k > 0 else {
            guard stream.isEmpty else { throw .malformedIndexStream("\(stream.count) bytes hold no indices (k = 0)") }
            return
        }
        guard let bytes = stream.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw .malformedIndexStream("empty stream, expected \(k) varints")
        }
        let length = stream.count
        let limit = UInt64(n)
        var position = 0
        var previous: UInt64 = 0
        for j in 0..<k {
            guard position < length else {
                throw .malformedIndexStream("stream ends after \(j) of \(k) indices")
            }
            var byte = bytes[position]
            position &+= 1
            var delta = UInt64(byte & 0x7F)
            if byte >= 0x80 {
                var shift: UInt64 = 7
                repeat {
                    guard position < length else {
                        throw .malformedIndexStream("varint \(j) runs past the end of the stream")
                    }
                    byte = bytes[position]
                    position &+= 1
                    delta |= UInt64(byte & 0x7F) &<< shift
                    shift &+= 7
                } while byte >= 0x80 && shift < 35
                guard byte < 0x80, delta <= UInt64(UInt32.max) else {
                    throw .malformedIndexStream("varint \(j) does not fit in 32 bits")
                }
                guard byte != 0 else {
                    throw .malformedIndexStream("varint \(j) is not in shortest form (trailing zero byte)")
                }
            }
            let index = j == 0 ? delta : previous &+ delta
            guard j == 0 || delta > 0 else {
                throw .indexNotIncreasing(position: j, index: index, previous: previous)
            }
            guard index < limit else {
                throw .indexOutOfRange(position: j, index: index, elementCount: n)
            }
            indices[j] = UInt32(truncatingIfNeeded: index)
            previous = index
        }
        guard position == length else {
            throw .malformedIndexStream("\(length - position) bytes left after the last of \(k) indices")
        }
    }
}
