import Checksum

/// A slot's CRC32C taken in pieces by the stage that moves the slot, while its transfer is in
/// flight (`IORing.run(_:blockSize:meanwhile:)`), at the disk's pace: the loader sums what has
/// landed, the writer what has gone out. The sum then costs no pass of its own on the update
/// stage, which with 8-bit states is the step's busiest (two passes over the slot were a fifth
/// of its time), and keeping pace means the ring is never left waiting on a long sum.
struct RunningChecksum {
    private(set) var value: UInt32 = 0
    /// Leading bytes of the slot summed so far.
    private(set) var covered = 0

    /// Sums the bytes from `covered` up to `ready`.
    mutating func advance(over bytes: UnsafeRawBufferPointer, to ready: Int) {
        let end = min(ready, bytes.count)
        guard end > covered else { return }
        value = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[covered..<end]), seed: value)
        covered = end
    }

    /// The checksum of all of `bytes`: sums whatever is left.
    mutating func finish(over bytes: UnsafeRawBufferPointer) -> UInt32 {
        advance(over: bytes, to: bytes.count)
        return value
    }
}
