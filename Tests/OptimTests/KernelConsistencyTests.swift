import Optim
import Testing
import SeededRandom

/// The outputs of a kernel run: master parameters, states and the compute copy, as bits.
struct KernelOutcome: Equatable {
    var parameters: [UInt32]
    var states: [[UInt32]]
    var copy: [UInt32]?
}

/// Runs `rule` for 2 chained steps (torch SGD's first step differs from later ones) with
/// `kernel` on seeded data that is deliberately not "nice": mixed signs, parameters and
/// gradients over many binades (so the fp16 gradient and copy-out include subnormals, overflow
/// to inf and rounding ties), non-power-of-two unscale.
func runKernel(_ rule: RuleCase, _ kernel: UpdateKernel, count n: Int, gradient precision: Precision,
               copyOut: Precision?, seed: UInt64) -> KernelOutcome {
    var rng = SplitMix64(seed: seed)
    func wild() -> Float {
        let e = Int.random(in: -30...17, using: &rng)
        return Float(sign: Bool.random(using: &rng) ? .plus : .minus, exponent: e,
                     significand: Float.random(in: 1..<2, using: &rng))
    }
    let p = AlignedBuffer<Float>((0..<n).map { _ in wild() })
    let states = (0..<rule.config.stateCount).map { _ in
        AlignedBuffer<Float>(repeating: rule.initialState, count: n)
    }
    let copy = copyOut.map { StreamBuffer(precision: $0, count: n) }
    for t in 1...2 {
        let gradient = StreamBuffer(precision: precision, values: (0..<n).map { _ in wild() })
        let update = rule.config.prepare(step: t, learningRate: 0.37, combinedUnscale: Float(1 / 3.3))
        kernel.run(update, parameters: p, states: states, gradient: gradient, copyOut: copy)
    }
    return KernelOutcome(parameters: bits(p), states: states.map(bits), copy: copy.map(bits))
}

/// A short description of where two outcomes differ (nil when they are identical), so that a
/// failure names the first differing element instead of printing a million bit patterns.
func difference(_ a: KernelOutcome, _ b: KernelOutcome) -> String? {
    func first(_ name: String, _ x: [UInt32]?, _ y: [UInt32]?) -> String? {
        guard x != y else { return nil }
        guard let x, let y, x.count == y.count else { return "\(name): presence or length differs" }
        let differing = x.indices.filter { x[$0] != y[$0] }
        let i = differing[0]
        return "\(name): \(differing.count) elements differ, first [\(i)] 0x\(String(x[i], radix: 16)) vs 0x\(String(y[i], radix: 16))"
    }
    let parts = [first("parameters", a.parameters, b.parameters)]
        + (0..<max(a.states.count, b.states.count)).map {
            first("state\($0 + 1)", a.states.indices.contains($0) ? a.states[$0] : nil,
                  b.states.indices.contains($0) ? b.states[$0] : nil)
        }
        + [first("copy", a.copy, b.copy)]
    let found = parts.compactMap { $0 }
    return found.isEmpty ? nil : found.joined(separator: "; ")
}

@Suite("UpdateKernel: paths and threads agree bit for bit")
struct KernelConsistencyTests {
    static let copyOuts: [Precision?] = [nil, .fp32, .fp16, .bf16]

    @Test("SIMD path == scalar path, every rule × gradient precision × copy-out, odd lengths",
          arguments: RuleCase.allCases, Precision.allCases)
    func simdMatchesScalar(rule: RuleCase, gradient: Precision) {
        for copyOut in Self.copyOuts {
            for (k, n) in [1, 15, 17, 33, 1001].enumerated() {
                let seed = UInt64(1000 * k + 7)
                let simd = runKernel(rule, UpdateKernel(threads: 1, path: .simd), count: n,
                                     gradient: gradient, copyOut: copyOut, seed: seed)
                let scalar = runKernel(rule, UpdateKernel(threads: 1, path: .scalar), count: n,
                                       gradient: gradient, copyOut: copyOut, seed: seed)
                let diff = difference(simd, scalar)
                #expect(diff == nil, "\(rule) grad=\(gradient) copy=\(copyOut?.description ?? "none") n=\(n)")
            }
        }
    }

