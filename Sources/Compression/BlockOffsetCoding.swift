/// The block-local u16 index stream: the index space is cut into blocks of 65536, and for every
/// block in order (empty ones included) the stream holds a u32 little-endian count followed by
/// that many u16 little-endian offsets within the block.
///
/// It costs a flat 16 bits per index plus 4 bytes per block, known from n and k before encoding,
/// and it decodes without data-dependent branches on the byte values. It is never smaller than
/// delta varint (see `IndexEncodingPolicy.automatic`), so it is only written when asked for.
enum BlockOffsetCoding {
    static let blockShift = 16
    static let blockSize = 1 << blockShift

    /// Blocks covering n elements.
    @inline(__always)
    static func blockCount(elementCount n: Int) -> Int { (n + blockSize - 1) >> blockShift }

    /// The exact stream length: a 4-byte count per block and 2 bytes per index.
    static func byteCount(elementCount n: Int, keptCount k: Int) -> Int {
        4 * blockCount(elementCount: n) + 2 * k
    }

    /// Writes the stream for `indices` (validated: strictly increasing, below n) and returns its
    /// length.
    static func encode(_ indices: UnsafeBufferPointer<UInt32>, elementCount n: Int,
                       into out: UnsafeMutableRawPointer) -> Int {
        var position = 0
        var j = 0
        for block in 0..<blockCount(elementCount: n) {
            let end = UInt64(block + 1) << UInt64(blockShift)
            let countOffset = position
            position &+= 4
            let first = j
            while j < indices.count && UInt64(indices[j]) < end {
                out.storeBytes(of: UInt16(truncatingIfNeeded: indices[j]).littleEndian,
                               toByteOffset: position, as: UInt16.self)
                position &+= 2
                j &+= 1
            }
            out.storeBytes(of: UInt32(j - first).littleEndian, toByteOffset: countOffset, as: UInt32.self)
        }
        return position
    }

    /// Decodes `k` indices from `stream` (whose length the header has already matched to
    /// `byteCount`) into `indices`, requiring the block counts to add up to exactly `k` and every
    /// index to be strictly increasing and below `n`.
    static func decode(_ stream: UnsafeRawBufferPointer, keptCount k: Int, elementCount n: Int,
                       into indices: UnsafeMutablePointer<UInt32>) throws(PayloadError) {
        let blocks = blockCount(elementCount: n)
        let expectedBytes = byteCount(elementCount: n, keptCount: k)
        guard stream.count == expectedBytes else {
            throw .malformedIndexStream("\(stream.count) bytes, expected \(expectedBytes) for \(blocks) blocks and \(k) indices")
        }
        guard let bytes = stream.baseAddress else { return }
        let limit = UInt64(n)
        var position = 0
        var j = 0
        var previous: UInt64 = 0
        for block in 0..<blocks {
            let count = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
            position &+= 4
            guard count <= k - j else {
                throw .malformedIndexStream("block \(block) claims \(count) indices, but only \(k - j) of k = \(k) remain")
            }
            let base = UInt64(block) << UInt64(blockShift)
            for _ in 0..<count {
                let offset = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
                position &+= 2
                let index = base | UInt64(offset)
                guard j == 0 || index > previous else {
                    throw .indexNotIncreasing(position: j, index: index, previous: previous)
                }
                guard index < limit else {
                    throw .indexOutOfRange(position: j, index: index, elementCount: n)
                }
                indices[j] = UInt32(truncatingIfNeeded: index)
                previous = index
                j &+= 1
            }
        }
        guard j == k else {
            throw .malformedIndexStream("block counts add up to \(j) indices, expected k = \(k)")
        }
    }
}
