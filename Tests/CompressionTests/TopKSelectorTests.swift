import Compression
import Optim
import Testing
import SeededRandom

/// The kinds of gradient the selector must handle exactly like the sort-based reference.
enum GradientShape: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case wideRange, uniform, fewDistinctValues, allEqual, equalMagnitudesMixedSigns, mostlyZero, allNegative, nonFinite

    var testDescription: String { rawValue }

    func values(count n: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        switch self {
        case .wideRange:
            return wideRangeValues(count: n, seed: seed, exponents: -40...40)
        case .uniform:
            return (0..<n).map { _ in Float.random(in: -1...1, using: &random) }
        case .fewDistinctValues:
            return (0..<n).map { _ in Float(Int.random(in: -3...3, using: &random)) * 0.5 }
        case .allEqual:
            return [Float](repeating: 0.75, count: n)
        case .equalMagnitudesMixedSigns:
            return (0..<n).map { _ in Bool.random(using: &random) ? 2 : -2 }
        case .mostlyZero:
            return (0..<n).map { _ in
                Int.random(in: 0..<20, using: &random) == 0 ? Float.random(in: -1...1, using: &random) : 0
            }
        case .allNegative:
            return (0..<n).map { _ in -Float.random(in: 0...1000, using: &random) }
        case .nonFinite:
            let specials: [Float] = [.nan, -.nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude,
                                     -.greatestFiniteMagnitude, Float(bitPattern: 0x7FC0_1234)]
            return (0..<n).map { _ in
                Int.random(in: 0..<10, using: &random) == 0
                    ? specials.randomElement(using: &random)! : Float.random(in: -5...5, using: &random)
            }
        }
    }
}

/// k values worth checking for n: the extremes and a few ratios in between.
func interestingKeptCounts(for n: Int) -> [Int] {
    let candidates = [1, 2, (n + 99) / 100, (n + 9) / 10, n / 2, n - 1, n]
    return Array(Set(candidates.filter { $0 >= 1 && $0 <= n })).sorted()
}

@Suite struct TopKSelectorTests {
    /// Sizes below, at and above the sampling threshold (8192), odd and tiny ones included.
    static let sizes = [1, 2, 17, 100, 1001, 8192, 8193, 40_009]

    @Test(arguments: GradientShape.allCases, sizes)
    func matchesSortReference(shape: GradientShape, n: Int) throws {
        let values = shape.values(count: n, seed: UInt64(n) &* 31 &+ UInt64(shape.rawValue.count))
        let selector = TopKSelector()
        let input = AlignedBuffer(values)
        for k in interestingKeptCounts(for: n) {
            let indices = AlignedBuffer<UInt32>(repeating: .max, count: k)
            let selected = AlignedBuffer<Float>(count: k)
            try selector.select(input, keeping: k, indices: indices, selectedValues: selected)
            let expected = referenceTopK(values, keep: k)
            #expect(indices.array == expected, "n = \(n), k = \(k)")
            #expect(bitsEqual(selected.array, expected.map { values[Int($0)] }), "values, n = \(n), k = \(k)")
        }
    }

    @Test func largeInputUsesSamplingAndStaysExact() throws {
        let n = 300_001
        let values = wideRangeValues(count: n, seed: 99)
        let k = try TopKSelector.keptCount(ratio: 0.01, elementCount: n)
        var indices = [UInt32](repeating: 0, count: k)
        try values.withUnsafeBufferPointer { input in
            try indices.withUnsafeMutableBufferPointer { out in
                try TopKSelector().select(input, keeping: k, indices: out)
            }
        }
        #expect(indices == referenceTopK(values, keep: k))
    }

    @Test func reusedSelectorGivesTheSameAnswers() throws {
        let selector = TopKSelector()
        for (n, shape) in [(50_000, GradientShape.wideRange), (300, .fewDistinctValues),
                           (20_000, .allEqual), (50_000, .mostlyZero), (9, .uniform)] {
            let values = shape.values(count: n, seed: UInt64(n))
            let k = max(1, n / 37)
            let indices = AlignedBuffer<UInt32>(count: k)
            try selector.select(AlignedBuffer(values), keeping: k, indices: indices)
            #expect(indices.array == referenceTopK(values, keep: k), "n = \(n), \(shape)")
        }
    }

    @Test func emptyInputAndZeroKeptCountWriteNothing() throws {
        let selector = TopKSelector()
        let indices = AlignedBuffer<UInt32>(repeating: 5, count: 2)
        try selector.select(AlignedBuffer<Float>(count: 0), keeping: 0, indices: indices)
        try selector.select(AlignedBuffer<Float>([1, 2, 3]), keeping: 0, indices: indices)
        #expect(indices.array == [5, 5])
    }

    @Test func rejectsBadArgumentsWithoutWriting() throws {
        let selector = TopKSelector()
        let values = AlignedBuffer<Float>([1, -4, 2, 8])
        let indices = AlignedBuffer<UInt32>(repeating: 7, count: 2)
        #expect(throws: CompressionError.keptCountOutOfRange(kept: 5, elementCount: 4)) {
            try selector.select(values, keeping: 5, indices: AlignedBuffer(count: 5))
        }
        #expect(throws: CompressionError.keptCountOutOfRange(kept: -1, elementCount: 4)) {
            try selector.select(values, keeping: -1, indices: indices)
        }
        #expect(throws: CompressionError.bufferTooSmall(buffer: "selected indices", required: 3, available: 2)) {
            try selector.select(values, keeping: 3, indices: indices)
        }
        #expect(throws: CompressionError.bufferTooSmall(buffer: "selected values", required: 2, available: 1)) {
            try selector.select(values, keeping: 2, indices: indices, selectedValues: AlignedBuffer(count: 1))
        }
        #expect(indices.array == [7, 7])
    }
}

@Suite struct KeptCountTests {
    @Test(arguments: [
        (0.01, 1000, 10), (0.01, 1001, 11), (0.07, 100, 7), (0.3, 10, 3), (0.25, 10, 3), (0.5, 3, 2),
        (1.0, 17, 17), (1e-9, 10, 1), (0.001, 1_000_000, 1000), (0.0101, 1000, 11), (0.5, 1, 1),
        (0.01, 0, 0), (1.0, 0, 0), (0.01, Int(UInt32.max), 42_949_673),
    ])
    func isCeilingOfRatioTimesCount(ratio: Double, n: Int, expected: Int) throws {
        #expect(try TopKSelector.keptCount(ratio: ratio, elementCount: n) == expected)
    }

    @Test(arguments: [0, -0.0, -0.5, 1.000_001, 2, .infinity, -.infinity, .nan, -.nan])
    func rejectsRatiosOutsideZeroToOne(ratio: Double) {
        let error = #expect(throws: CompressionError.self) {
            try TopKSelector.keptCount(ratio: ratio, elementCount: 100)
        }
        guard case .invalidRatio(let reported) = error else {
            Issue.record("expected invalidRatio, got \(String(describing: error))")
            return
        }
        #expect(reported.bitPattern == ratio.bitPattern)
        #expect(error!.description.contains("ratio"))
        #expect(throws: CompressionError.self) { try GradientCompressor(ratio: ratio) }
    }

    @Test(arguments: [-1, Int(UInt32.max) + 1])
    func rejectsElementCountsOutsideTheHeader(n: Int) {
        #expect(throws: CompressionError.elementCountOutOfRange(n)) {
            try TopKSelector.keptCount(ratio: 0.5, elementCount: n)
        }
    }
}
