import Optim
import SeededRandom


/// The largest relative error the update tests allow against the float64 references.
let relativeTolerance = 1e-6

/// `|actual - expected| ≤ 1e-6 · max(|expected|, floor)`.
///
/// The absolute floor exists only for states that are exactly zero in the reference (e.g. the
/// untouched momentum buffer of torch SGD with momentum 0); there the kernel must produce
/// (almost exactly) zero as well. It is 1e-30, far below every nonzero value the tests
/// generate (the smallest, AdamW's v' = (1-β2)·g² with |g| ≥ 2^-7, is ~6e-8), so it never loosens
/// a comparison of a nonzero value.
func withinRelative(_ actual: Float, _ expected: Double, floor: Double = 1e-30) -> Bool {
    guard actual.isFinite, expected.isFinite else { return false }
    return abs(Double(actual) - expected) <= relativeTolerance * max(abs(expected), floor)
}

/// Distance in units in the last place between two finite fp32 values of the same sign
/// (the difference of their bit patterns in the monotone integer ordering).
func ulpDistance(_ a: Float, _ b: Float) -> Int64 {
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(x.bitPattern & 0x7FFF_FFFF)
        return x.sign == .minus ? -bits : bits
    }
    return abs(ordered(a) - ordered(b))
}

/// Bits of a whole fp32 buffer, for bit-for-bit comparisons.
func bits(_ buffer: AlignedBuffer<Float>) -> [UInt32] { buffer.array.map(\.bitPattern) }

/// Raw 16- or 32-bit patterns of a stream buffer, widened to UInt32.
func bits(_ stream: StreamBuffer) -> [UInt32] {
    switch stream {
    case .fp32(let b): b.array.map(\.bitPattern)
    case .fp16(let b): b.array.map { UInt32($0.bitPattern) }
    case .bf16(let b): b.array.map { UInt32($0.bitPattern) }
    }
}

/// A random value that is exactly representable in `precision` (so no conversion happens when
/// it is stored, and a reference can use the value as is): a `significandBits`-bit integer
/// significand M in [2^(b-1), 2^b) times 2^(exponent - (b-1)), with the exponent drawn from
/// `exponents`. The magnitude is therefore in [2^e, 2^(e+1)).
func representable(_ precision: Precision, exponents: ClosedRange<Int>,
                   using rng: inout SplitMix64) -> Float {
    let significandBits: Int = switch precision {
    case .fp32: 24
    case .fp16: 11
    case .bf16: 8
    }
    let low = 1 << (significandBits - 1)
    let m = Int.random(in: low..<(2 * low), using: &rng)
    let e = Int.random(in: exponents, using: &rng)
    // Exact: M has at most 24 bits, and scaling by a power of two is exact in the normal range.
    return Float(m) * Float(sign: .plus, exponent: e - (significandBits - 1), significand: 1)
}
