import BlockIO
import Foundation
import Optim

/// `smartinf bench io`: sequential read and write bandwidth of our io_uring engine on a file,
/// at several queue depths, beside fio's on the same file with the same parameters.
public struct IOBenchmark: Sendable {
    public struct Options: Sendable {
        public var file: String
        public var size: Int
        public var blockSize: Int
        public var queueDepths: [Int]
        public var mode: BlockFile.Mode
        public var repetitions: Int
        public var useFio: Bool

        public init(file: String, size: Int = 2 << 30, blockSize: Int = 1 << 20, queueDepths: [Int] = [1, 4, 16, 32],
                    mode: BlockFile.Mode = .direct, repetitions: Int = 3, useFio: Bool = true) {
            self.file = file
            self.size = size
            self.blockSize = blockSize
            self.queueDepths = queueDepths
            self.mode = mode
            self.repetitions = repetitions
            self.useFio = useFio
        }
    }

    public struct Row: Codable, Sendable {
        public var operation: String
        public var queueDepth: Int
        public var blockSize: Int
        public var bytes: Int
        public var gigabytesPerSecond: SampledFigure
        /// fio's figure on the same file and parameters, when fio is installed.
        public var fioGigabytesPerSecond: SampledFigure?
        /// Our median ÷ fio's median.
        public var ratioToFio: Double?
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// Validates what the user gave before any byte is written.
    public static func validate(_ options: Options) throws -> Options {
        var o = options
        let align = BlockFile.directAlignment
        guard o.size >= align else { throw IOBenchmarkError("--size must be at least \(align) bytes, got \(o.size)") }
        guard o.blockSize >= align, o.blockSize % align == 0 else {
            throw IOBenchmarkError("--block must be a positive multiple of \(align) bytes, got \(o.blockSize)")
        }
        o.size -= o.size % o.blockSize
        guard o.size > 0 else { throw IOBenchmarkError("--size must be at least one block (\(o.blockSize) bytes)") }
        return o
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> [Row] {
        let o = options
        let file = try BlockFile(path: o.file, mode: o.mode, create: true)
        try file.allocate(length: o.size)
        let buffer = AlignedBuffer<UInt8>(count: o.size, alignment: BlockFile.directAlignment)
        buffer.withUnsafeMutableBufferPointer { b in
            for i in stride(from: 0, to: b.count, by: 4096) { b[i] = UInt8(truncatingIfNeeded: i >> 12) }
        }
        let fio = o.useFio ? FioRunner() : nil
        var rows: [Row] = []
        for depth in o.queueDepths {
            let ring = try IORing(queueDepth: depth)
            // Registered like a device's DRAM pool; fio gets --fixedbufs to match.
            try buffer.withUnsafeMutableBufferPointer { b in
                let memory = UnsafeMutableRawBufferPointer(b)
                let chunk = IORing.maximumRegisteredBufferBytes
                try ring.register(buffers: stride(from: 0, to: memory.count, by: chunk).map {
                    UnsafeMutableRawBufferPointer(rebasing: memory[$0..<min($0 + chunk, memory.count)])
                })
            }
            var ours: [String: [Double]] = [:]
            var theirs: [String: [Double]] = [:]
            for r in 0..<o.repetitions {
                for write in [true, false] {
                    let name = write ? "write" : "read"
                    progress("QD \(depth) \(name) \(r + 1)/\(o.repetitions)")
                    let seconds = try Self.sequentialSeconds(ring: ring, file: file, buffer: buffer, blockSize: o.blockSize,
                                                             write: write)
                    ours[name, default: []].append(Double(o.size) / seconds / 1e9)
                    if let fio {
                        let bps = try fio.sequentialBandwidth(file: o.file, write: write, size: o.size, blockSize: o.blockSize,
                                                              queueDepth: depth, direct: o.mode == .direct)
                        theirs[name, default: []].append(bps / 1e9)
                    }
                }
            }
            for name in ["write", "read"] {
                let mine = SampledFigure(ours[name] ?? [])
                let reference = theirs[name].map { SampledFigure($0) }
                rows.append(Row(operation: name, queueDepth: depth, blockSize: o.blockSize, bytes: o.size,
                                gigabytesPerSecond: mine, fioGigabytesPerSecond: reference,
                                ratioToFio: reference.map { mine.median / $0.median }))
            }
        }
        return rows
    }

    /// Seconds to write or read `buffer` at offset 0 of `file`: the raw sequential rate that
    /// device-level figures are compared with. A write is synced (fdatasync) after the timed part,
    /// as fio's `end_fsync` is outside its bandwidth figure.
    public static func sequentialSeconds(ring: IORing, file: BlockFile, buffer: AlignedBuffer<UInt8>, blockSize: Int,
                                         write: Bool) throws -> Double {
        let seconds = try Timing.seconds {
            try buffer.withUnsafeMutableBufferPointer { b in
                let memory = UnsafeMutableRawBufferPointer(b)
                try ring.run([BlockTransfer(write ? .write : .read, file: file, fileOffset: 0, memory: memory)], blockSize: blockSize)
            }
        }
        if write { try file.sync() }
        return seconds
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["op", "QD", "block", "size", "GB/s (median)", "min", "max", "fio GB/s", "ours/fio"])
        for r in rows {
            table.append([r.operation, "\(r.queueDepth)", Figures.count(Double(r.blockSize)), Figures.count(Double(r.bytes)),
                          Figures.fixed(r.gigabytesPerSecond.median), Figures.fixed(r.gigabytesPerSecond.minimum),
                          Figures.fixed(r.gigabytesPerSecond.maximum),
                          r.fioGigabytesPerSecond.map { Figures.fixed($0.median) } ?? "-",
                          r.ratioToFio.map { Figures.fixed($0) } ?? "-"])
        }
        return table.rendered
    }
}

/// A bad `bench io` option, in words the user can act on.
public struct IOBenchmarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
