import GPT
import Optim
import SeededRandom

/// The llm.c checkpoint reader (`GPTCheckpoint.read(from:)`, what `--checkpoint` and `--resume`
/// load): a 256 × int32 header with the model's dimensions, then every parameter. The header's
/// dimensions are also given to `GPTConfig(initSpec:)` as `gpt2:L,NH,C,maxT,V` (what `--init`
/// parses): a shape either is refused as a `GPTConfigError` or has a parameter count within
/// `GPTConfig.maximumParameterCount`, computed without overflow.
public final class CheckpointTarget: FuzzTarget {
    public let name = "checkpoint"
    private let scratch: ScratchDirectory

    public init() throws {
        scratch = try ScratchDirectory("checkpoint")
    }

    public func seeds() throws -> [[UInt8]] {
        var random = SplitMix64(seed: 0x5EED_0C4B)
        let configs = [
            GPTConfig(maxSeqLen: 4, vocabSize: 10, paddedVocabSize: 16, layers: 1, heads: 2, channels: 8),
            GPTConfig(maxSeqLen: 2, vocabSize: 3, paddedVocabSize: 3, layers: 2, heads: 1, channels: 2),
        ]
        return try configs.map { config in
            let values = (0..<config.parameterCount).map { _ in Float(Int64(bitPattern: random.next() % 2000) - 1000) / 1000 }
            let checkpoint = GPTCheckpoint(config: config, parameters: AlignedBuffer(values))
            let path = scratch.write([], to: "seed.bin")
            try checkpoint.write(to: path)
            return scratch.read("seed.bin")
        }
    }

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let specOutcome = try parseSpec(from: input)
        let path = scratch.write(input, to: "model.bin")
        let outcome = try readModelFile(name, reader: "GPTCheckpoint.read") {
            let checkpoint = try GPTCheckpoint.read(from: path)
            guard checkpoint.parameters.count == checkpoint.config.parameterCount,
                  input.count == 1024 + 4 * checkpoint.config.parameterCount else {
                throw FuzzViolation(name, "accepted a \(input.count)-byte file for \(checkpoint.config)")
            }
            guard checkpoint.config.parameterCount <= GPTConfig.maximumParameterCount else {
                throw FuzzViolation(name, "accepted \(checkpoint.config), beyond the parameter bound")
            }
        }
        return specOutcome == "ok" ? outcome : "\(specOutcome) / \(outcome)"
    }

    /// The header's L, NH, C, maxT and V as an `--init` spec, parsed.
    private func parseSpec(from input: [UInt8]) throws(FuzzViolation) -> String {
        let fields = [4, 5, 6, 2, 3].compactMap { input.loadLE(4 * $0, as: Int32.self) }
        guard fields.count == 5 else { return "ok" }
        let spec = "gpt2:" + fields.map(String.init).joined(separator: ",")
        let config: GPTConfig
        do throws(GPTConfigError) {
            config = try GPTConfig(initSpec: spec)
        } catch {
            return try rejection(name, error)
        }
        guard config.parameterCount <= GPTConfig.maximumParameterCount, config.initSpec == spec else {
            throw FuzzViolation(name, "--init \(spec) accepted as \(config), beyond the bound or not round-tripping")
        }
        return "ok"
    }

    /// Sets a header dimension to an edge value, sets all of them to values within their own
    /// limits whose products pass the parameter bound, or picks small dimensions and resizes the
    /// file to exactly what they describe.
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool {
        guard input.count >= 1024 else { return false }
        let limits: [Int32] = [1 << 24, Int32.max, 1 << 16, 1 << 16, 1 << 20, Int32.max]
        switch random.next() % 4 {
        case 0:
            let field = 2 + Int(random.next() % 6)
            let limit = limits[field - 2]
            input.storeLE(pick([0, 1, -1, limit, limit &+ 1, Int32.min, Int32.max, 3, 7, 64], &random), at: 4 * field)
        case 1:
            input.storeLE(pick([GPTCheckpoint.magic, 20_240_520, 0, -1], &random), at: 0)
            input.storeLE(pick([GPTCheckpoint.version, 1, 2, 4, 0], &random), at: 4)
        case 2:
            // Every dimension within its own limit, their products beyond the parameter bound
            // (or at its edge): L·12·C², Vp·C and maxT·C.
            let edges: [[Int32]] = [[1 << 24, 1 << 16, 1, 1], [Int32.max, 50_257, 1 << 20, 1], [1 << 16, 48, 1],
                                    [1, 16, 1 << 16], [1 << 20, 1 << 18, 1 << 16, 1 << 10], [Int32.max, 50_304, 1 << 20, 1]]
            for (i, choices) in edges.enumerated() { input.storeLE(pick(choices, &random), at: 8 + 4 * i) }
        default:
            let heads = 1 + Int(random.next() % 3)
            let channels = heads * (1 + Int(random.next() % 4)) + (random.next() % 8 == 0 ? 1 : 0)
            let vocabulary = 1 + Int(random.next() % 9)
            let config = GPTConfig(maxSeqLen: 1 + Int(random.next() % 4), vocabSize: vocabulary,
                                   paddedVocabSize: vocabulary + Int(random.next() % 3) - (random.next() % 8 == 0 ? 1 : 0),
                                   layers: 1 + Int(random.next() % 2), heads: heads, channels: channels)
            for (i, value) in [config.maxSeqLen, config.vocabSize, config.layers, config.heads, config.channels,
                               config.paddedVocabSize].enumerated() {
                input.storeLE(Int32(value), at: 8 + 4 * i)
            }
            let length = 1024 + 4 * max(0, config.parameterCount)
            if input.count > length {
                input.removeLast(input.count - length)
            } else {
                input += (0..<(length - input.count)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
        }
        return true
    }
}

/// The llm.c token file reader (`TokenFile.read(from:vocabSize:)`, what `--train-data` and
/// `--val-data` load): a 256 × int32 header with the token count, then the tokens as u16.
public final class TokenFileTarget: FuzzTarget {
    public let name = "tokens"
    private let scratch: ScratchDirectory

    public init() throws {
        scratch = try ScratchDirectory("tokens")
    }

    public func seeds() throws -> [[UInt8]] {
        let streams: [[UInt16]] = [(0..<64).map { UInt16($0 * 7 % 256) }, [], [50_256, 0, 65_535, 1]]
        return try streams.map { tokens in
            let path = scratch.write([], to: "seed.bin")
            try TokenFile.write(tokens, to: path)
            return scratch.read("seed.bin")
        }
    }

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let path = scratch.write(input, to: "tokens.bin")
        // The vocabulary check is optional: try without it, with GPT-2's and with a tiny one.
        let vocabulary = [nil, 50_257, 256][input.count % 3]
        return try readModelFile(name, reader: "TokenFile.read") {
            let tokens = try TokenFile.read(from: path, vocabSize: vocabulary)
            guard input.count == 1024 + 2 * tokens.count else {
                throw FuzzViolation(name, "accepted a \(input.count)-byte file as \(tokens.count) tokens")
            }
            if let vocabulary, let token = tokens.first(where: { Int($0) >= vocabulary }) {
                throw FuzzViolation(name, "accepted token \(token) with a vocabulary of \(vocabulary)")
            }
        }
    }

    /// Sets the token count to an edge value or to what the file holds.
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool {
        guard input.count >= 1024 else { return false }
        let held = Int32(clamping: (input.count - 1024) / 2)
        input.storeLE(pick([held, held &+ 1, held &- 1, 0, -1, Int32.max, Int32.min, Int32.max / 2 + 1], &random), at: 8)
        if random.next() % 4 == 0 { input.storeLE(pick([TokenFile.magic, GPTCheckpoint.magic, 0], &random), at: 0) }
        return true
    }
}

/// Runs a model-file reader on a fuzz input: "ok" when `read` accepts it, the rejection's
/// signature for the reader's own typed error, and a violation for anything else.
private func readModelFile(_ target: String, reader: String, _ read: () throws -> Void) throws(FuzzViolation) -> String {
    do {
        try read()
        return "ok"
    } catch let error as ModelFileError {
        return try rejection(target, error)
    } catch let violation as FuzzViolation {
        throw violation
    } catch {
        throw FuzzViolation(target, "\(reader) threw \(type(of: error)): \(error)")
    }
}
