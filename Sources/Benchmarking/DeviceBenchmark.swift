import BlockIO
import Compression
import DeviceProtocol
import Foundation
import Offload
import Optim
import SmartSSD

/// `smartinf bench device`: one emulated device's step on this machine's disk and cores (wall
/// clock), with the naive and the overlapping transfer handler, against the I/O floor for the
/// bytes the step moves at the raw io_uring rates measured in the same run.
public struct DeviceBenchmark: Sendable {
    public struct Options: Sendable {
        public var parameters: Int
        public var directory: String
        public var dramBytes: Int
        public var handlers: [HandlerMode]
        public var optimizer: OptimizerConfig
        /// nil: dense fp16 payloads; otherwise top-k at this ratio.
        public var topkRatio: Double?
        public var threads: Int
        public var queueDepth: Int
        public var blockSize: Int
        public var repetitions: Int

        public init(parameters: Int = 256 << 20, directory: String, dramBytes: Int = 1 << 30,
                    handlers: [HandlerMode] = [.naive, .overlap], optimizer: OptimizerConfig = .adamw(AdamWHyperparameters()),
                    topkRatio: Double? = nil, threads: Int = 1, queueDepth: Int = 16, blockSize: Int = 1 << 20,
                    repetitions: Int = 3) {
            self.parameters = parameters
            self.directory = directory
            self.dramBytes = dramBytes
            self.handlers = handlers
            self.optimizer = optimizer
            self.topkRatio = topkRatio
            self.threads = threads
            self.queueDepth = queueDepth
            self.blockSize = blockSize
            self.repetitions = repetitions
        }
    }

    public struct Row: Codable, Sendable {
        public var handler: String
        public var parameters: Int
        public var subgroupElements: Int
        public var subgroups: Int
        public var seconds: SampledFigure
        public var parametersPerSecond: Double
        public var bytesRead: Int
        public var bytesWritten: Int
        public var rawReadGigabytesPerSecond: Double
        public var rawWriteGigabytesPerSecond: Double
        /// bytesRead / raw read rate + bytesWritten / raw write rate.
        public var ioFloorSeconds: Double
        /// Median step time ÷ I/O floor (1.0 = as fast as the disk allows).
        public var ratioToFloor: Double
        /// Naive median ÷ this handler's median.
        public var speedupOverNaive: Double?
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    public func run(progress: (String) -> Void = { _ in }) throws -> [Row] {
        let o = options
        let fm = FileManager.default
        try fm.createDirectory(atPath: o.directory, withIntermediateDirectories: true)
        let ssdPath = "\(o.directory)/bench-device.ssd"
        let rawPath = "\(o.directory)/bench-raw.bin"
        let parametersPath = "\(o.directory)/bench-initial.f32"
        defer { [ssdPath, rawPath, parametersPath].forEach { try? fm.removeItem(atPath: $0) } }
        try? fm.removeItem(atPath: ssdPath)

        // Initial parameters: a sparse file of zeros (reads cost no disk time).
        guard fm.createFile(atPath: parametersPath, contents: nil) else {
            throw IOBenchmarkError("cannot create \(parametersPath)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: parametersPath))
        try handle.truncate(atOffset: UInt64(o.parameters * 4))
        try handle.close()

        let stateCount = o.optimizer.stateCount
        let engine = try DeviceEngine(DeviceEngine.Options(
            deviceName: "bench", ssdPath: ssdPath, capacityBytes: 1 << 50, dramBytes: o.dramBytes, threads: o.threads,
            queueDepth: o.queueDepth, blockSize: o.blockSize))
        // One layout for both handlers: the subgroup size the overlapping handler can afford.
        func configuration(_ handler: HandlerMode, subgroup: Int) -> DeviceConfiguration {
            DeviceConfiguration(sliceElements: o.parameters, subgroupElements: subgroup, optimizer: o.optimizer,
                                gradientPrecision: .fp16, copyOutPrecision: .fp16, handler: handler)
        }
        progress("formatting the device and loading \(o.parameters) parameters")
        let configured = try engine.configure(configuration(.overlap, subgroup: 0))
        let d = configured.subgroupElements
        try engine.loadParameters(offset: 0, count: o.parameters, path: parametersPath)

        let host = try PayloadStager(ssdPath: ssdPath, configured: configured, parameters: o.parameters, ratio: o.topkRatio,
                                     queueDepth: o.queueDepth, blockSize: o.blockSize)
        // The raw rates are sampled in every round, over as many bytes as a step reads, so that
        // disk caches and burst behaviour treat them like the steps they bound.
        let raw = try RawRateProbe(path: rawPath, bytes: (o.parameters * 4 * (1 + stateCount)).roundedDownTo(o.blockSize),
                                   queueDepth: o.queueDepth, blockSize: o.blockSize)
        var reads: [Double] = []
        var writes: [Double] = []

        var samples: [HandlerMode: [Double]] = [:]
        var counters: [HandlerMode: StepReport] = [:]
        var step = 0
        for round in 0...o.repetitions {
            if round > 0 {
                progress("raw io_uring write and read, round \(round)/\(o.repetitions)")
                let (r, w) = try raw.measure()
                reads.append(r)
                writes.append(w)
            }
            for handler in o.handlers {
                _ = try engine.configure(configuration(handler, subgroup: d))
                step += 1
                let sizes = try host.stage(step: step)
                let update = o.optimizer.prepare(step: step, learningRate: 1e-3, combinedUnscale: 1)
                let command = StepCommand(step: step, update: update, skip: false, subgroups: Array(0..<configured.subgroupCount),
                                          payloadBytes: sizes)
                progress("\(handler == .naive ? "naive" : "overlap") step \(round == 0 ? "warm-up" : "\(round)/\(o.repetitions)")")
                let seconds = try Timing.seconds { try engine.step(command) }
                if round > 0 { samples[handler, default: []].append(seconds) }
                counters[handler] = engine.lastReport
            }
        }
        let readRate = Timing.median(reads)
        let writeRate = Timing.median(writes)
        let naiveMedian = samples[.naive].map { Timing.median($0) }
        return o.handlers.map { handler in
            let s = samples[handler] ?? []
            let median = Timing.median(s)
            let c = counters[handler] ?? StepReport()
            let floor = Double(c.bytesRead) / readRate + Double(c.bytesWritten) / writeRate
            return Row(handler: handler == .naive ? "naive" : "overlap", parameters: o.parameters, subgroupElements: d,
                       subgroups: configured.subgroupCount, seconds: SampledFigure(s),
                       parametersPerSecond: Double(o.parameters) / median, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten,
                       rawReadGigabytesPerSecond: readRate / 1e9, rawWriteGigabytesPerSecond: writeRate / 1e9,
                       ioFloorSeconds: floor, ratioToFloor: median / floor,
                       speedupOverNaive: handler == .naive ? nil : naiveMedian.map { $0 / median })
        }
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["handler", "params", "D", "subgroups", "s/step (median)", "params/s", "read", "written",
                               "raw R/W GB/s", "I/O floor s", "÷ floor", "speedup vs naive"])
        for r in rows {
            table.append([r.handler, Figures.count(Double(r.parameters)), Figures.count(Double(r.subgroupElements)), "\(r.subgroups)",
                          Figures.fixed(r.seconds.median, 3), Figures.count(r.parametersPerSecond),
                          Figures.count(Double(r.bytesRead)) + "B", Figures.count(Double(r.bytesWritten)) + "B",
                          Figures.fixed(r.rawReadGigabytesPerSecond) + "/" + Figures.fixed(r.rawWriteGigabytesPerSecond),
                          Figures.fixed(r.ioFloorSeconds, 3), Figures.fixed(r.ratioToFloor), r.speedupOverNaive.map { Figures.fixed($0) } ?? "-"])
        }
        return table.rendered
    }
}

/// Raw sequential write and read rates (bytes/s) through the same engine, queue depth and
/// block size, on a scratch file.
final class RawRateProbe {
    let file: BlockFile
    let ring: IORing
    let buffer: AlignedBuffer<UInt8>
    let blockSize: Int

