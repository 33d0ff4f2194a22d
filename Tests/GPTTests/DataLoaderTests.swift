import GPT
import SeededRandom
import Testing

@Suite struct DataLoaderTests {
    let shape = try! BatchShape(batchSize: 2, sequenceLength: 8, config: smallConfig)

    /// Token i is i, so every batch shows where it came from.
    func countingTokens(_ n: Int) -> [UInt16] { (0..<n).map { UInt16($0) } }

    @Test func fileOrderReproducesTheStreamAndWrapsAround() throws {
        // 3 whole batches of 16 plus 5 spare tokens (the last target of batch 3 needs one).
        let tokens = countingTokens(3 * 16 + 5)
        var loader = try TokenBatchLoader(tokens: tokens, shape: shape)
        #expect(loader.batchesPerEpoch == 3)
        for pass in 0..<2 {
            for k in 0..<3 {
                let batch = loader.next()
                #expect(batch.inputs == (k * 16..<k * 16 + 16).map(Int32.init))
                #expect(batch.targets == (k * 16 + 1..<k * 16 + 17).map(Int32.init))
                #expect(loader.epoch == pass)
            }
        }
        loader.rewind()
        #expect(loader.next().inputs.first == 0)
    }

    @Test func shuffledOrderIsAPermutationOfBatchStartsDeterministicPerSeed() throws {
        let tokens = countingTokens(40 * 16 + 1)
        func starts(seed: UInt64, epochs: Int) throws -> [[Int]] {
            var loader = try TokenBatchLoader(tokens: tokens, shape: shape, shuffler: SplitMix64(seed: seed))
            var result: [[Int]] = []
            for _ in 0..<epochs {
                var epoch: [Int] = []
                for _ in 0..<loader.batchesPerEpoch {
                    let batch = loader.next()
                    #expect(batch.targets == batch.inputs.map { $0 + 1 }, "targets are the inputs shifted by one")
                    epoch.append(Int(batch.inputs[0]))
                }
                result.append(epoch)
            }
            return result
        }
        let first = try starts(seed: 5, epochs: 2)
        let fileOrder = (0..<40).map { $0 * 16 }
        for epoch in first {
            #expect(epoch.sorted() == fileOrder)
            #expect(epoch != fileOrder)
        }
        #expect(first[0] != first[1], "every epoch draws a fresh order")
        #expect(try starts(seed: 5, epochs: 2) == first)
        #expect(try starts(seed: 6, epochs: 2) != first)
    }

    @Test func validationSplitHoldsOutTheTail() throws {
        let tokens = countingTokens(1000)
        let split = try TrainValidationSplit(tokens: tokens, validationFraction: 0.1)
        #expect(split.train.count == 900 && split.validation.count == 100)
        #expect(Array(split.train + split.validation) == tokens)
        var validation = try TokenBatchLoader(tokens: split.validation, shape: shape)
        #expect(validation.batchesPerEpoch == 6)
        let batch = validation.next()
        #expect(batch.inputs == (900..<916).map(Int32.init))
        #expect(batch.targets == (901..<917).map(Int32.init))
        #expect(throws: BatchError.badValidationFraction(1.5)) { try TrainValidationSplit(tokens: tokens, validationFraction: 1.5) }
    }

    @Test func sequenceLongerThanTheModelIsRefused() {
        #expect(throws: BatchError.sequenceLongerThanModel(sequenceLength: 17, maxSeqLen: 16)) {
            try BatchShape(batchSize: 2, sequenceLength: 17, config: smallConfig)
        }
        #expect(throws: BatchError.nonPositive(field: "batch size", value: 0)) {
            try BatchShape(batchSize: 0, sequenceLength: 8, config: smallConfig)
        }
        let error = BatchError.sequenceLongerThanModel(sequenceLength: 17, maxSeqLen: 16)
        #expect(error.description.contains("17") && error.description.contains("16"))
    }

    @Test func tooShortAStreamIsRefused() {
        #expect(throws: BatchError.tooFewTokens(available: 16, needed: 17)) {
            try TokenBatchLoader(tokens: countingTokens(16), shape: shape)
        }
    }
}
