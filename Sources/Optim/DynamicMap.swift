import CKernels

/// The 256 values an 8-bit optimizer state's code stands for, as a fraction of its block's
/// scale: bitsandbytes' dynamic map (Dettmers et al., "8-bit Optimizers via Block-wise
/// Quantization", ICLR 2022; `create_dynamic_map` with 7 exponent bits).
///
/// Decade i = 0…6 covers magnitudes 10^(i−6)·[0.1, 1]: [0.1, 1] is cut into n equal intervals
/// and each interval's midpoint, times 10^(i−6), is a value. The signed map has n = 2^i (127
/// values) on each side, plus 0 and +1; the unsigned one n = 2^(i+1) (254 values), plus 0 and 1.
/// Value j of decade i is (2n + 18j + 9) / (20n·10^(6−i)), divided in float64 (both integers are
/// exact) and rounded to fp32.
/// Codes are the values' ranks, 0 for the smallest.
///
/// A ratio r (an element divided by its block's scale, in fp32) is coded by the nearest value,
/// the lower one on a tie: its code is the number of midpoints between neighbouring values that
/// lie below r. Under the unsigned map a positive r codes to at least the smallest nonzero value:
/// Adam and AdaGrad divide by √v + ε, and a v that once was positive must not become 0 while its
/// m survives (m / ε sent an 8-bit run's loss from 2.9 to 64 in one step before this rule).
/// docs/FORMATS.md, "8-bit optimizer states", has the whole scheme and a test vector.
public final class DynamicMap: Sendable {
    /// AdamW's m and SGD's momentum: values of both signs.
    public static let signed = DynamicMap(signed: true)
    /// AdamW's v and AdaGrad's sum, never negative: twice the resolution on one side.
    public static let unsigned = DynamicMap(signed: false)

    public let isSigned: Bool
    /// The 256 values in code order (ascending).
    public let values: [Float]
    /// The code of 0.
    public let zeroCode: UInt8
    /// The lowest code of a positive ratio: 1 (the smallest nonzero value) in the unsigned map,
    /// 0 (no floor: the nearest value) in the signed one.
    public let positiveFloor: UInt8
    /// The values (stable storage the C loops read), the 255 midpoints rounded toward −∞ to fp32
    /// (then +∞), and the encoder's bucket table, built from the midpoints.
    let valueTable: AlignedBuffer<Float>
    let thresholdTable: AlignedBuffer<Float>
    let bucketTable: AlignedBuffer<UInt32>

    private init(signed: Bool) {
        isSigned = signed
        var values: [Float] = [0, 1]
        for decade in 0...6 {
            let n = signed ? 1 << decade : 1 << (decade + 1)
            for j in 0..<n {
                let numerator = 2 * n + 18 * j + 9
                var denominator = 20 * n
                for _ in decade..<6 { denominator *= 10 }
                let value = Float(Double(numerator) / Double(denominator))
                values.append(value)
                if signed { values.append(-value) }
            }
        }
        values.sort()
        precondition(values.count == 256 && Set(values).count == 256, "a dynamic map has 256 distinct values")
        self.values = values
        zeroCode = UInt8(values.firstIndex(of: 0)!)
        positiveFloor = signed ? 0 : 1
        valueTable = AlignedBuffer(values)
        let thresholds = (0..<255).map { k in Self.midpointRoundedDown(values[k], values[k + 1]) } + [.infinity]
        thresholdTable = AlignedBuffer(thresholds)
        bucketTable = AlignedBuffer(Self.buckets(thresholds))
    }

    /// The code of ratio `r`: how many of the midpoints lie below it (ties to the lower value),
    /// at least `positiveFloor` for a positive r. A midpoint m lies below an fp32 r exactly when
    /// r > m rounded toward −∞ to fp32.
    public func code(ofRatio r: Float) -> UInt8 {
        let nearest = Self.rank(r, in: thresholdTable)
        return r > 0 ? max(nearest, positiveFloor) : nearest
    }

    private static func rank(_ r: Float, in thresholds: AlignedBuffer<Float>) -> UInt8 {
        var lower = 0
        var step = 128
        while step > 0 {
            if r > thresholds[lower + step - 1] { lower += step }
            step /= 2
        }
        return UInt8(lower)
    }

    /// (a + b) / 2, exactly (fp32 neighbours sum without rounding in float64), rounded toward
    /// −∞ to fp32.
    private static func midpointRoundedDown(_ a: Float, _ b: Float) -> Float {
        let midpoint = (Double(a) + Double(b)) / 2
        let nearest = Float(midpoint)
        return Double(nearest) > midpoint ? nearest.nextDown : nearest
    }

    /// The bucket table `si_q8_encode` reads (ckernels.h): for each bucket (sign, exponent row,
    /// top mantissa bits of a ratio) its lowest code, and where the next code begins if it does
    /// within the bucket. Checked here for every bucket: no bucket holds two thresholds, and a
    /// bucket's threshold shares the top 16 bits of its ratios.
    private static func buckets(_ thresholds: [Float]) -> [UInt32] {
        let table = AlignedBuffer(thresholds)
        let rows = Int(SI_Q8_EXPONENT_ROWS), bits = Int(SI_Q8_MANTISSA_BITS), first = Int(SI_Q8_FIRST_EXPONENT)
        var buckets = [UInt32](repeating: 0, count: 2 * rows << bits)
        for negative in 0...1 {
            for row in 0..<rows {
                for column in 0..<(1 << bits) {
                    // The bucket's smallest and largest magnitudes.
                    let (small, large): (Float, Float)
                    if row == 0 {
                        (small, large) = (0, Float(bitPattern: UInt32(first) << 23).nextDown)
                    } else {
                        let top = UInt32(first - 1 + row) << 23 | UInt32(column) << (23 - bits)
                        (small, large) = (Float(bitPattern: top), Float(bitPattern: top | ((1 << (23 - bits)) - 1)))
                    }
                    let (lowest, highest) = negative == 1 ? (-large, -small) : (small, large)
                    let (low, high) = (rank(lowest, in: table), rank(highest, in: table))
                    var entry = UInt32(low) << 16 | (negative == 1 ? 0 : 0xFFFF)
                    if high != low {
                        let threshold = thresholds[Int(low)]
                        precondition(high == low + 1 && row > 0 && threshold.bitPattern >> 16 == lowest.bitPattern >> 16,
                                     "a bucket of the 8-bit map spans two thresholds or none of its own: \(lowest)...\(highest)")
                        entry = UInt32(low) << 16 | threshold.bitPattern & 0xFFFF
                    }
                    buckets[(negative * rows + row) << bits | column] = entry
                }
            }
        }
        return buckets
    }
}
