/// The fast way to the top-k threshold: bracket it from a sample, then find it exactly among the
/// few keys that fall inside the bracket.
///
/// A sample of keys places the k-th largest key between `low` and `high` with high probability
/// (the bracket is four standard deviations of the sample rank wide). One streaming pass then
/// counts keys above `high` and copies the keys inside [low, high] to a candidate buffer; the
/// exact threshold is a quickselect over those candidates, which are a fraction of a percent of
/// the input. When the bracket misses or the candidates overflow their buffer (heavy ties, e.g.
/// all-equal values), `threshold` returns nil and the caller falls back to `RadixThreshold`.
enum SampledThreshold {
    /// Up to this many elements every key is a candidate: sampling would not pay for itself.
    static let fullScanLimit = 8192
    static let minimumSampleSize = 2048
    static let maximumSampleSize = 65536
    /// Candidate slots every selector starts with (enough for the full-scan case).
    static let minimumCandidateCapacity = fullScanLimit

    /// The keys bracketing the threshold, and how many candidates to expect inside.
    struct Bracket {
        var low: UInt32
        var high: UInt32
        var expectedCandidates: Int
    }

    /// Sample size for `n` elements: about n/512, within the bounds above. Sampled positions are
    /// random reads, so a sample much larger than this costs more than the bracket saves.
    static func sampleSize(for n: Int) -> Int {
        min(maximumSampleSize, max(minimumSampleSize, n / 512))
    }

    /// The bracket for keeping `k` of the `n` values at `values`, using `sample` (at least
    /// `sampleSize(for: n)` slots) as scratch.
    static func bracket(_ values: UnsafeRawPointer, count n: Int, keep k: Int,
                        sample: UnsafeMutablePointer<UInt32>) -> Bracket {
        if n <= fullScanLimit {
            return Bracket(low: 0, high: MagnitudeKey.largest, expectedCandidates: n)
        }
        let s = sampleSize(for: n)
        drawStratifiedSample(values, count: n, into: sample, size: s)

        // Descending rank of the threshold within the sample, and a margin of four standard
        // deviations of that rank (binomial) plus a constant for small samples.
        let fraction = Double(k) / Double(n)
        let center = Int((Double(k) - 0.5) * Double(s) / Double(n))
        let margin = Int((4 * (Double(s) * fraction * (1 - fraction)).squareRoot()).rounded(.up)) + 8
        let upperRank = center - margin
        let lowerRank = center + margin

        var high = MagnitudeKey.largest
        var tailStart = 0
        if upperRank >= 0 {
            high = DescendingQuickselect.select(sample, count: s, rank: upperRank).key
            tailStart = upperRank + 1
        }
        var low: UInt32 = 0
        if lowerRank < s {
            low = DescendingQuickselect.select(sample + tailStart, count: s - tailStart,
                                               rank: lowerRank - tailStart).key
        }
        let sampledRanks = min(lowerRank, s - 1) - max(upperRank, 0) + 1
        let expected = Int((Double(n) * Double(sampledRanks) / Double(s)).rounded(.up))
        return Bracket(low: low, high: high, expectedCandidates: expected)
    }

    /// One key from a random position in each of `size` equal strata of the input. Strata keep
    /// the reads in address order (kinder to the TLB than uniform sampling) and the random offset
    /// within each stratum keeps periodic data from fooling the sample. The generator has a fixed
    /// seed, so a selection is a pure function of its input.
    private static func drawStratifiedSample(_ values: UnsafeRawPointer, count n: Int,
                                             into sample: UnsafeMutablePointer<UInt32>, size s: Int) {
        let stride = n / s
        let strideWide = UInt64(stride)
        var random: UInt64 = 0x2545_F491_4F6C_DD1D
        for slot in 0..<s {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            let offset = Int(truncatingIfNeeded: ((random >> 32) &* strideWide) >> 32)
            sample[slot] = MagnitudeKey.load(values, slot &* stride &+ offset)
        }
    }

    /// The exact threshold for keeping `k` of `n`, or nil if `bracket` missed it or more than
    /// `capacity` keys fell inside it.
    static func threshold(_ values: UnsafeRawPointer, count n: Int, keep k: Int, bracket: Bracket,
                          candidates: UnsafeMutablePointer<UInt32>, capacity: Int) -> SelectionThreshold? {
        guard let scan = scan(values, count: n, bracket: bracket, candidates: candidates, capacity: capacity),
              scan.countAboveHigh < k, scan.candidateCount >= k - scan.countAboveHigh
        else { return nil }
        let exact = DescendingQuickselect.select(candidates, count: scan.candidateCount,
                                                 rank: k - scan.countAboveHigh - 1)
        return SelectionThreshold(key: exact.key, countAbove: scan.countAboveHigh + exact.countGreater)
    }

    /// The streaming pass: counts keys above `bracket.high` in vector lanes and copies keys in
    /// [low, high] to `candidates`. Returns nil as soon as the candidates overflow.
    private static func scan(_ values: UnsafeRawPointer, count n: Int, bracket: Bracket,
                             candidates: UnsafeMutablePointer<UInt32>, capacity: Int)
        -> (countAboveHigh: Int, candidateCount: Int)? {
        let low = bracket.low, high = bracket.high
        let lowLanes = SIMD16<UInt32>(repeating: low)
        let highLanes = SIMD16<UInt32>(repeating: high)
        let zero = SIMD16<UInt32>.zero
        let one = SIMD16<UInt32>(repeating: 1)
        // Each lane counts at most n/16 < 2^28 keys, so UInt32 lanes cannot overflow.
        var aboveLanes = zero
        var count = 0
        var i = 0
        let vectorEnd = n & ~15
        while i < vectorEnd {
            let keys = MagnitudeKey.load16(values, i)
            aboveLanes &+= zero.replacing(with: one, where: keys .> highLanes)
            let inside = (keys .>= lowLanes) .& (keys .<= highLanes)
            if any(inside) {
                for lane in 0..<16 where inside[lane] {
                    guard count < capacity else { return nil }
                    candidates[count] = keys[lane]
                    count &+= 1
                }
            }
            i &+= 16
        }
        var above = Int(aboveLanes.wrappedSum())
        while i < n {
            let key = MagnitudeKey.load(values, i)
            if key > high {
                above &+= 1
            } else if key >= low {
                guard count < capacity else { return nil }
                candidates[count] = key
                count &+= 1
            }
            i &+= 1
        }
        return (above, count)
    }
}
