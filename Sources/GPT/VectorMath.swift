/// Reductions over fp32 rows with 16 independent accumulators.
///
/// Swift never reassociates float additions, so a plain `sum += x[i]` loop runs one add at a
/// time; explicit SIMD lanes let LayerNorm and softmax statistics run at vector speed.
enum VectorMath {
    @inline(__always)
    static func load16(_ base: UnsafePointer<Float>, _ index: Int) -> SIMD16<Float> {
        UnsafeRawPointer(base + index).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// Σ x[i], i < n.
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD16<Float>()
        var i = 0
        while i &+ 16 <= n {
            lanes += load16(x, i)
            i &+= 16
        }
        var total = lanes.sum()
        while i < n {
            total += x[i]
            i &+= 1
        }
        return total
    }

    /// Σ (x[i] - center)², i < n.
    static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, _ n: Int, from center: Float) -> Float {
        var lanes = SIMD16<Float>()
        let c = SIMD16<Float>(repeating: center)
        var i = 0
        while i &+ 16 <= n {
            let d = load16(x, i) - c
            lanes += d * d
            i &+= 16
        }
        var total = lanes.sum()
        while i < n {
            let d = x[i] - center
            total += d * d
            i &+= 1
        }
        return total
    }

    /// The largest of x[i], i < n (n ≥ 1).
    static func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i &+ 16 <= n {
            lanes = pointwiseMax(lanes, load16(x, i))
            i &+= 16
        }
        var best = lanes.max()
        while i < n {
            best = max(best, x[i])
            i &+= 1
        }
        return best
    }
}
