/// The order in which top-k compares gradient values: the fp32 bit pattern with the sign bit
/// cleared, compared as an unsigned integer.
///
/// For non-NaN floats this order is exactly the order of |g| (IEEE 754 stores sign-magnitude
/// with a biased exponent in front of the mantissa), so selection runs on integer compares and
/// integer histograms. Every NaN pattern sits above +inf (0x7F80_0000); NaNs compare among
/// themselves by payload, so even NaN-laden gradients select deterministically. Keys never
/// exceed `largest`, which is why `largest + 1` is a usable "nothing passes" bound.
enum MagnitudeKey {
    /// Clears the sign bit.
    static let mask: UInt32 = 0x7FFF_FFFF
    /// The greatest possible key (a NaN with every payload bit set).
    static let largest: UInt32 = 0x7FFF_FFFF

    /// Keys of the 16 fp32 values starting at element `index` of `base`.
    @inline(__always)
    static func load16(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<UInt32> {
        base.loadUnaligned(fromByteOffset: index &* 4, as: SIMD16<UInt32>.self) & mask
    }

    /// The key of element `index` of `base`.
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> UInt32 {
        base.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self) & mask
    }
}
