import Checksum
import DurableWrite
import Glibc
import Optim

/// What a snapshot holds besides its vectors: which device states it copied and what the host
/// asked to keep with them.
///
/// A snapshot is a device's committed states (p and every optimizer state of every subgroup) at
/// one step, copied inside the device into a file beside its SSD (`SnapshotStore`). It is
/// written once, durably and atomically (`DurableFile`), and never changed: a reader sees a
/// whole snapshot or none, and each vector carries its own CRC32C, so a snapshot damaged after
/// it was written is refused by name, never restored.
///
/// File layout (little-endian), docs/FORMATS.md "Device snapshots":
/// ```
/// 0      magic "SISNAPSH" (u64), version u32 (2)
/// 12     sequence u64, step u64, slice elements u64, subgroup elements u64
/// 44     optimizer (23 bytes, as on the wire)
/// 67     state precision u8, state block size u32 (as on the wire)
/// 72     note: u32 length (≤ 65536), then that many bytes (the trainer state, UTF-8 JSON)
/// 76+n   CRC32C of every header byte before it
/// 80+n   the vectors: per subgroup s, p (elements(s) fp32), then each state as stored
///        (`StatePrecision.storedBytes`: elements(s) fp32, or its 8-bit scales and codes)
/// …      per vector, subgroup-major, its CRC32C (u32); then the CRC32C of that table
/// ```
/// Version 1 (before 8-bit states) had no state precision (fp32 states) and the note at 67; it
/// is still read.
public struct SnapshotHeader: Sendable, Equatable {
    static var magic: UInt64 { 0x4853_5041_4E53_4953 }  // "SISNAPSH"
    /// The snapshot format this build writes: 2 (1, still read, had fp32 states only).
    public static var version: UInt32 { 2 }
    /// A note is the host's small record of the run (its trainer state), not bulk data.
    public static var maximumNoteBytes: Int { 1 << 16 }

    /// Taken order on its device: higher is newer (steps may repeat after a restore).
    public var sequence: Int
    /// The committed step every subgroup held.
    public var step: Int
    public var sliceElements: Int
    public var subgroupElements: Int
    public var optimizer: OptimizerConfig
    /// How the states are stored, as on the device.
    public var statePrecision: StatePrecision
    /// Opaque to the device: what the host sent with the snapshot request.
    public var note: [UInt8]
    /// The format the file is in (a header built here is in this build's `version`).
    public internal(set) var formatVersion: UInt32 = Self.version

    public init(sequence: Int, step: Int, sliceElements: Int, subgroupElements: Int, optimizer: OptimizerConfig,
                statePrecision: StatePrecision = .fp32, note: [UInt8]) {
        precondition(note.count <= Self.maximumNoteBytes)
        self.sequence = sequence
        self.step = step
        self.sliceElements = sliceElements
        self.subgroupElements = subgroupElements
        self.optimizer = optimizer
        self.statePrecision = statePrecision
        self.note = note
    }

    /// The slice's subgroups, as the device that took the snapshot cut it.
    public var subgroupCount: Int { (sliceElements + subgroupElements - 1) / subgroupElements }

    /// Elements of subgroup `s` (the last one may be short).
    public func elements(ofSubgroup s: Int) -> Int { min(subgroupElements, sliceElements - s * subgroupElements) }

    /// Vectors per subgroup: p and the optimizer's states.
    public var vectorsPerSubgroup: Int { 1 + optimizer.stateCount }
    public var vectorCount: Int { subgroupCount * vectorsPerSubgroup }

    var encoded: [UInt8] {
        precondition(formatVersion == Self.version, "snapshots are written in this build's format")
        var w = WireWriter()
        w.u64(Self.magic)
        w.u32(Self.version)
        w.u64(UInt64(sequence))
        w.u64(UInt64(step))
        w.u64(UInt64(sliceElements))
        w.u64(UInt64(subgroupElements))
        optimizer.encode(into: &w)
        statePrecision.encode(into: &w)
        w.u32(UInt32(note.count))
        w.raw(note)
        w.u32(CRC32C.checksum(of: w.bytes))
        return w.bytes
    }

