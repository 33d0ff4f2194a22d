import BlockIO
import Compression
import DeviceProtocol
import Foundation
import Logging
import Offload
import OffloadVocabulary
import Optim
import SeededRandom
import SmartSSD

/// `smartinf bench device`: one emulated device's optimizer step on this machine's disk and cores
/// (wall clock), with the naive and the overlapping transfer handler, against the I/O floor: the
/// same reads and writes done raw in the same run.
///
/// Each handler runs on a device file of its own and the floor's raw replay on a third. Every
/// round each of them takes one step, in an order that rotates from round to round, so that
/// each reads what it wrote one round before, after the same traffic from the others: whatever
/// state one leaves the disk in (a cache still draining its writes, say) is shared out evenly
/// instead of always being charged to whichever runs next.
public struct DeviceBenchmark: Sendable {
    public struct Options: Sendable {
        public var parameters: Int
        public var directory: String
        public var dramBytes: Int
        public var handlers: [HandlerMode]
        public var optimizer: OptimizerConfig
        /// The precision of the gradients the device reads (its configured gradient precision
        /// and the payloads' value encoding): fp16 as our host sends, fp32 as peers that
        /// offload fp32 gradients read.
        public var gradientPrecision: Precision
        /// nil: dense payloads; otherwise top-k at this ratio.
        public var topkRatio: Double?
        public var threads: Int
        public var queueDepth: Int
        public var blockSize: Int
        public var repetitions: Int
        /// How the device stores the optimizer states (fp32, or 8-bit codes with block scales).
        public var statePrecision: StatePrecision

        public init(parameters: Int = 256 << 20, directory: String, dramBytes: Int = 1 << 30,
                    handlers: [HandlerMode] = [.naive, .overlap], optimizer: OptimizerConfig = .adamw(AdamWHyperparameters()),
                    gradientPrecision: Precision = .fp16, topkRatio: Double? = nil, threads: Int = 1, queueDepth: Int = 16, blockSize: Int = 1 << 20,
                    repetitions: Int = 3, statePrecision: StatePrecision = .fp32) {
            self.parameters = parameters
            self.directory = directory
            self.dramBytes = dramBytes
            self.handlers = handlers
            self.optimizer = optimizer
            self.gradientPrecision = gradientPrecision
            self.topkRatio = topkRatio
            self.threads = threads
            self.queueDepth = queueDepth
            self.blockSize = blockSize
            self.repetitions = repetitions
            self.statePrecision = statePrecision
        }
    }

    public struct Row: Codable, Sendable {
        public var handler: String
        /// The gradient precision the device was configured with, as its superblock records it.
        public var gradient: String
        /// The state precision, as the superblock records it ("fp32", "8bit (blocks of 2048)").
        public var states: String
        /// Bytes the step moved ÷ what the same step moves with fp32 states (the same payloads and
        /// p, the states at 4 bytes an element): 1 in fp32.
        public var bytesVersusFP32: Double
        /// Payload bytes the host staged per parameter in the last timed step: about the
        /// precision's width for dense payloads (plus the headers), less for top-k.
        public var payloadBytesPerParameter: Double
        public var parameters: Int
        public var subgroupElements: Int
        public var subgroups: Int
        public var seconds: SampledFigure
        public var parametersPerSecond: Double
        public var bytesRead: Int
        public var bytesWritten: Int
        /// The raw replay's read and write rates (medians over the rounds): its reads of the
        /// payloads and of the slots written one round before, its writes until durable.
        public var rawReadGigabytesPerSecond: Double
        public var rawWriteGigabytesPerSecond: Double
        /// bytesRead / raw read rate + bytesWritten / raw write rate.
        public var ioFloorSeconds: Double
        /// Median step time ÷ I/O floor (1.0 = as fast as the disk allows one transfer at a time).
        public var ratioToFloor: Double
        /// Naive median ÷ this handler's median.
        public var speedupOverNaive: Double?
        /// Seconds each stage was busy in the last timed step (its operations' wall intervals
        /// summed, by kind: load, update, writeParameters, writeStates): which stage bounds the
        /// step, and how far the stages overlap (their sum against the step time).
        public var stageSeconds: [String: Double]
    }

