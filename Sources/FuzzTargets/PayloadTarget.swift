import Checksum
import Compression
import Optim
import SeededRandom

/// The compressed gradient payload (`GradientPayloadHeader(parsing:)` and
/// `GradientPayloadDecoder.decode(_:into:)`): what a device decodes from its gradient region.
///
/// Besides "no trap, typed and described errors", every run checks the decoder's promise that a
/// rejected payload leaves the destination exactly as it was: the destination is filled with a
/// sentinel before each decode and must still hold it after a rejection.
///
/// Both checksums gate everything behind them, so each input is also decoded with its checksums
/// recomputed: a mutation of a length field or of the index stream then reaches the checks
/// behind the CRCs instead of stopping at them.
public final class PayloadTarget: FuzzTarget {
    public let name = "payload"
    /// Destination capacity in elements; a payload that describes more is decoded into a short
    /// destination, which must be refused for its size.
    static let destinationCapacity = 1 << 20
    /// A NaN with a payload the decoder never writes for a rejected input.
    static let sentinel: UInt32 = 0x7FC0_5A5A

    private let decoder = GradientPayloadDecoder()
    private let destination: UnsafeMutableBufferPointer<Float>

    public init() {
        destination = .allocate(capacity: Self.destinationCapacity)
    }

    deinit { destination.deallocate() }

