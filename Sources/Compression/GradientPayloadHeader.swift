import Checksum
import Optim

/// The fixed 64-byte header of a compressed gradient payload, little-endian:
///
/// | offset | size | field |
/// |-------:|-----:|-------|
/// |  0 | 4 | magic: the bytes "SICP" (u32 0x5043_4953) |
/// |  4 | 2 | format version, 1 |
/// |  6 | 2 | header size in bytes, 64 |
/// |  8 | 8 | step (u64) |
/// | 16 | 4 | subgroup id (u32) |
/// | 20 | 4 | n: elements in the subgroup, the dense length (u32) |
/// | 24 | 4 | k: kept elements (u32), k <= n |
/// | 28 | 1 | value encoding: 1 fp32, 2 fp16, 3 bf16 (`Precision`) |
/// | 29 | 1 | index encoding: 0 dense, 1 delta varint, 2 block-local u16 (`IndexEncoding`) |
/// | 30 | 1 | index compression: 0 none, 1 zstd (`IndexCompression`) |
/// | 31 | 1 | reserved, 0 |
/// | 32 | 8 | stored index bytes: the index stream as it sits in the payload (u64) |
/// | 40 | 8 | raw index bytes: the index stream before compression (u64) |
/// | 48 | 8 | value bytes: k × the value width (u64) |
/// | 56 | 4 | CRC32C of the body |
/// | 60 | 4 | CRC32C of header bytes 0..<60 |
///
/// The body follows at offset 64: the stored index stream, then the k values. A payload is
/// exactly 64 + stored index bytes + value bytes long.
///
/// The header has its own checksum because the body's cannot protect it: a flipped bit in the
/// step or subgroup would otherwise deliver a well-formed gradient to the wrong place or time.
public struct GradientPayloadHeader: Sendable, Equatable {
    /// The first four bytes of every payload, "SICP" (Smart-Infinity Compressed Payload).
    public static let magic: UInt32 = 0x5043_4953
    public static let currentVersion: UInt16 = 1
    public static let byteCount = 64

    /// The training step the gradient belongs to.
    public var step: UInt64
    /// The subgroup (slice of the flat parameter vector) the gradient belongs to.
    public var subgroup: UInt32
    /// n, the dense length the payload decodes to.
    public var elementCount: Int
    /// k, the number of transmitted elements.
    public var keptCount: Int
    public var valueEncoding: Precision
    public var indexEncoding: IndexEncoding
    public var indexCompression: IndexCompression
    /// Length of the index stream in the payload (after zstd, if used).
    public var storedIndexByteCount: Int
    /// Length of the index stream before zstd; equal to the stored length without it.
    public var rawIndexByteCount: Int
    /// k × the value width.
    public var valueByteCount: Int
    /// CRC32C of the body (everything after the header).
    public var bodyChecksum: UInt32

    /// The length of the whole payload this header describes.
    public var payloadByteCount: Int { Self.byteCount + storedIndexByteCount + valueByteCount }

    /// Payload bytes as a fraction of the dense fp32 gradient (4n bytes), the figure the paper
    /// reports as traffic ("2%" for r = 0.01 with 4-byte values and 4-byte indices).
    public var fractionOfDenseFP32: Double {
        elementCount == 0 ? 0 : Double(payloadByteCount) / Double(4 * elementCount)
    }

    /// Where the values start within the payload.
    var valueOffset: Int { Self.byteCount + storedIndexByteCount }

    init(step: UInt64, subgroup: UInt32, elementCount: Int, keptCount: Int, valueEncoding: Precision,
         indexEncoding: IndexEncoding, indexCompression: IndexCompression, storedIndexByteCount: Int,
         rawIndexByteCount: Int, valueByteCount: Int, bodyChecksum: UInt32) {
        self.step = step
        self.subgroup = subgroup
        self.elementCount = elementCount
        self.keptCount = keptCount
        self.valueEncoding = valueEncoding
        self.indexEncoding = indexEncoding
        self.indexCompression = indexCompression
        self.storedIndexByteCount = storedIndexByteCount
        self.rawIndexByteCount = rawIndexByteCount
        self.valueByteCount = valueByteCount
        self.bodyChecksum = bodyChecksum
    }

