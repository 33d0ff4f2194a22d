import Optim
import Testing
import SeededRandom

// MARK: - Independent references

/// fp16 → fp32 from the IEEE binary16 layout: 1 sign bit, 5 exponent bits (bias 15), 10
/// fraction bits; exponent 0 is ±0 / subnormal (frac·2^-24), 31 is ±inf / NaN.
func referenceDecodeHalf(_ h: UInt16) -> Float {
    let negative = h & 0x8000 != 0
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = Int(h & 0x3FF)
    let magnitude: Double
    switch exponent {
    case 0: magnitude = Double(fraction) * Double(sign: .plus, exponent: -24, significand: 1)
    case 31: magnitude = fraction == 0 ? .infinity : .nan
    default: magnitude = Double(1024 + fraction) * Double(sign: .plus, exponent: exponent - 25, significand: 1)
    }
    return Float(negative ? -magnitude : magnitude)
}

/// The fp32 bits an fp16 NaN widens to: same sign, fraction shifted to the top, quiet bit set.
func referenceWidenedNaNBits(_ h: UInt16) -> UInt32 {
    (UInt32(h & 0x8000) << 16) | 0x7FC0_0000 | (UInt32(h & 0x3FF) << 13)
}

/// fp32 → a 16-bit format with `fractionBits` stored fraction bits and exponent bias `bias`,
/// round to nearest, ties to even, overflow to ±inf; computed in float64 (where every fp32 is
/// exact and dividing by a power of two is exact). NaN returns nil (only NaN-ness is specified).
func referenceNarrow(_ x: Float, fractionBits: Int, bias: Int) -> UInt16? {
    if x.isNaN { return nil }
    let signBit: UInt16 = x.sign == .minus ? 0x8000 : 0
    let infinity = UInt16((2 * bias + 1) << fractionBits)
    let a = abs(Double(x))
    if a.isInfinite { return signBit | infinity }
    if a == 0 { return signBit }
    let minNormalExponent = 1 - bias
    // The spacing of representable values around a: subnormal spacing below the normal range.
    let e = max(Int(a.exponent), minNormalExponent)
    let quantum = Double(sign: .plus, exponent: e - fractionBits, significand: 1)
    let r = Int((a / quantum).rounded(.toNearestOrEven))
    var encoded: Int
    if Int(a.exponent) < minNormalExponent {
        // Subnormal: the count of quanta is the encoding (r = 2^fractionBits is the smallest
        // normal, whose encoding is the same number).
        encoded = r
    } else {
        // r in [2^f, 2^(f+1)]; r = 2^(f+1) carries into the next binade, which the sum encodes.
        encoded = ((e + bias) << fractionBits) + (r - (1 << fractionBits))
    }
    encoded = min(encoded, Int(infinity))
    return signBit | UInt16(encoded)
}

func referenceHalf(_ x: Float) -> UInt16? { referenceNarrow(x, fractionBits: 10, bias: 15) }
func referenceBFloat(_ x: Float) -> UInt16? { referenceNarrow(x, fractionBits: 7, bias: 127) }

func isHalfNaN(_ h: UInt16) -> Bool { h & 0x7C00 == 0x7C00 && h & 0x3FF != 0 }
func isBFloatNaN(_ b: UInt16) -> Bool { b & 0x7F80 == 0x7F80 && b & 0x7F != 0 }

// MARK: - The codecs under test, over whole arrays

/// Stores `values` one at a time with `W.store`.
func storeScalar<W: ElementWriter>(_ w: W.Type, _ values: [Float]) -> [UInt16] {
    var out = [UInt16](repeating: 0xDEAD, count: values.count)
    out.withUnsafeMutableBytes { raw in
        for (i, v) in values.enumerated() { W.store(v, raw.baseAddress!, i) }
    }
    return out
}

/// Stores `values` 16 at a time with `W.store16` (the last vector padded with zeros).
func storeSIMD<W: ElementWriter>(_ w: W.Type, _ values: [Float]) -> [UInt16] {
    let padded = (values.count + 15) / 16 * 16
    var input = values + [Float](repeating: 0, count: padded - values.count)
    var out = [UInt16](repeating: 0xDEAD, count: padded)
    input.withUnsafeMutableBufferPointer { inp in
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i < padded {
                var v = SIMD16<Float>()
                for lane in 0..<16 { v[lane] = inp[i + lane] }
                W.store16(v, raw.baseAddress!, i)
                i += 16
            }
        }
    }
    return Array(out.prefix(values.count))
}