    public let options: Options
    /// The devices' log (each engine's lines carry its name as `device`).
    public let logger: Logger

    public init(_ options: Options, logger: Logger = Logger(label: "smartinf.bench", factory: SwiftLogNoOpLogHandler.init)) {
        self.options = options
        self.logger = logger
    }

    /// A handler's device and the host that stages its payloads.
    private struct Bench {
        var handler: HandlerMode
        var engine: DeviceEngine
        var stager: PayloadStager
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> [Row] {
        let o = options
        let fm = FileManager.default
        try fm.createDirectory(atPath: o.directory, withIntermediateDirectories: true)
        try checkFreeSpace()
        let path = { (name: String) in "\(o.directory)/bench-\(name)" }
        let files = o.handlers.map { path("device-\($0).ssd") } + [path("replay.ssd"), path("initial.f32")]
        defer { files.forEach { try? fm.removeItem(atPath: $0) } }
        files.forEach { try? fm.removeItem(atPath: $0) }

        // Initial parameters: a sparse file of zeros (reads cost no disk time).
        let parametersPath = path("initial.f32")
        guard fm.createFile(atPath: parametersPath, contents: nil) else {
            throw IOBenchmarkError("cannot create \(parametersPath)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: parametersPath))
        try handle.truncate(atOffset: UInt64(o.parameters * 4))
        try handle.close()

        // One layout for every handler: the subgroup size the overlapping handler can afford.
        func configuration(_ handler: HandlerMode, subgroup: Int) -> DeviceConfiguration {
            DeviceConfiguration(sliceElements: o.parameters, subgroupElements: subgroup, optimizer: o.optimizer,
                                gradientPrecision: o.gradientPrecision, copyOutPrecision: .fp16, handler: handler,
                                statePrecision: o.statePrecision)
        }
        func stager(_ ssdPath: String, _ configured: Reply.Configured) throws -> PayloadStager {
            try PayloadStager(ssdPath: ssdPath, configured: configured, parameters: o.parameters, ratio: o.topkRatio,
                              valueEncoding: o.gradientPrecision, queueDepth: o.queueDepth, blockSize: o.blockSize)
        }
        var benches: [Bench] = []
        var configured: Reply.Configured?
        for handler in o.handlers {
            let ssdPath = path("device-\(handler).ssd")
            progress("formatting the \(handler) device and loading \(o.parameters) parameters")
            var engineLogger = logger
            engineLogger[metadataKey: "device"] = "bench-\(handler)"
            let engine = try DeviceEngine(DeviceEngine.Options(
                deviceName: "bench-\(handler)", ssdPath: ssdPath, capacityBytes: 1 << 50, dramBytes: o.dramBytes,
                threads: o.threads, queueDepth: o.queueDepth, blockSize: o.blockSize), logger: engineLogger)
            let sized = try engine.configure(configuration(.overlap, subgroup: 0))
            configured = try engine.configure(configuration(handler, subgroup: sized.subgroupElements))
            try engine.loadParameters(offset: 0, count: o.parameters, path: parametersPath)
            benches.append(Bench(handler: handler, engine: engine, stager: try stager(ssdPath, sized)))
        }
        guard let configured, let layout = benches.first?.engine.superblock?.layout else {
            throw IOBenchmarkError("choose at least one handler (naive, overlap)")
        }
        progress("writing the raw replay's file")
        let replayPath = path("replay.ssd")
        let replay = try RawStepReplay(path: replayPath, layout: layout, queueDepth: o.queueDepth, blockSize: o.blockSize)
        let replayStager = try stager(replayPath, configured)

        var replays: [RawStepReplay.Sample] = []
        var samples: [HandlerMode: [Double]] = [:]
        var counters: [HandlerMode: StepReport] = [:]
        var payloadBytes: [HandlerMode: Int] = [:]
        // Every round each takes one step, in an order that rotates from round to round, so
        // that none of them always follows the same traffic.
        let actors = benches.count + 1
        for round in 0...o.repetitions {
            let step = round + 1
            let label = round == 0 ? "warm-up" : "\(round)/\(o.repetitions)"
            for turn in 0..<actors {
                let actor = (turn + round) % actors
                guard actor < benches.count else {
                    progress("raw replay \(label)")
                    let replayed = try replay.run(step: step, payloadBytes: try replayStager.stage(step: step))
                    if round > 0 { replays.append(replayed) }
                    continue
                }
                let bench = benches[actor]
                let sizes = try bench.stager.stage(step: step)
                let command = StepCommand(step: step, update: o.optimizer.prepare(step: step, learningRate: 1e-3, combinedUnscale: 1),
                                          skip: false, subgroups: Array(0..<configured.subgroupCount), payloadBytes: sizes)
                progress("\(bench.handler) step \(label)")
                let seconds = try Timing.seconds { try bench.engine.step(command) }
                if round > 0 { samples[bench.handler, default: []].append(seconds) }
                counters[bench.handler] = bench.engine.lastReport
                payloadBytes[bench.handler] = sizes.reduce(0, +)
            }
        }
        let readRate = Timing.median(replays.map(\.readRate))
        let writeRate = Timing.median(replays.map(\.writeRate))
        let naiveMedian = samples[.naive].map { Timing.median($0) }
        return o.handlers.map { handler in
            let s = samples[handler] ?? []
            let median = Timing.median(s)
            let c = counters[handler] ?? StepReport()
            let floor = Double(c.bytesRead) / readRate + Double(c.bytesWritten) / writeRate
            let bench = benches.first { $0.handler == handler }
            // Every subgroup reads and writes one whole slot: fp32 states would move the fp32
            // layout's slot twice instead.
            var fp32Layout = layout
            fp32Layout.statePrecision = .fp32
            let moved = Double(c.bytesRead + c.bytesWritten)
            let fp32Moved = moved + Double(2 * layout.subgroupCount * (fp32Layout.slotBytes - layout.slotBytes))
            return Row(handler: "\(handler)", gradient: bench?.engine.superblock.map { "\($0.gradientPrecision)" } ?? "-",
                       states: "\(layout.statePrecision)", bytesVersusFP32: moved / fp32Moved,
                       payloadBytesPerParameter: Double(payloadBytes[handler] ?? 0) / Double(o.parameters), parameters: o.parameters, subgroupElements: configured.subgroupElements,
                       subgroups: configured.subgroupCount, seconds: SampledFigure(s),
                       parametersPerSecond: Double(o.parameters) / median, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten,
                       rawReadGigabytesPerSecond: readRate / 1e9, rawWriteGigabytesPerSecond: writeRate / 1e9,
                       ioFloorSeconds: floor, ratioToFloor: median / floor,
                       speedupOverNaive: handler == .naive ? nil : naiveMedian.map { $0 / median },
                       stageSeconds: Self.stageSeconds(c.operations))
        }

    }

    /// Bytes of disk the run needs: a device file per handler and the replay's, each as the
    /// device lays it out (the subgroup size, chosen later, only moves the 4 KiB padding).
    private var diskBytesNeeded: Int {
        let layout = DeviceLayout(sliceElements: options.parameters, subgroupElements: options.parameters,
                                  stateCount: options.optimizer.stateCount, slots: 2, statePrecision: options.statePrecision)
        return (options.handlers.count + 1) * layout.totalBytes
    }

    /// Refuses to start a run that would fill the disk halfway through.
    private func checkFreeSpace() throws {
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: options.directory)
        guard let free = (attributes[.systemFreeSize] as? NSNumber)?.intValue else { return }
        let needed = diskBytesNeeded
        guard free >= needed else {
            throw IOBenchmarkError("this run needs about \(Figures.count(Double(needed)))B free in \(options.directory) for \(options.handlers.count + 1) device files of \(Figures.count(Double(options.parameters))) parameters, and it has \(Figures.count(Double(free)))B: choose another --dir or fewer --params")
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
        var table = TextTable(["handler", "grad", "states", "params", "D", "subgroups", "s/step (median)", "params/s", "read", "written",
                               "÷ fp32 bytes", "raw R/W GB/s", "I/O floor s", "÷ floor", "speedup vs naive",
                               "busy s: load/update/write p/write states"])
        for r in rows {
            table.append([r.handler, r.gradient, r.states, Figures.count(Double(r.parameters)), Figures.count(Double(r.subgroupElements)), "\(r.subgroups)",
                          Figures.fixed(r.seconds.median, 3), Figures.count(r.parametersPerSecond),
                          Figures.count(Double(r.bytesRead)) + "B", Figures.count(Double(r.bytesWritten)) + "B", Figures.fixed(r.bytesVersusFP32),
                          Figures.fixed(r.rawReadGigabytesPerSecond) + "/" + Figures.fixed(r.rawWriteGigabytesPerSecond),
                          Figures.fixed(r.ioFloorSeconds, 3), Figures.fixed(r.ratioToFloor), r.speedupOverNaive.map { Figures.fixed($0) } ?? "-",
                          ["load", "update", "writeParameters", "writeStates"].map { Figures.fixed(r.stageSeconds[$0] ?? 0) }.joined(separator: "/")])
        }
        return table.rendered
    }
}

/// A device step's I/O with nothing else: on a file laid out like the device's, subgroup by
/// subgroup, it reads the payload and the slot the previous step wrote, then writes the other
/// slot, one transfer at a time with the device's queue depth and block size, and makes the
/// writes durable as the journal commit does. No compute, no checksums, no waiting on stages.
///
/// What it writes is random and every 4 KiB block of it new each step (stamped with the step,
/// the subgroup and the block), as an optimizer's states are, so that no cache or store that
/// keys on content can make the floor faster than the disk.
final class RawStepReplay {
    struct Sample {
        var readSeconds: Double
        var writeSeconds: Double
        var bytesRead: Int
        var bytesWritten: Int
        var readRate: Double { Double(bytesRead) / readSeconds }
        var writeRate: Double { Double(bytesWritten) / writeSeconds }
    }

    let file: BlockFile
    let ring: IORing
    let layout: DeviceLayout
    /// A slot image, then room for one payload.
    let buffer: AlignedBuffer<UInt8>
    let blockSize: Int

    /// Creates the file and writes both slots of every subgroup, so that every read is of data
    /// on the disk (a file's unwritten extents read as zeros without touching it).
    init(path: String, layout: DeviceLayout, queueDepth: Int, blockSize: Int) throws {
        file = try BlockFile(path: path, mode: .direct, create: true)
        try file.allocate(length: layout.totalBytes)
        ring = try IORing(queueDepth: queueDepth)
        self.layout = layout
        self.blockSize = blockSize
        buffer = AlignedBuffer(count: layout.slotBytes + layout.gradientSlotBytes, alignment: BlockFile.directAlignment)
        try buffer.withUnsafeMutableBufferPointer { b in
            let memory = UnsafeMutableRawBufferPointer(b)
            var random = SplitMix64(seed: 0x5EED)
            for i in memory.bindMemory(to: UInt64.self).indices { memory.storeBytes(of: random.next(), toByteOffset: i * 8, as: UInt64.self) }
            try ring.register(buffers: [memory])
            let slot = UnsafeMutableRawBufferPointer(rebasing: memory[0..<layout.slotBytes])
            for s in 0..<layout.subgroupCount {
                for k in 0..<layout.slots {
                    Self.stamp(slot, step: -1 - k, subgroup: s)
                    try ring.run([BlockTransfer(.write, file: file, fileOffset: layout.slotOffset(subgroup: s, slot: k), memory: slot)],
                                 blockSize: blockSize)
                }
            }
        }
        try file.sync()
    }

    /// Makes every 4 KiB block of `slot` unlike any other block written before.
    private static func stamp(_ slot: UnsafeMutableRawBufferPointer, step: Int, subgroup: Int) {
        for block in stride(from: 0, to: slot.count, by: 4096) {
            slot.storeBytes(of: UInt64(bitPattern: Int64(step)), toByteOffset: block, as: UInt64.self)
            slot.storeBytes(of: UInt64(subgroup) << 32 | UInt64(block / 4096), toByteOffset: block + 8, as: UInt64.self)
        }
    }

    /// Step `step`'s I/O; `payloadBytes` are the sizes the host staged in the gradient region.
    func run(step: Int, payloadBytes: [Int]) throws -> Sample {
        var sample = Sample(readSeconds: 0, writeSeconds: 0, bytesRead: 0, bytesWritten: 0)
        let readSlot = layout.slot(afterStep: step - 1)
        let writeSlot = layout.slot(afterStep: step)
        try buffer.withUnsafeMutableBufferPointer { b in
            let memory = UnsafeMutableRawBufferPointer(b)
            let slot = UnsafeMutableRawBufferPointer(rebasing: memory[0..<layout.slotBytes])
            for (s, bytes) in payloadBytes.enumerated() {
                let payloadRead = min(bytes.roundedUp(to: DeviceLayout.alignment), layout.gradientSlotBytes)
                let reads = [
                    BlockTransfer(.read, file: file, fileOffset: layout.gradientSlotOffset(subgroup: s),
                                  memory: UnsafeMutableRawBufferPointer(rebasing: memory[layout.slotBytes..<(layout.slotBytes + payloadRead)])),
                    BlockTransfer(.read, file: file, fileOffset: layout.slotOffset(subgroup: s, slot: readSlot), memory: slot),
                ]
                sample.readSeconds += try Timing.seconds { try ring.run(reads, blockSize: blockSize) }
                sample.bytesRead += payloadRead + slot.count
                Self.stamp(slot, step: step, subgroup: s)
                let write = BlockTransfer(.write, file: file, fileOffset: layout.slotOffset(subgroup: s, slot: writeSlot), memory: slot)
                sample.writeSeconds += try Timing.seconds { try ring.run([write], blockSize: blockSize) }
                sample.bytesWritten += slot.count
            }
        }
        sample.writeSeconds += try Timing.seconds { try file.sync() }
        return sample
    }
}

/// The host's part in the benchmark: encodes a gradient once and writes one payload per
/// subgroup into the device's gradient region before each step (with that step's number).
final class PayloadStager {
    let region: GradientRegionWriter
    let parameters: Int
    let gradient: AlignedBuffer<Float>
    let compressor: GradientCompressor

    init(ssdPath: String, configured: Reply.Configured, parameters: Int, ratio: Double?, valueEncoding: Precision,
         queueDepth: Int, blockSize: Int) throws {
        region = try GradientRegionWriter(ssdPath: ssdPath, directIO: true, configured: configured, queueDepth: queueDepth,
                                          blockSize: blockSize)
        self.parameters = parameters
        gradient = AlignedBuffer(count: configured.subgroupElements)
        gradient.withUnsafeMutableBufferPointer { g in
            for i in g.indices { g[i] = Float((i &* 2_654_435_761) % 2001 - 1000) * 1e-4 }
        }
        compressor = try GradientCompressor(ratio: ratio ?? 1, options: PayloadOptions(valueEncoding: valueEncoding))
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
    func roundedUp(to multiple: Int) -> Int { (self + multiple - 1) / multiple * multiple }
}
