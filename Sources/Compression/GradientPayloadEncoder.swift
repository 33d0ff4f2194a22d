import Checksum
import Optim

/// Writes compressed gradient payloads (see `GradientPayloadHeader` for the layout) into
/// caller-provided buffers, such as the gradient region of a device's memory.
///
/// The encoder validates its whole input (counts, buffer size, index order) before writing a
/// byte, so a failed encode leaves the destination as it was. It keeps a scratch buffer and a
/// zstd context between calls: after the first payload of a given size it allocates nothing.
/// Not thread-safe: use one per thread.
public final class GradientPayloadEncoder {
    public let options: PayloadOptions
    /// The raw index stream, when zstd needs it apart from the payload.
    private var rawIndexStream: AlignedBuffer<UInt8>
    private var zstd: ZstdCompressor?

    /// - Throws: `CompressionError.invalidZstdLevel` for a level outside 1...3.
    public init(options: PayloadOptions = PayloadOptions()) throws(CompressionError) {
        if let level = options.indexZstdLevel, !(1...3).contains(level) { throw .invalidZstdLevel(level) }
        self.options = options
        self.rawIndexStream = AlignedBuffer(count: 0)
        self.zstd = options.indexZstdLevel == nil ? nil : ZstdCompressor()
    }

    /// The largest payload `encode` can produce for k of n elements with `options`: callers size
    /// their payload buffers (and devices their gradient regions) with it.
    ///
    /// Indices cost at most 5 bytes each as varints, and exactly 4 per block plus 2 each as block
    /// offsets; `.automatic` never exceeds the smaller of the two, and zstd output is kept only
    /// when smaller, so it adds nothing. k == n is dense: no index bytes at all.
    public static func maximumEncodedSize(elementCount n: Int, keptCount k: Int, options: PayloadOptions) -> Int {
        precondition(n >= 0 && k >= 0 && k <= n, "need 0 <= k <= n, got k = \(k), n = \(n)")
        let varintBound = k * DeltaVarintCoding.maximumBytesPerIndex
        let blockBytes = BlockOffsetCoding.byteCount(elementCount: n, keptCount: k)
        let indexBytes: Int
        if k == n {
            indexBytes = 0
        } else {
            switch options.indexEncoding {
            case .deltaVarint: indexBytes = varintBound
            case .blockOffsets16: indexBytes = blockBytes
            case .automatic: indexBytes = min(varintBound, blockBytes)
            }
        }
        return GradientPayloadHeader.byteCount + indexBytes + k * options.valueEncoding.byteWidth
    }

    /// Encodes a sparse gradient: `values[j]` belongs at `indices[j]` of a dense vector of
    /// `elementCount` elements. Returns the payload length written at the start of `payload`.
    ///
    /// When every element is kept (k == n) the payload is dense, whatever the index policy.
    ///
    /// - Throws: `CompressionError` if n does not fit the header, k > n, `values` and `indices`
    ///   differ in length, `payload` is smaller than `maximumEncodedSize`, or the indices are not
    ///   strictly increasing and below n. Nothing is written then.
    public func encode(indices: UnsafeBufferPointer<UInt32>, values: UnsafeBufferPointer<Float>,
                       elementCount n: Int, subgroup: UInt32, step: UInt64,
                       into payload: UnsafeMutableRawBufferPointer) throws(CompressionError) -> Int {
        let k = indices.count
        try validate(elementCount: n, keptCount: k, valueCount: values.count, payload: payload)
        try IndexOrderCheck.validate(indices, elementCount: n)
        let encoding: IndexEncoding
        if k == n {
            encoding = .dense
        } else {
            switch options.indexEncoding {
            case .deltaVarint: encoding = .deltaVarint
            case .blockOffsets16: encoding = .blockOffsets16
            case .automatic:
                let blockBytes = BlockOffsetCoding.byteCount(elementCount: n, keptCount: k)
                encoding = DeltaVarintCoding.byteCount(indices) <= blockBytes ? .deltaVarint : .blockOffsets16
            }
        }
        return write(indices: indices, encoding: encoding, values: values, elementCount: n,
                     subgroup: subgroup, step: step, into: payload.baseAddress!)
    }

