import CKernels

/// Arithmetic on either one fp32 value or 16 of them.
///
/// Every update rule is written once, generic over this protocol, and instantiated for `Float`
/// (the scalar fallback and loop tails) and `SIMD16<Float>` (the vector path). Both run the
/// same IEEE operations in the same order, which is why the two paths agree bit for bit. No
/// fused multiply-add is used anywhere, so results do not depend on the target CPU either.
public protocol FloatLanes: Sendable {
    init(repeating value: Float)
    static func + (lhs: Self, rhs: Self) -> Self
    static func - (lhs: Self, rhs: Self) -> Self
    static func * (lhs: Self, rhs: Self) -> Self
    static func / (lhs: Self, rhs: Self) -> Self
    /// Correctly rounded square root of each lane.
    func laneSquareRoot() -> Self
}

extension Float: FloatLanes {
    @inlinable @inline(__always) public init(repeating value: Float) { self = value }
    @inlinable @inline(__always) public func laneSquareRoot() -> Float { squareRoot() }
}

extension SIMD16: FloatLanes where Scalar == Float {
    /// `SIMD16<Float>.squareRoot()` becomes 16 scalar calls; the C helper is one `vsqrtps`.
    @inlinable @inline(__always) public func laneSquareRoot() -> SIMD16<Float> { si_sqrt16(self) }
}
