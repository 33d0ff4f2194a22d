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
        /// Raw io_uring read rate over the very regions the step read (its payloads and state
        /// slots on the device's SSD file), read again after the step: what this disk gives for
        /// those bytes where they lie, against the scratch file's sequential rate.
        public var stepRegionReadGigabytesPerSecond: Double
        /// bytesRead / raw read rate + bytesWritten / raw write rate.
        public var ioFloorSeconds: Double
        /// Median step time ÷ I/O floor (1.0 = as fast as the disk allows).
        public var ratioToFloor: Double
        /// The same bytes as a raw io_uring job that interleaves the reads and the writes the way
        /// a step does (subgroup by subgroup, all in flight together, until durable), with no
        /// compute and no dependencies, run `mixedRepeats` times back to back and timed the last
        /// time: the floor of a workload that keeps mixing reads and writes. On a disk whose
        /// writes are absorbed by a cache and drained later (this machine's virtual disk: 6–7 GB/s
        /// for a 3 GB burst, 2.0 GB/s sustained over 16 GB, reads 3.0–3.7 GB/s idle but 1.2 GB/s
        /// while the cache drains; fio), one-off rates miss the drain that every later step pays.
        public var mixedFloorSeconds: Double
        /// Median step time ÷ mixed floor.
        public var ratioToMixedFloor: Double
        /// Naive median ÷ this handler's median.
        public var speedupOverNaive: Double?
        /// Seconds each stage was busy in the last timed step (its operations' wall intervals
        /// summed, by kind: load, update, writeParameters, writeStates): which stage bounds the
        /// step, and how far the stages overlap (their sum against the step time).
        public var stageSeconds: [String: Double]
    }

    public let options: Options
    /// Back-to-back runs of the mixed job before the timed one, as steps follow steps.
    public static let mixedRepeats = 3

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
        // Both floors are sampled between the handlers' steps, so that they see the disk in the
        // state the steps leave it in (the round-0 warm-up steps give the byte counts).
        var reads: [Double] = []
        var writes: [Double] = []

        guard let layout = engine.superblock?.layout else { throw IOBenchmarkError("the device at \(ssdPath) was not formatted") }
        let regions = try StepRegionProbe(path: ssdPath, layout: layout, queueDepth: o.queueDepth, blockSize: o.blockSize)
        var regionReads: [Double] = []
        var mixedFloors: [Double] = []
        var samples: [HandlerMode: [Double]] = [:]
        var counters: [HandlerMode: StepReport] = [:]
        var step = 0
        for round in 0...o.repetitions {
            if round > 0 {
                progress("raw io_uring write and read, round \(round)/\(o.repetitions)")
                let (r, w) = try raw.measure()
                reads.append(r)
                writes.append(w)
                if let c = counters[o.handlers.last!] {
                    var last = 0.0
                    for _ in 0..<Self.mixedRepeats {
                        last = try raw.mixedSeconds(readBytes: c.bytesRead, writeBytes: c.bytesWritten, pieces: configured.subgroupCount)
                    }
                    mixedFloors.append(last)
                }
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
                if round > 0 {
                    samples[handler, default: []].append(seconds)
                    regionReads.append(try regions.readRate(step: step, payloadBytes: sizes))
                }
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
            let mixedFloor = Timing.median(mixedFloors)
            return Row(handler: handler == .naive ? "naive" : "overlap", parameters: o.parameters, subgroupElements: d,
                       subgroups: configured.subgroupCount, seconds: SampledFigure(s),
                       parametersPerSecond: Double(o.parameters) / median, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten,
                       rawReadGigabytesPerSecond: readRate / 1e9, rawWriteGigabytesPerSecond: writeRate / 1e9,
                       stepRegionReadGigabytesPerSecond: Timing.median(regionReads) / 1e9,
                       ioFloorSeconds: floor, ratioToFloor: median / floor,
                       mixedFloorSeconds: mixedFloor, ratioToMixedFloor: median / mixedFloor,
                       speedupOverNaive: handler == .naive ? nil : naiveMedian.map { $0 / median },
                       stageSeconds: Self.stageSeconds(c.operations))
        }
    }

    private static func stageSeconds(_ operations: [OperationRecord]) -> [String: Double] {
        var seconds: [String: Double] = [:]
        for op in operations where op.kind != .upload {
            seconds["\(op.kind)", default: 0] += Double(op.wallEnd &- op.wallStart) / 1e9
        }
        return seconds
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["handler", "params", "D", "subgroups", "s/step (median)", "params/s", "read", "written",
                               "raw R/W GB/s", "step regions R GB/s", "I/O floor s", "÷ floor", "mixed floor s", "÷ mixed", "speedup vs naive", "busy s: load/update/write p/write states"])
        for r in rows {
            table.append([r.handler, Figures.count(Double(r.parameters)), Figures.count(Double(r.subgroupElements)), "\(r.subgroups)",
                          Figures.fixed(r.seconds.median, 3), Figures.count(r.parametersPerSecond),
                          Figures.count(Double(r.bytesRead)) + "B", Figures.count(Double(r.bytesWritten)) + "B",
                          Figures.fixed(r.rawReadGigabytesPerSecond) + "/" + Figures.fixed(r.rawWriteGigabytesPerSecond),
                          Figures.fixed(r.stepRegionReadGigabytesPerSecond),
                          Figures.fixed(r.ioFloorSeconds, 3), Figures.fixed(r.ratioToFloor),
                          Figures.fixed(r.mixedFloorSeconds, 3), Figures.fixed(r.ratioToMixedFloor), r.speedupOverNaive.map { Figures.fixed($0) } ?? "-",
                          ["load", "update", "writeParameters", "writeStates"].map { Figures.fixed(r.stageSeconds[$0] ?? 0) }.joined(separator: "/")])
        }
        return table.rendered
    }
}