    /// The header's fixed part, before the note: version 1 had no state precision.
    static func fixedBytes(version: UInt32) -> Int { version == 1 ? 71 : 76 }
    var byteCount: Int { Self.fixedBytes(version: formatVersion) + note.count + 4 }

    /// Bytes of vector `v` (0 = p, 1… = the states) of subgroup `s`.
    public func vectorBytes(subgroup s: Int, vector v: Int) -> Int {
        let n = elements(ofSubgroup: s)
        return v == 0 ? n * 4 : statePrecision.storedBytes(elements: n)
    }

    /// Bytes of all of subgroup `s`'s vectors.
    func subgroupBytes(_ s: Int) -> Int { (0..<vectorsPerSubgroup).reduce(0) { $0 + vectorBytes(subgroup: s, vector: $1) } }

    /// Byte offset of vector `v` of subgroup `s` (every subgroup before `s` is full).
    func offset(subgroup s: Int, vector v: Int) -> Int {
        byteCount + s * subgroupBytes(0) + (0..<v).reduce(0) { $0 + vectorBytes(subgroup: s, vector: $1) }
    }

    /// Where the checksum table starts, and the whole file's length.
    var tableOffset: Int { byteCount + (subgroupCount - 1) * subgroupBytes(0) + subgroupBytes(subgroupCount - 1) }
    public var fileBytes: Int { tableOffset + 4 * vectorCount + 4 }
}

