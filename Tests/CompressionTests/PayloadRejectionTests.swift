import Checksum
import Compression
import Optim
import Testing

/// Small payloads of every shape, to corrupt.
enum SmallPayload: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case varintFP16, blockOffsetsBF16, zstdVarintFP32, denseFP32

    var testDescription: String { rawValue }
    var elementCount: Int { self == .denseFP32 ? 20 : 300 }

    func bytes() throws -> [UInt8] {
        switch self {
        case .varintFP16:
            return try encodePayload(indices: [0, 3, 150, 299], values: [1.5, -2, 1e-3, 7], elementCount: 300,
                                     options: PayloadOptions(valueEncoding: .fp16, indexEncoding: .deltaVarint))
        case .blockOffsetsBF16:
            return try encodePayload(indices: [2, 40, 41, 250], values: [-1, 3.25, 9, 0.5], elementCount: 300,
                                     options: PayloadOptions(valueEncoding: .bf16, indexEncoding: .blockOffsets16))
        case .zstdVarintFP32:
            let indices = (0..<60).map { UInt32($0 * 5) }
            let payload = try encodePayload(indices: indices, values: indices.map { Float($0) + 0.5 }, elementCount: 300,
                                            options: PayloadOptions(indexEncoding: .deltaVarint, indexZstdLevel: 3))
            precondition(payload[30] == IndexCompression.zstd.rawValue, "this fixture must exercise zstd")
            return payload
        case .denseFP32:
            return try encodePayload(indices: (0..<20).map { UInt32($0) }, values: (0..<20).map { Float($0) - 9.5 },
                                     elementCount: 20, options: PayloadOptions())
        }
    }
}

/// Every rejected payload must leave the destination exactly as it was: this sentinel.
let sentinel = Float(bitPattern: 0x7FC0_BEEF)

func expectRejectedUntouched(_ payload: [UInt8], count: Int, _ comment: Comment? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation) {
    let (destination, result) = decode(payload, count: count, fill: sentinel)
    if case .success = result { Issue.record("accepted: \(comment?.rawValue ?? "")", sourceLocation: sourceLocation) }
    #expect(destination.allSatisfy { $0.bitPattern == sentinel.bitPattern }, comment, sourceLocation: sourceLocation)
}

