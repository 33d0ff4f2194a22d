/// The storage format of a floating-point stream: gradients arriving at an optimizer, compute
/// copies leaving it, and values in a compressed payload.
///
/// Masters and optimizer states are always fp32; only these streams change width, which is
/// where the bytes on the links are saved.
public enum Precision: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case fp32 = 1
    case fp16 = 2
    case bf16 = 3

    /// Bytes per element.
    public var byteWidth: Int { self == .fp32 ? 4 : 2 }

    public var description: String {
        switch self {
        case .fp32: "fp32"
        case .fp16: "fp16"
        case .bf16: "bf16"
        }
    }

    /// Parses "fp32", "fp16" or "bf16" (also "float32", "half", "bfloat16").
    public init?(name: String) {
        switch name.lowercased() {
        case "fp32", "float32", "f32", "float": self = .fp32
        case "fp16", "float16", "f16", "half": self = .fp16
        case "bf16", "bfloat16": self = .bf16
        default: return nil
        }
    }
}

/// A bfloat16 value: the top half of an fp32, used as a compute copy and gradient format
/// because it keeps fp32's range and needs no loss scaling.
public struct BFloat16: Sendable, Hashable, BitwiseCopyable, CustomStringConvertible {
    /// The raw 16 bits.
    public var bitPattern: UInt16

    @inlinable public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds an fp32 to the nearest bfloat16, ties to even; NaN stays a (quiet) NaN and values
    /// past the largest finite bfloat16 round to infinity, exactly as hardware converters do.
    @inlinable public init(_ value: Float) {
        self.bitPattern = BFloat16.round(value.bitPattern)
    }

    /// The exact fp32 value.
    @inlinable public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    public var description: String { floatValue.description }

    /// Round-to-nearest-even on the bit pattern. Written without branches on the value so that the
    /// SIMD path (`roundLanes`) is the same arithmetic lane by lane.
    @inlinable @inline(__always)
    static func round(_ bits: UInt32) -> UInt16 {
        let isNaN = (bits & 0x7FFF_FFFF) > 0x7F80_0000
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        return UInt16(truncatingIfNeeded: isNaN ? ((bits >> 16) | 0x0040) : rounded)
    }

    /// The same rounding on 16 lanes.
    @inlinable @inline(__always)
    static func roundLanes(_ bits: SIMD16<UInt32>) -> SIMD16<UInt16> {
        let magnitude = bits & 0x7FFF_FFFF
        let isNaN = magnitude .> 0x7F80_0000
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let quieted = (bits &>> 16) | 0x0040
        return SIMD16<UInt16>(truncatingIfNeeded: rounded.replacing(with: quieted, where: isNaN))
    }
}

extension Float {
    /// The exact value of a bfloat16.
    @inlinable public init(_ value: BFloat16) { self = value.floatValue }
}
