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

    /// Upper bounds for the header's dimensions. They are far beyond any real GPT-2, and they
    /// keep the expected-length arithmetic free of overflow for any header a file may hold.
    static let dimensionLimits: [(field: String, index: Int, limit: Int)] = [
        ("maxT", 2, 1 << 24), ("V", 3, Int(Int32.max)), ("L", 4, 1 << 16), ("NH", 5, 1 << 16),
        ("C", 6, 1 << 20), ("Vp", 7, Int(Int32.max)),
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

    /// Reads and validates a checkpoint: magic, version, plausible dimensions, and a file length
    /// that matches the sizes in the header exactly.
    public static func read(from path: String) throws(ModelFileError) -> GPTCheckpoint {
        let file = try LLMCFileReader(path: path, format: .checkpoint)
        let header = try file.readHeader(magic: magic, version: version)
        for (field, index, limit) in dimensionLimits where header[index] < 1 || Int(header[index]) > limit {
            throw file.failure(.badHeaderField(field: field, value: Int(header[index]), expected: "1...\(limit)"))
        }
        let (maxT, v, l, nh, c, vp) = (Int(header[2]), Int(header[3]), Int(header[4]), Int(header[5]),
                                       Int(header[6]), Int(header[7]))
        guard c % nh == 0 else {
            throw file.failure(.badHeaderField(field: "C", value: c, expected: "a multiple of NH = \(nh)"))
        }
        guard vp >= v else {
            throw file.failure(.badHeaderField(field: "Vp", value: vp, expected: "at least V = \(v)"))
        }
        let config = GPTConfig(maxSeqLen: maxT, vocabSize: v, paddedVocabSize: vp, layers: l, heads: nh, channels: c)
        let dataBytes = config.parameterCount * MemoryLayout<Float>.size
        try file.requireLength(LLMCHeader.byteCount + dataBytes)
        let parameters = AlignedBuffer<Float>(count: config.parameterCount)
        try file.read(into: UnsafeMutableRawPointer(parameters.address), count: dataBytes, at: LLMCHeader.byteCount)
        return GPTCheckpoint(config: config, parameters: parameters)
    }

    /// Writes the checkpoint atomically: a reader sees the old file or the complete new one.
    public func write(to path: String) throws(ModelFileError) {
        var header = [Int32](repeating: 0, count: LLMCHeader.fieldCount)
        header[0] = Self.magic
        header[1] = Self.version
        for (i, value) in [config.maxSeqLen, config.vocabSize, config.layers, config.heads, config.channels,
                           config.paddedVocabSize].enumerated() {
            header[2 + i] = Int32(value)
        }
        try AtomicFileWriter.write(path: path, format: .checkpoint) { (file) throws(ModelFileError) in
            try file.appendHeader(header)
            try file.append(UnsafeRawPointer(parameters.address), count: parameters.count * MemoryLayout<Float>.size)
        }
    }
}