func loadScalar<R: ElementReader>(_ r: R.Type, _ halves: [UInt16]) -> [UInt32] {
    halves.withUnsafeBytes { raw in (0..<halves.count).map { R.load(raw.baseAddress!, $0).bitPattern } }
}

func loadSIMD<R: ElementReader>(_ r: R.Type, _ halves: [UInt16]) -> [UInt32] {
    precondition(halves.count % 16 == 0)
    return halves.withUnsafeBytes { raw in
        stride(from: 0, to: halves.count, by: 16).flatMap { i in
            let v = R.load16(raw.baseAddress!, i)
            return (0..<16).map { v[$0].bitPattern }
        }
    }
}

/// Through `StreamBuffer`'s setter (what `StreamBuffer(precision:values:)` uses).
func storeStream(_ precision: Precision, _ values: [Float]) -> [UInt16] {
    StreamBuffer(precision: precision, values: values).withUnsafeMutableRawPointer { raw in
        Array(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt16.self), count: values.count))
    }
}

let allSixteenBitPatterns: [UInt16] = (0...0xFFFF).map { UInt16($0) }

// MARK: - Tests

@Suite("fp16 conversion")
struct HalfConversionTests {
    @Test("fp16 → fp32 is exact for all 65536 bit patterns (load, load16, StreamBuffer)")
    func widenExhaustive() {
        let scalar = loadScalar(FP16Elements.self, allSixteenBitPatterns)
        let simd = loadSIMD(FP16Elements.self, allSixteenBitPatterns)
        let stream = StreamBuffer.fp16(AlignedBuffer(allSixteenBitPatterns.map { Float16(bitPattern: $0) }))
        var mismatches: [String] = []
        for h in allSixteenBitPatterns {
            let i = Int(h)
            let got = [scalar[i], simd[i], stream[i].bitPattern]
            if isHalfNaN(h) {
                // NaN stays NaN with its sign and payload; the quiet bit may be set on the way.
                let want = referenceWidenedNaNBits(h)
                if got.contains(where: { $0 | 0x0040_0000 != want }) {
                    mismatches.append("0x\(String(h, radix: 16)): \(got.map { String($0, radix: 16) })")
                }
            } else {
                let want = referenceDecodeHalf(h).bitPattern
                if got.contains(where: { $0 != want }) {
                    mismatches.append("0x\(String(h, radix: 16)): \(got.map { String($0, radix: 16) }) want \(String(want, radix: 16))")
                }
            }
        }
        #expect(mismatches.count == 0, "\(mismatches.count) patterns: \(mismatches.prefix(8))")
    }

    @Test("every fp16 value survives fp32 → fp16 (store, store16, StreamBuffer); NaN stays NaN")
    func narrowRoundTripExhaustive() {
        let floats = allSixteenBitPatterns.map(referenceDecodeHalf)
        let results = [("store", storeScalar(FP16Elements.self, floats)),
                       ("store16", storeSIMD(FP16Elements.self, floats)),
                       ("StreamBuffer", storeStream(.fp16, floats))]
        for (name, got) in results {
            var bad: [String] = []
            for h in allSixteenBitPatterns {
                let g = got[Int(h)]
                let ok = isHalfNaN(h) ? isHalfNaN(g) && (g & 0x8000) == (h & 0x8000) : g == h
                if !ok { bad.append("0x\(String(h, radix: 16)) → 0x\(String(g, radix: 16))") }
            }
            #expect(bad.count == 0, "\(name): \(bad.count) patterns, e.g. \(bad.prefix(8))")
        }
    }

