/// The last pass of top-k: writes the indices (and optionally the values) of the kept elements in
/// ascending index order, given the exact threshold.
///
/// Kept are all elements whose key is above the threshold, plus the lowest-index elements equal
/// to it until k are kept; this is what makes ties deterministic ("lowest index wins"). The pass
/// compares 16 keys at a time against a floor and only drops to scalar code for vectors holding
/// a kept element. Once the quota of ties is used up, the floor rises past the threshold, so the
/// same vector test then admits only keys strictly above it.
enum SelectionEmitter {
    static func emit(_ values: UnsafePointer<Float>, count n: Int, keep k: Int,
                     threshold: SelectionThreshold, indices: UnsafeMutablePointer<UInt32>,
                     selectedValues: UnsafeMutablePointer<Float>?) {
        var state = State(threshold: threshold.key, tiesToKeep: k - threshold.countAbove,
                          indices: indices, selectedValues: selectedValues, values: values)
        let raw = UnsafeRawPointer(values)
        let vectorEnd = n & ~15
        var i = 0
        while i < vectorEnd && state.emitted < k {
            let keys = MagnitudeKey.load16(raw, i)
            if any(keys .>= SIMD16<UInt32>(repeating: state.floor)) {
                for lane in 0..<16 { state.consider(keys[lane], at: i &+ lane) }
            }
            i &+= 16
        }
        while i < n && state.emitted < k {
            state.consider(MagnitudeKey.load(raw, i), at: i)
            i &+= 1
        }
    }

    private struct State {
        let threshold: UInt32
        /// How many elements equal to the threshold may still be kept.
        var tiesToKeep: Int
        /// Keys at or above this are kept: the threshold while ties are still wanted, then one
        /// above it. Keys are at most 0x7FFF_FFFF, so `threshold + 1` cannot overflow.
        var floor: UInt32
        var emitted = 0
        let indices: UnsafeMutablePointer<UInt32>
        let selectedValues: UnsafeMutablePointer<Float>?
        let values: UnsafePointer<Float>

        init(threshold: UInt32, tiesToKeep: Int, indices: UnsafeMutablePointer<UInt32>,
             selectedValues: UnsafeMutablePointer<Float>?, values: UnsafePointer<Float>) {
            self.threshold = threshold
            self.tiesToKeep = tiesToKeep
            self.floor = tiesToKeep > 0 ? threshold : threshold &+ 1
            self.indices = indices
            self.selectedValues = selectedValues
            self.values = values
        }

        @inline(__always)
        mutating func consider(_ key: UInt32, at index: Int) {
            guard key >= floor else { return }
            if key == threshold {
                tiesToKeep &-= 1
                if tiesToKeep == 0 { floor = threshold &+ 1 }
            }
            indices[emitted] = UInt32(truncatingIfNeeded: index)
            selectedValues?[emitted] = values[index]
            emitted &+= 1
        }
    }
}
