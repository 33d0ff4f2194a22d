import Checksum
import Optim

/// Decodes compressed gradient payloads into a dense fp32 gradient: the receiving side of
/// SmartComp, run by the device before its optimizer update.
///
/// Everything is validated before the destination is touched: the header (see
/// `GradientPayloadHeader(parsing:)`), the payload length against the buffer (truncated and
/// oversized both rejected), the destination length, the body CRC, and every index (strictly
/// increasing, below n), which is decoded into scratch first. Only then is the destination
/// zero-filled and the values scattered. A rejected payload therefore leaves the caller's
/// gradient, and the optimizer states computed from it, exactly as they were.
///
/// The decoder keeps its scratch (indices, inflated index stream, zstd context) between calls.
/// Not thread-safe: use one per thread.
public final class GradientPayloadDecoder {
    private var indices: AlignedBuffer<UInt32>
    private var inflatedIndexStream: AlignedBuffer<UInt8>
    private var zstd: ZstdDecompressor?

    public init() {
        indices = AlignedBuffer(count: 0)
        inflatedIndexStream = AlignedBuffer(count: 0)
    }

    /// Decodes `payload` (exactly one payload, no more, no fewer bytes) into `destination`, which
    /// must hold the payload's n elements. Returns the payload's header.
    ///
    /// `bodyChecksum` is the CRC32C of everything after the header, when the caller has already
    /// summed it (a device sums a payload as it lands from the SSD, see `bodyRange(ofPayloadBytes:)`);
    /// it is computed here otherwise. Either way it is checked against the header's.
    @discardableResult
    public func decode(_ payload: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>,
                       bodyChecksum summed: UInt32? = nil) throws(PayloadError) -> GradientPayloadHeader {
        let header = try Self.check(payload, elements: destination.count, bodyChecksum: summed)
        try decode(payload, into: destination, checked: header)
        return header
    }

    /// `decode`'s work once `check` has passed `header`: the indices, then the values.
    private func decode(_ payload: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>,
                        checked header: GradientPayloadHeader) throws(PayloadError) {
        let base = payload.baseAddress!
        let body = UnsafeRawBufferPointer(start: base + GradientPayloadHeader.byteCount,
                                          count: header.storedIndexByteCount + header.valueByteCount)
        let values = base + header.valueOffset
        let n = header.elementCount
        let k = header.keptCount
        guard n > 0, let out = destination.baseAddress else { return }

        if header.indexEncoding == .dense {
            ValueCoding.forEachDecodedGroup(values, count: n, encoding: header.valueEncoding) { first, group, lanes in
                if lanes == 16 {
                    FP32Elements.store16(group, out, first)
                } else {
                    for lane in 0..<lanes { out[first &+ lane] = group[lane] }
                }
            }
            return
        }

        try decodeIndices(header, stream: UnsafeRawBufferPointer(start: body.baseAddress!,
                                                                   count: header.storedIndexByteCount))
        destination.update(repeating: 0)
        indices.withUnsafeBufferPointer { kept in
            ValueCoding.forEachDecodedGroup(values, count: k, encoding: header.valueEncoding) { first, group, lanes in
                for lane in 0..<lanes { out[Int(kept[first &+ lane])] = group[lane] }
            }
        }
    }

    /// The payload's gradient as the update kernel reads it, after every check `decode` makes:
    /// a dense payload's n values where they lie, in their encoding (fp32, fp16 or bf16, the
    /// kernel's element formats), which saves a decoded fp32 copy (a pass over 6 bytes a
    /// parameter); a sparse payload decoded into `scratch` (n elements), as fp32.
    public func gradient(_ payload: UnsafeRawBufferPointer, scratch: UnsafeMutableBufferPointer<Float>,
                         bodyChecksum summed: UInt32? = nil) throws(PayloadError) -> (values: UnsafeRawPointer, encoding: Precision) {
        let header = try Self.check(payload, elements: scratch.count, bodyChecksum: summed)
        if header.indexEncoding != .dense, let decoded = scratch.baseAddress {
            try decode(payload, into: scratch, checked: header)
            return (UnsafeRawPointer(decoded), .fp32)
        }
        return (payload.baseAddress! + header.valueOffset, header.valueEncoding)
    }