    /// Encodes a dense gradient (every element kept, no indices): dense warm-up steps and ratio 1.
    ///
    /// - Throws: `CompressionError` if `values` has more than `UInt32.max` elements or `payload`
    ///   is smaller than `maximumEncodedSize(elementCount: n, keptCount: n, ...)`.
    public func encodeDense(_ values: UnsafeBufferPointer<Float>, subgroup: UInt32, step: UInt64,
                            into payload: UnsafeMutableRawBufferPointer) throws(CompressionError) -> Int {
        let n = values.count
        try validate(elementCount: n, keptCount: n, valueCount: n, payload: payload)
        return write(indices: UnsafeBufferPointer(start: nil, count: 0), encoding: .dense, values: values,
                     elementCount: n, subgroup: subgroup, step: step, into: payload.baseAddress!)
    }

    private func validate(elementCount n: Int, keptCount k: Int, valueCount: Int,
                          payload: UnsafeMutableRawBufferPointer) throws(CompressionError) {
        guard n >= 0, n <= Int(UInt32.max) else { throw .elementCountOutOfRange(n) }
        guard k <= n else { throw .keptCountOutOfRange(kept: k, elementCount: n) }
        guard valueCount == k else { throw .bufferSizeMismatch(buffer: "values", expected: k, found: valueCount) }
        let required = Self.maximumEncodedSize(elementCount: n, keptCount: k, options: options)
        guard payload.count >= required else {
            throw .bufferTooSmall(buffer: "payload buffer (bytes)", required: required, available: payload.count)
        }
    }

    /// Writes index stream, values, and header, in that order (the header carries the body's
    /// checksum), and returns the payload length.
    private func write(indices: UnsafeBufferPointer<UInt32>, encoding: IndexEncoding,
                       values: UnsafeBufferPointer<Float>, elementCount n: Int, subgroup: UInt32,
                       step: UInt64, into payload: UnsafeMutableRawPointer) -> Int {
        let body = payload + GradientPayloadHeader.byteCount
        let (rawBytes, storedBytes, compression) = writeIndexStream(indices, encoding: encoding,
                                                                     elementCount: n, into: body)
        let k = values.count
        let valueBytes = k * options.valueEncoding.byteWidth
        if let valueBase = values.baseAddress {
            ValueCoding.pack(valueBase, count: k, as: options.valueEncoding, into: body + storedBytes)
        }
        let bodyChecksum = CRC32C.checksum(UnsafeRawBufferPointer(start: body, count: storedBytes + valueBytes))
        let header = GradientPayloadHeader(
            step: step, subgroup: subgroup, elementCount: n, keptCount: k, valueEncoding: options.valueEncoding,
            indexEncoding: encoding, indexCompression: compression, storedIndexByteCount: storedBytes,
            rawIndexByteCount: rawBytes, valueByteCount: valueBytes, bodyChecksum: bodyChecksum)
        header.write(to: payload)
        return header.payloadByteCount
    }

    /// Writes the index stream at `destination`, zstd-compressed if that was asked for and makes
    /// it smaller. Returns (raw length, stored length, compression used).
    private func writeIndexStream(_ indices: UnsafeBufferPointer<UInt32>, encoding: IndexEncoding,
                                  elementCount n: Int, into destination: UnsafeMutableRawPointer)
        -> (raw: Int, stored: Int, compression: IndexCompression) {
        guard encoding != .dense else { return (0, 0, .none) }
        let rawBound = encoding == .deltaVarint
            ? indices.count * DeltaVarintCoding.maximumBytesPerIndex
            : BlockOffsetCoding.byteCount(elementCount: n, keptCount: indices.count)
        guard let level = options.indexZstdLevel, let zstd, rawBound > 0 else {
            let raw = encodeIndices(indices, encoding: encoding, elementCount: n, into: destination)
            return (raw, raw, .none)
        }
        if rawIndexStream.count < rawBound { rawIndexStream = AlignedBuffer(count: rawBound) }
        return rawIndexStream.withUnsafeMutableBufferPointer { scratch in
            let source = UnsafeMutableRawPointer(scratch.baseAddress!)
            let raw = encodeIndices(indices, encoding: encoding, elementCount: n, into: source)
            if raw > 1, let compressed = zstd.compress(source, count: raw, into: destination,
                                                       capacity: raw - 1, level: level) {
                return (raw, compressed, .zstd)
            }
            destination.copyMemory(from: source, byteCount: raw)
            return (raw, raw, .none)
        }
    }

    private func encodeIndices(_ indices: UnsafeBufferPointer<UInt32>, encoding: IndexEncoding,
                               elementCount n: Int, into out: UnsafeMutableRawPointer) -> Int {
        switch encoding {
        case .dense: 0
        case .deltaVarint: DeltaVarintCoding.encode(indices, into: out)
        case .blockOffsets16: BlockOffsetCoding.encode(indices, elementCount: n, into: out)
        }
    }
}
