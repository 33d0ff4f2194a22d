/// Little-endian encoding of protocol fields.
///
/// Every message body is a flat sequence of fixed-width integers, floats and length-prefixed
/// strings: nothing self-describing, nothing recursive, so a decoder can check each field's
/// bounds as it goes and name the field that is wrong.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { append(v) }
    public mutating func u32(_ v: UInt32) { append(v) }
    public mutating func u64(_ v: UInt64) { append(v) }
    public mutating func f32(_ v: Float) { append(v.bitPattern) }
    public mutating func f64(_ v: Double) { append(v.bitPattern) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }

    /// A UTF-8 string with a u16 length prefix.
    public mutating func string(_ s: String) {
        let utf8 = Array(s.utf8.prefix(Int(UInt16.max)))
        u16(UInt16(utf8.count))
        bytes += utf8
    }

    public mutating func raw(_ data: [UInt8]) { bytes += data }

    /// Many fp32 at once (a state reply's values), in one copy: this host is little-endian.
    public mutating func f32s(_ values: [Float]) { values.withUnsafeBytes { bytes += $0 } }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }
}

/// Reads fields back, refusing anything that runs past the end or holds an impossible value.
public struct WireReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int = 0
    /// The message being decoded, for error messages.
    public let message: String

    public init(_ bytes: [UInt8], message: String) {
        self.bytes = bytes
        self.message = message
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func u8(_ field: String) throws(ProtocolError) -> UInt8 { try integer(field) }
    public mutating func u16(_ field: String) throws(ProtocolError) -> UInt16 { try integer(field) }
    public mutating func u32(_ field: String) throws(ProtocolError) -> UInt32 { try integer(field) }
    public mutating func u64(_ field: String) throws(ProtocolError) -> UInt64 { try integer(field) }

    public mutating func f32(_ field: String) throws(ProtocolError) -> Float { Float(bitPattern: try integer(field)) }
    public mutating func f64(_ field: String) throws(ProtocolError) -> Double { Double(bitPattern: try integer(field)) }

    /// A finite fp32 (hyperparameters, prepared scalars: a NaN there would poison every state).
    public mutating func finiteF32(_ field: String) throws(ProtocolError) -> Float {
        let v = try f32(field)
        guard v.isFinite else { throw .invalidField(message: message, field: field, found: "\(v)", expected: "a finite number") }
        return v
    }

    public mutating func bool(_ field: String) throws(ProtocolError) -> Bool {
        let v = try u8(field)
        guard v <= 1 else { throw .invalidField(message: message, field: field, found: "\(v)", expected: "0 or 1") }
        return v == 1
    }

    /// A u64 that must fit an Int and lie in `range`.
    public mutating func count(_ field: String, in range: ClosedRange<Int>) throws(ProtocolError) -> Int {
        let v = try u64(field)
        guard v <= UInt64(Int.max), range.contains(Int(v)) else {
            throw .invalidField(message: message, field: field, found: "\(v)", expected: "\(range.lowerBound)...\(range.upperBound)")
        }
        return Int(v)
    }

    public mutating func string(_ field: String, maxLength: Int = 4096) throws(ProtocolError) -> String {
        let length = Int(try u16("\(field).length"))
        guard length <= maxLength else {
            throw .invalidField(message: message, field: field, found: "\(length) bytes", expected: "at most \(maxLength) bytes")
        }
        let data = try take(length, field)
        guard let text = String(validating: data, as: UTF8.self) else {
            throw .invalidField(message: message, field: field, found: "invalid UTF-8", expected: "UTF-8 text")
        }
        return text
    }

    public mutating func raw(_ count: Int, _ field: String) throws(ProtocolError) -> [UInt8] { Array(try take(count, field)) }

    /// `count` fp32 at once, in one copy (this host is little-endian, as the wire is).
    public mutating func f32s(_ count: Int, _ field: String) throws(ProtocolError) -> [Float] {
        let slice = try take(count * 4, field)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            slice.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
            initialized = count
        }
    }

    /// Decoding is done: extra bytes mean sender and receiver disagree about the layout.
    public func finish() throws(ProtocolError) {
        guard remaining == 0 else {
            throw .invalidField(message: message, field: "end of message", found: "\(remaining) extra bytes", expected: "no more bytes")
        }
    }

    private mutating func take(_ count: Int, _ field: String) throws(ProtocolError) -> ArraySlice<UInt8> {
        guard count <= remaining else {
            throw .truncated(message: message, field: field, needed: count, available: remaining)
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    private mutating func integer<T: FixedWidthInteger>(_ field: String) throws(ProtocolError) -> T {
        let slice = try take(MemoryLayout<T>.size, field)
        var v: T = 0
        for (i, byte) in slice.enumerated() { v |= T(byte) << (8 * i) }
        return v
    }
}

/// A message that cannot be accepted, naming the message, the field, what was found and what was
/// expected. The device answers with it and keeps serving.
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    case truncated(message: String, field: String, needed: Int, available: Int)
    case invalidField(message: String, field: String, found: String, expected: String)
    case badFrame(field: String, found: String, expected: String)

    public var description: String {
        switch self {
        case .truncated(let m, let f, let needed, let available):
            "\(m): field '\(f)' is cut short: needs \(needed) bytes, \(available) left"
        case .invalidField(let m, let f, let found, let expected):
            "\(m): field '\(f)' is \(found); expected \(expected)"
        case .badFrame(let f, let found, let expected):
            "frame: \(f) is \(found); expected \(expected)"
        }
    }
}
