import GPT
import SeededRandom
import Testing

/// The benchmark's bookkeeping on a tiny model (its speed is not tested here).
@Suite struct TrainingBenchmarkTests {
    @Test func rowsAreConsistent() throws {
        let options = TrainingBenchmark.Options(config: smallConfig, batchSize: 2, sequenceLength: 8,
                                                threadCounts: [1], steps: 3, warmupSteps: 1)
        var generator = SplitMix64(seed: 9)
        let rows = try TrainingBenchmark(options).run(using: &generator)
        #expect(OpenBLAS.threadCount == 1)
        let row = try #require(rows.first)
        #expect(rows.count == 1)
        #expect(row.model == smallConfig.initSpec && row.parameters == smallConfig.parameterCount)
        #expect(row.blasThreads == 1 && row.steps == 3 && row.batchSize == 2 && row.sequenceLength == 8)
        #expect(abs(row.tokensPerSecond * row.secondsPerStep - 16) < 1e-9)
        #expect(row.minimumSecondsPerStep <= row.secondsPerStep && row.secondsPerStep <= row.maximumSecondsPerStep)
        #expect(row.sgemmShare > 0 && row.sgemmShare < 1)
        #expect(row.forwardSeconds > 0 && row.backwardSeconds > 0 && row.updateSeconds > 0)
        #expect(row.precision == "fp32" && row.conversionShare == 0)
    }

    /// A mixed-precision row counts the time spent widening and rounding.
    @Test func mixedPrecisionRowsCountConversions() throws {
        let options = TrainingBenchmark.Options(config: smallConfig, batchSize: 2, sequenceLength: 8,
                                                threadCounts: [1], precision: .bf16, steps: 3, warmupSteps: 1)
        var generator = SplitMix64(seed: 9)
        let row = try #require(try TrainingBenchmark(options).run(using: &generator).first)
        #expect(row.precision == "bf16")
        #expect(row.conversionShare > 0 && row.conversionShare + row.sgemmShare < 1)
    }

    @Test func sequenceLongerThanTheModelIsRefused() {
        let options = TrainingBenchmark.Options(config: smallConfig, sequenceLength: 64)
        var generator = SplitMix64(seed: 9)
        #expect(throws: BatchError.sequenceLongerThanModel(sequenceLength: 64, maxSeqLen: 16)) {
            try TrainingBenchmark(options).run(using: &generator)
        }
    }
}
