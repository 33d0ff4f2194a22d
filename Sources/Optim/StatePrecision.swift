import CKernels

/// How a device stores the optimizer states (AdamW's m and v, SGD's momentum, AdaGrad's sum):
/// fp32, or blockwise 8-bit codes with one fp32 scale per block. The master parameters p are
/// fp32 either way, and every update runs in fp32: an 8-bit state is decoded a block at a time,
/// updated exactly as an fp32 one, and encoded again (`UpdateKernel.run(_:on:)`).
///
/// An 8-bit state of n elements is stored as ⌈n / B⌉ fp32 scales, then n codes (one byte
/// each, `DynamicMap`): 1 + 4/B bytes per element instead of 4. Element i belongs to block
/// ⌊i / B⌋ and stands for `map.values[code] × scale`.
public enum StatePrecision: Sendable, Hashable, CustomStringConvertible {
    case fp32
    /// Blockwise dynamic 8-bit codes, one fp32 scale per `blockSize` elements.
    case blockwise8(blockSize: Int)

    /// bitsandbytes' block: 2048 codes fill half a 4 KiB page, and a scale costs 0.2% more bytes.
    public static var defaultBlockSize: Int { 2048 }
    /// Powers of two in this range: from 64 (a cache line of codes; the scales then add 6%) to
    /// 65536 (coarser blocks lose resolution wherever one large value shares a block with many
    /// small ones).
    public static var blockSizes: ClosedRange<Int> { 64...65536 }
    /// 8-bit states in the default block size.
    public static var eightBit: StatePrecision { .blockwise8(blockSize: defaultBlockSize) }
    /// The names a command line takes.
    public static let names = ["fp32", "8bit"]

    /// `fp32` or `8bit` (with `blockSize`, which must be one of `blockSizes`, a power of two).
    public init(name: String, blockSize: Int = defaultBlockSize) throws(StatePrecisionError) {
        switch name.lowercased() {
        case "fp32": self = .fp32
        case "8bit":
            guard Self.blockSizes.contains(blockSize), blockSize & (blockSize - 1) == 0 else { throw .badBlockSize(blockSize) }
            self = .blockwise8(blockSize: blockSize)
        default: throw .unknown(name)
        }
    }

    public var name: String {
        switch self {
        case .fp32: "fp32"
        case .blockwise8: "8bit"
        }
    }

    public var description: String {
        switch self {
        case .fp32: "fp32"
        case .blockwise8(let b): "8bit (blocks of \(b))"
        }
    }

    /// The block of one scale; nil in fp32.
    public var blockSize: Int? {
        if case .blockwise8(let b) = self { return b }
        return nil
    }

    /// Bytes per element of one state as stored: 4, or 1 + 4/B.
    public var bytesPerState: Double {
        switch self {
        case .fp32: 4
        case .blockwise8(let b): 1 + 4 / Double(b)
        }
    }

    /// Bytes one state vector of `elements` elements takes as stored.
    public func storedBytes(elements: Int) -> Int {
        switch self {
        case .fp32: 4 * elements
        case .blockwise8(let b): 4 * ((elements + b - 1) / b) + elements
        }
    }

    /// Stores fp32 `values` of a state whose codes follow `map` into `stored` (exactly
    /// `storedBytes(elements: values.count)` bytes, 4-byte aligned).
    public func encode(_ values: UnsafeBufferPointer<Float>, map: DynamicMap, into stored: UnsafeMutableRawBufferPointer) {
        precondition(stored.count == storedBytes(elements: values.count), "a stored state has exactly its bytes")
        guard case .blockwise8(let b) = self else {
            stored.copyMemory(from: UnsafeRawBufferPointer(values))
            return
        }
        guard let source = values.baseAddress else { return }
        let vector = QuantizedVector(stored.baseAddress!, elements: values.count, blockSize: b)
        for block in 0..<vector.blocks {
            let range = vector.elements(ofBlock: block)
            vector.encode(block, from: source + range.lowerBound, map: map)
        }
    }