    /// (input, expected fp16 bits or nil for "some NaN of the same sign", why)
    static let edges: [(Float, UInt16?, String)] = {
        let p = { (e: Int) in Float(sign: .plus, exponent: e, significand: 1) }
        return [
            (1, 0x3C00, "1"),
            (1 + p(-11), 0x3C00, "tie 1 | 1+2^-10 → even 1"),
            (1 + 3 * p(-11), 0x3C02, "tie 1+2^-10 | 1+2^-9 → even 1+2^-9"),
            ((1 + p(-11)).nextUp, 0x3C01, "just above a tie rounds up"),
            ((1 + 3 * p(-11)).nextDown, 0x3C01, "just below a tie rounds down"),
            (2047.5, 0x6800, "tie 2047 | 2048 → 2048, carrying into the exponent"),
            (2046.5, 0x67FE, "tie 2046 | 2047 → even 2046"),
            (-(1 + p(-11)), 0xBC00, "negative tie → even"),
            (65504, 0x7BFF, "largest finite"),
            (Float("65519.99")!, 0x7BFF, "65519.99 → 65504"),
            (65520, 0x7C00, "65520, the tie 65504 | 65536, → +inf"),
            (-65520, 0xFC00, "-65520 → -inf"),
            (-70000, 0xFC00, "-70000 → -inf"),
            (.greatestFiniteMagnitude, 0x7C00, "fp32 max → +inf"),
            (.infinity, 0x7C00, "+inf"),
            (-.infinity, 0xFC00, "-inf"),
            (p(-14), 0x0400, "smallest normal 2^-14"),
            (1023.5 * p(-24), 0x0400, "tie largest subnormal | smallest normal → normal (even)"),
            (1023 * p(-24), 0x03FF, "largest subnormal"),
            (p(-24), 0x0001, "smallest subnormal 2^-24"),
            (p(-25), 0x0000, "2^-25, the tie 0 | 2^-24, → +0 (even)"),
            (-p(-25), 0x8000, "-2^-25 → -0"),
            (p(-25).nextUp, 0x0001, "just above half the smallest subnormal → 2^-24"),
            (p(-25) + p(-40), 0x0001, "2^-25 + 2^-40 → 2^-24"),
            (p(-25).nextDown, 0x0000, "just below half the smallest subnormal → 0"),
            (3 * p(-25), 0x0002, "tie 2^-24 | 2^-23 → even 2^-23"),
            (5 * p(-25), 0x0002, "tie 2·2^-24 | 3·2^-24 → even"),
            (.leastNonzeroMagnitude, 0x0000, "fp32 smallest subnormal → 0"),
            (0, 0x0000, "+0"),
            (-0.0, 0x8000, "-0 keeps its sign"),
            (.nan, nil, "quiet NaN"),
            (-Float.nan, nil, "negative quiet NaN"),
            (Float(bitPattern: 0x7F80_0001), nil, "signalling NaN with the lowest payload bit"),
            (Float(bitPattern: 0x7F80_1000), nil, "signalling NaN whose payload is below fp16's fraction"),
            (Float(bitPattern: 0xFFFF_FFFF), nil, "all-ones NaN"),
        ]
    }()

    @Test("fp32 → fp16 edge cases (store, store16, StreamBuffer, Float16.init)")
    func narrowEdges() {
        let inputs = Self.edges.map(\.0)
        let results = [("store", storeScalar(FP16Elements.self, inputs)),
                       ("store16", storeSIMD(FP16Elements.self, inputs)),
                       ("StreamBuffer", storeStream(.fp16, inputs)),
                       ("Float16.init", inputs.map { Float16($0).bitPattern })]
        for (k, (x, want, why)) in Self.edges.enumerated() {
            // The table and the independent reference encoder must agree too.
            #expect(referenceHalf(x) == want, "reference encoder disagrees with the table on \(why)")
            for (name, got) in results {
                if let want {
                    #expect(got[k] == want, "\(name): \(why): 0x\(String(got[k], radix: 16)), want 0x\(String(want, radix: 16))")
                } else {
                    #expect(isHalfNaN(got[k]) && (got[k] & 0x8000 != 0) == (x.sign == .minus),
                            "\(name): \(why): 0x\(String(got[k], radix: 16)) is not a NaN of the same sign")
                }
            }
        }
    }

    @Test("fp32 → fp16 on random values matches the reference encoder")
    func narrowRandom() {
        let values = randomConversionInputs(count: 1 << 17, seed: 0xF16, exponents: -27...17)
        let results = [("store", storeScalar(FP16Elements.self, values)),
                       ("store16", storeSIMD(FP16Elements.self, values))]
        for (name, got) in results {
            var bad: [String] = []
            for (i, x) in values.enumerated() {
                let ok = referenceHalf(x).map { got[i] == $0 } ?? isHalfNaN(got[i])
                if !ok { bad.append("\(x) (0x\(String(x.bitPattern, radix: 16))) → 0x\(String(got[i], radix: 16))") }
            }
            #expect(bad.count == 0, "\(name): \(bad.count) values, e.g. \(bad.prefix(8))")
        }
    }
}

