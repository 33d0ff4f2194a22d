import Dispatch

/// Raw views of one subgroup's vectors, as the device's DRAM pool and the host's buffers hold
/// them. `UpdateKernel` is the only code that dereferences them.
public struct UpdateOperands: @unchecked Sendable {
    // Safe to hand to the kernel's threads: each writes only its own chunk of every vector,
    // and the caller waits for all of them before it touches the memory again.
    public var count: Int
    /// fp32 master parameters, updated in place.
    public var parameters: UnsafeMutablePointer<Float>
    /// fp32 optimizer states in rule order (m then v for AdamW; the momentum buffer or the
    /// accumulator otherwise), updated in place.
    public var state1: UnsafeMutablePointer<Float>
    public var state2: UnsafeMutablePointer<Float>?
    public var gradient: UnsafeRawPointer
    public var gradientPrecision: Precision
    /// Where the compute copy of the new parameters goes, if anywhere.
    public var copyOut: UnsafeMutableRawPointer?
    public var copyOutPrecision: Precision

    public init(count: Int, parameters: UnsafeMutablePointer<Float>, state1: UnsafeMutablePointer<Float>,
                state2: UnsafeMutablePointer<Float>?, gradient: UnsafeRawPointer, gradientPrecision: Precision,
                copyOut: UnsafeMutableRawPointer?, copyOutPrecision: Precision) {
        self.count = count
        self.parameters = parameters
        self.state1 = state1
        self.state2 = state2
        self.gradient = gradient
        self.gradientPrecision = gradientPrecision
        self.copyOut = copyOut
        self.copyOutPrecision = copyOutPrecision
    }
}

/// A typed, owned stream buffer in one of the three precisions: gradients into the kernel and
/// compute copies out of it.
public enum StreamBuffer: Sendable {
    case fp32(AlignedBuffer<Float>)
    case fp16(AlignedBuffer<Float16>)
    case bf16(AlignedBuffer<BFloat16>)

    /// A zeroed buffer of `count` elements in `precision`.
    public init(precision: Precision, count: Int) {
        switch precision {
        case .fp32: self = .fp32(AlignedBuffer(count: count))
        case .fp16: self = .fp16(AlignedBuffer(count: count))
        case .bf16: self = .bf16(AlignedBuffer(count: count))
        }
    }

    /// `values` rounded to nearest even into `precision`.
    public init(precision: Precision, values: [Float]) {
        self.init(precision: precision, count: values.count)
        for (i, v) in values.enumerated() { self[i] = v }
    }

    public var precision: Precision {
        switch self {
        case .fp32: .fp32
        case .fp16: .fp16
        case .bf16: .bf16
        }
    }

    public var count: Int {
        switch self {
        case .fp32(let b): b.count
        case .fp16(let b): b.count
        case .bf16(let b): b.count
        }
    }

    /// Element `index` as fp32 (exact); setting rounds to nearest even.
    public subscript(index: Int) -> Float {
        get {
            switch self {
            case .fp32(let b): b[index]
            case .fp16(let b): Float(b[index])
            case .bf16(let b): Float(b[index])
            }
        }
        nonmutating set {
            switch self {
            case .fp32(let b): b[index] = newValue
            case .fp16(let b): b[index] = Float16(newValue)
            case .bf16(let b): b[index] = BFloat16(newValue)
            }
        }
    }

    /// All elements as fp32.
    public var floats: [Float] { (0..<count).map { self[$0] } }

    public func withUnsafeMutableRawPointer<R>(_ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        switch self {
        case .fp32(let b): try b.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawPointer($0.baseAddress!)) }
        case .fp16(let b): try b.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawPointer($0.baseAddress!)) }
        case .bf16(let b): try b.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawPointer($0.baseAddress!)) }
        }
    }
}

/// Runs a prepared update over a subgroup, vectorised and split across threads.
///
/// The same kernel runs on every emulated device and in the baseline's CPU update, so their
/// results are bit-identical by construction. Elements are independent, so neither the number
/// of threads nor the path changes a single bit of the result.
public struct UpdateKernel: Sendable {
    /// The instruction path: 16-lane SIMD (lowered to AVX-512 or AVX2 by `-target-cpu native`)
    /// with a scalar tail, or scalar only.
    public enum Path: String, Sendable, CaseIterable {
        case simd
        case scalar
    }

    public var threads: Int
    public var path: Path

    /// Subgroups smaller than this run on the calling thread: waking workers costs more.
    public static var minimumElementsPerThread: Int { 1 << 16 }

    public init(threads: Int = 1, path: Path = .simd) {
        precondition(threads >= 1, "UpdateKernel needs at least one thread, got \(threads)")
        self.threads = threads
        self.path = path
    }

    /// Applies `update` to `operands` in place.
    public func run(_ update: PreparedUpdate, on operands: UpdateOperands) {
        precondition(update.stateCount < 2 || operands.state2 != nil,
                     "this optimizer needs two state vectors")
        switch update {
        case .adamw(let r): dispatchGradient(r, operands)
        case .adamwTorch(let r): dispatchGradient(r, operands)
        case .sgdReference(let r): dispatchGradient(r, operands)
        case .sgdTorch(let r): dispatchGradient(r, operands)
        case .adagrad(let r): dispatchGradient(r, operands)
        }
    }