    /// A new buffer holding `values` as stored in this precision (4-byte aligned).
    public func stored(_ values: AlignedBuffer<Float>, map: DynamicMap) -> AlignedBuffer<UInt8> {
        let stored = AlignedBuffer<UInt8>(count: storedBytes(elements: values.count))
        withExtendedLifetime((values, stored)) {
            encode(UnsafeBufferPointer(start: values.base, count: values.count), map: map,
                   into: UnsafeMutableRawBufferPointer(start: stored.base, count: stored.count))
        }
        return stored
    }

    /// The fp32 values of a stored state of `values.count` elements whose codes follow `map`.
    public func decode(_ stored: UnsafeRawBufferPointer, map: DynamicMap, into values: UnsafeMutableBufferPointer<Float>) {
        precondition(stored.count == storedBytes(elements: values.count), "a stored state has exactly its bytes")
        guard case .blockwise8(let b) = self else {
            UnsafeMutableRawBufferPointer(values).copyMemory(from: stored)
            return
        }
        guard let destination = values.baseAddress else { return }
        let vector = QuantizedVector(UnsafeMutableRawPointer(mutating: stored.baseAddress!), elements: values.count, blockSize: b)
        for block in 0..<vector.blocks {
            vector.decode(block, into: destination + vector.elements(ofBlock: block).lowerBound, map: map)
        }
    }
}

/// One 8-bit state vector in memory: ⌈n / B⌉ fp32 scales, then n codes. Only the kernels here
/// touch its pointers.
struct QuantizedVector: @unchecked Sendable {
    // Safe to share between the kernel's threads: each encodes and decodes whole blocks of its
    // own, which share no byte with another block's scale or codes.
    let scales: UnsafeMutablePointer<Float>
    let codes: UnsafeMutablePointer<UInt8>
    let count: Int
    let blockSize: Int
    let blocks: Int

    init(_ base: UnsafeMutableRawPointer, elements: Int, blockSize: Int) {
        precondition(Int(bitPattern: base) % 4 == 0, "a stored state's scales are 4-byte aligned")
        count = elements
        self.blockSize = blockSize
        blocks = (elements + blockSize - 1) / blockSize
        scales = base.assumingMemoryBound(to: Float.self)
        codes = (base + 4 * blocks).assumingMemoryBound(to: UInt8.self)
    }

    func elements(ofBlock block: Int) -> Range<Int> {
        (block * blockSize)..<min((block + 1) * blockSize, count)
    }

    /// Block `block`'s values, `map.values[code] × scale`, into `destination`.
    func decode(_ block: Int, into destination: UnsafeMutablePointer<Float>, map: DynamicMap) {
        let range = elements(ofBlock: block)
        si_q8_decode(codes + range.lowerBound, range.count, scales[block], map.valueTable.base, destination)
    }

    /// Block `block` from the fp32 values at `source`: its scale, then every element's code.
    func encode(_ block: Int, from source: UnsafePointer<Float>, map: DynamicMap) {
        let range = elements(ofBlock: block)
        let scale = si_q8_scale(source, range.count, map.isSigned ? 1 : 0)
        scales[block] = scale
        si_q8_encode(source, range.count, scale, map.bucketTable.base, map.zeroCode, map.positiveFloor,
                     codes + range.lowerBound)
    }
}

extension OptimizerKind {
    /// The map of each state, in state order: signed for AdamW's m and SGD's momentum,
    /// unsigned for AdamW's v and AdaGrad's sum (never negative).
    public var stateMaps: [DynamicMap] {
        switch self {
        case .adamw: [.signed, .unsigned]
        case .sgd: [.signed]
        case .adagrad: [.unsigned]
        }
    }
}

/// A state precision a command line or a config file named that does not exist.
public enum StatePrecisionError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case badBlockSize(Int)

    public var description: String {
        switch self {
        case .unknown(let name): "unknown state precision '\(name)': expected fp32 or 8bit"
        case .badBlockSize(let b):
            "state block size \(b): expected a power of two from \(StatePrecision.blockSizes.lowerBound) to \(StatePrecision.blockSizes.upperBound)"
        }
    }
}