@Suite("bf16 conversion")
struct BFloat16ConversionTests {
    @Test("bf16 → fp32 is the bits shifted up, for all 65536 patterns (load, load16, Float(BFloat16))")
    func widenExhaustive() {
        let scalar = loadScalar(BF16Elements.self, allSixteenBitPatterns)
        let simd = loadSIMD(BF16Elements.self, allSixteenBitPatterns)
        var bad = 0
        for b in allSixteenBitPatterns {
            let want = UInt32(b) << 16
            let viaType = Float(BFloat16(bitPattern: b)).bitPattern
            if scalar[Int(b)] != want || simd[Int(b)] != want || viaType != want { bad += 1 }
        }
        #expect(bad == 0)
    }

    @Test("every bf16 pattern survives BFloat16(Float(b)) and the stores; NaN stays NaN")
    func roundTripExhaustive() {
        let floats = allSixteenBitPatterns.map { Float(bitPattern: UInt32($0) << 16) }
        let results = [("BFloat16.init", floats.map { BFloat16($0).bitPattern }),
                       ("store", storeScalar(BF16Elements.self, floats)),
                       ("store16", storeSIMD(BF16Elements.self, floats)),
                       ("StreamBuffer", storeStream(.bf16, floats))]
        for (name, got) in results {
            var bad: [String] = []
            for b in allSixteenBitPatterns {
                let g = got[Int(b)]
                // A NaN may come back quieted (bit 6 set); everything else exactly.
                let ok = isBFloatNaN(b) ? isBFloatNaN(g) && g | 0x0040 == b | 0x0040 : g == b
                if !ok { bad.append("0x\(String(b, radix: 16)) → 0x\(String(g, radix: 16))") }
            }
            #expect(bad.count == 0, "\(name): \(bad.count) patterns, e.g. \(bad.prefix(8))")
        }
    }

    static let edges: [(UInt32, UInt16?, String)] = [
        (0x3F80_0000, 0x3F80, "1"),
        (0x3F80_8000, 0x3F80, "tie 1 | 1+2^-7 → even 1"),
        (0x3F81_8000, 0x3F82, "tie odd | even → up to even"),
        (0x3F80_8001, 0x3F81, "just above a tie rounds up"),
        (0x3F81_7FFF, 0x3F81, "just below a tie rounds down"),
        (0xBF80_8000, 0xBF80, "negative tie → even"),
        (0x3FFF_8000, 0x4000, "tie carrying into the exponent"),
        (0x7F7F_0000, 0x7F7F, "largest finite bf16"),
        (0x7F7F_7FFF, 0x7F7F, "just below the overflow tie"),
        (0x7F7F_8000, 0x7F80, "overflow tie → +inf"),
        (0x7F7F_FFFF, 0x7F80, "fp32 max → +inf"),
        (0xFF7F_8000, 0xFF80, "negative overflow tie → -inf"),
        (0x7F80_0000, 0x7F80, "+inf"),
        (0xFF80_0000, 0xFF80, "-inf"),
        (0x0001_0000, 0x0001, "smallest bf16 subnormal"),
        (0x0000_8000, 0x0000, "tie 0 | smallest subnormal → +0"),
        (0x0000_8001, 0x0001, "just above half the smallest subnormal"),
        (0x0001_8000, 0x0002, "subnormal tie → even"),
        (0x007F_8000, 0x0080, "tie largest subnormal | smallest normal → normal"),
        (0x0000_0001, 0x0000, "fp32 smallest subnormal → 0"),
        (0x8000_8000, 0x8000, "negative subnormal tie → -0"),
        (0x0000_0000, 0x0000, "+0"),
        (0x8000_0000, 0x8000, "-0 keeps its sign"),
        (0x7FC0_0000, nil, "quiet NaN"),
        (0xFFC0_0000, nil, "negative quiet NaN"),
        (0x7F80_0001, nil, "signalling NaN whose payload is only in the dropped half (truncation would give inf)"),
        (0xFF80_0001, nil, "negative signalling NaN, payload only in the dropped half"),
        (0x7FFF_FFFF, nil, "all-ones NaN (rounding up must not carry into the sign)"),
        (0xFFFF_FFFF, nil, "negative all-ones NaN"),
    ]

