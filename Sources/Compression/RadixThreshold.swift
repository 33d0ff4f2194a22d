/// The exact top-k threshold by radix selection on the 31-bit magnitude keys: three histogram
/// passes (11, 11 and 9 bits, most significant first), each narrowing the threshold to one
/// digit and counting the keys above it.
///
/// This is the fallback for inputs that defeat the sampled bracket, typically heavy ties (all
/// values equal, most values zero at the cut). It is exact for any input and needs no buffer
/// beyond its 2048-entry histogram, at the price of three full reads.
enum RadixThreshold {
    /// Entries in the histogram: one per value of the widest digit.
    static let histogramSize = 1 << 11

    static func threshold(_ values: UnsafeRawPointer, count n: Int, keep k: Int,
                          histogram: UnsafeMutablePointer<Int>) -> SelectionThreshold {
        var narrowing = Narrowing(prefix: 0, countAbove: 0, rank: k)
        narrowing.pass(values, count: n, shift: 20, bits: 11, histogram: histogram)
        narrowing.pass(values, count: n, shift: 9, bits: 11, histogram: histogram)
        narrowing.pass(values, count: n, shift: 0, bits: 9, histogram: histogram)
        return SelectionThreshold(key: narrowing.prefix, countAbove: narrowing.countAbove)
    }

    /// What the passes so far have established: the threshold's leading digits (`prefix`), how
    /// many keys are above every key with that prefix, and the 1-based rank of the threshold
    /// among the keys that share the prefix.
    private struct Narrowing {
        var prefix: UInt32
        var countAbove: Int
        var rank: Int

        /// Histograms digit `key >> shift` (of width `bits`) over the keys sharing the prefix,
        /// then walks down from the largest digit to the one holding the threshold.
        mutating func pass(_ values: UnsafeRawPointer, count n: Int, shift: UInt32, bits: UInt32,
                           histogram: UnsafeMutablePointer<Int>) {
            let digits = 1 << Int(bits)
            let digitMask = UInt32(digits - 1)
            let prefixShift = shift + bits
            histogram.update(repeating: 0, count: digits)
            // The first pass covers bit 30 down; keys have no bit 31, so every key matches the
            // empty prefix (and a 32-bit shift would be out of range for UInt32).
            if prefixShift >= 31 {
                for i in 0..<n {
                    histogram[Int((MagnitudeKey.load(values, i) &>> shift) & digitMask)] &+= 1
                }
            } else {
                let wanted = prefix
                for i in 0..<n {
                    let key = MagnitudeKey.load(values, i)
                    if key &>> prefixShift == wanted {
                        histogram[Int((key &>> shift) & digitMask)] &+= 1
                    }
                }
            }
            var digit = digits - 1
            while histogram[digit] < rank {
                rank -= histogram[digit]
                countAbove += histogram[digit]
                digit -= 1
            }
            prefix = prefix &<< bits | UInt32(digit)
        }
    }
}
