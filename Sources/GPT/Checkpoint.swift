import DurableWrite
import Optim

/// A GPT-2 model's shape and parameters, stored in llm.c's checkpoint format so that weights
/// prepared by that ecosystem load here and ours load there.
///
/// Format: a 256 × int32 header — [0] magic 20240326, [1] version 3, [2] maxT, [3] V, [4] L,
/// [5] NH, [6] C, [7] Vp — followed by every parameter as little-endian fp32, in
/// `ParameterTensor` order (the same flat layout the model trains on).
public struct GPTCheckpoint: Sendable {
    public static let magic: Int32 = 20_240_326
    public static let version: Int32 = 3

    /// The header's name for each dimension, and its index among the 256 fields.
    static let headerFields: [(dimension: GPTConfig.Dimension, field: String, index: Int)] = [
        (.maxSeqLen, "maxT", 2), (.vocabSize, "V", 3), (.layers, "L", 4), (.heads, "NH", 5), (.channels, "C", 6),
        (.paddedVocabSize, "Vp", 7),
    ]

    public var config: GPTConfig
    /// `config.parameterCount` fp32 values in checkpoint order.
    public var parameters: AlignedBuffer<Float>

    public init(config: GPTConfig, parameters: AlignedBuffer<Float>) {
        precondition(parameters.count == config.parameterCount,
                     "a \(config) checkpoint needs \(config.parameterCount) parameters, got \(parameters.count)")
        self.config = config
        self.parameters = parameters
    }

    /// Reads and validates a checkpoint: magic, version, plausible dimensions (`GPTConfig.check()`:
    /// each within its limit, heads dividing C, Vp ≥ V, at most `GPTConfig.maximumParameterCount`
    /// parameters), and a file length that matches the sizes in the header exactly. Nothing is
    /// allocated for the parameters before all of that holds.
    public static func read(from path: String) throws(ModelFileError) -> GPTCheckpoint {
        let file = try LLMCFileReader(path: path, format: .checkpoint)
        let header = try file.readHeader(magic: magic, version: version)
        let value = { (d: GPTConfig.Dimension) in Int(header[headerFields.first { $0.dimension == d }!.index]) }
        let config = GPTConfig(maxSeqLen: value(.maxSeqLen), vocabSize: value(.vocabSize), paddedVocabSize: value(.paddedVocabSize),
                               layers: value(.layers), heads: value(.heads), channels: value(.channels))
        if let problem = headerProblem(config) { throw file.failure(problem) }
        let dataBytes = config.parameterCount * MemoryLayout<Float>.size
        try file.requireLength(LLMCHeader.byteCount + dataBytes)
        let parameters = AlignedBuffer<Float>(count: config.parameterCount)
        try file.read(into: UnsafeMutableRawPointer(parameters.address), count: dataBytes, at: LLMCHeader.byteCount)
        return GPTCheckpoint(config: config, parameters: parameters)
    }

    /// What is wrong with `config` as a header, named by the header's field; nil if nothing.
    static func headerProblem(_ config: GPTConfig) -> ModelFileError.Problem? {
        do throws(GPTConfig.DimensionError) {
            try config.check()
            return nil
        } catch {
            let field = headerFields.first { $0.dimension == error.dimension }!.field
            return .badHeaderField(field: field, value: error.value, expected: error.expected)
        }
    }

    /// Writes the checkpoint durably (`DurableFile`): a reader sees the old file or the complete
    /// new one, and a returned write survives a crash. A
    /// config that `read` would refuse (a dimension beyond the int32 header or its limit) is
    /// refused here too, before anything is written.
    public func write(to path: String) throws(ModelFileError) {
        if let problem = Self.headerProblem(config) { throw ModelFileError(.checkpoint, path: path, problem) }
        var header = [Int32](repeating: 0, count: LLMCHeader.fieldCount)
        header[0] = Self.magic
        header[1] = Self.version
        for (i, value) in [config.maxSeqLen, config.vocabSize, config.layers, config.heads, config.channels,
                           config.paddedVocabSize].enumerated() {
            header[2 + i] = Int32(value)
        }
        do throws(DurableFileError) {
            let file = try DurableFile(creating: path)
            try file.appendHeader(header)
            try file.append(UnsafeRawBufferPointer(start: parameters.address, count: parameters.count * MemoryLayout<Float>.size))
            try file.commit()
        } catch {
            throw ModelFileError(.checkpoint, path: path, .cannotWrite(error))
        }
    }
}