@Suite struct PayloadRejectionTests {
    @Test(arguments: SmallPayload.allCases)
    func everySingleByteCorruptionIsRejected(shape: SmallPayload) throws {
        let payload = try shape.bytes()
        #expect(throws: Never.self) { try decode(payload, count: shape.elementCount).result.get() }
        for position in payload.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var corrupted = payload
                corrupted[position] ^= flip
                expectRejectedUntouched(corrupted, count: shape.elementCount, "byte \(position) ^ \(flip)")
            }
        }
    }

    @Test(arguments: SmallPayload.allCases)
    func truncatedAndOversizedPayloadsAreRejected(shape: SmallPayload) throws {
        let payload = try shape.bytes()
        for length in 0..<payload.count {
            expectRejectedUntouched(Array(payload.prefix(length)), count: shape.elementCount, "length \(length)")
        }
        for extra in [[UInt8(0)], [1, 2, 3], [UInt8](repeating: 0, count: 64)] {
            let (_, result) = decode(payload + extra, count: shape.elementCount)
            #expect(throws: PayloadError.lengthMismatch(found: payload.count + extra.count, expected: payload.count)) {
                try result.get()
            }
            expectRejectedUntouched(payload + extra, count: shape.elementCount, "\(extra.count) extra bytes")
        }
    }

    @Test func wrongDestinationLengthIsRejected() throws {
        let payload = try SmallPayload.varintFP16.bytes()
        for count in [0, 299, 301] {
            let (_, result) = decode(payload, count: count)
            #expect(throws: PayloadError.destinationSizeMismatch(found: count, expected: 300)) { try result.get() }
            expectRejectedUntouched(payload, count: count)
        }
    }

    /// The hand builder itself must be right, or the rejections below would prove nothing.
    @Test func handBuiltPayloadsDecodeWhenValid() throws {
        let blocks = HandBuiltPayload(n: 70_000, k: 3, indexEncoding: 2,
                                      indexStream: [2, 0, 0, 0, 5, 0, 9, 0, 1, 0, 0, 0, 0x10, 0x01],
                                      values: [1, 2, 3])
        let varint = HandBuiltPayload(n: 70_000, k: 3, indexEncoding: 1,
                                      indexStream: [5, 4, 0x87, 0x82, 0x04], values: [1, 2, 3])
        for payload in [blocks, varint] {
            let (decoded, result) = decode(payload.bytes, count: 70_000)
            let header = try result.get()
            #expect(header.subgroup == 9 && header.step == 3)
            #expect(decoded[5] == 1 && decoded[9] == 2 && decoded[65_536 + 0x110] == 3)
            #expect(decoded.filter { $0 != 0 }.count == 3)
        }
    }

    @Test(arguments: [
        // Block-local u16: a repeated offset, a decreasing one, one past n in the last block.
        (HandBuiltPayload(n: 100, k: 3, indexEncoding: 2, indexStream: [3, 0, 0, 0, 5, 0, 5, 0, 9, 0], values: [1, 2, 3]),
         PayloadError.indexNotIncreasing(position: 1, index: 5, previous: 5)),
        (HandBuiltPayload(n: 100, k: 3, indexEncoding: 2, indexStream: [3, 0, 0, 0, 7, 0, 3, 0, 9, 0], values: [1, 2, 3]),
         PayloadError.indexNotIncreasing(position: 1, index: 3, previous: 7)),
        (HandBuiltPayload(n: 100, k: 3, indexEncoding: 2, indexStream: [3, 0, 0, 0, 5, 0, 9, 0, 100, 0], values: [1, 2, 3]),
         PayloadError.indexOutOfRange(position: 2, index: 100, elementCount: 100)),
        (HandBuiltPayload(n: 70_000, k: 2, indexEncoding: 2, indexStream: [1, 0, 0, 0, 5, 0, 1, 0, 0, 0, 0xFF, 0xFF],
                          values: [1, 2]),
         PayloadError.indexOutOfRange(position: 1, index: 65_536 + 65_535, elementCount: 70_000)),
        // Delta varint: a zero delta, a delta past n.
        (HandBuiltPayload(n: 100, k: 3, indexEncoding: 1, indexStream: [5, 0, 4], values: [1, 2, 3]),
         PayloadError.indexNotIncreasing(position: 1, index: 5, previous: 5)),
        (HandBuiltPayload(n: 100, k: 3, indexEncoding: 1, indexStream: [5, 90, 10], values: [1, 2, 3]),
         PayloadError.indexOutOfRange(position: 2, index: 105, elementCount: 100)),
    ])
    func badIndicesWithValidChecksumsAreRejected(payload: HandBuiltPayload, expected: PayloadError) {
        let (destination, result) = decode(payload.bytes, count: Int(payload.n), fill: sentinel)
        #expect(throws: expected) { try result.get() }
        #expect(destination.allSatisfy { $0.bitPattern == sentinel.bitPattern })
    }

    @Test func malformedStreamsAndHeadersWithValidChecksumsAreRejected() {
        let cases: [(HandBuiltPayload, String)] = [
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexStream: [5, 0x84, 0x00], values: [1, 2]),
             "shortest form"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexStream: [5, 4, 1], values: [1, 2]), "left after"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexStream: [5, 0x85], values: [1, 2]), "past the end"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexStream: [0xFF, 0xFF, 0xFF, 0xFF, 0x7F], values: [1, 2]),
             "32 bits"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 2, indexStream: [1, 0, 0, 0, 5, 0, 9], values: [1, 2]),
             "raw index byte count"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 2, indexStream: [3, 0, 0, 0, 5, 0, 9, 0], values: [1, 2]),
             "claims 3"),
            (HandBuiltPayload(n: 70_000, k: 2, indexEncoding: 2, indexStream: [2, 0, 0, 0, 5, 0, 6, 0, 1, 0, 0, 0],
                              values: [1, 2]), "claims 1"),
            (HandBuiltPayload(n: 70_000, k: 2, indexEncoding: 2, indexStream: [0, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0],
                              values: [1, 2]), "add up to 1"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexCompression: 1, indexStream: [1, 2, 3],
                              rawIndexBytes: 4, values: [1, 2]), "zstd"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexStream: [5, 4], values: [1, 2], version: 2), "version"),
            (HandBuiltPayload(n: 100, k: 2, valueEncoding: 9, indexEncoding: 1, indexStream: [5, 4], values: [1, 2]),
             "value encoding"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 3, indexStream: [5, 4], values: [1, 2]), "index encoding"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexCompression: 2, indexStream: [5, 4], values: [1, 2]),
             "index compression"),
            (HandBuiltPayload(n: 100, k: 2, indexEncoding: 1, indexCompression: 1, indexStream: [5, 4], values: [1, 2]),
             "stored index byte count"),
            (HandBuiltPayload(n: 2, k: 3, indexEncoding: 1, indexStream: [0, 1, 1], values: [1, 2, 3]), "at most n"),
            (HandBuiltPayload(n: 2, k: 2, indexEncoding: 1, indexStream: [0, 1], values: [1, 2]), "dense when k == n"),
            (HandBuiltPayload(n: 3, k: 2, indexEncoding: 0, indexStream: [], values: [1, 2]), "sparse encoding"),
        ]
        for (payload, mentioned) in cases {
            let (destination, result) = decode(payload.bytes, count: Int(payload.n), fill: sentinel)
            guard case .failure(let error) = result else {
                Issue.record("accepted a payload that should fail with '\(mentioned)'")
                continue
            }
            #expect(error.description.contains(mentioned), "\(error)")
            #expect(destination.allSatisfy { $0.bitPattern == sentinel.bitPattern })
        }
    }

    /// A body checksum the caller summed (as a device does while the payload lands) stands in
    /// for the decoder's own: the right one decodes the same values, a wrong one is refused as a
    /// body checksum mismatch that names it, the destination untouched.
    @Test func aCallerSummedBodyChecksumIsChecked() throws {
        let payload = try SmallPayload.varintFP16.bytes()
        let body = try #require(GradientPayloadDecoder.bodyRange(ofPayloadBytes: payload.count))
        #expect(body == GradientPayloadHeader.byteCount..<payload.count)
        #expect(GradientPayloadDecoder.bodyRange(ofPayloadBytes: GradientPayloadHeader.byteCount - 1) == nil)
        let summed = CRC32C.checksum(of: Array(payload[body]))
        let decoder = GradientPayloadDecoder()
        func run(_ bodyChecksum: UInt32?) -> ([Float], Result<GradientPayloadHeader, PayloadError>) {
            var out = [Float](repeating: 7, count: 300)
            let result = payload.withUnsafeBytes { raw in
                out.withUnsafeMutableBufferPointer { o in
                    Result { () throws(PayloadError) in try decoder.decode(raw, into: o, bodyChecksum: bodyChecksum) }
                }
            }
            return (out, result)
        }
        let (own, ownResult) = run(nil)
        let (given, givenResult) = run(summed)
        #expect((try? ownResult.get()) != nil && (try? givenResult.get()) != nil)
        #expect(bitsEqual(own, given))
        let (untouched, wrong) = run(summed ^ 1)
        guard case .failure(.checksumMismatch("body checksum", let stored, let computed)) = wrong else {
            Issue.record("a wrong summed body checksum was accepted")
            return
        }
        #expect(computed == summed ^ 1 && stored == summed)
        #expect(untouched.allSatisfy { $0 == 7 })
    }

    /// A dense payload's gradient is handed out where it lies, after the same checks `decode`
    /// makes: in each value encoding its values are the decoded ones and the scratch is not
    /// touched; a sparse payload is not read in place but decoded into the scratch, as fp32; a
    /// damaged body or a wrong element count is refused as `decode` refuses it.
    @Test(arguments: [Precision.fp32, .fp16, .bf16])
    func aDenseGradientIsReadWhereItLies(encoding: Precision) throws {
        let n = 37
        let values = (0..<n).map { Float($0) * 0.37 - 5 }
        let payload = try encodePayload(indices: (0..<n).map { UInt32($0) }, values: values, elementCount: n,
                                        options: PayloadOptions(valueEncoding: encoding))
        let decoder = GradientPayloadDecoder()
        let (decoded, result) = decode(payload, count: n)
        _ = try result.get()
        var scratch = [Float](repeating: sentinel, count: n)
        let inPlace: [Float] = try payload.withUnsafeBytes { raw in
            try scratch.withUnsafeMutableBufferPointer { out in
                let dense = try decoder.gradient(raw, scratch: out)
                #expect(dense.encoding == encoding && dense.values == raw.baseAddress! + GradientPayloadHeader.byteCount)
                return (0..<n).map { i in
                    switch encoding {
                    case .fp32: dense.values.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                    case .fp16: Float(Float16(bitPattern: dense.values.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    case .bf16: Float(bitPattern: UInt32(dense.values.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                    }
                }
            }
        }
        #expect(bitsEqual(inPlace, decoded))
        #expect(scratch.allSatisfy { $0.bitPattern == sentinel.bitPattern })
        var damaged = payload
        damaged[damaged.count - 1] ^= 1
        let refusals: [PayloadError?] = [(damaged, n), (payload, n + 1)].map { bytes, elements in
            var out = [Float](repeating: 0, count: elements)
            return bytes.withUnsafeBytes { raw in
                out.withUnsafeMutableBufferPointer { o in
                    do throws(PayloadError) { _ = try decoder.gradient(raw, scratch: o); return nil } catch { return error }
                }
            }
        }
        guard case .checksumMismatch("body checksum", _, _) = refusals[0], case .destinationSizeMismatch(n + 1, n) = refusals[1] else {
            Issue.record("expected a body checksum mismatch and a size mismatch, got \(refusals)")
            return
        }
        let sparse = try SmallPayload.varintFP16.bytes()
        var sparseScratch = [Float](repeating: sentinel, count: 300)
        let (sparseDecoded, _) = decode(sparse, count: 300)
        let onScratch: Bool = try sparse.withUnsafeBytes { raw in
            try sparseScratch.withUnsafeMutableBufferPointer { out in
                let g = try decoder.gradient(raw, scratch: out)
                return g.values == UnsafeRawPointer(out.baseAddress!) && g.encoding == .fp32
            }
        }
        #expect(onScratch)
        #expect(bitsEqual(sparseScratch, sparseDecoded))
    }

    @Test func errorsNameTheFieldAndBothValues() throws {
        var payload = try SmallPayload.varintFP16.bytes()
        payload[10] ^= 1  // inside the step: only the header checksum can notice
        let (_, stepResult) = decode(payload, count: 300)
        guard case .failure(let error) = stepResult, case .checksumMismatch(let field, let stored, let computed) = error else {
            Issue.record("expected a header checksum mismatch")
            return
        }
        #expect(field == "header checksum" && stored != computed)
        #expect(error.description.contains("header checksum"))

        payload = try SmallPayload.varintFP16.bytes()
        payload[payload.count - 1] ^= 1
        let (_, bodyResult) = decode(payload, count: 300)
        guard case .failure(let bodyError) = bodyResult, case .checksumMismatch("body checksum", _, _) = bodyError else {
            Issue.record("expected a body checksum mismatch")
            return
        }

        payload = try SmallPayload.varintFP16.bytes()
        payload[0] = UInt8(ascii: "X")
        let (_, magicResult) = decode(payload, count: 300)
        guard case .failure(let magicError) = magicResult else { return }
        #expect(magicError.description.contains("magic") && magicError.description.contains("0x50434958")
            && magicError.description.contains("0x50434953"))
    }
}
