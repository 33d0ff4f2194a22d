import BlockIO
import Checksum
import Optim

/// The record of which step each subgroup has committed, and in which slot its state lies.
///
/// Each subgroup has two 64-byte record positions. A commit writes the position that does *not*
/// hold the current record, then syncs; so a torn journal write can only damage the record being
/// written, and the previous one survives. On open, the valid record with the higher step wins.
/// Keeping the slot in the record (rather than deriving it from the step's parity) lets a skipped
/// step commit without copying any state: it points at the slot it read.
public final class StepJournal {
    /// One subgroup's committed state.
    public struct Entry: Sendable, Equatable {
        public var step: Int
        public var slot: Int
        /// CRC32C of the slot's bytes (p and states) as written, checked when the slot is read.
        public var checksum: UInt32?

        public init(step: Int, slot: Int, checksum: UInt32? = nil) {
            self.step = step
            self.slot = slot
            self.checksum = checksum
        }
    }

    static var recordMagic: UInt32 { 0x4C4E_524A }  // "JRNL"

    let layout: DeviceLayout
    let file: BlockFile
    /// The journal region as on disk (page-aligned for direct I/O).
    let image: AlignedBuffer<UInt8>
    /// Per subgroup, per position: the decoded record, if valid.
    private var records: [[Entry?]]

    /// Reads the journal region of `file` and recovers every subgroup's last commit.
    init(layout: DeviceLayout, file: BlockFile, ring: IORing, fresh: Bool) throws {
        self.layout = layout
        self.file = file
        image = AlignedBuffer(count: layout.journalBytes, alignment: DeviceLayout.alignment)
        records = Array(repeating: [nil, nil], count: layout.subgroupCount)
        if fresh {
            try write(ring: ring)
            return
        }
        try image.withUnsafeMutableBufferPointer { b in
            try ring.run([BlockTransfer(.read, file: file, fileOffset: layout.journalOffset, memory: UnsafeMutableRawBufferPointer(b))],
                         blockSize: 1 << 20)
        }
        for s in 0..<layout.subgroupCount {
            for position in 0..<2 { records[s][position] = decodeRecord(subgroup: s, position: position) }
        }
    }

    /// The committed state of subgroup `s`, nil if it was never loaded.
    public func committed(_ s: Int) -> Entry? {
        let valid = records[s].compactMap { $0 }
        return valid.max { $0.step < $1.step }
    }

    /// The steps subgroup `s` could be rolled back to.
    public func heldSteps(_ s: Int) -> [Int] { records[s].compactMap { $0?.step }.sorted() }

    /// Stages a commit of `entry` for subgroup `s` into the position not holding the current one.
    func stage(_ entry: Entry, subgroup s: Int) {
        let current = records[s].enumerated().filter { $0.element != nil }.max { $0.element!.step < $1.element!.step }?.offset
        let position = current.map { 1 - $0 } ?? 0
        // The journal's whole crash argument: the record a torn write can damage is never the
        // committed one. Checked on the bytes that will reach the disk, not on `records`.
        let committed = committed(s)
        precondition(committed == nil || decodeRecord(subgroup: s, position: position) != committed,
                     "subgroup \(s): a commit must go to the record position not holding the committed record")
        records[s][position] = entry
        encodeRecord(entry, subgroup: s, position: position)
        assert(committed == nil || decodeRecord(subgroup: s, position: 1 - position) == committed,
               "subgroup \(s): staging a commit changed the committed record")
    }

    /// Stages forgetting every record of `s` newer than `step` (a rollback). Throws when `step`
    /// itself is no longer held.
    func stageRollback(subgroup s: Int, to step: Int) throws(DeviceError) {
        guard let committed = committed(s) else { throw .notLoaded(subgroups: [s]) }
        if committed.step == step { return }
        guard records[s].contains(where: { $0?.step == step }) else {
            throw .rollbackUnavailable(subgroup: s, requested: step, held: heldSteps(s))
        }
        for position in 0..<2 where (records[s][position]?.step ?? -1) > step {
            records[s][position] = nil
            clearRecord(subgroup: s, position: position)
        }
    }

    /// Stages forgetting the older record of `s` if it points at `slot`, which the coming step
    /// is about to overwrite: after that write begins, the older step is no longer held there.
    func stageRelease(slot: Int, subgroup s: Int) {
        guard let newest = committed(s) else { return }
        for position in 0..<2 {
            if let entry = records[s][position], entry != newest, entry.slot == slot {
                records[s][position] = nil
                clearRecord(subgroup: s, position: position)
            }
        }
    }

    /// Forgets every record (a reformat).
    func stageReset(subgroup s: Int) {
        for position in 0..<2 {
            records[s][position] = nil
            clearRecord(subgroup: s, position: position)
        }
    }

    /// Makes the staged records durable: the state writes they describe must already be synced.
    func write(ring: IORing) throws {
        try image.withUnsafeMutableBufferPointer { b in
            try ring.run([BlockTransfer(.write, file: file, fileOffset: layout.journalOffset, memory: UnsafeMutableRawBufferPointer(b))],
                         blockSize: 1 << 20)
        }
        try file.sync()
    }

    private func recordOffset(_ s: Int, _ position: Int) -> Int { (s * 2 + position) * DeviceLayout.journalRecordBytes }

    private func encodeRecord(_ entry: Entry, subgroup s: Int, position: Int) {
        image.withUnsafeMutableBufferPointer { b in
            let raw = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(b)[recordOffset(s, position)..<recordOffset(s, position) + DeviceLayout.journalRecordBytes])
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.storeBytes(of: Self.recordMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt32(s).littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: UInt64(entry.step).littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: UInt32(entry.slot).littleEndian, toByteOffset: 16, as: UInt32.self)
            if let checksum = entry.checksum {
                raw.storeBytes(of: checksum.littleEndian, toByteOffset: 20, as: UInt32.self)
                raw.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 24, as: UInt32.self)
            }
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<60]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
    }

    private func clearRecord(subgroup s: Int, position: Int) {
        image.withUnsafeMutableBufferPointer { b in
            let start = recordOffset(s, position)
            UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(b)[start..<start + DeviceLayout.journalRecordBytes])
                .initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    private func decodeRecord(subgroup s: Int, position: Int) -> Entry? {
        image.withUnsafeBufferPointer { b in
            let start = recordOffset(s, position)
            let raw = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[start..<start + DeviceLayout.journalRecordBytes])
            guard UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.recordMagic,
                  UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == UInt32(s),
                  UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
                    == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<60])) else { return nil }
            let step = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            let slot = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
            guard slot < layout.slots else { return nil }
            let hasChecksum = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self)) == 1
            return Entry(step: step, slot: slot,
                         checksum: hasChecksum ? UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self)) : nil)
        }
    }
}