/// Raw sequential write and read rates (bytes/s) through the same engine, queue depth and
/// block size, on a scratch file; and the raw time of a step's mix of reads and writes.
final class RawRateProbe {
    let file: BlockFile
    let ring: IORing
    let buffer: AlignedBuffer<UInt8>
    let blockSize: Int
    /// Where the mixed job's writes go (its reads cover the file before it, written by
    /// `measure()`); grown on first use.
    private var mixedWriteOffset: Int
    private var allocated: Int

    init(path: String, bytes: Int, queueDepth: Int, blockSize: Int) throws {
        file = try BlockFile(path: path, mode: .direct, create: true)
        try file.allocate(length: bytes)
        mixedWriteOffset = bytes
        allocated = bytes
        buffer = AlignedBuffer(count: bytes, alignment: BlockFile.directAlignment)
        buffer.fill(with: 0x5A)
        ring = try IORing(queueDepth: queueDepth)
        self.blockSize = blockSize
    }

    /// The write is timed until it is durable (fsync), as a device step's writes must be before
    /// its journal commit. On a virtual disk whose host caches writes, completion alone only
    /// measures the host's cache: the drain then slows the reads that follow.
    func measure() throws -> (read: Double, write: Double) {
        let bytes = Double(buffer.count)
        let write = bytes / (try Timing.seconds {
            _ = try IOBenchmark.sequentialSeconds(ring: ring, file: file, buffer: buffer, blockSize: blockSize, write: true)
        })
        let read = bytes / (try IOBenchmark.sequentialSeconds(ring: ring, file: file, buffer: buffer, blockSize: blockSize, write: false))
        return (read, write)
    }

    /// Seconds to read `readBytes` and write `writeBytes` as `pieces` alternating sequential
    /// reads and writes submitted together (a step's order: subgroup i's loads, then its
    /// write-backs), until the writes are durable. Reads cycle over the probe's written data.
    func mixedSeconds(readBytes: Int, writeBytes: Int, pieces: Int) throws -> Double {
        let align = BlockFile.directAlignment
        let readPiece = max(align, (readBytes / pieces) / align * align)
        let writePiece = max(align, (writeBytes / pieces) / align * align)
        if allocated < mixedWriteOffset + writePiece * pieces {
            allocated = mixedWriteOffset + writePiece * pieces
            try file.allocate(length: allocated)
        }
        return try buffer.withUnsafeMutableBufferPointer { b in
            let memory = UnsafeMutableRawBufferPointer(b)
            var transfers: [BlockTransfer] = []
            for k in 0..<pieces {
                let readAt = (k * readPiece) % max(align, (buffer.count - readPiece) / align * align)
                let chunk = { (n: Int) in UnsafeMutableRawBufferPointer(rebasing: memory[0..<min(n, memory.count)]) }
                transfers.append(BlockTransfer(.read, file: file, fileOffset: readAt, memory: chunk(readPiece)))
                transfers.append(BlockTransfer(.write, file: file, fileOffset: mixedWriteOffset + k * writePiece, memory: chunk(writePiece)))
            }
            return try Timing.seconds {
                try ring.run(transfers, blockSize: blockSize)
                try file.sync()
            }
        }
    }
}

/// Reads what a step read (each subgroup's payload and the state slot the step loaded) straight
/// from the device's SSD file, with the device's queue depth and block size.
final class StepRegionProbe {
    let file: BlockFile
    let ring: IORing
    let layout: DeviceLayout
    let buffer: AlignedBuffer<UInt8>
    let blockSize: Int

    init(path: String, layout: DeviceLayout, queueDepth: Int, blockSize: Int) throws {
        file = try BlockFile(path: path, mode: .direct)
        ring = try IORing(queueDepth: queueDepth)
        self.layout = layout
        buffer = AlignedBuffer(count: max(layout.slotBytes, layout.gradientSlotBytes), alignment: BlockFile.directAlignment)
        self.blockSize = blockSize
    }

    /// Bytes per second reading step `step`'s regions (it loaded slot (step − 1) % 2).
    func readRate(step: Int, payloadBytes: [Int]) throws -> Double {
        var bytes = 0
        let seconds = try Timing.seconds {
            try buffer.withUnsafeMutableBufferPointer { b in
                let memory = UnsafeMutableRawBufferPointer(b)
                for (s, payload) in payloadBytes.enumerated() {
                    let payloadRead = (payload + DeviceLayout.alignment - 1) / DeviceLayout.alignment * DeviceLayout.alignment
                    let slot = layout.slotOffset(subgroup: s, slot: (step - 1) % layout.slots)
                    try ring.run([BlockTransfer(.read, file: file, fileOffset: layout.gradientOffset + s * layout.gradientSlotBytes,
                                                memory: UnsafeMutableRawBufferPointer(rebasing: memory[0..<payloadRead]))],
                                 blockSize: blockSize)
                    try ring.run([BlockTransfer(.read, file: file, fileOffset: slot,
                                                memory: UnsafeMutableRawBufferPointer(rebasing: memory[0..<layout.slotBytes]))],
                                 blockSize: blockSize)
                    bytes += payloadRead + layout.slotBytes
                }
            }
        }
        return Double(bytes) / seconds
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