    @Test("fp32 → bf16 edge cases (BFloat16.init, store, store16, StreamBuffer)")
    func narrowEdges() {
        let inputs = Self.edges.map { Float(bitPattern: $0.0) }
        let results = [("BFloat16.init", inputs.map { BFloat16($0).bitPattern }),
                       ("store", storeScalar(BF16Elements.self, inputs)),
                       ("store16", storeSIMD(BF16Elements.self, inputs)),
                       ("StreamBuffer", storeStream(.bf16, inputs))]
        for (k, (x, want, why)) in Self.edges.enumerated() {
            #expect(referenceBFloat(Float(bitPattern: x)) == want, "reference encoder disagrees with the table on \(why)")
            for (name, got) in results {
                if let want {
                    #expect(got[k] == want, "\(name): \(why): 0x\(String(got[k], radix: 16)), want 0x\(String(want, radix: 16))")
                } else {
                    #expect(isBFloatNaN(got[k]) && (got[k] & 0x8000 != 0) == (x & 0x8000_0000 != 0),
                            "\(name): \(why): 0x\(String(got[k], radix: 16)) is not a NaN of the same sign")
                }
            }
        }
    }

    @Test("fp32 → bf16 on random values matches the reference encoder")
    func narrowRandom() {
        let values = randomConversionInputs(count: 1 << 17, seed: 0xBF16, exponents: -140...128)
        let results = [("store", storeScalar(BF16Elements.self, values)),
                       ("store16", storeSIMD(BF16Elements.self, values))]
        for (name, got) in results {
            var bad: [String] = []
            for (i, x) in values.enumerated() {
                let ok = referenceBFloat(x).map { got[i] == $0 } ?? isBFloatNaN(got[i])
                if !ok { bad.append("0x\(String(x.bitPattern, radix: 16)) → 0x\(String(got[i], radix: 16))") }
            }
            #expect(bad.count == 0, "\(name): \(bad.count) values, e.g. \(bad.prefix(8))")
        }
    }
}

/// Random fp32 inputs for the codecs: a third uniformly random bit patterns (every exponent,
/// many NaNs and subnormals), a third random values with exponents in `exponents` (the
/// interesting range of the narrow format), a third exact ties of that format's neighbours
/// (fp16- and bf16-style: low 13 or 16 bits set to the halfway point), plus the specials.
func randomConversionInputs(count: Int, seed: UInt64, exponents: ClosedRange<Int>) -> [Float] {
    var rng = SplitMix64(seed: seed)
    var values: [Float] = [0, -0.0, .infinity, -.infinity, .nan, -.nan, .signalingNaN, -.signalingNaN,
                           .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                           .leastNormalMagnitude, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                           Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFFF_FFFF), 65504, 65520, -65520]
    values.reserveCapacity(count)
    while values.count < count {
        let bits = UInt32.random(in: .min ... .max, using: &rng)
        if values.count % 3 == 0 {
            values.append(Float(bitPattern: bits))
            continue
        }
        let e = Int.random(in: exponents, using: &rng)
        let x = Float(sign: bits & 1 == 0 ? .plus : .minus, exponent: e,
                      significand: 1 + Float(bits >> 9) * 0x1p-23)
        if values.count % 3 == 1 {
            values.append(x)
        } else {
            // An exact halfway point of fp16 (low 13 bits 0x1000) or bf16 (low 16 bits 0x8000)
            // neighbours in the normal range: keep the top bits, set the rounding bit.
            let b = x.bitPattern
            let halfway: UInt32 = bits & 2 == 0 ? (b & ~0x1FFF) | 0x1000 : (b & ~0xFFFF) | 0x8000
            values.append(Float(bitPattern: halfway))
        }
    }
    return values
}

@Suite("SIMD and scalar codecs agree")
struct CodecAgreementTests {
    static let inputs = randomConversionInputs(count: 1 << 18, seed: 0xC0DEC, exponents: -30...20)

    @Test("store16 and store give identical fp16 bits, NaN payloads included")
    func fp16Stores() {
        let scalar = storeScalar(FP16Elements.self, Self.inputs)
        let simd = storeSIMD(FP16Elements.self, Self.inputs)
        let diffs = Self.inputs.indices.filter { scalar[$0] != simd[$0] }
        #expect(diffs.count == 0, "\(diffs.count) differ, e.g. \(diffs.prefix(5).map { "0x\(String(Self.inputs[$0].bitPattern, radix: 16)): 0x\(String(scalar[$0], radix: 16)) vs 0x\(String(simd[$0], radix: 16))" })")
    }

