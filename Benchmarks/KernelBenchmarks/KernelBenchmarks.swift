import Benchmark
import Checksum
import Optim

/// Regression-tracking benchmarks for the numeric core (ordo-one/benchmark). The ratio-to-limit
/// figures live in `smartinf bench`; these track wall time, allocations and throughput across
/// commits with `swift package benchmark baseline compare`.
let benchmarks: @Sendable () -> Void = {
    let elements = 8 << 20
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(5),
        maxIterations: 50)

    for threads in [1, 2] {
        Benchmark("AdamW fp16 grad, fp16 copy-out, 8M params, \(threads) thread(s)",
                  configuration: .init(scalingFactor: .one)) { benchmark in
            let parameters = AlignedBuffer<Float>(repeating: 0.5, count: elements)
            let states = [AlignedBuffer<Float>(count: elements), AlignedBuffer<Float>(count: elements)]
            let gradient = StreamBuffer(precision: .fp16, count: elements)
            let copyOut = StreamBuffer(precision: .fp16, count: elements)
            let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())
            let kernel = UpdateKernel(threads: threads)
            var step = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                step += 1
                let update = optimizer.prepare(step: step, learningRate: 1e-3, combinedUnscale: 1)
                kernel.run(update, parameters: parameters, states: states, gradient: gradient, copyOut: copyOut)
            }
        }
    }

    Benchmark("CRC32C 64 MiB", configuration: .init(scalingFactor: .one)) { benchmark in
        let bytes = AlignedBuffer<UInt8>(repeating: 0x5A, count: 64 << 20)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            bytes.withUnsafeBufferPointer { blackHole(CRC32C.checksum(UnsafeRawBufferPointer($0))) }
        }
    }
}
