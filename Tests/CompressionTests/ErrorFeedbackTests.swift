import Compression
import Optim
import Testing

/// Compresses `gradient` with feedback into an exactly sized payload and decodes it again.
func compressAndDecode(_ compressor: GradientCompressor, _ gradient: [Float], feedback: ErrorFeedback?,
                       step: UInt64) throws -> (decoded: [Float], header: GradientPayloadHeader) {
    let n = gradient.count
    let payload = AlignedBuffer<UInt8>(count: try compressor.maximumEncodedSize(elementCount: n, includingDenseSteps: true))
    let length = try compressor.compress(AlignedBuffer(gradient), subgroup: 4, step: step, feedback: feedback, into: payload)
    let (decoded, result) = decode(Array(payload.array.prefix(length)), count: n)
    return (decoded, try result.get())
}

@Suite struct ErrorFeedbackTests {
    /// Over many steps, sum of inputs == sum of decoded transmissions + final residual, per element,
    /// in float64. The only slack allowed is the fp32 rounding of acc = g + residual, at most
    /// 2^-24 · (|g| + |residual|) per step; subtracting the rounded value back out is exact.
    @Test(arguments: Precision.allCases)
    func conservesGradientMass(valueEncoding: Precision) throws {
        let n = 4099
        let steps = 10
        let compressor = try GradientCompressor(ratio: 0.03, options: PayloadOptions(valueEncoding: valueEncoding))
        let feedback = try ErrorFeedback(residual: AlignedBuffer(count: n), denseWarmUpSteps: 2)
        var inputs = [Double](repeating: 0, count: n)
        var transmitted = [Double](repeating: 0, count: n)
        var tolerance = [Double](repeating: 0, count: n)
        for step in 0..<steps {
            let gradient = wideRangeValues(count: n, seed: UInt64(100 + step), exponents: -30...5)
            let residualBefore = feedback.residual.array
            let isDense = feedback.nextStepIsDense
            let (decoded, header) = try compressAndDecode(compressor, gradient, feedback: feedback, step: UInt64(step))
            #expect(isDense == (step < 2))
            #expect(header.keptCount == (isDense ? n : 123) && (header.indexEncoding == .dense) == isDense)
            for i in 0..<n {
                inputs[i] += Double(gradient[i])
                transmitted[i] += Double(decoded[i])
                tolerance[i] += 0x1p-24 * (abs(Double(gradient[i])) + abs(Double(residualBefore[i])))
            }
        }
        #expect(feedback.completedSteps == steps)
        let residual = feedback.residual.array
        var worst = 0.0
        for i in 0..<n {
            let error = abs(inputs[i] - (transmitted[i] + Double(residual[i])))
            #expect(error <= tolerance[i], "element \(i): error \(error), allowed \(tolerance[i])")
            worst = max(worst, error)
        }
        #expect(residual.contains { $0 != 0 }, "sparse steps must leave something behind")
    }

    /// Mirrors the documented algorithm step by step with the sort-based top-k.
    @Test func matchesTheDefinitionStepByStep() throws {
        let n = 3001
        let compressor = try GradientCompressor(ratio: 0.05)
        let feedback = try ErrorFeedback(residual: AlignedBuffer(count: n), denseWarmUpSteps: 1)
        var residual = [Float](repeating: 0, count: n)
        for step in 0..<4 {
            let gradient = wideRangeValues(count: n, seed: UInt64(7 + step))
            let accumulated = zip(gradient, residual).map { $0 + $1 }
            let kept = step == 0 ? (0..<n).map { UInt32($0) } : referenceTopK(accumulated, keep: 151)
            var expected = [Float](repeating: 0, count: n)
            residual = accumulated
            for index in kept.map(Int.init) {
                expected[index] = accumulated[index]
                residual[index] = 0
            }
            let (decoded, _) = try compressAndDecode(compressor, gradient, feedback: feedback, step: UInt64(step))
            #expect(bitsEqual(decoded, expected), "step \(step)")
            #expect(bitsEqual(feedback.residual.array, residual), "step \(step)")
        }
    }

    @Test func warmUpCarriesOnlyTheRoundingError() throws {
        let n = 1000
        let gradient = wideRangeValues(count: n, seed: 3)
        let compressor = try GradientCompressor(ratio: 0.01, options: PayloadOptions(valueEncoding: .fp16))
        let feedback = try ErrorFeedback(residual: AlignedBuffer(count: n), denseWarmUpSteps: 1)
        let (decoded, header) = try compressAndDecode(compressor, gradient, feedback: feedback, step: 0)
        #expect(header.indexEncoding == .dense)
        #expect(bitsEqual(decoded, gradient.map { rounded($0, as: .fp16) }))
        #expect(bitsEqual(feedback.residual.array, gradient.map { $0 - rounded($0, as: .fp16) }))
        #expect(!feedback.nextStepIsDense)
    }

    @Test func compressorWithoutFeedbackSendsTheTopK() throws {
        let n = 20_000
        let gradient = wideRangeValues(count: n, seed: 11)
        let compressor = try GradientCompressor(ratio: 0.01, options: PayloadOptions(valueEncoding: .bf16, indexZstdLevel: 1))
        let (decoded, header) = try compressAndDecode(compressor, gradient, feedback: nil, step: 5)
        let kept = referenceTopK(gradient, keep: 200)
        #expect(header.keptCount == 200 && header.step == 5 && header.subgroup == 4)
        #expect(bitsEqual(decoded, referenceScatter(indices: kept, values: kept.map { gradient[Int($0)] },
                                                    elementCount: n, encoding: .bf16)))
    }

    @Test func badArgumentsLeaveTheResidualUntouched() throws {
        let compressor = try GradientCompressor(ratio: 0.1)
        let residual = AlignedBuffer<Float>(repeating: 0.25, count: 100)
        let feedback = try ErrorFeedback(residual: residual, denseWarmUpSteps: 1)
        let payload = AlignedBuffer<UInt8>(count: 1000)
        #expect(throws: CompressionError.bufferSizeMismatch(buffer: "error-feedback residual", expected: 99, found: 100)) {
            try compressor.compress(AlignedBuffer(count: 99), subgroup: 0, step: 0, feedback: feedback, into: payload)
        }
        // The first step is dense: 64 + 400 bytes needed.
        #expect(throws: CompressionError.bufferTooSmall(buffer: "payload buffer (bytes)", required: 464, available: 100)) {
            try compressor.compress(AlignedBuffer(count: 100), subgroup: 0, step: 0, feedback: feedback,
                                    into: AlignedBuffer(count: 100))
        }
        #expect(residual.array.allSatisfy { $0 == 0.25 } && feedback.completedSteps == 0)
        #expect(throws: CompressionError.invalidStepCount(name: "dense warm-up steps", value: -1)) {
            try ErrorFeedback(residual: residual, denseWarmUpSteps: -1)
        }
    }
}
