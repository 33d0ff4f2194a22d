import CKernels

/// CRC32C (Castagnoli), the checksum that guards every payload and state chunk.
///
/// CRC32C rather than CRC32 because x86 computes it in hardware (SSE4.2), so checking a
/// multi-gigabyte state costs far less than reading it, and because it detects every burst error
/// of up to 32 bits: any single corrupted byte is always caught.
public enum CRC32C {
    /// The checksum of `bytes`, continuing from `seed` (the result of a previous call) so that
    /// a message can be checksummed in pieces.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        return si_crc32c(seed, base, bytes.count)
    }

    /// The checksum of a byte array.
    @inlinable
    public static func checksum(of bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, seed: seed) }
    }

    /// The same checksum computed with the portable table code; tests compare it with
    /// `checksum` to prove the hardware path.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        return si_crc32c_portable(seed, base, bytes.count)
    }

    /// Whether `checksum` runs on the CPU's crc32 instruction.
    public static var isHardwareAccelerated: Bool { si_crc32c_is_hardware() != 0 }
}