    @Test("store16 and store give identical bf16 bits, NaN payloads included")
    func bf16Stores() {
        let scalar = storeScalar(BF16Elements.self, Self.inputs)
        let simd = storeSIMD(BF16Elements.self, Self.inputs)
        let diffs = Self.inputs.indices.filter { scalar[$0] != simd[$0] }
        #expect(diffs.count == 0, "\(diffs.count) differ, e.g. \(diffs.prefix(5).map { "0x\(String(Self.inputs[$0].bitPattern, radix: 16)): 0x\(String(scalar[$0], radix: 16)) vs 0x\(String(simd[$0], radix: 16))" })")
    }

    @Test("load16 and load give identical fp32 bits for every 16-bit pattern")
    func loads() {
        let halfScalar = loadScalar(FP16Elements.self, allSixteenBitPatterns)
        let halfSIMD = loadSIMD(FP16Elements.self, allSixteenBitPatterns)
        let bfScalar = loadScalar(BF16Elements.self, allSixteenBitPatterns)
        let bfSIMD = loadSIMD(BF16Elements.self, allSixteenBitPatterns)
        let halfDiffs = allSixteenBitPatterns.indices.filter { halfScalar[$0] != halfSIMD[$0] }
        let bfDiffs = allSixteenBitPatterns.indices.filter { bfScalar[$0] != bfSIMD[$0] }
        #expect(halfDiffs.count == 0, "fp16 patterns \(halfDiffs.prefix(8).map { String($0, radix: 16) })")
        #expect(bfDiffs.count == 0, "bf16 patterns \(bfDiffs.prefix(8).map { String($0, radix: 16) })")
    }

    @Test("fp32 store16/load16 and store/load copy bits unchanged")
    func fp32() {
        var out = [UInt32](repeating: 0, count: 32)
        var outSIMD = out
        let values = Array(Self.inputs.prefix(32))
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { FP32Elements.store(v, raw.baseAddress!, i) }
        }
        outSIMD.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: 32, by: 16) {
                var v = SIMD16<Float>()
                for lane in 0..<16 { v[lane] = values[i + lane] }
                FP32Elements.store16(v, raw.baseAddress!, i)
            }
        }
        #expect(out == values.map(\.bitPattern))
        #expect(outSIMD == values.map(\.bitPattern))
        let back = out.withUnsafeBytes { raw in
            (0..<32).map { FP32Elements.load(raw.baseAddress!, $0).bitPattern }
                + (0..<2).flatMap { k in
                    let v = FP32Elements.load16(raw.baseAddress!, 16 * k)
                    return (0..<16).map { v[$0].bitPattern }
                }
        }
        #expect(back == values.map(\.bitPattern) + values.map(\.bitPattern))
    }
}

@Suite struct PrecisionRoundingTests {
    @Test(arguments: [Precision.fp16, .bf16, .fp32])
    func roundingInPlaceMatchesTheScalarConversions(precision: Precision) {
        var rng = SplitMix64(seed: 77)
        var values = (0..<1037).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        values += [70000, -65520, 65519.99, 1e-8, .infinity, -.infinity, 0, -0.0]
        let expected = values.map { v -> Float in
            switch precision {
            case .fp16: Float(Float16(v))
            case .bf16: Float(BFloat16(v))
            case .fp32: v
            }
        }
        var rounded = values
        rounded.withUnsafeMutableBufferPointer { precision.round($0) }
        // NaNs stay NaN (payloads may be quieted); everything else rounds bit for bit.
        for (r, e) in zip(rounded, expected) {
            #expect(r.isNaN ? e.isNaN : r.bitPattern == e.bitPattern)
        }
        #expect(rounded[1037] == (precision == .fp16 ? .infinity : expected[1037]))
    }

    /// Widening a stored stream to fp32 gives exactly the scalar loads, on odd lengths.
    @Test(arguments: [Precision.fp16, .bf16, .fp32])
    func wideningMatchesTheScalarLoads(precision: Precision) {
        var rng = SplitMix64(seed: 78)
        let stored = StreamBuffer(precision: precision, values: (0..<1037).map { _ in Float.random(in: -70000...70000, using: &rng) })
        var widened = [Float](repeating: .nan, count: 1037)
        stored.withUnsafeMutableRawPointer { raw in
            widened.withUnsafeMutableBufferPointer { precision.widen(UnsafeRawPointer(raw), into: $0) }
        }
        #expect(widened.map(\.bitPattern) == stored.floats.map(\.bitPattern))
    }
}
