import Foundation
import Optim
import SeededRandom
import Testing

/// An independent float64 reference of the 8-bit state scheme (docs/FORMATS.md, "8-bit optimizer
/// states"): the map from its formula, the block's scale, and each code as the nearest value
/// (ties to the lower) found by comparing with the exact midpoints in float64.
enum Reference8Bit {
    static func map(signed: Bool) -> [Double] {
        var values: [Double] = [0, 1]
        for decade in 0...6 {
            let n = signed ? 1 << decade : 1 << (decade + 1)
            for j in 0..<n {
                let value = Double(Float(Double(2 * n + 18 * j + 9) / (Double(20 * n) * pow(10, Double(6 - decade)))))
                values.append(value)
                if signed { values.append(-value) }
            }
        }
        return values.sorted()
    }

    static func scale(_ block: [Float], signed: Bool) -> Float {
        if block.contains(where: { !$0.isFinite }) { return .nan }
        let largest = block.map { abs(Double($0)) }.max() ?? 0
        if signed, !block.contains(Float(largest)), block.contains(Float(-largest)) { return Float(-largest) }
        return Float(largest)
    }

    static func code(_ x: Float, scale: Float, signed: Bool) -> UInt8 {
        let values = map(signed: signed)
        if scale == 0 || scale.isNaN { return UInt8(values.firstIndex(of: 0)!) }
        let ratio = Double(Float(Double(x) / Double(scale)))  // fp32 division, correctly rounded
        let midpoints = (0..<255).map { (values[$0] + values[$0 + 1]) / 2 }
        let nearest = UInt8(midpoints.filter { $0 < ratio }.count)
        // Unsigned: a positive ratio codes to at least the smallest nonzero value.
        return !signed && ratio > 0 ? max(nearest, 1) : nearest
    }

    static func decode(_ code: UInt8, scale: Float, signed: Bool) -> Float {
        Float(map(signed: signed)[Int(code)] * Double(scale))
    }
}

/// One state vector stored at 8 bits, and the same values decoded again.
struct StoredState {
    var bytes: [UInt8]
    var precision: StatePrecision
    var map: DynamicMap

    init(_ values: [Float], blockSize: Int, map: DynamicMap) {
        precision = .blockwise8(blockSize: blockSize)
        self.map = map
        bytes = [UInt8](repeating: 0, count: precision.storedBytes(elements: values.count))
        values.withUnsafeBufferPointer { v in bytes.withUnsafeMutableBytes { precision.encode(v, map: map, into: $0) } }
    }

    var blocks: Int { (bytes.count - codes.count) / 4 }
    var elements: Int { bytes.count - 4 * blocks }
    var scales: [Float] {
        bytes.withUnsafeBytes { raw in (0..<blocks).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
    }
    var codes: [UInt8] { Array(bytes[(bytes.count - codeCount)...]) }
    private var codeCount: Int {
        // n codes after ⌈n / B⌉ scales: the n with storedBytes(n) == bytes.count.
        (0...bytes.count).first { precision.storedBytes(elements: $0) == bytes.count }!
    }

    var decoded: [Float] {
        var values = [Float](repeating: 0, count: codeCount)
        bytes.withUnsafeBytes { s in values.withUnsafeMutableBufferPointer { precision.decode(s, map: map, into: $0) } }
        return values
    }
}

@Suite struct BlockwiseStateTests {
    @Test func theMapsAreTheFormula() {
        for (map, signed) in [(DynamicMap.signed, true), (.unsigned, false)] {
            #expect(map.values.map(Double.init) == Reference8Bit.map(signed: signed))
            #expect(map.values[Int(map.zeroCode)] == 0 && map.values.last == 1)
        }
        #expect(DynamicMap.signed.zeroCode == 127 && DynamicMap.unsigned.zeroCode == 0)
        // The signed map is symmetric but for +1, which the block's signed extreme maps to.
        let signed = DynamicMap.signed.values
        #expect((0..<127).allSatisfy { signed[$0] == -signed[254 - $0] })
        // The smallest magnitudes: 0.55e-6 (signed), 0.325e-6 (unsigned).
        #expect(signed[128] == Float(0.55e-6) && DynamicMap.unsigned.values[1] == Float(0.325e-6))
    }

    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/FORMATS.md")