    /// Reads and validates the header at the start of `bytes` without touching the body, so a
    /// receiver can learn n, k, the subgroup, the step and the full payload length (for example
    /// from the first 64 bytes of a transfer).
    ///
    /// Checks, in order: length, magic, version, header size, header CRC, the reserved byte, the
    /// three encodings, k <= n, dense exactly when k == n, the value byte count, and the index
    /// byte counts against the encoding. It does not check the body or the buffer's total length:
    /// `GradientPayloadDecoder` does.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(PayloadError) {
        guard bytes.count >= Self.byteCount, let base = bytes.baseAddress else {
            throw .truncatedHeader(found: bytes.count, expected: Self.byteCount)
        }
        func field<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) -> T {
            T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        let magic = field(0, UInt32.self)
        guard magic == Self.magic else {
            throw .invalidField(field: "magic", found: hex(magic), expected: "\(hex(Self.magic)) (\"SICP\")")
        }
        let version = field(4, UInt16.self)
        guard version == Self.currentVersion else {
            throw .invalidField(field: "version", found: "\(version)", expected: "\(Self.currentVersion)")
        }
        let headerSize = field(6, UInt16.self)
        guard headerSize == Self.byteCount else {
            throw .invalidField(field: "header size", found: "\(headerSize)", expected: "\(Self.byteCount)")
        }
        let storedChecksum = field(60, UInt32.self)
        let computedChecksum = CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: 60))
        guard storedChecksum == computedChecksum else {
            throw .checksumMismatch(field: "header checksum", stored: storedChecksum, computed: computedChecksum)
        }
        let reserved = field(31, UInt8.self)
        guard reserved == 0 else {
            throw .invalidField(field: "reserved byte 31", found: "\(reserved)", expected: "0")
        }
        let valueCode = field(28, UInt8.self)
        guard let valueEncoding = Precision(rawValue: valueCode) else {
            throw .invalidField(field: "value encoding", found: "\(valueCode)", expected: "1 (fp32), 2 (fp16) or 3 (bf16)")
        }
        let indexCode = field(29, UInt8.self)
        guard let indexEncoding = IndexEncoding(rawValue: indexCode) else {
            throw .invalidField(field: "index encoding", found: "\(indexCode)",
                                expected: "0 (dense), 1 (delta varint) or 2 (block-local u16)")
        }
        let compressionCode = field(30, UInt8.self)
        guard let indexCompression = IndexCompression(rawValue: compressionCode) else {
            throw .invalidField(field: "index compression", found: "\(compressionCode)", expected: "0 (none) or 1 (zstd)")
        }
        let n = Int(field(20, UInt32.self))
        let k = Int(field(24, UInt32.self))
        guard k <= n else {
            throw .invalidField(field: "k", found: "\(k)", expected: "at most n = \(n)")
        }
        guard (indexEncoding == .dense) == (k == n) else {
            throw .invalidField(field: "index encoding", found: "\(indexEncoding) with k = \(k), n = \(n)",
                                expected: k == n ? "dense when k == n" : "a sparse encoding when k < n")
        }
        // Byte counts are u64 on the wire; anything beyond what k and n allow is rejected below,
        // so clamping huge values to Int.max only changes the number in the message.
        let stored = Int(clamping: field(32, UInt64.self))
        let raw = Int(clamping: field(40, UInt64.self))
        let valueBytes = Int(clamping: field(48, UInt64.self))
        guard valueBytes == k * valueEncoding.byteWidth else {
            throw .invalidField(field: "value byte count", found: "\(valueBytes)",
                                expected: "\(k * valueEncoding.byteWidth) (k × \(valueEncoding.byteWidth))")
        }
        let rawRange = Self.rawIndexByteRange(encoding: indexEncoding, elementCount: n, keptCount: k)
        guard rawRange.contains(raw) else {
            throw .invalidField(field: "raw index byte count", found: "\(raw)",
                                expected: "\(rawRange.lowerBound)...\(rawRange.upperBound) for \(indexEncoding) indices")
        }
        switch indexCompression {
        case .none:
            guard stored == raw else {
                throw .invalidField(field: "stored index byte count", found: "\(stored)",
                                    expected: "\(raw) (the raw count, as the stream is not compressed)")
            }
        case .zstd:
            guard indexEncoding != .dense, stored > 0, stored < raw else {
                throw .invalidField(field: "stored index byte count", found: "\(stored) (zstd, raw \(raw))",
                                    expected: "1..<\(raw): zstd is recorded only when it shrinks a sparse index stream")
            }
        }
        self.init(step: field(8, UInt64.self), subgroup: field(16, UInt32.self), elementCount: n, keptCount: k,
                  valueEncoding: valueEncoding, indexEncoding: indexEncoding, indexCompression: indexCompression,
                  storedIndexByteCount: stored, rawIndexByteCount: raw, valueByteCount: valueBytes,
                  bodyChecksum: field(56, UInt32.self))
    }

    /// The lengths an index stream of `encoding` can have for k kept indices of n.
    static func rawIndexByteRange(encoding: IndexEncoding, elementCount n: Int, keptCount k: Int) -> ClosedRange<Int> {
        switch encoding {
        case .dense:
            return 0...0
        case .deltaVarint:
            return k...(k * DeltaVarintCoding.maximumBytesPerIndex)
        case .blockOffsets16:
            let exact = BlockOffsetCoding.byteCount(elementCount: n, keptCount: k)
            return exact...exact
        }
    }

    /// Writes the header into the first 64 bytes of `payload`, computing the header checksum.
    func write(to payload: UnsafeMutableRawPointer) {
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            payload.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
        }
        put(Self.magic, 0)
        put(Self.currentVersion, 4)
        put(UInt16(Self.byteCount), 6)
        put(step, 8)
        put(subgroup, 16)
        put(UInt32(elementCount), 20)
        put(UInt32(keptCount), 24)
        put(valueEncoding.rawValue, 28)
        put(indexEncoding.rawValue, 29)
        put(indexCompression.rawValue, 30)
        put(UInt8(0), 31)
        put(UInt64(storedIndexByteCount), 32)
        put(UInt64(rawIndexByteCount), 40)
        put(UInt64(valueByteCount), 48)
        put(bodyChecksum, 56)
        put(CRC32C.checksum(UnsafeRawBufferPointer(start: payload, count: 60)), 60)
    }
}