    /// The header, once the payload's length, the destination's and the body checksum agree
    /// with it.
    private static func check(_ payload: UnsafeRawBufferPointer, elements: Int,
                              bodyChecksum summed: UInt32?) throws(PayloadError) -> GradientPayloadHeader {
        let header = try GradientPayloadHeader(parsing: payload)
        guard payload.count == header.payloadByteCount else {
            throw .lengthMismatch(found: payload.count, expected: header.payloadByteCount)
        }
        guard elements == header.elementCount else {
            throw .destinationSizeMismatch(found: elements, expected: header.elementCount)
        }
        let body = UnsafeRawBufferPointer(start: payload.baseAddress! + GradientPayloadHeader.byteCount,
                                          count: header.storedIndexByteCount + header.valueByteCount)
        let bodyChecksum = summed ?? CRC32C.checksum(body)
        guard bodyChecksum == header.bodyChecksum else {
            throw .checksumMismatch(field: "body checksum", stored: header.bodyChecksum, computed: bodyChecksum)
        }
        return header
    }

    /// Where the body lies in a payload of `count` bytes (nil when it is too short to hold a
    /// header: `decode` refuses it).
    public static func bodyRange(ofPayloadBytes count: Int) -> Range<Int>? {
        count >= GradientPayloadHeader.byteCount ? GradientPayloadHeader.byteCount..<count : nil
    }

    /// The same decode into an owned buffer.
    @discardableResult
    public func decode(_ payload: UnsafeRawBufferPointer,
                       into destination: AlignedBuffer<Float>) throws(PayloadError) -> GradientPayloadHeader {
        let outcome = destination.withUnsafeMutableBufferPointer { out in
            Result { () throws(PayloadError) in try decode(payload, into: out) }
        }
        return try outcome.get()
    }

    /// Inflates the index stream if it is compressed, then decodes and checks all k indices into
    /// the `indices` scratch.
    private func decodeIndices(_ header: GradientPayloadHeader, stream stored: UnsafeRawBufferPointer) throws(PayloadError) {
        let k = header.keptCount
        if indices.count < k { indices = AlignedBuffer(count: k) }
        guard header.indexCompression == .zstd else {
            return try decodeIndexStream(stored, header)
        }
        let raw = header.rawIndexByteCount
        if inflatedIndexStream.count < raw { inflatedIndexStream = AlignedBuffer(count: raw) }
        let decompressor = zstd ?? ZstdDecompressor()
        zstd = decompressor
        let outcome = inflatedIndexStream.withUnsafeMutableBufferPointer { inflated in
            Result { () throws(PayloadError) in
                let start = UnsafeMutableRawPointer(inflated.baseAddress!)
                try decompressor.decompress(stored.baseAddress!, count: stored.count, into: start, expected: raw)
                try decodeIndexStream(UnsafeRawBufferPointer(start: start, count: raw), header)
            }
        }
        try outcome.get()
    }

    /// Decodes and checks the k indices of a raw (uncompressed) index stream into `indices`.
    private func decodeIndexStream(_ stream: UnsafeRawBufferPointer, _ header: GradientPayloadHeader) throws(PayloadError) {
        let outcome = indices.withUnsafeMutableBufferPointer { out in
            Result { () throws(PayloadError) in
                let k = header.keptCount, n = header.elementCount
                switch header.indexEncoding {
                case .dense:
                    return
                case .deltaVarint:
                    try DeltaVarintCoding.decode(stream, keptCount: k, elementCount: n, into: out.baseAddress!)
                case .blockOffsets16:
                    try BlockOffsetCoding.decode(stream, keptCount: k, elementCount: n, into: out.baseAddress!)
                }
            }
        }
        try outcome.get()
    }
}
