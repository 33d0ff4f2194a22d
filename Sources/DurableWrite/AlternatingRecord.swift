import Checksum
import Glibc

/// A small record rewritten often (the trainer's state, once per step) that must survive a crash
/// at any instant, including one in the middle of its own write.
///
/// The file has two slots, written in turn: a write goes to the slot that does not hold the
/// newest record, then `fdatasync` makes it durable. A torn write can only damage the slot being
/// written, so the other one still holds the previous record. Each record carries a sequence
/// number (one more than the newest before it, so that a record written after going back to an
/// older state still counts as newest) and a CRC32C over its header and payload; a reader takes
/// the intact record with the highest sequence.
///
/// One `pwrite` and one `fdatasync` per record, where `DurableFile` needs a new file, two fsyncs
/// and a rename: what makes a per-step record cheap.
///
/// Slot layout (little-endian), each slot `slotBytes` long: magic "SIAR", version u32,
/// sequence u64, payload length u32, CRC32C u32 (of the 20 bytes before it and the payload),
/// then the payload.
public final class AlternatingRecord {
    public let path: String
    private let descriptor: Int32
    /// The newest intact record's sequence (0: none yet) and slot.
    private var newest: (sequence: UInt64, slot: Int)

    /// The largest payload a slot takes.
    public static let maximumPayload = slotBytes - headerBytes
    static let slotBytes = 64 << 10
    static let headerBytes = 24
    static let magic: UInt32 = 0x5241_4953  // "SIAR"
    static let version: UInt32 = 1

    /// Opens the record file at `path` and makes `initial` its newest record. A file that is not
    /// there is created with `initial` as its one record, durably and whole (a temporary file
    /// renamed into place): there is never a file without an intact record in it.
    public init(path: String, initial: [UInt8]) throws(DurableFileError) {
        precondition(initial.count <= Self.maximumPayload, "a record holds at most \(Self.maximumPayload) bytes")
        let created = access(path, F_OK) != 0
        if created { try DurableFile.write(Self.slot(initial, sequence: 1), to: path) }
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw DurableFileError(path: path, call: .openRecord, code: errno) }
        self.path = path
        self.descriptor = descriptor
        newest = Self.slots(descriptor).enumerated().compactMap { slot, record in record.map { ($0.sequence, slot) } }
            .max { $0.0 < $1.0 } ?? (0, 1)
        if !created { try write(initial) }
    }

    deinit { close(descriptor) }

    /// Writes `payload` as the newest record, durably, into the slot the newest one is not in.
    /// `tearAfter` (fault injection for the crash tests) writes only that many bytes of the
    /// slot, which is what a crash in the middle of the write leaves.
    public func write(_ payload: [UInt8], tearAfter: Int? = nil) throws(DurableFileError) {
        precondition(payload.count <= Self.maximumPayload, "a record holds at most \(Self.maximumPayload) bytes")
        let sequence = newest.sequence + 1
        let slot = 1 - newest.slot
        let bytes = Self.slot(payload, sequence: sequence)
        let count = min(bytes.count, tearAfter ?? bytes.count)
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, count, off_t(slot * Self.slotBytes)) }
        guard written == count else { throw DurableFileError(path: path, call: .writeRecord, code: written < 0 ? errno : EIO) }
        guard fdatasync(descriptor) == 0 else { throw DurableFileError(path: path, call: .syncRecord, code: errno) }
        // A torn write stands for a crash: the writer is gone, and its slot holds no record.
        if count == bytes.count { newest = (sequence, slot) }
    }

    /// A slot's bytes: the header and `payload`.
    private static func slot(_ payload: [UInt8], sequence: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerBytes + payload.count)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        put(magic); put(version); put(sequence); put(UInt32(payload.count))
        put(CRC32C.checksum(of: payload, seed: CRC32C.checksum(of: bytes)))
        return bytes + payload
    }

    /// The newest intact record's payload in the file at `path`: nil if there is no such file;
    /// `damaged` if the file is there but neither slot holds an intact record (something other
    /// than a crash damaged it: a crash tears at most the slot being written).
    public static func read(from path: String) throws(AlternatingRecordError) -> [UInt8]? {
        try records(from: path)?.first
    }

    /// Every intact record's payload in the file at `path`, the newest first: the newest and,
    /// unless a crash tore it or none was written yet, the one before it. nil if there is no
    /// such file; `damaged` if neither slot holds an intact record.
    public static func records(from path: String) throws(AlternatingRecordError) -> [[UInt8]]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw .unreadable(path: path, code: errno)
        }
        defer { close(descriptor) }
        let records = slots(descriptor).compactMap { $0 }.sorted { $0.sequence > $1.sequence }
        guard !records.isEmpty else { throw .damaged(path: path) }
        return records.map(\.payload)
    }

    /// Each slot's record, nil where the slot is empty, short or fails its checksum.
    private static func slots(_ descriptor: Int32) -> [(sequence: UInt64, payload: [UInt8])?] {
        (0..<2).map { slot in
            var bytes = [UInt8](repeating: 0, count: slotBytes)
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, slotBytes, off_t(slot * slotBytes)) }
            guard count >= headerBytes else { return nil }
            func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
                bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
            }
            let length = Int(get(UInt32.self, at: 16))
            guard get(UInt32.self, at: 0) == magic, get(UInt32.self, at: 4) == version, length <= count - headerBytes else { return nil }
            let payload = Array(bytes[headerBytes..<(headerBytes + length)])
            guard CRC32C.checksum(of: payload, seed: CRC32C.checksum(of: Array(bytes[0..<20]))) == get(UInt32.self, at: 20) else { return nil }
            return (get(UInt64.self, at: 8), payload)
        }
    }
}

/// A record file that cannot be read back.
public enum AlternatingRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// open(2) failed with this errno.
    case unreadable(path: String, code: Int32)
    /// Neither slot holds an intact record.
    case damaged(path: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let code): "cannot read '\(path)': \(String(cString: strerror(code))) (errno \(code))"
        case .damaged(let path): "'\(path)' holds no intact record: both of its slots are damaged"
        }
    }
}
