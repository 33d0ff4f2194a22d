import CPosix

/// Per-subgroup "uploaded" marks at the end of a host buffer: after a device has written a
/// subgroup's compute copy for step t into the buffer, it stores t in that subgroup's mark, the
/// way an FPGA rings a doorbell after its DMA. The host can then use those parameters (the next
/// forward pass) while the device is still updating others and writing states back.
///
/// Layout: the compute copy (slice elements × copy-out width), padded to 64 bytes, then one
/// little-endian 64-bit step per subgroup. A host buffer too small for the marks simply gets
/// none (the host then waits for the step's reply).
public struct UploadDoorbell: @unchecked Sendable {
    private let marks: UnsafeMutablePointer<UInt64>
    public let subgroupCount: Int

    /// Bytes of a host buffer holding `sliceBytes` of compute copy and `subgroupCount` marks.
    public static func bufferBytes(sliceBytes: Int, subgroupCount: Int) -> Int {
        marksOffset(sliceBytes) + subgroupCount * 8
    }

    private static func marksOffset(_ sliceBytes: Int) -> Int { (sliceBytes + 63) / 64 * 64 }

    /// The marks of `mapping`, or nil when it is too small to hold them.
    public init?(_ mapping: SharedMemoryMapping, sliceBytes: Int, subgroupCount: Int) {
        guard mapping.bytes >= Self.bufferBytes(sliceBytes: sliceBytes, subgroupCount: subgroupCount) else { return nil }
        marks = (mapping.base + Self.marksOffset(sliceBytes)).bindMemory(to: UInt64.self, capacity: subgroupCount)
        self.subgroupCount = subgroupCount
    }

    /// Marks subgroup `subgroup`'s compute copy of step `step` as written (after the writes).
    public func publish(step: Int, subgroup: Int) {
        precondition(subgroup >= 0 && subgroup < subgroupCount && step >= 0)
        si_atomic_store_u64(marks + subgroup, UInt64(step))
    }

    /// The last step whose compute copy of `subgroup` is in the buffer (0 before any).
    public func uploadedStep(subgroup: Int) -> Int {
        precondition(subgroup >= 0 && subgroup < subgroupCount)
        return Int(truncatingIfNeeded: si_atomic_load_u64(marks + subgroup))
    }
}
