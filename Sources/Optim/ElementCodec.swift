import CKernels

/// Reads fp32 values out of a stream stored in some `Precision`, one or 16 at a time.
///
/// Conformers are caseless enums used as generic parameters, so the update loop is specialised
/// for each format and the conversion is inlined into it.
public protocol ElementReader: SendableMetatype {
    static var precision: Precision { get }
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float
    static func load16(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float>
}

/// Writes fp32 values into a stream stored in some `Precision`, rounding to nearest even.
public protocol ElementWriter: SendableMetatype {
    static func store(_ value: Float, _ base: UnsafeMutableRawPointer, _ index: Int)
    static func store16(_ values: SIMD16<Float>, _ base: UnsafeMutableRawPointer, _ index: Int)
}

/// fp32 elements.
public enum FP32Elements: ElementReader, ElementWriter {
    public static var precision: Precision { .fp32 }
    @inlinable @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        base.load(fromByteOffset: index &* 4, as: Float.self)
    }
    @inlinable @inline(__always)
    public static func load16(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        base.loadUnaligned(fromByteOffset: index &* 4, as: SIMD16<Float>.self)
    }
    @inlinable @inline(__always)
    public static func store(_ value: Float, _ base: UnsafeMutableRawPointer, _ index: Int) {
        base.storeBytes(of: value, toByteOffset: index &* 4, as: Float.self)
    }
    @inlinable @inline(__always)
    public static func store16(_ values: SIMD16<Float>, _ base: UnsafeMutableRawPointer, _ index: Int) {
        base.storeBytes(of: values, toByteOffset: index &* 4, as: SIMD16<Float>.self)
    }
}

/// IEEE binary16 elements: overflow rounds to ±inf, subnormals are kept, NaN stays NaN.
public enum FP16Elements: ElementReader, ElementWriter {
    public static var precision: Precision { .fp16 }
    @inlinable @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(base.load(fromByteOffset: index &* 2, as: Float16.self))
    }
    @inlinable @inline(__always)
    public static func load16(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        si_f16_to_f32_x16(base.loadUnaligned(fromByteOffset: index &* 2, as: SIMD16<Float16>.self))
    }
    @inlinable @inline(__always)
    public static func store(_ value: Float, _ base: UnsafeMutableRawPointer, _ index: Int) {
        base.storeBytes(of: Float16(value), toByteOffset: index &* 2, as: Float16.self)
    }
    @inlinable @inline(__always)
    public static func store16(_ values: SIMD16<Float>, _ base: UnsafeMutableRawPointer, _ index: Int) {
        base.storeBytes(of: si_f32_to_f16_x16(values), toByteOffset: index &* 2, as: SIMD16<Float16>.self)
    }
}

/// bfloat16 elements (see `BFloat16` for the rounding).
public enum BF16Elements: ElementReader, ElementWriter {
    public static var precision: Precision { .bf16 }
    @inlinable @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(bitPattern: UInt32(base.load(fromByteOffset: index &* 2, as: UInt16.self)) &<< 16)
    }
    @inlinable @inline(__always)
    public static func load16(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let halves = base.loadUnaligned(fromByteOffset: index &* 2, as: SIMD16<UInt16>.self)
        let bits = SIMD16<UInt32>(truncatingIfNeeded: halves) &<< 16
        return unsafeBitCast(bits, to: SIMD16<Float>.self)
    }
    @inlinable @inline(__always)
    public static func store(_ value: Float, _ base: UnsafeMutableRawPointer, _ index: Int) {
        base.storeBytes(of: BFloat16.round(value.bitPattern), toByteOffset: index &* 2, as: UInt16.self)
    }
    @inlinable @inline(__always)
    public static func store16(_ values: SIMD16<Float>, _ base: UnsafeMutableRawPointer, _ index: Int) {
        let bits = unsafeBitCast(values, to: SIMD16<UInt32>.self)
        base.storeBytes(of: BFloat16.roundLanes(bits), toByteOffset: index &* 2, as: SIMD16<UInt16>.self)
    }
}

/// No compute copy is written (the caller only wants the fp32 masters updated).
public enum DiscardElements: ElementWriter {
    @inlinable @inline(__always)
    public static func store(_ value: Float, _ base: UnsafeMutableRawPointer, _ index: Int) {}
    @inlinable @inline(__always)
    public static func store16(_ values: SIMD16<Float>, _ base: UnsafeMutableRawPointer, _ index: Int) {}
}
