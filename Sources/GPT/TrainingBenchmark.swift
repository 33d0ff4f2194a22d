import Optim

/// Training-step throughput of the in-process trainer (`smartinf bench train`): tokens per
/// second of forward + backward + AdamW, per OpenBLAS thread count, and the share of the step
/// spent inside `cblas_sgemm`, which tells how far the non-BLAS kernels are from mattering. In
/// mixed precision, also the share spent widening layers to fp32 and rounding gradients back:
/// the host's price for keeping 2 + 2 instead of 4 + 4 bytes per parameter.
public struct TrainingBenchmark: Sendable {
    public struct Options: Sendable {
        public var config: GPTConfig
        public var batchSize: Int
        public var sequenceLength: Int
        public var threadCounts: [Int]
        /// The model's parameter and gradient precision.
        public var precision: Precision
        /// Timed steps per thread count (the median is reported).
        public var steps: Int
        /// Untimed steps first, so that page faults and BLAS thread start-up are not measured.
        public var warmupSteps: Int

        /// Defaults: the benchmark shape, B4 T64, 1 and 2 BLAS threads.
        public init(config: GPTConfig, batchSize: Int = 4, sequenceLength: Int = 64, threadCounts: [Int] = [1, 2],
                    precision: Precision = .fp32, steps: Int = 5, warmupSteps: Int = 1) {
            self.precision = precision
            self.config = config
            self.batchSize = batchSize
            self.sequenceLength = sequenceLength
            self.threadCounts = threadCounts
            self.steps = steps
            self.warmupSteps = warmupSteps
        }
    }

    /// One model at one thread count. Times are medians over the timed steps, in seconds.
    public struct Row: Codable, Sendable {
        /// The `--init` spelling of the model.
        public var model: String
        public var parameters: Int
        public var precision: String
        public var batchSize: Int
        public var sequenceLength: Int
        public var blasThreads: Int
        public var steps: Int
        public var secondsPerStep: Double
        public var minimumSecondsPerStep: Double
        public var maximumSecondsPerStep: Double
        public var forwardSeconds: Double
        public var backwardSeconds: Double
        public var updateSeconds: Double
        public var tokensPerSecond: Double
        /// Time inside `cblas_sgemm` ÷ step time, over all timed steps.
        public var sgemmShare: Double
        /// The rate sgemm achieved on the model's products.
        public var sgemmGigaflopsPerSecond: Double
        /// Time widening and rounding (mixed precision) ÷ step time, over all timed steps.
        public var conversionShare: Double
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// Runs every thread count on one randomly initialised model and one random batch (the
    /// values do not affect the speed of dense fp32 arithmetic). Leaves OpenBLAS at the last
    /// thread count measured.
    public func run(using generator: inout some RandomNumberGenerator) throws(BatchError) -> [Row] {
        let config = options.config
        let shape = try BatchShape(batchSize: options.batchSize, sequenceLength: options.sequenceLength, config: config)
        let tokens = (0...shape.tokenCount).map { _ in UInt16(generator.next() % UInt64(min(config.vocabSize, 1 << 16))) }
        let batch = TokenBatch(shape: shape, tokens: tokens[...], start: 0)
        let checkpoint = GPTCheckpoint(gpt2Initialization: config, using: &generator)
        let model = GPTModel(checkpoint: checkpoint, shape: shape, precision: options.precision)
        let trainer = AdamWTrainer(model: model, hyperparameters: AdamWHyperparameters(), masters: checkpoint.parameters)
        let learningRate: Float = 1e-4

        return options.threadCounts.map { threads in
            OpenBLAS.setThreadCount(threads)
            for _ in 0..<options.warmupSteps { trainer.step(on: batch, learningRate: learningRate) }
            model.resetMatrixCounters()
            var forward: [Double] = []
            var backward: [Double] = []
            var update: [Double] = []
            var total: [Double] = []
            for _ in 0..<max(options.steps, 1) {
                forward.append(Self.seconds {
                    model.zeroGradients()
                    _ = model.forward(batch)
                })
                backward.append(Self.seconds { model.backward() })
                update.append(Self.seconds { trainer.applyUpdate(learningRate: learningRate) })
                total.append(forward.last! + backward.last! + update.last!)
            }
            let step = Self.median(total)
            return Row(
                model: config.initSpec, parameters: config.parameterCount, precision: "\(options.precision)", batchSize: shape.batchSize,
                sequenceLength: shape.sequenceLength, blasThreads: threads, steps: total.count,
                secondsPerStep: step, minimumSecondsPerStep: total.min()!, maximumSecondsPerStep: total.max()!,
                forwardSeconds: Self.median(forward), backwardSeconds: Self.median(backward),
                updateSeconds: Self.median(update), tokensPerSecond: Double(shape.tokenCount) / step,
                sgemmShare: model.matrixSeconds / total.reduce(0, +),
                sgemmGigaflopsPerSecond: model.matrixOperations / model.matrixSeconds / 1e9,
                conversionShare: model.conversionSeconds / total.reduce(0, +))
        }
    }

    private static func seconds(_ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        body()
        let elapsed = ContinuousClock.now - start
        return elapsed / .seconds(1)
    }

    private static func median(_ samples: [Double]) -> Double {
        let sorted = samples.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
