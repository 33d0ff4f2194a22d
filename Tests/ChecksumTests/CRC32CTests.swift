import Checksum
import Testing
import SeededRandom

@Suite struct CRC32CTests {
    /// Published CRC32C check values (RFC 3720 appendix B.4 and the common "123456789" check).
    @Test(arguments: [
        (Array("123456789".utf8), UInt32(0xE306_9283)),
        ([UInt8](repeating: 0, count: 32), UInt32(0x8A91_36AA)),
        ([UInt8](repeating: 0xFF, count: 32), UInt32(0x62A8_AB43)),
        ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
        ((0..<32).map { UInt8(31 - $0) }, UInt32(0x113F_DB5C)),
        ([UInt8](), UInt32(0)),
    ] as [([UInt8], UInt32)])
    func knownVectors(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(of: bytes) == expected)
        bytes.withUnsafeBytes { #expect(CRC32C.portableChecksum($0) == expected) }
    }

    @Test func hardwareAndPortableAgreeOnEveryLengthAndAlignment() {
        var rng = SplitMix64(seed: 7)
        let data = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4000] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.checksum(slice) == CRC32C.portableChecksum(slice), "start \(start) length \(length)")
                }
            }
        }
    }

    /// Buffers of three 8 KiB blocks and more are checksummed as three interleaved streams joined
    /// afterwards: around and across those block boundaries, with seeds, the result must stay
    /// the portable one's.
    @Test func interleavedStreamsAgreeWithThePortableCode() {
        var rng = SplitMix64(seed: 8)
        let data = (0..<110_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { all in
            for start in [0, 1, 5] {
                for length in [24_575, 24_576, 24_577, 24_584, 49_151, 49_152, 49_159, 73_728 + 13, 100_000] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    for seed: UInt32 in [0, 0xDEAD_BEEF] {
                        #expect(CRC32C.checksum(slice, seed: seed) == CRC32C.portableChecksum(slice, seed: seed),
                                "start \(start) length \(length) seed \(seed)")
                    }
                }
            }
        }
    }

    @Test func seedContinuesAChecksumAcrossPieces() {
        let bytes = Array("The quick brown fox jumps over the lazy dog".utf8)
        let whole = CRC32C.checksum(of: bytes)
        for cut in 0...bytes.count {
            let first = CRC32C.checksum(of: Array(bytes[..<cut]))
            #expect(CRC32C.checksum(of: Array(bytes[cut...]), seed: first) == whole)
        }
    }

    @Test func everySingleBitFlipChangesTheChecksum() {
        var bytes = Array("payload header and body".utf8)
        let original = CRC32C.checksum(of: bytes)
        for i in bytes.indices {
            for bit in 0..<8 {
                bytes[i] ^= 1 << bit
                #expect(CRC32C.checksum(of: bytes) != original)
                bytes[i] ^= 1 << bit
            }
        }
    }
}