    public func seeds() throws -> [[UInt8]] {
        var random = SplitMix64(seed: 0x5EED_0001)
        let variants = [
            PayloadOptions(valueEncoding: .fp32, indexEncoding: .deltaVarint),
            PayloadOptions(valueEncoding: .fp16, indexEncoding: .blockOffsets16),
            PayloadOptions(valueEncoding: .bf16, indexEncoding: .deltaVarint, indexZstdLevel: 3),
            PayloadOptions(valueEncoding: .fp32, indexEncoding: .blockOffsets16, indexZstdLevel: 1),
        ]
        // (n, k, stride): stride 0 picks k random indices; a fixed stride makes a stream zstd shrinks.
        let shapes: [(n: Int, k: Int, stride: Int)] = [(100, 7, 0), (70_000, 40, 0), (4000, 400, 10), (48, 48, 0),
                                                       (17, 0, 0), (33, 1, 0), (0, 0, 0)]
        var seeds: [[UInt8]] = []
        for (s, shape) in shapes.enumerated() {
            var indices: [UInt32]
            if shape.stride > 0 {
                indices = (0..<shape.k).map { UInt32($0 * shape.stride + 3) }
            } else {
                var chosen = Set<UInt32>()
                while chosen.count < shape.k { chosen.insert(UInt32(random.next() % UInt64(shape.n))) }
                indices = chosen.sorted()
            }
            let values: [Float] = (0..<shape.k).map { j in
                switch j % 11 {
                case 3: .nan
                case 5: -.infinity
                case 7: .leastNonzeroMagnitude
                default: Float(Int64(bitPattern: random.next() % 20_000) - 10_000) / 1000
                }
            }
            for options in variants {
                let encoder = try GradientPayloadEncoder(options: options)
                let capacity = GradientPayloadEncoder.maximumEncodedSize(elementCount: shape.n, keptCount: shape.k, options: options)
                var payload = [UInt8](repeating: 0, count: capacity)
                let length = try indices.withUnsafeBufferPointer { i in
                    try values.withUnsafeBufferPointer { v in
                        try payload.withUnsafeMutableBytes { out in
                            try encoder.encode(indices: i, values: v, elementCount: shape.n, subgroup: UInt32(s),
                                               step: UInt64(100 + s), into: out)
                        }
                    }
                }
                let seed = Array(payload.prefix(length))
                if !seeds.contains(seed) { seeds.append(seed) }
            }
        }
        return seeds
    }

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        var outcome = try decodeChecked(input)
        var repaired = input
        if Self.repairChecksums(&repaired), repaired != input {
            outcome += " | " + (try decodeChecked(repaired))
        }
        return outcome
    }

    /// Recomputes the body CRC (bytes 56..<60) and then the header CRC (60..<64).
    @discardableResult
    static func repairChecksums(_ bytes: inout [UInt8]) -> Bool {
        guard bytes.count >= GradientPayloadHeader.byteCount else { return false }
        let body = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[64...])) }
        bytes.storeLE(body, at: 56)
        let header = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<60])) }
        bytes.storeLE(header, at: 60)
        return true
    }

    private func decodeChecked(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let outcome = input.withUnsafeBytes { raw in
            Result { () throws(FuzzViolation) -> String in try decodeChecked(raw) }
        }
        return try outcome.get()
    }

    private func decodeChecked(_ raw: UnsafeRawBufferPointer) throws(FuzzViolation) -> String {
        let header: GradientPayloadHeader?
        do {
            header = try GradientPayloadHeader(parsing: raw)
        } catch {
            _ = try rejection(name, error)
            header = nil
        }
        let n = header?.elementCount ?? 0
        let count = n <= Self.destinationCapacity ? n : 3
        let out = UnsafeMutableBufferPointer(rebasing: destination[0..<count])
        out.update(repeating: Float(bitPattern: Self.sentinel))
        do {
            let decoded = try decoder.decode(raw, into: out)
            guard let header else {
                throw FuzzViolation(name, "decode accepted a payload whose header GradientPayloadHeader(parsing:) refuses")
            }
            guard decoded == header else {
                throw FuzzViolation(name, "decode returned header \(decoded), parsing read \(header)")
            }
            return "ok"
        } catch let error as PayloadError {
            if let changed = out.firstIndex(where: { $0.bitPattern != Self.sentinel }) {
                throw FuzzViolation(name, "a rejected payload (\(error)) changed destination element \(changed)")
            }
            return try rejection(name, error)
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation(name, "unexpected error type \(type(of: error)): \(error)")
        }
    }

    /// Sets one header field to an edge value (a count made consistent with the length, a
    /// maximum, an unknown encoding…) and usually recomputes the checksums.
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool {
        guard input.count >= GradientPayloadHeader.byteCount else { return false }
        let k = Int(input.loadLE(24, as: UInt32.self) ?? 0)
        let width = [1: 4, 2: 2, 3: 2][Int(input[28])] ?? 4
        let body = input.count - GradientPayloadHeader.byteCount
        let indexBytes = max(0, body - k * width)
        switch random.next() % 9 {
        case 0: input.storeLE(UInt32(truncatingIfNeeded: pick([0, 1, k, k + 1, max(0, k - 1), 65_536, 65_537, Int(UInt32.max)],
                                                              &random)), at: 20)
        case 1: input.storeLE(UInt32(truncatingIfNeeded: pick([0, 1, max(0, k - 1), k + 1, body / width, Int(UInt32.max)], &random)),
                              at: 24)
        case 2: input[28] = UInt8(random.next() % 5)
        case 3: input[29] = UInt8(random.next() % 4)
        case 4: input[30] = UInt8(random.next() % 3)
        case 5:
            input.storeLE(UInt64(indexBytes), at: 32)
            input.storeLE(UInt64(indexBytes), at: 40)
        case 6: input.storeLE(UInt64(pick([0, 1, indexBytes + 1, max(0, indexBytes - 1), 5 * k, Int.max], &random)), at: 40)
        case 7: input.storeLE(UInt64(pick([0, k * width, k * width + 1, body, Int(UInt32.max) * 4], &random)), at: 48)
        default: input.storeLE(pick([0, UInt64.max, 1 << 63], &random), at: 32 + 8 * Int(random.next() % 3))
        }
        if random.next() % 10 != 0 { Self.repairChecksums(&input) }
        return true
    }
}

func pick<T>(_ choices: [T], _ random: inout SplitMix64) -> T {
    choices[Int(random.next() % UInt64(choices.count))]
}
