import Compression
import Optim
import Testing
import SeededRandom

/// Distinct random indices below n, ascending.
func randomIndices(count k: Int, below n: Int, seed: UInt64) -> [UInt32] {
    var random = SplitMix64(seed: seed)
    var chosen = Set<Int>()
    while chosen.count < k { chosen.insert(Int.random(in: 0..<n, using: &random)) }
    return chosen.sorted().map { UInt32($0) }
}

/// The dense vector a payload must decode to: zeros, and the rounded values at the indices.
func referenceScatter(indices: [UInt32], values: [Float], elementCount n: Int, encoding: Precision) -> [Float] {
    var dense = [Float](repeating: 0, count: n)
    for (index, value) in zip(indices, values) { dense[Int(index)] = rounded(value, as: encoding) }
    return dense
}

@Suite struct PayloadRoundTripTests {
    static let zstdLevels: [Int?] = [nil, 1, 3]

    /// Sparse at about 1% and about 30%, over two 65536-index blocks, and dense; the destination
    /// starts full of garbage.
    @Test(arguments: Precision.allCases, IndexEncodingPolicy.allCases)
    func roundTripsEveryEncoding(valueEncoding: Precision, policy: IndexEncodingPolicy) throws {
        let n = 70_001
        for zstdLevel in Self.zstdLevels {
            let options = PayloadOptions(valueEncoding: valueEncoding, indexEncoding: policy, indexZstdLevel: zstdLevel)
            for k in [701, 21_000] {
                let indices = randomIndices(count: k, below: n, seed: UInt64(k))
                let values = wideRangeValues(count: k, seed: UInt64(k) + 1)
                let payload = try encodePayload(indices: indices, values: values, elementCount: n, options: options,
                                                subgroup: 12, step: 1 << 40)
                let (decoded, result) = decode(payload, count: n, fill: 777)
                let header = try result.get()
                #expect(bitsEqual(decoded, referenceScatter(indices: indices, values: values, elementCount: n,
                                                            encoding: valueEncoding)), "\(options), k = \(k)")
                let expectedEncoding: IndexEncoding = switch policy {
                case .automatic: .deltaVarint  // never larger than block u16, see IndexEncodingPolicy
                case .deltaVarint: .deltaVarint
                case .blockOffsets16: .blockOffsets16
                }
                #expect(header.indexEncoding == expectedEncoding)
                #expect(header.elementCount == n && header.keptCount == k)
                #expect(header.subgroup == 12 && header.step == 1 << 40)
                #expect(header.valueEncoding == valueEncoding)
                #expect(header.payloadByteCount == payload.count)
                if policy == .automatic {
                    #expect(header.rawIndexByteCount <= 4 * 2 + 2 * k, "varint must not exceed the u16 size")
                }
                if header.indexCompression == .zstd {
                    #expect(zstdLevel != nil && header.storedIndexByteCount < header.rawIndexByteCount)
                } else {
                    #expect(header.storedIndexByteCount == header.rawIndexByteCount)
                }
            }

            let dense = wideRangeValues(count: 1000, seed: 5)
            let payload = try encodePayload(indices: (0..<1000).map { UInt32($0) }, values: dense,
                                            elementCount: 1000, options: options)
            let (decoded, result) = decode(payload, count: 1000, fill: -1)
            let header = try result.get()
            #expect(header.indexEncoding == .dense && header.storedIndexByteCount == 0)
            #expect(payload.count == 64 + 1000 * valueEncoding.byteWidth)
            #expect(bitsEqual(decoded, dense.map { rounded($0, as: valueEncoding) }))
        }
    }

    @Test(arguments: Precision.allCases)
    func denseEncoderRoundTripsOddLengths(valueEncoding: Precision) throws {
        let encoder = try GradientPayloadEncoder(options: PayloadOptions(valueEncoding: valueEncoding))
        let decoder = GradientPayloadDecoder()
        for n in [0, 1, 15, 16, 17, 33] {
            let values = wideRangeValues(count: n, seed: UInt64(n))
            var payload = [UInt8](repeating: 0, count: GradientPayloadEncoder.maximumEncodedSize(
                elementCount: n, keptCount: n, options: encoder.options))
            let length = try values.withUnsafeBufferPointer { input in
                try payload.withUnsafeMutableBytes { out in try encoder.encodeDense(input, subgroup: 1, step: 2, into: out) }
            }
            #expect(length == payload.count)
            let (decoded, result) = decode(payload, count: n, using: decoder)
            #expect(try result.get().keptCount == n)
            #expect(bitsEqual(decoded, values.map { rounded($0, as: valueEncoding) }))
        }
    }

    @Test func zstdIsKeptOnlyWhenItShrinksTheIndexStream() throws {
        let options = PayloadOptions(valueEncoding: .fp16, indexEncoding: .deltaVarint, indexZstdLevel: 1)
        let regular = (0..<2000).map { UInt32($0 * 3) }
        let payload = try encodePayload(indices: regular, values: [Float](repeating: 1, count: 2000),
                                        elementCount: 6000, options: options)
        let header = try decode(payload, count: 6000).result.get()
        #expect(header.indexCompression == .zstd)
        #expect(header.storedIndexByteCount < header.rawIndexByteCount / 10)

        let tiny = try encodePayload(indices: [3, 900], values: [1, 2], elementCount: 1000, options: options)
        let (decoded, result) = decode(tiny, count: 1000)
        #expect(try result.get().indexCompression == .none)
        #expect(decoded[3] == 1 && decoded[900] == 2 && decoded.filter { $0 != 0 }.count == 2)
    }

    @Test func emptySelectionDecodesToZeros() throws {
        for policy in IndexEncodingPolicy.allCases {
            let payload = try encodePayload(indices: [], values: [], elementCount: 70_000,
                                            options: PayloadOptions(indexEncoding: policy, indexZstdLevel: 2))
            let (decoded, result) = decode(payload, count: 70_000)
            #expect(try result.get().keptCount == 0)
            #expect(decoded.allSatisfy { $0.bitPattern == 0 })
        }
    }

    @Test func headerCanBePeekedFromTheFirst64Bytes() throws {
        let payload = try encodePayload(indices: [1, 5, 99], values: [1, 2, 3], elementCount: 100,
                                        options: PayloadOptions(valueEncoding: .bf16), subgroup: 77, step: 123_456)
        let header = try Array(payload.prefix(64)).withUnsafeBytes { try GradientPayloadHeader(parsing: $0) }
        #expect(header.subgroup == 77 && header.step == 123_456)
        #expect(header.elementCount == 100 && header.keptCount == 3)
        #expect(header.valueEncoding == .bf16 && header.indexEncoding == .deltaVarint)
        #expect(header.payloadByteCount == payload.count)
        #expect(header.fractionOfDenseFP32 == Double(payload.count) / 400)
        #expect(throws: PayloadError.truncatedHeader(found: 63, expected: 64)) {
            try Array(payload.prefix(63)).withUnsafeBytes { try GradientPayloadHeader(parsing: $0) }
        }
    }

    @Test func maximumEncodedSizeBoundsEveryPayload() throws {
        let n = 200_000
        for k in [0, 1, 100, 2000, 50_000, 199_999, 200_000] {
            for policy in IndexEncodingPolicy.allCases {
                let options = PayloadOptions(valueEncoding: .fp16, indexEncoding: policy, indexZstdLevel: 3)
                // Worst case for varint: indices spread as far apart as possible.
                let spread = (0..<k).map { UInt32(Int(Double($0) * Double(n) / Double(max(k, 1)))) }
                let payload = try encodePayload(indices: spread, values: [Float](repeating: 3, count: k),
                                                elementCount: n, options: options)
                let bound = GradientPayloadEncoder.maximumEncodedSize(elementCount: n, keptCount: k, options: options)
                #expect(payload.count <= bound)
            }
        }
    }

    @Test func encoderRejectsBadInputWithoutWriting() throws {
        let encoder = try GradientPayloadEncoder()
        var payload = [UInt8](repeating: 0xAB, count: 256)
        func attempt(_ indices: [UInt32], _ values: [Float], n: Int) throws(CompressionError) {
            let outcome = indices.withUnsafeBufferPointer { indexPointer in
                values.withUnsafeBufferPointer { valuePointer in
                    payload.withUnsafeMutableBytes { out in
                        Result { () throws(CompressionError) in
                            _ = try encoder.encode(indices: indexPointer, values: valuePointer, elementCount: n,
                                                   subgroup: 0, step: 0, into: out)
                        }
                    }
                }
            }
            try outcome.get()
        }
        #expect(throws: CompressionError.indicesNotIncreasing(position: 2, index: 4, previous: 4)) {
            try attempt([1, 4, 4], [1, 2, 3], n: 10)
        }
        #expect(throws: CompressionError.indicesNotIncreasing(position: 1, index: 2, previous: 8)) {
            try attempt([8, 2], [1, 2], n: 10)
        }
        #expect(throws: CompressionError.indexOutOfRange(position: 1, index: 10, elementCount: 10)) {
            try attempt([3, 10], [1, 2], n: 10)
        }
        #expect(throws: CompressionError.bufferSizeMismatch(buffer: "values", expected: 2, found: 1)) {
            try attempt([3, 4], [1], n: 10)
        }
        #expect(throws: CompressionError.keptCountOutOfRange(kept: 3, elementCount: 2)) {
            try attempt([0, 1, 2], [1, 2, 3], n: 2)
        }
        #expect(throws: CompressionError.bufferTooSmall(buffer: "payload buffer (bytes)", required: 64 + 104 + 200,
                                                        available: 256)) {
            try attempt(Array(0..<50), [Float](repeating: 1, count: 50), n: 10_000)
        }
        #expect(payload.allSatisfy { $0 == 0xAB })
        for level in [0, 4, -1] {
            #expect(throws: CompressionError.invalidZstdLevel(level)) {
                try GradientPayloadEncoder(options: PayloadOptions(indexZstdLevel: level))
            }
        }
    }
}
