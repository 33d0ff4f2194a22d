import Foundation
import GPT
import Glibc
import Optim
import Testing

/// GPT-2 shapes from untrusted input — `--init gpt2:L,H,C,T,V`, a checkpoint's header, a batch
/// size from the command line or a DeepSpeed config — are bounded before anything is counted or
/// allocated from them: each dimension within its limit, at most 2^40 parameters, at most 2^40
/// activation elements. A product beyond Int traps the process, so these must be refusals.
@Suite struct DimensionBoundsTests {
    static let bound = "small enough for at most 1099511627776 (2^40) parameters"

    /// Each spec is refused naming the letter at fault and its value. Without the checks the
    /// first traps (rounding V up to Vp overflows) and the rest are accepted, to trap or exhaust
    /// memory once their parameters are counted and allocated.
    @Test(arguments: [
        ("gpt2:1,1,8,8,9223372036854775807", "V is 9223372036854775807, expected 1...2147483520"),
        ("gpt2:1,1,4611686018427387904,8,8", "C is 4611686018427387904, expected 1...1048576"),
        ("gpt2:70000,1,8,8,8", "L is 70000, expected 1...65536"),
        ("gpt2:1,65537,65537,8,8", "H is 65537, expected 1...65536"),
        ("gpt2:1,1,8,16777217,8", "T is 16777217, expected 1...16777216"),
        ("gpt2:1,1,1048576,8,8", "C is 1048576, expected \(bound)"),
        ("gpt2:65536,16,16384,1024,50257", "L is 65536, expected \(bound)"),
        ("gpt2:1,1,131072,16777216,8", "T is 16777216, expected \(bound)"),
        ("gpt2:1,1,1024,8,2147483520", "V is 2147483520 (padded to Vp = 2147483520), expected \(bound)"),
    ])
    func hugeInitSpecsAreRefusedNamingTheLetter(spec: String, why: String) {
        #expect(throws: GPTConfigError.badSpec(spec, why)) { try GPTConfig(initSpec: spec) }
    }

    /// Far larger than the paper's models still parses, and counts exactly.
    @Test func largeSpecsWithinTheBoundParse() throws {
        let config = try GPTConfig(initSpec: "gpt2:16,512,65536,1024,50257")
        let c = 65536
        #expect(config.parameterCount == 16 * (12 * c * c + 13 * c) + (50304 + 1024) * c + 2 * c)
        #expect(config.parameterCount <= GPTConfig.maximumParameterCount)
        #expect(try GPTConfig(initSpec: "gpt2:65536,1,8,16777216,2147483520").layers == 65536)
    }

    /// A 1024-byte header followed by a sparse file of exactly the length the header describes:
    /// 22 layers of C = 65536, 1.13 × 10^12 parameters (4.5 TB). The length check alone would pass
    /// it and the reader would allocate 4.5 TB; the parameter bound refuses it at the header.
    @Test func aCheckpointHeaderBeyondTheBoundIsRefusedBeforeAllocating() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("huge.bin")
        let claimed = GPTConfig(maxSeqLen: 8, vocabSize: 8, paddedVocabSize: 8, layers: 22, heads: 1, channels: 65536)
        #expect(claimed.parameterCount > GPTConfig.maximumParameterCount)
        try writeHeaderOnly(path, [8, 8, 22, 1, 65536, 8])
        #expect(truncate(path, off_t(1024 + 4 * claimed.parameterCount)) == 0)
        let error = try #require(throws: ModelFileError.self) { try GPTCheckpoint.read(from: path) }
        #expect(error.problem == .badHeaderField(field: "L", value: 22, expected: Self.bound))
        #expect(error.description.contains("header field 'L' is 22, expected \(Self.bound)"))
    }

    /// Dimensions each within their own limit whose products pass Int or the bound, named by the
    /// header field that drives the count.
    @Test(arguments: [
        ([1 << 24, Int(Int32.max), 1 << 16, 1, 1 << 20, Int(Int32.max)], "C", 1 << 20),
        ([8, Int(Int32.max), 1, 1, 1024, Int(Int32.max)], "Vp", Int(Int32.max)),
        ([1 << 24, 8, 1, 1, 1 << 17, 8], "maxT", 1 << 24),
    ])
    func headerDimensionsWhoseProductsOverflowAreRefused(fields: [Int], field: String, value: Int) throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("huge.bin")
        try writeHeaderOnly(path, fields.map { Int32($0) })
        let error = try #require(throws: ModelFileError.self) { try GPTCheckpoint.read(from: path) }
        #expect(error.problem == .badHeaderField(field: field, value: value, expected: Self.bound))
    }

    /// The writer refuses a config its reader would refuse, and writes nothing.
    @Test func aCheckpointTheReaderWouldRefuseIsNotWritten() throws {
        let scratch = try ScratchDirectory()
        let config = GPTConfig(maxSeqLen: 1, vocabSize: 1, paddedVocabSize: 1, layers: 65537, heads: 1, channels: 1)
        let checkpoint = GPTCheckpoint(config: config, parameters: AlignedBuffer(count: config.parameterCount))
        let error = try #require(throws: ModelFileError.self) { try checkpoint.write(to: scratch.file("model.bin")) }
        #expect(error.problem == .badHeaderField(field: "L", value: 65537, expected: "1...65536"))
        #expect(scratch.contents.isEmpty)
    }

    /// A batch whose activations pass 2^40 elements (or Int) is refused before the model sizes
    /// its activation buffer from it: a huge batch for GPT-2 small, and B·NH·T² for a model with
    /// many heads and long sequences.
    @Test func batchesWhoseActivationsOverflowAreRefused() throws {
        let small = try GPTConfig(initSpec: "gpt2:12,12,768,1024,50257")
        #expect(throws: BatchError.activationsTooLarge(batchSize: 1 << 60, sequenceLength: 1024, limit: 1 << 40)) {
            try BatchShape(batchSize: 1 << 60, sequenceLength: 1024, config: small)
        }
        #expect(try BatchShape(batchSize: 64, sequenceLength: 1024, config: small).tokenCount == 65536)
        let wide = GPTConfig(maxSeqLen: 1 << 24, vocabSize: 8, layers: 1, heads: 1 << 16, channels: 1 << 16)
        let error = try #require(throws: BatchError.self) { try BatchShape(batchSize: 1, sequenceLength: 1 << 24, config: wide) }
        #expect(error.description.contains("batch size 1 with sequence length 16777216 needs more than 1099511627776"))
    }

    func writeHeaderOnly(_ path: String, _ dimensions: [Int32]) throws {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = GPTCheckpoint.magic
        header[1] = GPTCheckpoint.version
        for (i, value) in dimensions.enumerated() { header[2 + i] = value }
        try header.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
    }
}
