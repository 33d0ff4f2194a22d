import Checksum
import Optim

/// `smartinf bench optim`: update-kernel throughput against the memory-copy limit.
public struct OptimBenchmark: Sendable {
    public struct Options: Sendable {
        public var parameters: Int
        public var threadCounts: [Int]
        public var optimizers: [OptimizerConfig]
        public var gradientPrecision: Precision
        /// nil: masters only, no compute copy written.
        public var copyOutPrecision: Precision?
        public var path: UpdateKernel.Path
        /// How the states are stored: each precision is measured in turn, so that the 8-bit
        /// kernel's cost (decode, update, encode) is read against fp32's in the same run.
        public var statePrecisions: [StatePrecision]
        public var repetitions: Int

        public init(parameters: Int = 64 << 20, threadCounts: [Int] = [1, 2],
                    optimizers: [OptimizerConfig] = [.adamw(AdamWHyperparameters())],
                    gradientPrecision: Precision = .fp16, copyOutPrecision: Precision? = .fp16,
                    path: UpdateKernel.Path = .simd, statePrecisions: [StatePrecision] = [.fp32], repetitions: Int = 5) {
            self.parameters = parameters
            self.threadCounts = threadCounts
            self.optimizers = optimizers
            self.gradientPrecision = gradientPrecision
            self.copyOutPrecision = copyOutPrecision
            self.path = path
            self.statePrecisions = statePrecisions
            self.repetitions = repetitions
        }
    }

    /// The compute copy the update writes out, as a command line chooses it: in a precision, or
    /// none (the masters only).
    public struct CopyOut: Sendable, Equatable {
        public var precision: Precision?

        public init(_ precision: Precision?) { self.precision = precision }

        /// A precision's name ("fp16", also its aliases) or "none".
        public init?(name: String) {
            if name.lowercased() == "none" {
                precision = nil
            } else if let p = Precision(name: name) {
                precision = p
            } else {
                return nil
            }
        }

        /// "fp32", "fp16", "bf16" or "none".
        public var name: String { precision?.description ?? "none" }

        /// Every choice: each precision, then none.
        public static var all: [CopyOut] { Precision.allCases.map(CopyOut.init) + [CopyOut(nil)] }
    }

    /// One row: an optimizer, its states' precision, at a thread count.
    public struct Row: Codable, Sendable {
        public var optimizer: String
        /// "fp32" or "8bit/B" (blocks of B).
        public var states: String
        public var gradient: String
        public var copyOut: String
        public var path: String
        public var threads: Int
        public var parameters: Int
        /// Bytes read plus bytes written per parameter: p, the states and the gradient in; p, the
        /// states and the compute copy out (an 8-bit state: its code and its share of a scale).
        public var bytesPerParameter: Double
        public var seconds: SampledFigure
        public var parametersPerSecond: Double
        public var gigabytesPerSecond: Double
        public var memoryCopyGigabytesPerSecond: Double
        /// Kernel GB/s ÷ memcpy GB/s, both medians over interleaved samples.
        public var ratioToMemoryCopy: Double
        /// GB/s of an in-place read-modify-write pass over the same bytes.
        public var inPlaceGigabytesPerSecond: Double
        /// Kernel GB/s ÷ in-place GB/s: the stricter ratio.
        public var ratioToInPlace: Double
        /// GB/s of CRC32C over p and the states as stored: a device checksums that slot twice a
        /// step (the loaded one against its commit, the written one for its commit), on its
        /// loader and writer as the slot moves. nil in documents written before it was measured.
        public var checksumGigabytesPerSecond: Double?
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// CRC32C of a buffer's bytes, continuing from `seed`.
    private static func checksum<T>(_ buffer: AlignedBuffer<T>, seed: UInt32) -> UInt32 {
        buffer.withUnsafeBufferPointer { CRC32C.checksum(UnsafeRawBufferPointer($0), seed: seed) }
    }

