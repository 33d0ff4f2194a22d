import Compression
import SeededRandom
import Optim

/// `smartinf bench topk`: SmartComp's three costs at a given size and ratio — selection on the
/// compute side, payload encoding, and decode + scatter on the device — against memcpy over the
/// same bytes, plus the bytes on the wire per kept element.
public struct TopKBenchmark: Sendable {
    public struct Options: Sendable {
        public var elements: Int
        public var ratio: Double
        public var valueEncoding: Precision
        public var zstd: Bool
        public var repetitions: Int

        public init(elements: Int = 64 << 20, ratio: Double = 0.01, valueEncoding: Precision = .fp16, zstd: Bool = false,
                    repetitions: Int = 5) {
            self.elements = elements
            self.ratio = ratio
            self.valueEncoding = valueEncoding
            self.zstd = zstd
            self.repetitions = repetitions
        }
    }

    public struct Row: Codable, Sendable {
        public var elements: Int
        public var ratio: Double
        public var kept: Int
        public var valueEncoding: String
        public var indexEncoding: String
        public var indexCompression: String
        /// fp32 input bytes per second.
        public var selectionGigabytesPerSecond: Double
        /// fp32 input bytes per second (selection + encoding).
        public var encodeGigabytesPerSecond: Double
        /// Dense fp32 output bytes per second (validate, zero-fill, scatter).
        public var decodeGigabytesPerSecond: Double
        public var memoryCopyGigabytesPerSecond: Double
        public var selectionRatioToMemoryCopy: Double
        public var decodeRatioToMemoryCopy: Double
        public var payloadBytes: Int
        /// Index-stream bits per kept element.
        public var indexBitsPerKeptElement: Double
        /// All payload bytes (header, indices, values) per kept element.
        public var wireBytesPerKeptElement: Double
        /// Payload bytes ÷ dense fp32 gradient bytes (the paper's "2%" at r = 0.01 with 4-byte
        /// values and indices).
        public var fractionOfDenseFP32: Double
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    public func run() throws -> Row {
        let o = options
        let n = o.elements
        let k = try TopKSelector.keptCount(ratio: o.ratio, elementCount: n)
        let gradient = AlignedBuffer<Float>(count: n)
        var rng = SplitMix64(seed: 42)
        gradient.withUnsafeMutableBufferPointer { g in
            for i in g.indices { g[i] = Float(Int64(bitPattern: rng.next() >> 40) - (1 << 23)) * 1e-9 }
        }
        let selector = TopKSelector()
        let indices = AlignedBuffer<UInt32>(count: k)
        let options = PayloadOptions(valueEncoding: o.valueEncoding, indexEncoding: .automatic, indexZstdLevel: o.zstd ? 1 : nil)
        let compressor = try GradientCompressor(ratio: o.ratio, options: options)
        let payload = AlignedBuffer<UInt8>(count: try compressor.maximumEncodedSize(elementCount: n, includingDenseSteps: false))
        let decoder = GradientPayloadDecoder()
        let dense = AlignedBuffer<Float>(count: n)
        let copy = MemoryTrafficLimit(.copy, bytesMoved: 2 * n * 4, threads: 1)

        var payloadBytes = 0
        var failure: Error?
        let samples = Timing.interleaved(repetitions: o.repetitions, [
            { copy.run() },
            { do { try selector.select(gradient, keeping: k, indices: indices) } catch { failure = error } },
            { do { payloadBytes = try compressor.compress(gradient, subgroup: 0, step: 1, into: payload) } catch { failure = error } },
            {
                do {
                    try payload.withUnsafeBufferPointer { p in
                        _ = try decoder.decode(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[0..<payloadBytes]), into: dense)
                    }
                } catch { failure = error }
            },
        ])
        if let failure { throw failure }
        let header = try payload.withUnsafeBufferPointer { try GradientPayloadHeader(parsing: UnsafeRawBufferPointer($0)) }
        let inputBytes = Double(n * 4)
        let copyRate = Double(copy.bytesMoved) / Timing.median(samples[0]) / 1e9
        let selection = inputBytes / Timing.median(samples[1]) / 1e9
        let decode = inputBytes / Timing.median(samples[3]) / 1e9
        return Row(elements: n, ratio: o.ratio, kept: k, valueEncoding: o.valueEncoding.description,
                   indexEncoding: header.indexEncoding.description, indexCompression: header.indexCompression.description,
                   selectionGigabytesPerSecond: selection, encodeGigabytesPerSecond: inputBytes / Timing.median(samples[2]) / 1e9,
                   decodeGigabytesPerSecond: decode, memoryCopyGigabytesPerSecond: copyRate,
                   selectionRatioToMemoryCopy: selection / copyRate, decodeRatioToMemoryCopy: decode / copyRate,
                   payloadBytes: payloadBytes, indexBitsPerKeptElement: Double(header.storedIndexByteCount * 8) / Double(k),
                   wireBytesPerKeptElement: Double(payloadBytes) / Double(k), fractionOfDenseFP32: header.fractionOfDenseFP32)
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["elements", "r", "kept", "values", "indices", "select GB/s", "encode GB/s", "decode GB/s",
                               "memcpy GB/s", "select÷memcpy", "decode÷memcpy", "index bits/kept", "wire B/kept", "of dense fp32"])
        for r in rows {
            table.append([Figures.count(Double(r.elements)), "\(r.ratio)", Figures.count(Double(r.kept)), r.valueEncoding,
                          r.indexEncoding + (r.indexCompression == "none" ? "" : "+" + r.indexCompression),
                          Figures.fixed(r.selectionGigabytesPerSecond), Figures.fixed(r.encodeGigabytesPerSecond),
                          Figures.fixed(r.decodeGigabytesPerSecond), Figures.fixed(r.memoryCopyGigabytesPerSecond),
                          Figures.fixed(r.selectionRatioToMemoryCopy), Figures.fixed(r.decodeRatioToMemoryCopy),
                          Figures.fixed(r.indexBitsPerKeptElement), Figures.fixed(r.wireBytesPerKeptElement),
                          Figures.fixed(r.fractionOfDenseFP32 * 100, 2) + "%"])
        }
        return table.rendered
    }
}
