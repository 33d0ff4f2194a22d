import CKernels
import Dispatch

/// Raw views of one subgroup whose optimizer states are stored in 8 bits (`StatePrecision`):
/// fp32 parameters, each state as stored (its scales, then its codes), the gradient and the
/// compute copy. `UpdateKernel.run(_:on:)` is the only code that dereferences them.
public struct QuantizedUpdateOperands: @unchecked Sendable {
    // Safe to hand to the kernel's threads: each takes whole blocks of every vector, and the
    // caller waits for all of them before it touches the memory again.
    public var count: Int
    /// Elements per scale.
    public var blockSize: Int
    /// fp32 master parameters, updated in place.
    public var parameters: UnsafeMutablePointer<Float>
    /// Each state in rule order, as stored (4-byte aligned), updated in place.
    public var states: [UnsafeMutableRawPointer]
    public var gradient: UnsafeRawPointer
    public var gradientPrecision: Precision
    /// Where the compute copy of the new parameters goes, if anywhere.
    public var copyOut: UnsafeMutableRawPointer?
    public var copyOutPrecision: Precision

    public init(count: Int, blockSize: Int, parameters: UnsafeMutablePointer<Float>, states: [UnsafeMutableRawPointer],
                gradient: UnsafeRawPointer, gradientPrecision: Precision, copyOut: UnsafeMutableRawPointer?,
                copyOutPrecision: Precision) {
        self.count = count
        self.blockSize = blockSize
        self.parameters = parameters
        self.states = states
        self.gradient = gradient
        self.gradientPrecision = gradientPrecision
        self.copyOut = copyOut
        self.copyOutPrecision = copyOutPrecision
    }
}

extension PreparedUpdate {
    /// The optimizer the rule belongs to (which maps its states use).
    public var kind: OptimizerKind {
        switch self {
        case .adamw, .adamwTorch: .adamw
        case .sgdReference, .sgdTorch: .sgd
        case .adagrad: .adagrad
        }
    }
}

extension UpdateKernel {
    /// Applies each piece's update to its range of a subgroup whose states are 8-bit: block by
    /// block, the states are decoded into fp32 scratch, every piece overlapping the block runs
    /// the fp32 kernel there exactly as on fp32 states, and the block is encoded again (a new
    /// scale, then the codes). `pieces` are subgroup-local ranges, in order, covering
    /// 0..<count, all of one rule (a parameter group's range takes its own scalars; a block cut
    /// by two groups is decoded and encoded once).
    ///
    /// Blocks are independent, so neither the thread count nor the path changes a bit.
    public func run(_ pieces: [(range: Range<Int>, update: PreparedUpdate)], on operands: QuantizedUpdateOperands) {
        guard let first = pieces.first else { return }
        let maps = first.update.kind.stateMaps
        precondition(operands.states.count == maps.count, "\(first.update.kind) keeps \(maps.count) state vector(s)")
        precondition(first.range.lowerBound == 0 && pieces.last!.range.upperBound == operands.count
                     && zip(pieces, pieces.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound }
                     && pieces.allSatisfy { $0.update.kind == first.update.kind },
                     "the pieces of a quantized update cover the subgroup in order, with one optimizer's rules")
        let b = operands.blockSize
        let vectors = operands.states.map { QuantizedVector($0, elements: operands.count, blockSize: b) }
        let blocks = vectors[0].blocks
        let single = UpdateKernel(threads: 1, path: path)
        let gradientWidth = operands.gradientPrecision.byteWidth
        let copyOutWidth = operands.copyOutPrecision.byteWidth

        @Sendable func updateBlocks(_ range: Range<Int>) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: b * maps.count) { scratch in
                let scratch = scratch.baseAddress!
                var next = 0
                for block in range {
                    let elements = vectors[0].elements(ofBlock: block)
                    for (j, vector) in vectors.enumerated() { vector.decode(block, into: scratch + j * b, map: maps[j]) }
                    while pieces[next].range.upperBound <= elements.lowerBound { next += 1 }
                    var k = next
                    while k < pieces.count, pieces[k].range.lowerBound < elements.upperBound {
                        let part = pieces[k].range.clamped(to: elements)
                        let offset = part.lowerBound - elements.lowerBound
                        single.run(pieces[k].update, on: UpdateOperands(
                            count: part.count, parameters: operands.parameters + part.lowerBound, state1: scratch + offset,
                            state2: maps.count > 1 ? scratch + b + offset : nil,
                            gradient: operands.gradient + part.lowerBound * gradientWidth, gradientPrecision: operands.gradientPrecision,
                            copyOut: operands.copyOut.map { $0 + part.lowerBound * copyOutWidth }, copyOutPrecision: operands.copyOutPrecision))
                        k += 1
                    }
                    for (j, vector) in vectors.enumerated() { vector.encode(block, from: scratch + j * b, map: maps[j]) }
                }
            }
        }

        let workers = min(threads, max(1, operands.count / Self.minimumElementsPerThread), blocks)
        if workers <= 1 {
            updateBlocks(0..<blocks)
            return
        }
        let chunk = (blocks + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            updateBlocks(min(w * chunk, blocks)..<min((w + 1) * chunk, blocks))
        }
    }

    /// Applies `update` to owned buffers whose states are stored in 8 bits (`states`: one per
    /// state of the rule, each `StatePrecision.blockwise8(blockSize:)`'s stored bytes for the
    /// parameters' count), as a device applies it to a subgroup of one parameter group.
    public func run(_ update: PreparedUpdate, parameters: AlignedBuffer<Float>, states: [AlignedBuffer<UInt8>], blockSize: Int,
                    gradient: StreamBuffer, copyOut: StreamBuffer? = nil) {
        let n = parameters.count
        let stored = StatePrecision.blockwise8(blockSize: blockSize).storedBytes(elements: n)
        precondition(states.count == update.stateCount && states.allSatisfy { $0.count == stored },
                     "this optimizer needs \(update.stateCount) 8-bit state vectors of \(stored) bytes")
        precondition(gradient.count == n && (copyOut?.count ?? n) == n, "parameters, gradient and copy-out must have the same length")
        withExtendedLifetime((parameters, states, gradient, copyOut)) {
            gradient.withUnsafeMutableRawPointer { g in
                run([(range: 0..<n, update: update)], on: QuantizedUpdateOperands(
                    count: n, blockSize: blockSize, parameters: parameters.base, states: states.map { UnsafeMutableRawPointer($0.base) },
                    gradient: UnsafeRawPointer(g), gradientPrecision: gradient.precision,
                    copyOut: copyOut?.withUnsafeMutableRawPointer { $0 }, copyOutPrecision: copyOut?.precision ?? .fp32))
            }
        }
    }
}