    /// The rows of the test vector in docs/FORMATS.md: `| state | values | scale | codes | decoded |`.
    static func documentedRows() throws -> [(signed: Bool, values: [Float], scale: Float, codes: [UInt8], decoded: [Float])] {
        let text = try String(contentsOf: page, encoding: .utf8)
        guard let section = text.range(of: "## 8-bit optimizer states") else { return [] }
        let rest = text[section.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return rest[..<end].split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard line.hasPrefix("|"), cells.count == 5, cells[0].hasPrefix("m,") || cells[0].hasPrefix("v,") else { return nil }
            func list(_ cell: String) -> [String] { cell.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            return (cells[0].hasPrefix("m"), list(cells[1]).compactMap(Float.init), Float(cells[2]) ?? .nan,
                    list(cells[3]).compactMap(UInt8.init), list(cells[4]).compactMap(Float.init))
        }
    }

    /// The page's vector (blocks of 4): the kernel and the float64 reference both give its
    /// scales, codes and decoded values, digit for digit.
    @Test func theDocumentedVectorReproduces() throws {
        let rows = try Self.documentedRows()
        try #require(rows.count == 3, "expected three rows of the 8-bit vector in \(Self.page.path), found \(rows.count)")
        for (signed, values, scale, codes, decoded) in rows {
            try #require(values.count == 4 && codes.count == 4 && decoded.count == 4)
            let stored = StoredState(values, blockSize: 4, map: signed ? .signed : .unsigned)
            #expect(stored.scales == [scale])
            #expect(stored.codes == codes)
            #expect(stored.decoded.map(\.bitPattern) == decoded.map(\.bitPattern))
            #expect(Reference8Bit.scale(values, signed: signed) == scale)
            let reference = values.map { Reference8Bit.code($0, scale: scale, signed: signed) }
            #expect(reference == codes)
            #expect(reference.map { Reference8Bit.decode($0, scale: scale, signed: signed).bitPattern } == decoded.map(\.bitPattern))
        }
        // Stored: the two scales of the m row's blocks, then its eight codes.
        let m = StoredState(rows[0].values + rows[1].values, blockSize: 4, map: .signed)
        #expect(m.bytes == [0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0xC0, 0xBF] + rows[0].codes + rows[1].codes)
    }

    /// Ratios at and next to every midpoint of both maps (scale 1, so the ratio is the value),
    /// and values over every binade with scales of both signs: the kernel's bucket table gives
    /// the reference's nearest value every time.
    @Test(arguments: [true, false])
    func codesAreTheNearestValueEverywhere(signed: Bool) {
        let map = signed ? DynamicMap.signed : .unsigned
        let reference = Reference8Bit.map(signed: signed)
        var ratios: [Float] = [0, -0.0, 1, -1, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude]
        for k in 0..<255 {
            let midpoint = (reference[k] + reference[k + 1]) / 2
            var r = Float(midpoint).nextDown.nextDown
            for _ in 0..<5 { ratios.append(r); r = r.nextUp }
        }
        ratios = ratios.filter { abs($0) <= 1 }
        let expected = ratios.map { Reference8Bit.code($0, scale: 1, signed: signed) }
        // All in one block (the vector path, 16 at a time), and each alone (the scalar path).
        let block = StoredState([1] + ratios, blockSize: 4096, map: map)
        #expect(block.scales == [1])
        #expect(Array(block.codes.dropFirst()) == expected)
        for (ratio, code) in zip(ratios, expected) {
            #expect(StoredState([1, ratio], blockSize: 64, map: map).codes[1] == code, "ratio \(ratio)")
        }
        var rng = SplitMix64(seed: 11)
        for _ in 0..<50 {
            let magnitude = Float(sign: .plus, exponent: Int.random(in: -140...100, using: &rng), significand: 1)
            let block = (0..<128).map { _ in
                Float(sign: signed && Bool.random(using: &rng) ? .minus : .plus, exponent: Int.random(in: -40...0, using: &rng),
                      significand: Float.random(in: 1..<2, using: &rng)) * magnitude
            }
            let stored = StoredState(block, blockSize: 128, map: map)
            let scale = Reference8Bit.scale(block, signed: signed)
            #expect(stored.scales == [scale])
            #expect(stored.codes == block.map { Reference8Bit.code($0, scale: scale, signed: signed) })
            #expect(stored.decoded.map(\.bitPattern) == stored.codes.map { Reference8Bit.decode($0, scale: scale, signed: signed).bitPattern })
        }
    }

    /// Decoding and encoding again gives back the same bytes: a block's extreme decodes to its
    /// scale exactly (the map holds +1, and a signed block's scale carries the extreme's sign),
    /// so the scale comes back, and every other value to within an ulp of its map value, far
    /// nearer it than any midpoint. This is what lets a checkpoint go out as fp32 and come back.
    @Test(arguments: [true, false])
    func decodingThenEncodingGivesTheSameBytes(signed: Bool) {
        let map = signed ? DynamicMap.signed : .unsigned
        var rng = SplitMix64(seed: 12)
        for blockSize in [64, 2048] {
            let values = (0..<(3 * blockSize + 17)).map { _ in
                Float(sign: signed && Bool.random(using: &rng) ? .minus : .plus, exponent: Int.random(in: -30...3, using: &rng),
                      significand: Float.random(in: 1..<2, using: &rng))
            }
            let stored = StoredState(values, blockSize: blockSize, map: map)
            #expect(StoredState(stored.decoded, blockSize: blockSize, map: map).bytes == stored.bytes)
        }
    }

    /// A block of zeros has scale 0 and decodes to zeros; a block holding a NaN or an infinity
    /// has a NaN scale and decodes to NaN throughout, as an fp32 state would stay non-finite.
    @Test func zeroAndNonFiniteBlocks() {
        let stored = StoredState([0, 0, 0, 0, 1, .nan, 2, 3, -.infinity, 1, 0, 0], blockSize: 4, map: .signed)
        #expect(stored.scales[0] == 0 && stored.scales[1].isNaN && stored.scales[2].isNaN)
        #expect(stored.codes.allSatisfy { $0 == DynamicMap.signed.zeroCode })
        #expect(stored.decoded[0..<4].allSatisfy { $0 == 0 } && stored.decoded[4...].allSatisfy(\.isNaN))
        #expect(StoredState([-0.0, 0], blockSize: 64, map: .unsigned).scales == [0])
    }

    /// A positive v never becomes 0, however small beside its block's largest (Adam would divide
    /// its m by ε alone); m may, and 0 stays 0.
    @Test func aPositiveUnsignedValueNeverCodesToZero() {
        let values: [Float] = [1, 1e-12, .leastNonzeroMagnitude, 0, 1e-7, 2e-7, -1e-9] + Array(repeating: 1e-30, count: 25)
        let v = StoredState(values, blockSize: 64, map: .unsigned)
        #expect(Array(v.codes.prefix(7)) == [255, 1, 1, 0, 1, 1, 0])
        #expect(v.codes.dropFirst(7).allSatisfy { $0 == 1 })
        #expect(v.decoded[1] == DynamicMap.unsigned.values[1])
        let m = StoredState(values, blockSize: 64, map: .signed)
        #expect(m.codes[1] == DynamicMap.signed.zeroCode && m.codes[3] == DynamicMap.signed.zeroCode)
    }

    @Test func precisionsAreNamedAndSized() throws {
        #expect(try StatePrecision(name: "fp32") == .fp32)
        #expect(try StatePrecision(name: "8bit") == .blockwise8(blockSize: 2048))
        #expect(try StatePrecision(name: "8BIT", blockSize: 64) == .blockwise8(blockSize: 64))
        #expect(throws: StatePrecisionError.unknown("int8")) { try StatePrecision(name: "int8") }
        #expect(throws: StatePrecisionError.badBlockSize(3000)) { try StatePrecision(name: "8bit", blockSize: 3000) }
        #expect(throws: StatePrecisionError.badBlockSize(32)) { try StatePrecision(name: "8bit", blockSize: 32) }
        #expect(StatePrecision.eightBit.storedBytes(elements: 4096) == 4096 + 8)
        #expect(StatePrecision.eightBit.storedBytes(elements: 2049) == 2049 + 8)
        #expect(StatePrecision.fp32.storedBytes(elements: 10) == 40)
        #expect(StatePrecision.eightBit.bytesPerState == 1 + 4.0 / 2048)
    }
}

/// The update on 8-bit states: per block, decode, the fp32 kernel, encode.
@Suite struct QuantizedUpdateTests {
    static let optimizers: [OptimizerConfig] = [
        .adamw(AdamWHyperparameters(weightDecay: 0.01)), .adamw(AdamWHyperparameters(), .torch),
        .sgd(SGDHyperparameters(momentum: 0.9, weightDecay: 0.01), .reference),
        .sgd(SGDHyperparameters(momentum: 0.9, nesterov: true), .torch),
        .adagrad(AdagradHyperparameters(initialAccumulatorValue: 0.1, weightDecay: 0.01), .torch),
    ]

