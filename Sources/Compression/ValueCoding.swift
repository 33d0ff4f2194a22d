import Optim

/// Moves the transmitted values between fp32 and the payload's value encoding, through Optim's
/// element codecs so that the whole project rounds the same way (to nearest even).
///
/// The value region follows a variable-length index stream, so it has no alignment: every access
/// here is unaligned-safe (`store` and `store16` use `storeBytes`, and the last partial vector is
/// read through an aligned temporary rather than with a scalar aligned load).
enum ValueCoding {
    /// Rounds `count` fp32 values into `encoding` at `out`.
    static func pack(_ values: UnsafePointer<Float>, count: Int, as encoding: Precision,
                     into out: UnsafeMutableRawPointer) {
        switch encoding {
        case .fp32: pack(values, count: count, into: out, writer: FP32Elements.self)
        case .fp16: pack(values, count: count, into: out, writer: FP16Elements.self)
        case .bf16: pack(values, count: count, into: out, writer: BF16Elements.self)
        }
    }

    @inline(__always)
    private static func pack<Writer: ElementWriter>(_ values: UnsafePointer<Float>, count: Int,
                                                    into out: UnsafeMutableRawPointer, writer: Writer.Type) {
        let source = UnsafeRawPointer(values)
        var i = 0
        while i &+ 16 <= count {
            Writer.store16(FP32Elements.load16(source, i), out, i)
            i &+= 16
        }
        while i < count {
            Writer.store(values[i], out, i)
            i &+= 1
        }
    }

    /// Decodes `count` values of `encoding` at `encoded` to fp32, 16 at a time, and hands each
    /// group to `body` as (index of its first value, the values, how many lanes are real). Only
    /// the last group may have fewer than 16 real lanes; the rest of its lanes are zero.
    ///
    /// Every consumer of transmitted values (dense copy, scatter, error-feedback residual) goes
    /// through this, so they all see the same decoded numbers.
    @inline(__always)
    static func forEachDecodedGroup(_ encoded: UnsafeRawPointer, count: Int, encoding: Precision,
                                    _ body: (_ first: Int, _ values: SIMD16<Float>, _ lanes: Int) -> Void) {
        switch encoding {
        case .fp32: forEachDecodedGroup(encoded, count: count, reader: FP32Elements.self, body)
        case .fp16: forEachDecodedGroup(encoded, count: count, reader: FP16Elements.self, body)
        case .bf16: forEachDecodedGroup(encoded, count: count, reader: BF16Elements.self, body)
        }
    }

    @inline(__always)
    private static func forEachDecodedGroup<Reader: ElementReader>(
        _ encoded: UnsafeRawPointer, count: Int, reader: Reader.Type,
        _ body: (_ first: Int, _ values: SIMD16<Float>, _ lanes: Int) -> Void
    ) {
        var i = 0
        while i &+ 16 <= count {
            body(i, Reader.load16(encoded, i), 16)
            i &+= 16
        }
        let remaining = count &- i
        guard remaining > 0 else { return }
        var tail = SIMD16<Float>()
        let width = Reader.precision.byteWidth
        withUnsafeMutableBytes(of: &tail) { scratch in
            scratch.baseAddress!.copyMemory(from: encoded + i &* width, byteCount: remaining &* width)
        }
        let decoded = withUnsafeBytes(of: &tail) { Reader.load16($0.baseAddress!, 0) }
        body(i, decoded, remaining)
    }
}
