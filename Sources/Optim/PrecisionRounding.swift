import CKernels

extension Precision {
    /// Rounds every fp32 value of `values` in place to the nearest value this precision can hold
    /// (RNE; fp16 overflow becomes ±inf), i.e. what a consumer of the values stored in this
    /// precision will see. The trainer applies it to mixed-precision gradients before the
    /// overflow check, so a gradient that only overflows once stored in fp16 is caught.
    public func round(_ values: UnsafeMutableBufferPointer<Float>) {
        guard self != .fp32, let base = values.baseAddress else { return }
        let raw = UnsafeMutableRawPointer(base)
        var i = 0
        while i &+ 16 <= values.count {
            let v = FP32Elements.load16(raw, i)
            let rounded = self == .fp16 ? si_f16_to_f32_x16(si_f32_to_f16_x16(v))
                : unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: BFloat16.roundLanes(unsafeBitCast(v, to: SIMD16<UInt32>.self))) &<< 16,
                                to: SIMD16<Float>.self)
            FP32Elements.store16(rounded, raw, i)
            i &+= 16
        }
        while i < values.count {
            values[i] = self == .fp16 ? Float(Float16(values[i])) : Float(BFloat16(values[i]))
            i &+= 1
        }
    }
}

extension Precision {
    /// Converts `destination.count` values stored in this precision at `source` to fp32 (exact),
    /// 16 lanes at a time: how the host reads a compute copy a device wrote back.
    public func widen(_ source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .fp32: Self.widen(FP32Elements.self, source, destination)
        case .fp16: Self.widen(FP16Elements.self, source, destination)
        case .bf16: Self.widen(BF16Elements.self, source, destination)
        }
    }

    private static func widen<R: ElementReader>(_ reader: R.Type, _ source: UnsafeRawPointer,
                                                _ destination: UnsafeMutableBufferPointer<Float>) {
        guard let base = destination.baseAddress else { return }
        convert(R.self, source, FP32Elements.self, UnsafeMutableRawPointer(base), count: destination.count)
    }

    /// Converts `count` elements 16 lanes at a time, then the tail one by one.
    private static func convert<R: ElementReader, W: ElementWriter>(_ reader: R.Type, _ source: UnsafeRawPointer, _ writer: W.Type,
                                                                    _ destination: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while i &+ 16 <= count {
            W.store16(R.load16(source, i), destination, i)
            i &+= 16
        }
        while i < count {
            W.store(R.load(source, i), destination, i)
            i &+= 1
        }
    }
}

extension Precision {
    /// Stores the fp32 `source` values in this precision at `destination`, rounding to nearest
    /// even (fp16 overflow becomes ±inf): how a mixed-precision model files a layer's fp32
    /// gradients, worked out in scratch, into its 16-bit gradient vector.
    public func narrow(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer) {
        switch self {
        case .fp32: Self.narrow(FP32Elements.self, source, destination)
        case .fp16: Self.narrow(FP16Elements.self, source, destination)
        case .bf16: Self.narrow(BF16Elements.self, source, destination)
        }
    }

    private static func narrow<W: ElementWriter>(_ writer: W.Type, _ source: UnsafeBufferPointer<Float>,
                                                 _ destination: UnsafeMutableRawPointer) {
        guard let base = source.baseAddress else { return }
        convert(FP32Elements.self, UnsafeRawPointer(base), W.self, destination, count: source.count)
    }
}

extension Precision {
    /// Adds the `destination.count` values stored in this precision at `source` into the fp32
    /// `destination`, each widened exactly and each addition rounded on its own, so 16 lanes at a
    /// time give the bits of one at a time: error feedback's residual += gradient, and every
    /// gradient sum of `ReductionOrder`.
    public func accumulate(_ source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .fp32: Self.accumulate(FP32Elements.self, source, destination)
        case .fp16: Self.accumulate(FP16Elements.self, source, destination)
        case .bf16: Self.accumulate(BF16Elements.self, source, destination)
        }
    }

    private static func accumulate<R: ElementReader>(_ reader: R.Type, _ source: UnsafeRawPointer,
                                                     _ destination: UnsafeMutableBufferPointer<Float>) {
        guard let base = destination.baseAddress else { return }
        let sum = UnsafeMutableRawPointer(base)
        var i = 0
        while i &+ 16 <= destination.count {
            FP32Elements.store16(FP32Elements.load16(sum, i) + R.load16(source, i), sum, i)
            i &+= 16
        }
        while i < destination.count {
            destination[i] += R.load(source, i)
            i &+= 1
        }
    }
}
