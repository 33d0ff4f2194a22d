import Compression
import Optim
import Testing
import SeededRandom

@Suite struct IndexCostTests {
    /// The paper counts 32 bits per kept index; the automatic encoding must stay at or below 12 at
    /// r = 0.01 on a 1M-element gradient (gaps average 100: mostly one varint byte).
    @Test func automaticIndexEncodingCostsAtMostTwelveBitsPerKeptElement() throws {
        let n = 1_000_000
        var random = SplitMix64(seed: 2024)
        let gradient = AlignedBuffer<Float>((0..<n).map { _ in Float.random(in: -1...1, using: &random) })
        let k = try TopKSelector.keptCount(ratio: 0.01, elementCount: n)
        let indices = AlignedBuffer<UInt32>(count: k)
        let values = AlignedBuffer<Float>(count: k)
        try TopKSelector().select(gradient, keeping: k, indices: indices, selectedValues: values)

        for zstdLevel in [nil, 1] as [Int?] {
            let options = PayloadOptions(valueEncoding: .fp16, indexZstdLevel: zstdLevel)
            let payload = try encodePayload(indices: indices.array, values: values.array, elementCount: n, options: options)
            let header = try Array(payload.prefix(64)).withUnsafeBytes { try GradientPayloadHeader(parsing: $0) }
            let bitsPerIndex = Double(header.storedIndexByteCount * 8) / Double(k)
            #expect(header.indexEncoding == .deltaVarint)
            #expect(bitsPerIndex <= 12, "\(bitsPerIndex) bits per kept index")
        }
    }
}
