import Compression
import Optim
import SeededRandom


/// Random fp32 values spread over many binades, both signs.
func wideRangeValues(count: Int, seed: UInt64, exponents: ClosedRange<Int> = -20...20) -> [Float] {
    var random = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let binade = Float(sign: .plus, exponent: Int.random(in: exponents, using: &random), significand: 1)
        let magnitude = Float.random(in: 1..<2, using: &random) * binade
        return Bool.random(using: &random) ? magnitude : -magnitude
    }
}

/// The top-k reference: sort all indices by (|g| descending, index ascending), keep the first k,
/// sort those ascending. NaN ranks above every number, NaNs among themselves by bit pattern.
func referenceTopK(_ values: [Float], keep k: Int) -> [UInt32] {
    func ranksAbove(_ a: Float, _ b: Float) -> Bool? {
        switch (a.isNaN, b.isNaN) {
        case (true, false): return true
        case (false, true): return false
        case (true, true):
            let ka = a.bitPattern & 0x7FFF_FFFF, kb = b.bitPattern & 0x7FFF_FFFF
            return ka == kb ? nil : ka > kb
        case (false, false):
            return abs(a) == abs(b) ? nil : abs(a) > abs(b)
        }
    }
    let order = values.indices.sorted { i, j in ranksAbove(values[i], values[j]) ?? (i < j) }
    return order.prefix(k).sorted().map { UInt32($0) }
}

/// `value` as the payload's value encoding rounds it (nearest even), by independent means for
/// fp16 (Swift's own conversion).
func rounded(_ value: Float, as encoding: Precision) -> Float {
    switch encoding {
    case .fp32: value
    case .fp16: Float(Float16(value))
    case .bf16: BFloat16(value).floatValue
    }
}

/// Bitwise equality of float arrays (so that -0 and +0, and NaN payloads, are told apart).
func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// CRC32C written bit by bit from the polynomial, independently of the Checksum module, for
/// building payloads by hand.
func referenceCRC32C(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}

/// Encodes with a fresh encoder into an exactly-sized byte array.
func encodePayload(indices: [UInt32], values: [Float], elementCount n: Int, options: PayloadOptions,
                   subgroup: UInt32 = 7, step: UInt64 = 42) throws -> [UInt8] {
    let encoder = try GradientPayloadEncoder(options: options)
    var bytes = [UInt8](repeating: 0, count: GradientPayloadEncoder.maximumEncodedSize(
        elementCount: n, keptCount: indices.count, options: options))
    let length = try indices.withUnsafeBufferPointer { indexPointer in
        try values.withUnsafeBufferPointer { valuePointer in
            try bytes.withUnsafeMutableBytes { out in
                try encoder.encode(indices: indexPointer, values: valuePointer, elementCount: n,
                                   subgroup: subgroup, step: step, into: out)
            }
        }
    }
    return Array(bytes[0..<length])
}

/// Decodes `payload` into a destination of `count` elements pre-filled with `fill`, returning the
/// destination whether or not decoding failed, and the outcome.
func decode(_ payload: [UInt8], count: Int, fill: Float = .nan,
            using decoder: GradientPayloadDecoder = GradientPayloadDecoder())
    -> (destination: [Float], result: Result<GradientPayloadHeader, PayloadError>) {
    let destination = AlignedBuffer<Float>(repeating: fill, count: count)
    let result = payload.withUnsafeBytes { bytes in
        Result { () throws(PayloadError) in try decoder.decode(bytes, into: destination) }
    }
    return (destination.array, result)
}

/// A payload assembled field by field from the documented layout, with correct checksums unless
/// told otherwise: lets tests send what the encoder would never produce.
struct HandBuiltPayload {
    var step: UInt64 = 3
    var subgroup: UInt32 = 9
    var n: UInt32
    var k: UInt32
    var valueEncoding: UInt8 = Precision.fp32.rawValue
    var indexEncoding: UInt8
    var indexCompression: UInt8 = 0
    var indexStream: [UInt8]
    /// The raw index byte count to record, if not the stream's own length (for zstd streams).
    var rawIndexBytes: UInt64? = nil
    var values: [Float]
    var version: UInt16 = 1

    var bytes: [UInt8] {
        let valueBytes = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let body = indexStream + valueBytes
        var header = [UInt8]()
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { header += $0 } }
        put(UInt32(0x5043_4953))
        put(version)
        put(UInt16(64))
        put(step)
        put(subgroup)
        put(n)
        put(k)
        put(valueEncoding)
        put(indexEncoding)
        put(indexCompression)
        put(UInt8(0))
        put(UInt64(indexStream.count))
        put(rawIndexBytes ?? UInt64(indexStream.count))
        put(UInt64(valueBytes.count))
        put(referenceCRC32C(body))
        put(referenceCRC32C(header))
        return header + body
    }
}
