import Foundation
import GPT
import Optim
import SeededRandom

/// A scratch directory of its own for one test, removed when the value is released.
final class ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("gpt-tests-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}

/// A small model for tests: two layers, 4 heads of 16 channels, 16 positions, and a vocabulary
/// of 500 padded to 512, so that the padding rows are exercised.
let smallConfig = GPTConfig(maxSeqLen: 16, vocabSize: 500, layers: 2, heads: 4, channels: 64)

func initialized(_ config: GPTConfig, seed: UInt64) -> GPTCheckpoint {
    var generator = SplitMix64(seed: seed)
    return GPTCheckpoint(gpt2Initialization: config, using: &generator)
}

/// A token stream with structure to learn: a repeating phrase of 37 tokens with one random
/// token in every few positions.
func learnableTokens(count: Int, vocabSize: Int, seed: UInt64) -> [UInt16] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { i in
        if i % 5 == 4 { return UInt16(generator.next() % UInt64(vocabSize)) }
        return UInt16((i % 37) * 13 % vocabSize)
    }
}

/// The raw bytes of a file, to inspect or corrupt in tests.
func bytes(of path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

func write(_ data: Data, to path: String) throws { try data.write(to: URL(fileURLWithPath: path)) }

/// Overwrites header field `index` (an int32) of an llm.c file.
func patchHeader(_ path: String, field index: Int, value: Int32) throws {
    var data = try bytes(of: path)
    withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(index * 4..<index * 4 + 4, with: $0) }
    try write(data, to: path)
}

/// The L2 norm of a range of a flat buffer, accumulated in fp64.
func norm(_ buffer: AlignedBuffer<Float>, _ range: Range<Int>) -> Double {
    buffer.withUnsafeBufferPointer { values in
        values[range].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    }
}

/// `checkpoint` with its QKV and FC weights multiplied by `factor`.
///
/// GPT-2's initial weights keep every pre-activation small, where GELU is nearly linear and
/// the attention softmax nearly uniform, so mistakes in their curved parts barely show. Widened
/// weights (factor 8: pre-activations of order 1) move both into their non-linear range.
func widened(_ checkpoint: GPTCheckpoint, factor: Float) -> GPTCheckpoint {
    let layout = checkpoint.config.parameterLayout
    for tensor in [ParameterTensor.qkvw, .fcw] {
        for i in layout.range(of: tensor) { checkpoint.parameters[i] *= factor }
    }
    return checkpoint
}
