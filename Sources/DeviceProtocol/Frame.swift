import Checksum

/// One protocol message on the wire: a 16-byte header, the body, and a CRC32C trailer.
///
/// ```
/// offset  size  field
///      0     4  magic "SSDP" (0x50445353 little-endian)
///      4     2  protocol version (2: error replies carry a code per failure class; 3: steps carry
///               update segments, the torch AdamW rule; 4: configure carries the state
///               precision, load-states retired)
///      6     2  message kind
///      8     4  request id (echoed in the reply)
///     12     4  body length in bytes (at most `maximumBodyBytes`)
///     16     n  body
///   16+n     4  CRC32C of header and body
/// ```
/// The length prefix lets a reader take exactly one message; the cap means no peer can make the
/// device allocate without bound; the checksum catches a torn or garbled message.
public struct Frame: Sendable, Equatable {
    public static var magic: UInt32 { 0x5044_5353 }
    public static var version: UInt16 { 4 }
    public static var headerBytes: Int { 16 }
    public static var trailerBytes: Int { 4 }
    public static var maximumBodyBytes: Int { 1 << 20 }

    public var kind: UInt16
    public var requestID: UInt32
    public var body: [UInt8]

    public init(kind: UInt16, requestID: UInt32, body: [UInt8]) {
        self.kind = kind
        self.requestID = requestID
        self.body = body
    }

    /// The bytes to send.
    public func encoded() -> [UInt8] {
        precondition(body.count <= Self.maximumBodyBytes, "message body of \(body.count) bytes exceeds the protocol cap")
        var w = WireWriter()
        w.u32(Self.magic)
        w.u16(Self.version)
        w.u16(kind)
        w.u32(requestID)
        w.u32(UInt32(body.count))
        w.raw(body)
        let crc = CRC32C.checksum(of: w.bytes)
        w.u32(crc)
        return w.bytes
    }

    /// What a header announces: the caller then reads `bodyBytes` + trailer.
    public struct Header: Sendable, Equatable {
        public var kind: UInt16
        public var requestID: UInt32
        public var bodyBytes: Int
    }

    /// Validates a 16-byte header: magic, version and the body-length cap.
    public static func decodeHeader(_ bytes: [UInt8]) throws(ProtocolError) -> Header {
        var r = WireReader(bytes, message: "frame header")
        let magic = try r.u32("magic")
        guard magic == Self.magic else {
            throw .badFrame(field: "magic", found: hex(magic), expected: hex(Self.magic) + " (\"SSDP\")")
        }
        let version = try r.u16("version")
        guard version == Self.version else {
            throw .badFrame(field: "protocol version", found: "\(version)",
                            expected: "\(Self.version), this build's (host and devices must speak one version: run them from the same build)")
        }
        let kind = try r.u16("kind")
        let requestID = try r.u32("request id")
        let length = Int(try r.u32("body length"))
        guard length <= maximumBodyBytes else {
            throw .badFrame(field: "body length", found: "\(length) bytes", expected: "at most \(maximumBodyBytes) bytes")
        }
        return Header(kind: kind, requestID: requestID, bodyBytes: length)
    }

    /// Checks the trailer of a complete frame (header + body + trailer) and returns the frame.
    public static func decode(header: Header, headerBytes: [UInt8], body: [UInt8], trailer: [UInt8]) throws(ProtocolError) -> Frame {
        var r = WireReader(trailer, message: "frame trailer")
        let crc = try r.u32("checksum")
        let actual = CRC32C.checksum(of: body, seed: CRC32C.checksum(of: headerBytes))
        guard crc == actual else {
            throw .badFrame(field: "checksum", found: hex(crc), expected: hex(actual) + " (CRC32C of header and body)")
        }
        return Frame(kind: header.kind, requestID: header.requestID, body: body)
    }

    /// Decodes one whole frame from `bytes` (which must hold exactly one).
    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> Frame {
        guard bytes.count >= headerBytes + trailerBytes else {
            throw .badFrame(field: "length", found: "\(bytes.count) bytes", expected: "at least \(headerBytes + trailerBytes) bytes")
        }
        let head = Array(bytes[0..<headerBytes])
        let header = try decodeHeader(head)
        let total = headerBytes + header.bodyBytes + trailerBytes
        guard bytes.count == total else {
            throw .badFrame(field: "length", found: "\(bytes.count) bytes", expected: "\(total) bytes as the header announces")
        }
        return try decode(header: header, headerBytes: head, body: Array(bytes[headerBytes..<(total - trailerBytes)]),
                          trailer: Array(bytes[(total - trailerBytes)...]))
    }
}

func hex<T: FixedWidthInteger>(_ v: T) -> String {
    let digits = String(v, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, MemoryLayout<T>.size * 2 - digits.count)) + digits
}
