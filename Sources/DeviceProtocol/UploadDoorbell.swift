import CPosix

/// Per-subgroup "uploaded" marks at the end of a host buffer: after a device has written a
/// subgroup's compute copy for step t into the buffer, it stores t in that subgroup's mark and
/// rings the bell, the way an FPGA raises an interrupt after its DMA. The host can then use
/// those parameters (the next forward pass) while the device is still updating others and
/// writing states back.
///
/// The bell is a 32-bit count of rings, a futex word in the shared mapping: the host sleeps on
/// it in the kernel (FUTEX_WAIT) and a ring wakes it (FUTEX_WAKE), in whichever process the
/// ringer runs. A condition variable cannot do this: its waiters and signallers must share one
/// process's lock, and a device is another process; polling the marks instead would cost the
/// device's cores (which the host shares) or the host's promptness. Both futex calls leave out
/// FUTEX_PRIVATE_FLAG, so the kernel keys the word by the shared file's page, not by one
/// process's address space.
///
/// A waiter reads `rings`, then looks at what it waits for, then sleeps only while the count is
/// still what it read (`wait(afterRings:timeout:)`). Every ringer changes what it announces
/// first and rings after, so a ring between the look and the sleep makes the sleep return at
/// once: no wake is lost. Anything else a waiter waits for must ring the same bell: the host
/// rings a device's bell when that device's reply or failure arrives (`PendingFleetStep`), so
/// one wait ends on an upload, a reply or a failure alike.
///
/// Layout: the compute copy (slice elements × copy-out width), padded to 64 bytes; the bell in
/// a 64-byte line of its own; then one little-endian 64-bit step per subgroup. A host buffer
/// too small for them simply gets none (the host then waits for the step's reply).
public struct UploadDoorbell: Sendable {
    /// Kept alive for as long as the doorbell: the bell and the marks live in it.
    private let mapping: SharedMemoryMapping
    private let bellOffset: Int
    public let subgroupCount: Int

    /// Bytes of a host buffer holding `sliceBytes` of compute copy, the bell and `subgroupCount` marks.
    public static func bufferBytes(sliceBytes: Int, subgroupCount: Int) -> Int {
        marksOffset(sliceBytes) + subgroupCount * 8
    }

    private static func bellOffset(_ sliceBytes: Int) -> Int { (sliceBytes + 63) / 64 * 64 }
    private static func marksOffset(_ sliceBytes: Int) -> Int { bellOffset(sliceBytes) + 64 }

    /// The bell and marks of `mapping`, or nil when it is too small to hold them.
    public init?(_ mapping: SharedMemoryMapping, sliceBytes: Int, subgroupCount: Int) {
        guard mapping.bytes >= Self.bufferBytes(sliceBytes: sliceBytes, subgroupCount: subgroupCount) else { return nil }
        self.mapping = mapping
        bellOffset = Self.bellOffset(sliceBytes)
        self.subgroupCount = subgroupCount
        (mapping.base + bellOffset).bindMemory(to: UInt32.self, capacity: 1)
        (mapping.base + Self.marksOffset(sliceBytes)).bindMemory(to: UInt64.self, capacity: subgroupCount)
    }

    private var bell: UnsafeMutablePointer<UInt32> { (mapping.base + bellOffset).assumingMemoryBound(to: UInt32.self) }
    private var marks: UnsafeMutablePointer<UInt64> { (mapping.base + bellOffset + 64).assumingMemoryBound(to: UInt64.self) }

    /// Marks subgroup `subgroup`'s compute copy of step `step` as written (after the writes), and
    /// rings.
    public func publish(step: Int, subgroup: Int) {
        precondition(subgroup >= 0 && subgroup < subgroupCount && step >= 0)
        si_atomic_store_u64(marks + subgroup, UInt64(step))
        ring()
    }

    /// The last step whose compute copy of `subgroup` is in the buffer (0 before any).
    public func uploadedStep(subgroup: Int) -> Int {
        precondition(subgroup >= 0 && subgroup < subgroupCount)
        return Int(truncatingIfNeeded: si_atomic_load_u64(marks + subgroup))
    }

    /// Rings the bell: wakes every thread, of any process, waiting on it. Change what the ring
    /// announces first.
    public func ring() {
        si_atomic_increment_u32(bell)
        _ = si_futex_wake_all(bell)
    }

    /// The rings so far (wrapping): read before looking at what to wait for.
    public var rings: UInt32 { si_atomic_load_u32(bell) }

    public enum Wake: Equatable, Sendable {
        /// The count moved past the one read: look again.
        case rang
        case timedOut
    }

    /// Sleeps until the bell has rung since `rings` read `seen` (at once if it has), or `timeout`
    /// has passed.
    public func wait(afterRings seen: UInt32, timeout: Duration) -> Wake {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while rings == seen {
            let left = clock.now.duration(to: deadline)
            guard left > .zero else { return .timedOut }
            let (seconds, attoseconds) = left.components
            // A wake, a count that moved before the sleep (-EAGAIN), a signal (-EINTR) or the
            // timeout all come back here to look at the count and the clock again (a sleep is
            // at most a day, so that the nanoseconds cannot overflow).
            _ = si_futex_wait(bell, seen, UInt64(min(seconds, 86_400)) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000))
        }
        return .rang
    }
}