    init(path: String, bytes: Int, queueDepth: Int, blockSize: Int) throws {
        file = try BlockFile(path: path, mode: .direct, create: true)
        try file.allocate(length: bytes)
        buffer = AlignedBuffer(count: bytes, alignment: BlockFile.directAlignment)
        buffer.fill(with: 0x5A)
        ring = try IORing(queueDepth: queueDepth)
        self.blockSize = blockSize
    }

    func measure() throws -> (read: Double, write: Double) {
        let bytes = Double(buffer.count)
        let write = bytes / (try IOBenchmark.sequentialSeconds(ring: ring, file: file, buffer: buffer, blockSize: blockSize, write: true))
        let read = bytes / (try IOBenchmark.sequentialSeconds(ring: ring, file: file, buffer: buffer, blockSize: blockSize, write: false))
        return (read, write)
    }
}

/// The host's part in the benchmark: encodes a gradient once and writes one payload per
/// subgroup into the device's gradient region before each step (with that step's number).
final class PayloadStager {
    let region: GradientRegionWriter
    let parameters: Int
    let gradient: AlignedBuffer<Float>
    let compressor: GradientCompressor

    init(ssdPath: String, configured: Reply.Configured, parameters: Int, ratio: Double?, queueDepth: Int, blockSize: Int) throws {
        region = try GradientRegionWriter(ssdPath: ssdPath, directIO: true, configured: configured, queueDepth: queueDepth,
                                          blockSize: blockSize)
        self.parameters = parameters
        gradient = AlignedBuffer(count: configured.subgroupElements)
        gradient.withUnsafeMutableBufferPointer { g in
            for i in g.indices { g[i] = Float((i &* 2_654_435_761) % 2001 - 1000) * 1e-4 }
        }
        compressor = try GradientCompressor(ratio: ratio ?? 1, options: PayloadOptions(valueEncoding: .fp16))
    }

    func stage(step: Int) throws -> [Int] {
        let d = region.configured.subgroupElements
        return try (0..<region.configured.subgroupCount).map { s in
            let n = min(d, parameters - s * d)
            return try gradient.withUnsafeBufferPointer { g in
                try region.write(subgroup: s) { buffer in
                    try compressor.compress(UnsafeBufferPointer(rebasing: g[0..<n]), subgroup: UInt32(s), step: UInt64(step), into: buffer)
                }
            }
        }
    }
}

extension Int {
    func roundedDownTo(_ multiple: Int) -> Int { Swift.max(multiple, self / multiple * multiple) }
}
