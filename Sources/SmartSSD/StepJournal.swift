import BlockIO
import Checksum
import Optim

/// The record of which step each subgroup has committed, and in which slot its state lies.
///
/// Each subgroup keeps up to two records, A and B: its newest commit and the one before it,
/// which a rollback can return to. A commit stages the new record in the position that does not
/// hold the newest one; the record with the higher step wins. Keeping the slot in the record
/// (rather than deriving it from the step's parity) lets a skipped step commit without copying
/// any state: it points at the slot it read.
///
/// On disk, subgroups are grouped `DeviceLayout.subgroupsPerJournalBlock` to a 4 KiB block, and
/// every block exists twice, copy A in one region and copy B in another. A copy is a whole image
/// of its group: both records of each subgroup, a sequence number, and a CRC32C over the block.
/// A journal write puts each changed group into the copy that does *not* hold the group's newest
/// durable image, then syncs; on open, the valid copy with the higher sequence number wins.
///
/// Why this survives a torn write: a write that lands only partly (some 512-byte sectors new,
/// others old, one caught mid-sector) damages only the block it was writing, whose CRC then
/// fails, and that block held nothing the group still needs. The other copy, untouched since it
/// was synced, holds the group's image before the write, whole: every subgroup recovers the
/// commit before, or the new one where its block landed intact, never neither. Per-subgroup A/B
/// positions packed into shared blocks cannot promise this: once two subgroups of a block sit in
/// different positions (a host may step some subgroups and not others), each copy of that block
/// holds some subgroup's only newest record, and rewriting either risks it.
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

    static var blockMagic: UInt32 { 0x4C4E_524A }  // "JRNL"
    private static var blockBytes: Int { DeviceLayout.alignment }
    /// Where a block's CRC32C lies; it covers every other byte of the block.
    private static var checksumOffset: Int { 60 }

    let layout: DeviceLayout
    let file: BlockFile
    /// Both copies of every journal block, as on disk (page-aligned for direct I/O).
    let image: AlignedBuffer<UInt8>
    /// Per subgroup, per position (A, B): the record, if any.
    private var records: [[Entry?]]
    /// Per block: the copy (0 = A, 1 = B) holding its newest durable image, and that image's
    /// sequence number.
    private var newestCopy: [Int]
    private var sequence: [UInt64]
    /// Per block: staged changes not yet written.
    private var dirty: [Bool]

    /// Reads the journal region of `file` and recovers every subgroup's last commit; `fresh`
    /// formats it instead (every subgroup without records).
    init(layout: DeviceLayout, file: BlockFile, ring: IORing, fresh: Bool) throws {
        self.layout = layout
        self.file = file
        image = AlignedBuffer(count: layout.journalBytes, alignment: DeviceLayout.alignment)
        records = Array(repeating: [nil, nil], count: layout.subgroupCount)
        newestCopy = Array(repeating: 0, count: layout.journalBlocks)
        sequence = Array(repeating: 1, count: layout.journalBlocks)
        dirty = Array(repeating: false, count: layout.journalBlocks)
        if fresh {
            // Both copies, A one sequence ahead: nothing is committed yet, so nothing can be lost.
            for block in 0..<layout.journalBlocks {
                encode(block, copy: 0, sequence: 1)
                encode(block, copy: 1, sequence: 0)
            }
            try image.withUnsafeMutableBufferPointer { b in
                try ring.run([BlockTransfer(.write, file: file, fileOffset: layout.journalOffset, memory: UnsafeMutableRawBufferPointer(b))],
                             blockSize: 1 << 20)
            }
            try file.sync()
            return
        }
        try image.withUnsafeMutableBufferPointer { b in
            try ring.run([BlockTransfer(.read, file: file, fileOffset: layout.journalOffset, memory: UnsafeMutableRawBufferPointer(b))],
                         blockSize: 1 << 20)
        }
        for block in 0..<layout.journalBlocks {
            let candidates = (0...1).compactMap { copy in decode(block, copy: copy).map { (copy: copy, image: $0) } }
            guard let newest = candidates.max(by: { $0.image.sequence < $1.image.sequence }) else {
                throw DeviceError.corruptJournal(path: file.path, subgroups: subgroups(ofBlock: block))
            }
            newestCopy[block] = newest.copy
            sequence[block] = newest.image.sequence
            for (s, pair) in zip(subgroups(ofBlock: block), newest.image.records) { records[s] = pair }
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
        records[s][position] = entry
        dirty[layout.journalBlock(ofSubgroup: s)] = true
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
        }
        dirty[layout.journalBlock(ofSubgroup: s)] = true
    }

    /// Stages forgetting the older record of `s` if it points at `slot`, which the coming step
    /// is about to overwrite: after that write begins, the older step is no longer held there.
    func stageRelease(slot: Int, subgroup s: Int) {
        guard let newest = committed(s) else { return }
        for position in 0..<2 {
            if let entry = records[s][position], entry != newest, entry.slot == slot {
                records[s][position] = nil
                dirty[layout.journalBlock(ofSubgroup: s)] = true
            }
        }
    }

    /// Forgets every record (a reformat).
    func stageReset(subgroup s: Int) {
        records[s] = [nil, nil]
        dirty[layout.journalBlock(ofSubgroup: s)] = true
    }

    /// Makes the staged records durable: the state writes they describe must already be synced.
    /// `tearing` writes them as the `torn@step` fault does (`writeTorn`).
    func write(ring: IORing, tearing: Bool = false) throws {
        let blocks = dirty.indices.filter { dirty[$0] }
        guard !blocks.isEmpty else { return }
        for block in blocks {
            // The whole argument for surviving a torn write: this write never touches the copy
            // holding the group's newest durable image, and that image is whole.
            precondition(abs(layout.journalBlockOffset(block, copy: 1 - newestCopy[block])
                             - layout.journalBlockOffset(block, copy: newestCopy[block])) >= Self.blockBytes,
                         "journal block \(block): a write must not touch the copy holding its newest image")
            precondition(decode(block, copy: newestCopy[block])?.sequence == sequence[block],
                         "journal block \(block): the copy a torn write would fall back on is not whole")
        }
        if tearing { return try writeTorn(blocks, ring: ring) }
        for block in blocks { encode(block, copy: 1 - newestCopy[block], sequence: sequence[block] + 1) }
        try image.withUnsafeMutableBufferPointer { b in
            try ring.run(blocks.map { block in
                BlockTransfer(.write, file: file, fileOffset: layout.journalBlockOffset(block, copy: 1 - newestCopy[block]),
                              memory: blockMemory(UnsafeMutableRawBufferPointer(b), block, copy: 1 - newestCopy[block]))
            }, blockSize: Self.blockBytes)
        }
        try file.sync()
        for block in blocks {
            newestCopy[block] = 1 - newestCopy[block]
            sequence[block] += 1
            dirty[block] = false
        }
    }

    /// The write of `blocks` as it lands when power fails during it: those before the middle one
    /// whole, the middle one new only up to halfway into its first changed record (its header
    /// and sequence number new, so it claims to be newest, and the rest of it old: some sectors
    /// new, one torn mid-sector, the others old), the rest not at all. The caller then kills the
    /// device, so what the journal holds in memory no longer matters.
    private func writeTorn(_ blocks: [Int], ring: IORing) throws {
        let torn = blocks[blocks.count / 2]
        let old = bytes(torn, copy: 1 - newestCopy[torn])
        for block in blocks where block <= torn { encode(block, copy: 1 - newestCopy[block], sequence: sequence[block] + 1) }
        let new = bytes(torn, copy: 1 - newestCopy[torn])
        let firstChange = (DeviceLayout.journalHeaderBytes..<Self.blockBytes).first { new[$0] != old[$0] }
        let landed = min(Self.blockBytes, firstChange.map { $0 + DeviceLayout.journalRecordBytes / 2 } ?? Self.blockBytes / 2)
        let tornImage = AlignedBuffer<UInt8>(count: Self.blockBytes, alignment: DeviceLayout.alignment)
        try image.withUnsafeMutableBufferPointer { b in
            try tornImage.withUnsafeMutableBufferPointer { t in
                _ = t.initialize(from: new[0..<landed] + old[landed...])
                try ring.run(blocks.filter { $0 < torn }.map { block in
                    BlockTransfer(.write, file: file, fileOffset: layout.journalBlockOffset(block, copy: 1 - newestCopy[block]),
                                  memory: blockMemory(UnsafeMutableRawBufferPointer(b), block, copy: 1 - newestCopy[block]))
                } + [BlockTransfer(.write, file: file, fileOffset: layout.journalBlockOffset(torn, copy: 1 - newestCopy[torn]),
                                   memory: UnsafeMutableRawBufferPointer(t))], blockSize: Self.blockBytes)
            }
        }
        try file.sync()
    }

    /// The subgroups whose records block `block` holds.
    private func subgroups(ofBlock block: Int) -> Range<Int> {
        let first = block * DeviceLayout.subgroupsPerJournalBlock
        return first..<min(first + DeviceLayout.subgroupsPerJournalBlock, layout.subgroupCount)
    }

    /// Copy `copy` of `block` within the journal image `journal`.
    private func blockMemory(_ journal: UnsafeMutableRawBufferPointer, _ block: Int, copy: Int) -> UnsafeMutableRawBufferPointer {
        let start = layout.journalBlockOffset(block, copy: copy) - layout.journalOffset
        return UnsafeMutableRawBufferPointer(rebasing: journal[start..<start + Self.blockBytes])
    }

    private func bytes(_ block: Int, copy: Int) -> [UInt8] {
        image.withUnsafeMutableBufferPointer { Array(blockMemory(UnsafeMutableRawBufferPointer($0), block, copy: copy)) }
    }

    /// Writes the records of `block`'s subgroups into the image's copy `copy`.
    ///
    /// A block: magic u32, block index u32, sequence u64, zeros to byte 60, CRC32C u32 of all
    /// other bytes; then per subgroup its A and B records of 32 bytes each: flags u32 (bit 0: a
    /// record, bit 1: it has a state checksum), slot u32, step u64, state checksum u32, zeros.
    private func encode(_ block: Int, copy: Int, sequence: UInt64) {
        image.withUnsafeMutableBufferPointer { encode(block, sequence: sequence, into: blockMemory(UnsafeMutableRawBufferPointer($0), block, copy: copy)) }
    }

    private func encode(_ block: Int, sequence: UInt64, into raw: UnsafeMutableRawBufferPointer) {
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        raw.storeBytes(of: Self.blockMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: UInt32(block).littleEndian, toByteOffset: 4, as: UInt32.self)
        raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        for (i, s) in subgroups(ofBlock: block).enumerated() {
            for position in 0..<2 {
                guard let entry = records[s][position] else { continue }
                let at = DeviceLayout.journalHeaderBytes + (i * 2 + position) * DeviceLayout.journalRecordBytes
                raw.storeBytes(of: UInt32(entry.checksum == nil ? 1 : 3).littleEndian, toByteOffset: at, as: UInt32.self)
                raw.storeBytes(of: UInt32(entry.slot).littleEndian, toByteOffset: at + 4, as: UInt32.self)
                raw.storeBytes(of: UInt64(entry.step).littleEndian, toByteOffset: at + 8, as: UInt64.self)
                raw.storeBytes(of: (entry.checksum ?? 0).littleEndian, toByteOffset: at + 16, as: UInt32.self)
            }
        }
        raw.storeBytes(of: Self.checksum(UnsafeRawBufferPointer(raw)).littleEndian, toByteOffset: Self.checksumOffset, as: UInt32.self)
    }

    /// The image in copy `copy` of `block`, nil when it fails its checks (torn, or never written).
    private func decode(_ block: Int, copy: Int) -> (sequence: UInt64, records: [[Entry?]])? {
        image.withUnsafeMutableBufferPointer { decode(block, from: UnsafeRawBufferPointer(blockMemory(UnsafeMutableRawBufferPointer($0), block, copy: copy))) }
    }

    private func decode(_ block: Int, from raw: UnsafeRawBufferPointer) -> (sequence: UInt64, records: [[Entry?]])? {
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        guard u32(0) == Self.blockMagic, u32(4) == UInt32(block), u32(Self.checksumOffset) == Self.checksum(raw) else { return nil }
        var pairs: [[Entry?]] = []
        for i in 0..<subgroups(ofBlock: block).count {
            var pair: [Entry?] = [nil, nil]
            for position in 0..<2 {
                let at = DeviceLayout.journalHeaderBytes + (i * 2 + position) * DeviceLayout.journalRecordBytes
                let flags = u32(at)
                guard flags != 0 else { continue }
                guard flags == 1 || flags == 3, Int(u32(at + 4)) < layout.slots, let step = Int(exactly: u64(at + 8)) else { return nil }
                pair[position] = Entry(step: step, slot: Int(u32(at + 4)), checksum: flags == 3 ? u32(at + 16) : nil)
            }
            pairs.append(pair)
        }
        return (u64(8), pairs)
    }

    /// CRC32C of a block without its checksum field.
    private static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt32 {
        let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<checksumOffset]))
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(checksumOffset + 4)...]), seed: head)
    }
}
