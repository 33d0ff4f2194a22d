/// Cuts a token stream into training batches, as llm.c's data loader does: batch k covers
/// tokens [k·B·T, k·B·T + B·T] (inputs, and targets shifted by one), batches do not overlap,
/// and after the last whole batch the stream starts over.
///
/// In file order the batches come in stream order, which is what the parity test against
/// llm.c needs. Shuffled, each pass over the stream (an epoch) visits the same batches in a
/// fresh random order drawn from the caller's generator, so a seeded generator makes the
/// sequence reproducible.
public struct TokenBatchLoader: Sendable {
    public let shape: BatchShape
    public let tokens: ArraySlice<UInt16>
    /// Whole batches in one pass over the stream.
    public let batchesPerEpoch: Int
    /// Completed passes over the stream.
    public private(set) var epoch = 0
    /// Token offsets of this epoch's batches, in the order they are served.
    public private(set) var epochBatchStarts: [Int]
    private var cursor = 0
    private var shuffler: (any RandomNumberGenerator & Sendable)?

    /// A loader in file order, or shuffled by `shuffler` when one is given.
    public init(tokens: ArraySlice<UInt16>, shape: BatchShape,
                shuffler: (any RandomNumberGenerator & Sendable)? = nil) throws(BatchError) {
        let needed = shape.tokenCount + 1
        guard tokens.count >= needed else { throw .tooFewTokens(available: tokens.count, needed: needed) }
        self.shape = shape
        self.tokens = tokens
        batchesPerEpoch = (tokens.count - 1) / shape.tokenCount
        epochBatchStarts = (0..<batchesPerEpoch).map { $0 * shape.tokenCount }
        self.shuffler = shuffler
        shuffleEpoch()
    }

    /// A loader over a whole token array.
    public init(tokens: [UInt16], shape: BatchShape,
                shuffler: (any RandomNumberGenerator & Sendable)? = nil) throws(BatchError) {
        try self.init(tokens: tokens[...], shape: shape, shuffler: shuffler)
    }

    /// The next batch; starts a new epoch after the last one.
    public mutating func next() -> TokenBatch {
        if cursor == batchesPerEpoch {
            epoch += 1
            cursor = 0
            shuffleEpoch()
        }
        defer { cursor += 1 }
        return TokenBatch(shape: shape, tokens: tokens, start: epochBatchStarts[cursor])
    }

    /// Back to the first batch of the current epoch (for a validation pass that must see the
    /// same batches every time).
    public mutating func rewind() { cursor = 0 }

    private mutating func shuffleEpoch() {
        guard var generator = shuffler else { return }
        Self.shuffle(&epochBatchStarts, using: &generator)
        shuffler = generator
    }

    /// Fisher–Yates with a fully specified bounded draw (the high half of a 64×64-bit product),
    /// so the order depends only on the generator's outputs, not on the standard library's
    /// shuffle, whose algorithm is not promised to stay the same across Swift versions.
    private static func shuffle(_ values: inout [Int], using generator: inout some RandomNumberGenerator) {
        var i = values.count - 1
        while i > 0 {
            let j = Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high)
            values.swapAt(i, j)
            i -= 1
        }
    }
}

/// One token stream split into a training part and a validation part that follows it, for
/// when no separate validation file is given.
public struct TrainValidationSplit: Sendable {
    public let train: ArraySlice<UInt16>
    public let validation: ArraySlice<UInt16>

    /// The last `validationFraction` of the stream is held out; the two parts do not overlap.
    public init(tokens: [UInt16], validationFraction: Double) throws(BatchError) {
        guard validationFraction > 0, validationFraction < 1 else { throw .badValidationFraction(validationFraction) }
        let cut = tokens.count - Int((Double(tokens.count) * validationFraction).rounded())
        train = tokens[..<cut]
        validation = tokens[cut...]
    }
}