    @Test("the copy-out is the rounding of the new masters, and no copy-out changes nothing else",
          arguments: RuleCase.allCases)
    func copyOutIsRoundedMaster(rule: RuleCase) {
        let n = 1001
        let none = runKernel(rule, UpdateKernel(), count: n, gradient: .fp16, copyOut: nil, seed: 3)
        for precision in Precision.allCases {
            let out = runKernel(rule, UpdateKernel(), count: n, gradient: .fp16, copyOut: precision, seed: 3)
            let diff = difference(KernelOutcome(parameters: out.parameters, states: out.states, copy: nil), none)
            #expect(diff == nil, "\(rule) copy=\(precision)")
            let masters = out.parameters.map { Float(bitPattern: $0) }
            let expected: [UInt32] = switch precision {
            case .fp32: out.parameters
            case .fp16: masters.map { UInt32(Float16($0).bitPattern) }
            case .bf16: masters.map { UInt32(BFloat16($0).bitPattern) }
            }
            let copyDiff = difference(KernelOutcome(parameters: [], states: [], copy: out.copy),
                                      KernelOutcome(parameters: [], states: [], copy: expected))
            #expect(copyDiff == nil, "\(rule) copy=\(precision)")
        }
    }

    // n = 4·65536 + 17: large enough that 2 and 4 threads really split the range (the kernel
    // keeps subgroups under 65536 elements per thread on the calling thread), and odd, so the
    // last chunk has a scalar tail.
    @Test("2 and 4 threads == 1 thread", arguments: [
        (RuleCase.adamw, Precision.fp16, Precision?.some(.fp16), UpdateKernel.Path.simd),
        (RuleCase.sgdTorchNesterov, Precision.bf16, Precision?.some(.bf16), UpdateKernel.Path.simd),
        (RuleCase.adagradTorch, Precision.fp32, Precision?.none, UpdateKernel.Path.scalar),
    ])
    func threadsMatchOneThread(rule: RuleCase, gradient: Precision, copyOut: Precision?, path: UpdateKernel.Path) {
        let n = 4 * 65536 + 17
        let one = runKernel(rule, UpdateKernel(threads: 1, path: path), count: n, gradient: gradient,
                            copyOut: copyOut, seed: 99)
        for threads in [2, 4] {
            let many = runKernel(rule, UpdateKernel(threads: threads, path: path), count: n, gradient: gradient,
                                 copyOut: copyOut, seed: 99)
            let diff = difference(many, one)
            #expect(diff == nil, "\(rule) threads=\(threads)")
        }
    }

    @Test("an empty subgroup is a no-op on every path", arguments: RuleCase.allCases)
    func empty(rule: RuleCase) {
        for path in UpdateKernel.Path.allCases {
            let out = runKernel(rule, UpdateKernel(threads: 4, path: path), count: 0, gradient: .fp16,
                                copyOut: .bf16, seed: 1)
            #expect(out == KernelOutcome(parameters: [], states: Array(repeating: [], count: rule.config.stateCount),
                                         copy: []))
        }
    }

    @Test("the raw-pointer entry point gives the same bits as the buffer one")
    func operandsEntryPoint() {
        let n = 37
        let rule = RuleCase.adamw
        let viaBuffers = runKernel(rule, UpdateKernel(), count: n, gradient: .bf16, copyOut: .fp16, seed: 5)

        var rng = SplitMix64(seed: 5)
        func wild() -> Float {
            let e = Int.random(in: -30...17, using: &rng)
            return Float(sign: Bool.random(using: &rng) ? .plus : .minus, exponent: e,
                         significand: Float.random(in: 1..<2, using: &rng))
        }
        var p = (0..<n).map { _ in wild() }
        var m = [Float](repeating: 0, count: n)
        var v = [Float](repeating: 0, count: n)
        var copy = [UInt16](repeating: 0, count: n)
        for t in 1...2 {
            let g = (0..<n).map { _ in BFloat16(wild()) }
            let update = rule.config.prepare(step: t, learningRate: 0.37, combinedUnscale: Float(1 / 3.3))
            p.withUnsafeMutableBufferPointer { pp in
                m.withUnsafeMutableBufferPointer { mm in
                    v.withUnsafeMutableBufferPointer { vv in
                        g.withUnsafeBytes { gg in
                            copy.withUnsafeMutableBytes { cc in
                                UpdateKernel().run(update, on: UpdateOperands(
                                    count: n, parameters: pp.baseAddress!, state1: mm.baseAddress!,
                                    state2: vv.baseAddress!, gradient: gg.baseAddress!, gradientPrecision: .bf16,
                                    copyOut: cc.baseAddress!, copyOutPrecision: .fp16))
                            }
                        }
                    }
                }
            }
        }
        #expect(p.map(\.bitPattern) == viaBuffers.parameters)
        #expect([m.map(\.bitPattern), v.map(\.bitPattern)] == viaBuffers.states)
        #expect(copy.map(UInt32.init) == viaBuffers.copy)
    }
}