/// Why a snapshot file cannot be used. Each names the file.
public enum SnapshotError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, call: String, code: Int32)
    case notASnapshot(path: String)
    case unsupportedVersion(path: String, found: UInt32)
    /// The header, the checksum table or the length do not hold together.
    case damaged(path: String, detail: String)
    /// One vector's bytes do not match the checksum written with them.
    case damagedVector(path: String, subgroup: Int, vector: Int, expected: UInt32, found: UInt32)

    public var description: String {
        switch self {
        case .unreadable(let path, let call, let code): "snapshot \(path): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .notASnapshot(let path): "\(path) is not a device snapshot (bad magic)"
        case .unsupportedVersion(let path, let found):
            "snapshot \(path) is in snapshot format version \(found); this build reads versions 1 and \(SnapshotHeader.version)"
        case .damaged(let path, let detail): "snapshot \(path) is damaged: \(detail); it was not used"
        case .damagedVector(let path, let s, let v, let expected, let found):
            "snapshot \(path) is damaged: subgroup \(s)'s \(v == 0 ? "parameters" : "state \(v)") have checksum "
                + "\(hex(found)), written with \(hex(expected)); it was not used"
        }
    }

    public var path: String {
        switch self {
        case .unreadable(let path, _, _), .notASnapshot(let path), .unsupportedVersion(let path, _), .damaged(let path, _),
             .damagedVector(let path, _, _, _, _): path
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// Writes one snapshot: its header, then every vector in order (subgroup-major: p, then the
/// states), then the checksum table; durable and atomic (`DurableFile`), so the path holds the
/// whole snapshot only once `commit` returns.
public struct SnapshotWriter: ~Copyable {
    public let header: SnapshotHeader
    private let file: DurableFile
    private var checksums: [UInt32] = []

    public init(path: String, header: SnapshotHeader) throws(DurableFileError) {
        let file = try DurableFile(creating: path)
        try file.append(header.encoded)
        self.header = header
        self.file = file
    }

    /// The next vector: subgroup `vectorsWritten / vectorsPerSubgroup`'s vector
    /// `vectorsWritten % vectorsPerSubgroup`, exactly its bytes as stored (`vectorBytes`).
    public mutating func append(_ vector: UnsafeRawBufferPointer) throws(DurableFileError) {
        let (s, v) = checksums.count.quotientAndRemainder(dividingBy: header.vectorsPerSubgroup)
        precondition(s < header.subgroupCount && vector.count == header.vectorBytes(subgroup: s, vector: v),
                     "snapshot vectors go in order, each exactly its stored bytes")
        checksums.append(CRC32C.checksum(vector))
        try file.append(vector)
    }

    /// The next vector from its fp32 values (the subgroup's elements), stored in the header's
    /// state precision: a host laying out states saved elsewhere.
    public mutating func appendValues(_ values: UnsafeBufferPointer<Float>) throws(DurableFileError) {
        let (s, v) = checksums.count.quotientAndRemainder(dividingBy: header.vectorsPerSubgroup)
        guard v > 0, header.statePrecision != .fp32 else { return try append(UnsafeRawBufferPointer(values)) }
        precondition(s < header.subgroupCount && values.count == header.elements(ofSubgroup: s))
        let stored = AlignedBuffer<UInt8>(count: header.vectorBytes(subgroup: s, vector: v))
        let bytes = stored.withUnsafeMutableBufferPointer { UnsafeMutableRawBufferPointer($0) }
        header.statePrecision.encode(values, map: header.optimizer.kind.stateMaps[v - 1], into: bytes)
        try append(UnsafeRawBufferPointer(bytes))
        withExtendedLifetime(stored) {}
    }

    /// Writes the checksum table and puts the file in place.
    public consuming func commit() throws(DurableFileError) {
        precondition(checksums.count == header.vectorCount, "a snapshot holds every vector of every subgroup")
        var table = WireWriter()
        checksums.forEach { table.u32($0) }
        table.u32(CRC32C.checksum(of: table.bytes))
        try file.append(table.bytes)
        try file.commit()
    }
}

/// Reads a snapshot: the header, length and checksum table on opening, each vector checked
/// against its checksum as it is read.
public final class SnapshotReader {
    public let path: String
    public let header: SnapshotHeader
    private let descriptor: Int32
    private let checksums: [UInt32]

    public init(path: String) throws(SnapshotError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path: path, call: "open(2)", code: errno) }
        do throws(SnapshotError) {
            var stats = stat()
            guard fstat(descriptor, &stats) == 0 else { throw SnapshotError.unreadable(path: path, call: "fstat(2)", code: errno) }
            let size = Int(stats.st_size)
            let header = try Self.readHeader(descriptor, path: path, size: size)
            guard size == header.fileBytes else {
                throw SnapshotError.damaged(path: path, detail: "\(size) bytes, its header describes \(header.fileBytes)")
            }
            var table = [UInt8](repeating: 0, count: 4 * header.vectorCount + 4)
            try Self.read(descriptor, path: path, into: &table, at: header.tableOffset)
            var r = WireReader(table, message: "checksum table")
            let checksums = (0..<header.vectorCount).map { _ in (try? r.u32("checksum")) ?? 0 }
            let stored = (try? r.u32("table checksum")) ?? 0
            guard CRC32C.checksum(of: Array(table.dropLast(4))) == stored else {
                throw SnapshotError.damaged(path: path, detail: "its checksum table fails its own checksum")
            }
            self.header = header
            self.checksums = checksums
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Reads vector `v` of subgroup `s` into `destination` (exactly its bytes as stored) and
    /// checks it.
    public func read(subgroup s: Int, vector v: Int, into destination: UnsafeMutableRawBufferPointer) throws(SnapshotError) {
        let count = header.vectorBytes(subgroup: s, vector: v)
        precondition(destination.count == count && v < header.vectorsPerSubgroup)
        var done = 0
        while done < count {
            let n = pread(descriptor, destination.baseAddress! + done, count - done, off_t(header.offset(subgroup: s, vector: v) + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw n == 0 ? .damaged(path: path, detail: "it ends inside subgroup \(s)") : .unreadable(path: path, call: "pread(2)", code: errno)
            }
            done += n
        }
        let expected = checksums[s * header.vectorsPerSubgroup + v]
        let found = CRC32C.checksum(UnsafeRawBufferPointer(destination))
        guard found == expected else { throw .damagedVector(path: path, subgroup: s, vector: v, expected: expected, found: found) }
    }

    /// Vector `v` of subgroup `s` as fp32 values (`destination` holds the subgroup's elements):
    /// read, checked, and decoded from the snapshot's state precision.
    public func readValues(subgroup s: Int, vector v: Int, into destination: UnsafeMutableBufferPointer<Float>) throws(SnapshotError) {
        precondition(destination.count == header.elements(ofSubgroup: s))
        guard v > 0, header.statePrecision != .fp32 else { return try read(subgroup: s, vector: v, into: UnsafeMutableRawBufferPointer(destination)) }
        let stored = AlignedBuffer<UInt8>(count: header.vectorBytes(subgroup: s, vector: v))
        let bytes = stored.withUnsafeMutableBufferPointer { UnsafeMutableRawBufferPointer($0) }
        try read(subgroup: s, vector: v, into: bytes)
        header.statePrecision.decode(UnsafeRawBufferPointer(bytes), map: header.optimizer.kind.stateMaps[v - 1], into: destination)
        withExtendedLifetime(stored) {}
    }

    private static func readHeader(_ descriptor: Int32, path: String, size: Int) throws(SnapshotError) -> SnapshotHeader {
        var fixed = [UInt8](repeating: 0, count: min(SnapshotHeader.fixedBytes(version: SnapshotHeader.version), size))
        try read(descriptor, path: path, into: &fixed, at: 0)
        var r = WireReader(fixed, message: "snapshot header")
        do {
            guard try r.u64("magic") == SnapshotHeader.magic else { throw SnapshotError.notASnapshot(path: path) }
            let version = try r.u32("version")
            guard version == 1 || version == SnapshotHeader.version else { throw SnapshotError.unsupportedVersion(path: path, found: version) }
            let fixedBytes = SnapshotHeader.fixedBytes(version: version)
            fixed = Array(fixed.prefix(fixedBytes))
            let sequence = try r.count("sequence", in: 0...Int(Int64.max))
            let step = try r.count("step", in: 0...Int(UInt32.max))
            let slice = try r.count("slice elements", in: 1...DeviceConfiguration.maximumElements)
            let subgroup = try r.count("subgroup elements", in: 1...DeviceConfiguration.maximumElements)
            let optimizer = try OptimizerConfig.decode(from: &r)
            let states = version == 1 ? .fp32 : try StatePrecision.decode(from: &r)
            let noteBytes = Int(try r.u32("note length"))
            guard noteBytes <= SnapshotHeader.maximumNoteBytes, fixedBytes + noteBytes + 4 <= size else {
                throw SnapshotError.damaged(path: path, detail: "its note claims \(noteBytes) bytes")
            }
            var rest = [UInt8](repeating: 0, count: noteBytes + 4)
            try read(descriptor, path: path, into: &rest, at: fixedBytes)
            let note = Array(rest[0..<noteBytes])
            let stored = rest[noteBytes...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
            guard CRC32C.checksum(of: fixed + note) == stored else {
                throw SnapshotError.damaged(path: path, detail: "its header fails its checksum")
            }
            var header = SnapshotHeader(sequence: sequence, step: step, sliceElements: slice, subgroupElements: subgroup,
                                        optimizer: optimizer, statePrecision: states, note: note)
            header.formatVersion = version
            return header
        } catch let error as SnapshotError {
            throw error
        } catch {
            throw .damaged(path: path, detail: "header: \(error)")
        }
    }

    private static func read(_ descriptor: Int32, path: String, into bytes: inout [UInt8], at offset: Int) throws(SnapshotError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw n == 0 ? .damaged(path: path, detail: "cut short at byte \(offset + done)") : .unreadable(path: path, call: "pread(2)", code: errno)
            }
            done += n
        }
    }
}

extension SnapshotError {
    /// A snapshot that cannot be read is an I/O failure; one that reads but fails its checks
    /// is an integrity failure (it was not used).
    public var code: Reply.ErrorCode {
        if case .unreadable = self { return .io }
        return .integrity
    }
}