    public func run() -> [Row] {
        let n = options.parameters
        let parameters = AlignedBuffer<Float>(repeating: 0.5, count: n)
        let gradient = StreamBuffer(precision: options.gradientPrecision, count: n)
        for i in stride(from: 0, to: n, by: 97) { gradient[i] = Float(i % 13) - 6 }
        let copyOut = options.copyOutPrecision.map { StreamBuffer(precision: $0, count: n) }
        let maxStates = options.optimizers.map(\.stateCount).max() ?? 0
        let states = (0..<maxStates).map { _ in AlignedBuffer<Float>(count: n) }

        var rows: [Row] = []
        for optimizer in options.optimizers {
            let used = Array(states.prefix(optimizer.stateCount))
            for precision in options.statePrecisions {
                used.forEach { $0.fill(with: optimizer.initialStateValue) }
                let stored = precision.blockSize.map { _ in zip(used, optimizer.kind.stateMaps).map { precision.stored($0, map: $1) } }
                let bytes = 2 * 4 * n + 2 * optimizer.stateCount * precision.storedBytes(elements: n)
                    + (options.gradientPrecision.byteWidth + (options.copyOutPrecision?.byteWidth ?? 0)) * n
                for threads in options.threadCounts {
                    let kernel = UpdateKernel(threads: threads, path: options.path)
                    let copy = MemoryTrafficLimit(.copy, bytesMoved: bytes, threads: threads)
                    let inPlace = MemoryTrafficLimit(.inPlace, bytesMoved: bytes, threads: threads)
                    var step = 0
                    let slotBytes = 4 * n + optimizer.stateCount * precision.storedBytes(elements: n)
                    var checksum: UInt32 = 0
                    let samples = Timing.interleaved(repetitions: options.repetitions, [
                        { copy.run() },
                        { inPlace.run() },
                        {
                            step += 1
                            let update = optimizer.prepare(step: step, learningRate: 1e-3, combinedUnscale: 1.0 / 1024)
                            if let stored, let blockSize = precision.blockSize {
                                kernel.run(update, parameters: parameters, states: stored, blockSize: blockSize, gradient: gradient,
                                           copyOut: copyOut)
                            } else {
                                kernel.run(update, parameters: parameters, states: used, gradient: gradient, copyOut: copyOut)
                            }
                        },
                        {
                            checksum = Self.checksum(parameters, seed: checksum)
                            if let stored { checksum = stored.reduce(checksum) { Self.checksum($1, seed: $0) } }
                            else { checksum = used.reduce(checksum) { Self.checksum($1, seed: $0) } }
                        },
                    ])
                    let kernelSeconds = Timing.median(samples[2])
                    let gbps = Double(bytes) / kernelSeconds / 1e9
                    let copyGbps = Double(copy.bytesMoved) / Timing.median(samples[0]) / 1e9
                    let inPlaceGbps = Double(inPlace.bytesMoved) / Timing.median(samples[1]) / 1e9
                    rows.append(Row(
                        optimizer: optimizer.name, states: precision.blockSize.map { "8bit/\($0)" } ?? "fp32",
                        gradient: options.gradientPrecision.description,
                        copyOut: options.copyOutPrecision?.description ?? "none", path: options.path.rawValue,
                        threads: threads, parameters: n, bytesPerParameter: Double(bytes) / Double(n),
                        seconds: SampledFigure(samples[2]), parametersPerSecond: Double(n) / kernelSeconds,
                        gigabytesPerSecond: gbps, memoryCopyGigabytesPerSecond: copyGbps,
                        ratioToMemoryCopy: gbps / copyGbps, inPlaceGigabytesPerSecond: inPlaceGbps,
                        ratioToInPlace: gbps / inPlaceGbps,
                        checksumGigabytesPerSecond: Double(slotBytes) / Timing.median(samples[3]) / 1e9))
                }
            }
        }
        return rows
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["optimizer", "states", "grad", "copy", "path", "threads", "params", "B/param", "ms (median)",
                               "params/s", "GB/s", "memcpy GB/s", "ratio", "in-place GB/s", "ratio"])
        for r in rows {
            table.append([r.optimizer, r.states, r.gradient, r.copyOut, r.path, "\(r.threads)", Figures.count(Double(r.parameters)),
                          Figures.fixed(r.bytesPerParameter, 1), Figures.fixed(r.seconds.median * 1e3, 1),
                          Figures.count(r.parametersPerSecond), Figures.fixed(r.gigabytesPerSecond),
                          Figures.fixed(r.memoryCopyGigabytesPerSecond), Figures.fixed(r.ratioToMemoryCopy),
                          Figures.fixed(r.inPlaceGigabytesPerSecond), Figures.fixed(r.ratioToInPlace)])
        }
        return table.rendered
    }
}