    /// Applies `update` to owned buffers; `states` holds `update.stateCount` vectors.
    public func run(_ update: PreparedUpdate, parameters: AlignedBuffer<Float>, states: [AlignedBuffer<Float>],
                    gradient: StreamBuffer, copyOut: StreamBuffer? = nil) {
        let n = parameters.count
        precondition(states.count == update.stateCount,
                     "this optimizer needs \(update.stateCount) state vectors, got \(states.count)")
        precondition(states.allSatisfy { $0.count == n } && gradient.count == n && (copyOut?.count ?? n) == n,
                     "parameters, states, gradient and copy-out must have the same length")
        withExtendedLifetime((parameters, states, gradient, copyOut)) {
            gradient.withUnsafeMutableRawPointer { g in
                let ops = UpdateOperands(
                    count: n, parameters: parameters.base, state1: states[0].base,
                    state2: states.count > 1 ? states[1].base : nil,
                    gradient: UnsafeRawPointer(g), gradientPrecision: gradient.precision,
                    copyOut: copyOut?.withUnsafeMutableRawPointer { $0 },
                    copyOutPrecision: copyOut?.precision ?? .fp32)
                run(update, on: ops)
            }
        }
    }

    private func dispatchGradient<R: UpdateRule>(_ rule: R, _ ops: UpdateOperands) {
        switch ops.gradientPrecision {
        case .fp32: dispatchCopyOut(rule, FP32Elements.self, ops)
        case .fp16: dispatchCopyOut(rule, FP16Elements.self, ops)
        case .bf16: dispatchCopyOut(rule, BF16Elements.self, ops)
        }
    }

    private func dispatchCopyOut<R: UpdateRule, G: ElementReader>(_ rule: R, _ g: G.Type, _ ops: UpdateOperands) {
        guard ops.copyOut != nil else { return split(rule, G.self, DiscardElements.self, ops) }
        switch ops.copyOutPrecision {
        case .fp32: split(rule, G.self, FP32Elements.self, ops)
        case .fp16: split(rule, G.self, FP16Elements.self, ops)
        case .bf16: split(rule, G.self, BF16Elements.self, ops)
        }
    }

    private func split<R: UpdateRule, G: ElementReader, C: ElementWriter>(
        _ rule: R, _ g: G.Type, _ c: C.Type, _ ops: UpdateOperands
    ) {
        let simd = path == .simd
        let workers = min(threads, max(1, ops.count / Self.minimumElementsPerThread))
        if workers == 1 {
            updateRange(rule, G.self, C.self, ops, 0..<ops.count, simd: simd)
            return
        }
        // Chunk bounds on 16-element boundaries keep every worker's vectors whole.
        let chunk = (ops.count / workers + 15) & ~15
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lower = min(w * chunk, ops.count)
            let upper = w == workers - 1 ? ops.count : min(lower + chunk, ops.count)
            updateRange(rule, G.self, C.self, ops, lower..<upper, simd: simd)
        }
    }
}

@inline(__always)
private func updateRange<R: UpdateRule, G: ElementReader, C: ElementWriter>(
    _ rule: R, _ g: G.Type, _ c: C.Type, _ ops: UpdateOperands, _ range: Range<Int>, simd: Bool
) {
    let p = UnsafeMutableRawPointer(ops.parameters)
    let s1 = UnsafeMutableRawPointer(ops.state1)
    // Rules with one state never touch state2; point it at state1 so loads stay valid.
    let s2 = UnsafeMutableRawPointer(ops.state2 ?? ops.state1)
    let two = R.stateCount == 2
    let grad = ops.gradient
    let out = ops.copyOut ?? p
    var i = range.lowerBound
    if simd {
        let unscale = SIMD16<Float>(repeating: rule.combinedUnscale)
        while i &+ 16 <= range.upperBound {
            let g = G.load16(grad, i) * unscale
            let v2 = two ? FP32Elements.load16(s2, i) : SIMD16<Float>()
            let r = rule.apply(gradient: g, parameter: FP32Elements.load16(p, i),
                               state1: FP32Elements.load16(s1, i), state2: v2)
            FP32Elements.store16(r.parameter, p, i)
            FP32Elements.store16(r.state1, s1, i)
            if two { FP32Elements.store16(r.state2, s2, i) }
            C.store16(r.parameter, out, i)
            i &+= 16
        }
    }
    let unscale = rule.combinedUnscale
    while i < range.upperBound {
        let g = G.load(grad, i) * unscale
        let v2 = two ? FP32Elements.load(s2, i) : 0
        let r = rule.apply(gradient: g, parameter: FP32Elements.load(p, i),
                           state1: FP32Elements.load(s1, i), state2: v2)
        FP32Elements.store(r.parameter, p, i)
        FP32Elements.store(r.state1, s1, i)
        if two { FP32Elements.store(r.state2, s2, i) }
        C.store(r.parameter, out, i)
        i &+= 1
    }
}
