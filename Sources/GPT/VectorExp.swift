/// e^x on 16 lanes at once.
///
/// The C library's `expf` (and `tanhf`, which GELU would otherwise call) is a scalar call per
/// element; in the LM head's softmax over 50257 logits per position and in GELU over 4C
/// channels per position, those calls cost as much as a good part of the matrix products. This
/// is Cephes' single-precision exp: e^x = 2^n · e^r with n = round(x / ln 2) and
/// |r| ≤ ln 2 / 2, e^r from a degree-7 polynomial, accurate to about 1 ulp. Inputs are clamped
/// to [-87.3, 88.3], where 2^n stays a normal number: tiny results come out near 1e-38 instead
/// of 0, which no softmax or sigmoid here can tell apart. NaN stays NaN.
enum VectorExp {
    static let lowerLimit: Float = -87.3
    static let upperLimit: Float = 88.3

    @inline(__always)
    static func exp(_ input: SIMD16<Float>) -> SIMD16<Float> {
        var x = input.replacing(with: upperLimit, where: input .> upperLimit)
        x.replace(with: lowerLimit, where: x .< lowerLimit)
        // Adding 1.5·2²³ rounds to the nearest integer (ties to even) and leaves that integer in
        // the low mantissa bits: a vector round and a vector float→int in two additions.
        let shifter = SIMD16<Float>(repeating: 12_582_912)
        let shifted = x * SIMD16<Float>(repeating: 1.442_695_04) + shifter
        let n = shifted - shifter
        // Cody–Waite: ln 2 split into a part exact in few bits and a correction.
        var r = x - n * SIMD16<Float>(repeating: 0.693_359_375)
        r = r - n * SIMD16<Float>(repeating: -2.121_944_4e-4)
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + SIMD16<Float>(repeating: 1.398_199_95e-3)
        p = p * r + SIMD16<Float>(repeating: 8.333_451_9e-3)
        p = p * r + SIMD16<Float>(repeating: 4.166_579_59e-2)
        p = p * r + SIMD16<Float>(repeating: 1.666_666_55e-1)
        p = p * r + SIMD16<Float>(repeating: 5.000_000_1e-1)
        p = p * (r * r) + r + SIMD16<Float>(repeating: 1)
        // 2^n built directly in the exponent field.
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(shifter, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD16<Float>.self)
        return p * scale
    }

    /// output[i] = body(first[i], second[i]) for i < count, 16 at a time (`output` may be
    /// either input). The last partial group goes through zero-padded vectors, so every element
    /// sees exactly the same arithmetic and nothing is read or written past `count`.
    @inline(__always)
    static func map(count: Int, _ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>,
                    into output: UnsafeMutablePointer<Float>, _ body: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
        var i = 0
        while i &+ 16 <= count {
            let result = body(VectorMath.load16(first, i), VectorMath.load16(second, i))
            UnsafeMutableRawPointer(output + i).storeBytes(of: result, as: SIMD16<Float>.self)
            i &+= 16
        }
        guard i < count else { return }
        var a = SIMD16<Float>()
        var b = SIMD16<Float>()
        for k in 0..<(count &- i) {
            a[k] = first[i &+ k]
            b[k] = second[i &+ k]
        }
        let result = body(a, b)
        for k in 0..<(count &- i) { output[i &+ k] = result[k] }
    }
}
