import DeviceProtocol
import Optim

/// Where everything lives on a device's SSD. Fixed at format time and recorded in the
/// superblock, so a device reopened after a crash finds its states without the host's help.
///
/// ```
/// offset                         contents
/// 0                              superblock (4 KiB): magic, version, geometry, optimizer,
///                                precisions, slot mode, region offsets, CRC32C
/// journalOffset                  step journal, copy A: `journalBlocks` 4 KiB blocks, block g
///                                holding the records of subgroups 63g..<63g+63
/// journalOffset + journalBlocks   step journal, copy B: the same blocks again (each commit
///   × 4 KiB                      writes a block's copy that does not hold its newest image)
/// gradientOffset                 gradient region: one slot of `gradientSlotBytes` per subgroup,
///                                big enough for that subgroup's largest payload (dense fp32)
/// statesOffset                   per subgroup, per slot: p (fp32, `vectorBytes`), then each
///                                optimizer state as stored (`stateVectorBytes`: fp32, or 8-bit
///                                scales and codes), each padded to 4 KiB
/// ```
/// With two slots (the default) the state after committed step s lives in slot s % 2: step t
/// reads slot (t-1) % 2 and writes slot t % 2, so a crash mid-step never touches the committed
/// copy. With one slot (`--in-place`) the step overwrites the only copy: a crash between the
/// first state write and the journal commit leaves that subgroup's states mixed between two
/// steps, and the run must be resumed from a checkpoint.
public struct DeviceLayout: Sendable, Equatable {
    public static var alignment: Int { 4096 }

    public var sliceElements: Int
    public var subgroupElements: Int
    public var stateCount: Int
    public var slots: Int
    public var statePrecision: StatePrecision

    public init(sliceElements: Int, subgroupElements: Int, stateCount: Int, slots: Int, statePrecision: StatePrecision = .fp32) {
        precondition(sliceElements > 0 && subgroupElements > 0 && (1...2).contains(stateCount) && (1...2).contains(slots))
        self.sliceElements = sliceElements
        self.subgroupElements = subgroupElements
        self.stateCount = stateCount
        self.slots = slots
        self.statePrecision = statePrecision
    }

    public var subgroupCount: Int { (sliceElements + subgroupElements - 1) / subgroupElements }

    /// Elements of subgroup `s` (the last one may be short).
    public func elements(ofSubgroup s: Int) -> Int {
        min(subgroupElements, sliceElements - s * subgroupElements)
    }

    /// First slice element of subgroup `s`.
    public func firstElement(ofSubgroup s: Int) -> Int { s * subgroupElements }

    /// Subgroup holding slice element `e`.
    public func subgroup(containing e: Int) -> Int { e / subgroupElements }

    static func roundUp(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Bytes of one fp32 vector of a full subgroup (p, or the gradient in DRAM), padded for
    /// direct I/O.
    public var vectorBytes: Int { Self.roundUp(subgroupElements * 4) }
    /// Bytes of one optimizer state of a full subgroup as stored, padded for direct I/O.
    public var stateVectorBytes: Int { Self.roundUp(statePrecision.storedBytes(elements: subgroupElements)) }
    /// Vectors stored per subgroup and slot: p and the states.
    public var vectorsPerSlot: Int { 1 + stateCount }
    public var slotBytes: Int { vectorBytes + stateCount * stateVectorBytes }

    /// Where vector `v` (0 = p, 1… = the states) of subgroup `s` lies within its slot image:
    /// its bytes as stored, without the padding.
    public func vectorRange(subgroup s: Int, vector v: Int) -> Range<Int> {
        let n = elements(ofSubgroup: s)
        if v == 0 { return 0..<(n * 4) }
        let start = vectorBytes + (v - 1) * stateVectorBytes
        return start..<(start + statePrecision.storedBytes(elements: n))
    }

    public static var superblockBytes: Int { alignment }
    /// One journal record: flags, slot, step, state checksum (`StepJournal`).
    public static var journalRecordBytes: Int { 32 }
    /// A journal block's header: magic, block index, sequence number, CRC32C.
    public static var journalHeaderBytes: Int { 64 }
    /// Subgroups whose records (two each, A and B) share one journal block: 63.
    public static var subgroupsPerJournalBlock: Int { (alignment - journalHeaderBytes) / (2 * journalRecordBytes) }
    public var journalOffset: Int { Self.superblockBytes }
    /// Blocks in each of the journal's two copies.
    public var journalBlocks: Int { (subgroupCount + Self.subgroupsPerJournalBlock - 1) / Self.subgroupsPerJournalBlock }
    public var journalBytes: Int { 2 * journalBlocks * Self.alignment }
    /// File offset of journal block `block` in copy `copy` (0 = A, 1 = B). The copies lie in
    /// separate regions, so no write of one copy shares a sector with the other.
    public func journalBlockOffset(_ block: Int, copy: Int) -> Int {
        precondition((0..<journalBlocks).contains(block) && (0...1).contains(copy))
        return journalOffset + (copy * journalBlocks + block) * Self.alignment
    }
    /// The journal block holding subgroup `s`'s records.
    public func journalBlock(ofSubgroup s: Int) -> Int { s / Self.subgroupsPerJournalBlock }
    public var gradientOffset: Int { journalOffset + journalBytes }
    /// Room for one subgroup's payload: a dense fp32 gradient plus the payload header.
    public var gradientSlotBytes: Int { Self.roundUp(subgroupElements * 4 + 4096) }
    public var gradientBytes: Int { gradientSlotBytes * subgroupCount }
    public var statesOffset: Int { gradientOffset + gradientBytes }
    public var totalBytes: Int { statesOffset + slotBytes * slots * subgroupCount }

    /// File offset of vector `v` (0 = p, 1... = states) of subgroup `s` in `slot`.
    public func vectorOffset(subgroup s: Int, slot: Int, vector v: Int) -> Int {
        statesOffset + (s * slots + slot) * slotBytes + (v == 0 ? 0 : vectorBytes + (v - 1) * stateVectorBytes)
    }

    /// File offset of the first vector of subgroup `s` in `slot` (p, then the states, back to back).
    public func slotOffset(subgroup s: Int, slot: Int) -> Int { vectorOffset(subgroup: s, slot: slot, vector: 0) }

    public func gradientSlotOffset(subgroup s: Int) -> Int { gradientOffset + s * gradientSlotBytes }

    /// The slot holding the state after committed step `step`.
    public func slot(afterStep step: Int) -> Int { slots == 1 ? 0 : step % 2 }
}