    struct Outcome: Equatable {
        var parameters: [UInt32]
        var states: [[UInt8]]
        var copy: [UInt16]
    }

    /// Two steps over `n` elements with blocks of `blockSize`: pieces of the subgroup take two
    /// different updates (a parameter group boundary inside a block), gradients in bf16, the
    /// copy out in fp16.
    static func run(_ optimizer: OptimizerConfig, n: Int, blockSize: Int, kernel: UpdateKernel, reference: Bool) -> Outcome {
        var rng = SplitMix64(seed: 21)
        let p = AlignedBuffer<Float>((0..<n).map { _ in Float.random(in: -1...1, using: &rng) })
        let precision = StatePrecision.blockwise8(blockSize: blockSize)
        let maps = optimizer.kind.stateMaps
        let states = maps.map { map in
            let initial = (0..<n).map { _ in map.isSigned ? Float.random(in: -0.01...0.01, using: &rng) : Float.random(in: 0...1e-4, using: &rng) }
            return AlignedBuffer<UInt8>(StoredState(initial, blockSize: blockSize, map: map).bytes)
        }
        let copy = AlignedBuffer<Float16>(count: n)
        let boundary = n / 3 + 5
        for t in 1...2 {
            let gradient = AlignedBuffer<BFloat16>((0..<n).map { _ in BFloat16(Float.random(in: -64...64, using: &rng)) })
            let pieces = [(range: 0..<boundary, update: optimizer.prepare(step: t, learningRate: 1e-2, combinedUnscale: 1 / 64)),
                          (range: boundary..<n, update: optimizer.withWeightDecay(0).prepare(step: t, learningRate: 3e-3, combinedUnscale: 1 / 64))]
            let base = { (b: AlignedBuffer<UInt8>) in UnsafeMutableRawPointer(b.withUnsafeMutableBufferPointer { $0.baseAddress! }) }
            let g = UnsafeRawPointer(gradient.withUnsafeMutableBufferPointer { $0.baseAddress! })
            let c = UnsafeMutableRawPointer(copy.withUnsafeMutableBufferPointer { $0.baseAddress! })
            let parameters = p.withUnsafeMutableBufferPointer { $0.baseAddress! }
            if reference {
                // Decode everything, run the fp32 kernel on each piece, encode everything.
                let wide = states.enumerated().map { j, stored in
                    let values = AlignedBuffer<Float>(count: n)
                    values.withUnsafeMutableBufferPointer { v in
                        stored.withUnsafeBufferPointer { precision.decode(UnsafeRawBufferPointer($0), map: maps[j], into: v) }
                    }
                    return values
                }
                for piece in pieces {
                    let lo = piece.range.lowerBound
                    UpdateKernel().run(piece.update, on: UpdateOperands(
                        count: piece.range.count, parameters: parameters + lo,
                        state1: wide[0].withUnsafeMutableBufferPointer { $0.baseAddress! + lo },
                        state2: wide.count > 1 ? wide[1].withUnsafeMutableBufferPointer { $0.baseAddress! + lo } : nil,
                        gradient: g + 2 * lo, gradientPrecision: .bf16, copyOut: c + 2 * lo, copyOutPrecision: .fp16))
                }
                for (j, values) in wide.enumerated() {
                    values.withUnsafeBufferPointer { v in
                        states[j].withUnsafeMutableBufferPointer { precision.encode(v, map: maps[j], into: UnsafeMutableRawBufferPointer($0)) }
                    }
                }
            } else {
                kernel.run(pieces, on: QuantizedUpdateOperands(count: n, blockSize: blockSize, parameters: parameters,
                                                               states: states.map(base), gradient: g, gradientPrecision: .bf16,
                                                               copyOut: c, copyOutPrecision: .fp16))
            }
            withExtendedLifetime((gradient, states, copy, p)) {}
        }
        return Outcome(parameters: p.array.map(\.bitPattern), states: states.map(\.array), copy: copy.array.map(\.bitPattern))
    }

    @Test(arguments: optimizers)
    func eachBlockIsDecodedUpdatedInFP32AndEncoded(optimizer: OptimizerConfig) {
        let expected = Self.run(optimizer, n: 5000, blockSize: 256, kernel: UpdateKernel(), reference: true)
        #expect(Self.run(optimizer, n: 5000, blockSize: 256, kernel: UpdateKernel(), reference: false) == expected)
        #expect(Self.run(optimizer, n: 5000, blockSize: 256, kernel: UpdateKernel(path: .scalar), reference: false) == expected)
    }

    /// Threads take whole blocks: 1 or 3 of them, SIMD or scalar, give the same bits.
    @Test func threadsAndPathsAgree() {
        let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())
        let one = Self.run(optimizer, n: 200_000 + 77, blockSize: 2048, kernel: UpdateKernel(), reference: false)
        #expect(Self.run(optimizer, n: 200_077, blockSize: 2048, kernel: UpdateKernel(threads: 3), reference: false) == one)
        #expect(Self.run(optimizer, n: 200_077, blockSize: 2048, kernel: UpdateKernel(threads: 2, path: .scalar), reference: false) == one)
    }
}
