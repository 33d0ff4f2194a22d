import Optim

/// How the kept indices are written in a payload. The raw values are the header's byte 29.
public enum IndexEncoding: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// No indices at all: every element is sent (k == n), in index order. Dense warm-up steps
    /// and ratio 1 use it, and it is the only encoding allowed when k == n.
    case dense = 0
    /// Each index as the LEB128 varint of its distance from the previous one (the first as
    /// itself). At r = 0.01 gaps average 100, so most take one byte: about 10 bits per index.
    case deltaVarint = 1
    /// Per block of 65536 consecutive indices: a u32 count, then each kept index's u16 offset
    /// within the block. A flat 16 bits per index plus 4 bytes per block: its size follows from
    /// n and k alone and it decodes without data-dependent branches. It is never smaller than
    /// delta varint, though (see `IndexEncodingPolicy.automatic`).
    case blockOffsets16 = 2

    public var description: String {
        switch self {
        case .dense: "dense"
        case .deltaVarint: "delta varint"
        case .blockOffsets16: "block-local u16"
        }
    }
}

/// Whether the index stream in a payload is stored as encoded or zstd-compressed (byte 30).
public enum IndexCompression: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case zstd = 1

    public var description: String { self == .none ? "none" : "zstd" }
}

/// Which sparse index encoding the encoder writes.
public enum IndexEncodingPolicy: Sendable, Equatable, CaseIterable {
    /// Whichever of delta varint and block-local u16 is smaller for the indices at hand (the
    /// encoder computes both sizes exactly before writing; a tie goes to varint).
    ///
    /// With these two layouts that is always delta varint: a delta needs a third varint byte
    /// only when it is at least 16384, a 65536-index block has room for at most four of those,
    /// and the block's 4-byte count already costs as much. Every other delta takes at most the
    /// 2 bytes of a u16 offset.
    case automatic
    case deltaVarint
    case blockOffsets16
}

/// The encoder's choices for a payload.
public struct PayloadOptions: Sendable, Equatable {
    /// Precision of the transmitted values, rounded to nearest even. fp32 is lossless and is what
    /// the paper's "2% of the gradient" assumes (4-byte values, 4-byte indices); fp16 and bf16
    /// halve the value bytes.
    public var valueEncoding: Precision
    public var indexEncoding: IndexEncodingPolicy
    /// zstd level (1...3) for the index stream, or nil for none. The compressed stream is kept
    /// only when it is actually smaller; the header records which.
    public var indexZstdLevel: Int?

    public init(valueEncoding: Precision = .fp32, indexEncoding: IndexEncodingPolicy = .automatic,
                indexZstdLevel: Int? = nil) {
        self.valueEncoding = valueEncoding
        self.indexEncoding = indexEncoding
        self.indexZstdLevel = indexZstdLevel
    }
}
