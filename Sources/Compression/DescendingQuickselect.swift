/// Exact rank selection on a small scratch array of keys (the sampled keys or the candidates that
/// fell into the threshold bracket), reordering the array in place.
///
/// Three-way partitioning keeps long runs of equal keys linear, and pivots are medians of three
/// pseudo-randomly placed elements from a fixed seed, so a given input always takes the same
/// path and no input ordering is systematically bad.
enum DescendingQuickselect {
    /// The key of descending rank `rank` (0 = largest) among `keys[0..<count]`, and how many keys
    /// are strictly larger than it.
    ///
    /// Afterwards the array is partitioned around that position: keys before `rank` are >= the
    /// result and keys after it are <=, so a second selection can continue on the tail.
    static func select(_ keys: UnsafeMutablePointer<UInt32>, count: Int, rank: Int) -> (key: UInt32, countGreater: Int) {
        precondition(rank >= 0 && rank < count, "rank \(rank) outside 0..<\(count)")
        var low = 0
        var high = count
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15
        while high &- low > 16 {
            let pivot = medianOfThree(keys, low: low, high: high, random: &random)
            // After the loop: [low, greaterEnd) > pivot, [greaterEnd, lessStart) == pivot,
            // [lessStart, high) < pivot.
            var greaterEnd = low
            var i = low
            var lessStart = high
            while i < lessStart {
                let key = keys[i]
                if key > pivot {
                    swap(keys, greaterEnd, i)
                    greaterEnd &+= 1
                    i &+= 1
                } else if key < pivot {
                    lessStart &-= 1
                    swap(keys, i, lessStart)
                } else {
                    i &+= 1
                }
            }
            if rank < greaterEnd {
                high = greaterEnd
            } else if rank < lessStart {
                return (pivot, greaterEnd)
            } else {
                low = lessStart
            }
        }
        // Few keys left: insertion sort them, largest first.
        var i = low &+ 1
        while i < high {
            let key = keys[i]
            var j = i
            while j > low && keys[j &- 1] < key {
                keys[j] = keys[j &- 1]
                j &-= 1
            }
            keys[j] = key
            i &+= 1
        }
        let key = keys[rank]
        var firstEqual = rank
        while firstEqual > low && keys[firstEqual &- 1] == key { firstEqual &-= 1 }
        return (key, firstEqual)
    }

    @inline(__always)
    private static func swap(_ keys: UnsafeMutablePointer<UInt32>, _ a: Int, _ b: Int) {
        let key = keys[a]
        keys[a] = keys[b]
        keys[b] = key
    }

    @inline(__always)
    private static func medianOfThree(_ keys: UnsafeMutablePointer<UInt32>, low: Int, high: Int,
                                      random: inout UInt64) -> UInt32 {
        let span = UInt64(high &- low)
        var picks = SIMD3<UInt32>()
        for lane in 0..<3 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let offset = Int(truncatingIfNeeded: ((random >> 32) &* span) >> 32)
            picks[lane] = keys[low &+ offset]
        }
        let a = picks[0], b = picks[1], c = picks[2]
        return max(min(a, b), min(max(a, b), c))
    }
}
