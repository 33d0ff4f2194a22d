import DeviceProtocol
import Optim

/// Where everything lives on a device's SSD. Fixed at format time and recorded in the
/// superblock, so a device reopened after a crash finds its states without the host's help.
///
/// ```
/// offset                         contents
/// 0                              superblock (4 KiB): magic, version, geometry, optimizer,
///                                precisions, slot mode, region offsets, CRC32C
/// journalOffset                  step journal: two 64-byte records per subgroup (A/B)
/// gradientOffset                 gradient region: one slot of `gradientSlotBytes` per subgroup,
///                                big enough for that subgroup's largest payload (dense fp32)
/// statesOffset                   per subgroup, per slot: p, then each optimizer state, each
///                                vector padded to 4 KiB (`vectorBytes`)
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

    public init(sliceElements: Int, subgroupElements: Int, stateCount: Int, slots: Int) {
        precondition(sliceElements > 0 && subgroupElements > 0 && (1...2).contains(stateCount) && (1...2).contains(slots))
        self.sliceElements = sliceElements
        self.subgroupElements = subgroupElements
        self.stateCount = stateCount
        self.slots = slots
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

    /// Bytes of one fp32 vector of a full subgroup, padded for direct I/O.
    public var vectorBytes: Int { Self.roundUp(subgroupElements * 4) }
    /// Vectors stored per subgroup and slot: p and the states.
    public var vectorsPerSlot: Int { 1 + stateCount }
    public var slotBytes: Int { vectorBytes * vectorsPerSlot }

    public static var superblockBytes: Int { alignment }
    public static var journalRecordBytes: Int { 64 }
    public var journalOffset: Int { Self.superblockBytes }
    public var journalBytes: Int { Self.roundUp(subgroupCount * 2 * Self.journalRecordBytes) }
    public var gradientOffset: Int { journalOffset + journalBytes }
    /// Room for one subgroup's payload: a dense fp32 gradient plus the payload header.
    public var gradientSlotBytes: Int { Self.roundUp(subgroupElements * 4 + 4096) }
    public var gradientBytes: Int { gradientSlotBytes * subgroupCount }
    public var statesOffset: Int { gradientOffset + gradientBytes }
    public var totalBytes: Int { statesOffset + slotBytes * slots * subgroupCount }

    /// File offset of vector `v` (0 = p, 1... = states) of subgroup `s` in `slot`.
    public func vectorOffset(subgroup s: Int, slot: Int, vector v: Int) -> Int {
        statesOffset + ((s * slots + slot) * vectorsPerSlot + v) * vectorBytes
    }

    /// File offset of the first vector of subgroup `s` in `slot` (p, then the states, back to back).
    public func slotOffset(subgroup s: Int, slot: Int) -> Int { vectorOffset(subgroup: s, slot: slot, vector: 0) }

    public func gradientSlotOffset(subgroup s: Int) -> Int { gradientOffset + s * gradientSlotBytes }

    /// The slot holding the state after committed step `step`.
    public func slot(afterStep step: Int) -> Int { slots == 1 ? 0 : step % 2 }
}
