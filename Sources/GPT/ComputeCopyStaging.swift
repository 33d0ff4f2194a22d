import Optim

/// Where the model's math finds its fp32 parameters and gradient accumulators.
///
/// An fp32 model computes straight on its flat vectors. A mixed-precision model keeps only the
/// 16-bit compute copy and 16-bit gradients for the whole model, the way a GPU keeps its fp16
/// weights: each layer's tensors are widened to fp32 into one layer-sized scratch when the layer
/// runs, and its gradients are accumulated in a second one and rounded into the 16-bit vector as
/// soon as the layer's backward is done. The embeddings and the final LayerNorm are staged for
/// the whole pass, because the tied LM head reads wte at the end of forward and writes its
/// gradient at both ends of backward. Host memory is then about 2 + 2 bytes per parameter plus
/// the largest layer and the embeddings in fp32, instead of 4 + 4.
///
/// The values are the same either way: widening is exact, and every gradient element gets all
/// its contributions within one stretch of staging, so rounding it once when it is filed gives
/// the bits that rounding the whole fp32 gradient at the end would.
final class ComputeCopyStaging {
    let precision: Precision
    let layout: ParameterLayout
    /// The compute copy, in `precision`.
    let parameters: StreamBuffer
    /// d(loss)/d(parameters), in `precision`. Allocated when first used (by the first backward
    /// pass), so that a model built from a large fp32 checkpoint does not hold the checkpoint's
    /// values and a full gradient vector at the same time.
    private(set) lazy var gradients = StreamBuffer(precision: precision, count: parameters.count)

    /// Seconds spent widening and rounding since the last `resetCounters()`: what mixed
    /// precision costs the host on top of the math.
    private(set) var conversionSeconds: Double = 0

    private let layerPacking: Packing
    private let globalPacking: Packing
    /// fp32 scratch of a 16-bit model (empty for fp32): one layer's weights and gradients, the
    /// global tensors' weights and gradients, each packed as its `Packing` says.
    private let layerWeights, layerGradients, globalWeights, globalGradients: AlignedBuffer<Float>

    /// The per-layer tensors, in the order a layer's scratch packs them.
    private static let layerTensors = ParameterTensor.allCases.filter(\.isPerLayer)
    /// The tensors used outside the layers, staged for a whole pass.
    private static let globalTensors: [ParameterTensor] = [.wte, .wpe, .lnfw, .lnfb]

    /// Staging over `parameters`: an fp32 model shares the buffer; a 16-bit one rounds it into
    /// its own 16-bit copy and does not keep it.
    init(layout: ParameterLayout, parameters initial: AlignedBuffer<Float>, precision: Precision) {
        self.precision = precision
        self.layout = layout
        layerPacking = Packing(Self.layerTensors.map { ($0, layout.range(of: $0, layer: 0).count) })
        globalPacking = Packing(Self.globalTensors.map { ($0, layout.count(of: $0)) })
        let staged = precision != .fp32
        if staged {
            let copy = StreamBuffer(precision: precision, count: initial.count)
            initial.withUnsafeBufferPointer { source in
                copy.withUnsafeMutableRawPointer { precision.narrow(source, into: $0) }
            }
            parameters = copy
        } else {
            parameters = .fp32(initial)
        }
        layerWeights = AlignedBuffer(count: staged ? layerPacking.count : 0)
        layerGradients = AlignedBuffer(count: staged ? layerPacking.count : 0)
        globalWeights = AlignedBuffer(count: staged ? globalPacking.count : 0)
        globalGradients = AlignedBuffer(count: staged ? globalPacking.count : 0)
    }

    // MARK: Weights

    /// Widens global tensors for a pass (a no-op in fp32): forward stages the embeddings first
    /// and the final LayerNorm last; backward reuses what the forward pass staged.
    func stageGlobalWeights(_ tensors: [ParameterTensor]) {
        guard precision != .fp32 else { return }
        timed { for tensor in tensors { widen(parameters, layout.range(of: tensor), into: globalWeights, globalPacking, tensor) } }
    }

    /// The global tensors' fp32 weights (valid after `stageGlobalWeights()`).
    var global: GlobalTensors {
        precision == .fp32 ? GlobalTensors(parameters.floatBase, layout: layout) : GlobalTensors(globalWeights.address, packing: globalPacking)
    }

    /// Layer `l`'s fp32 weights, until the next call.
    func weights(layer l: Int) -> LayerTensors {
        guard precision != .fp32 else { return LayerTensors(parameters.floatBase, layout: layout, layer: l) }
        timed {
            for tensor in Self.layerTensors { widen(parameters, layout.range(of: tensor, layer: l), into: layerWeights, layerPacking, tensor) }
        }
        return LayerTensors(layerWeights.address, packing: layerPacking)
    }

    // MARK: Gradients

    /// Fills the gradients with zeros.
    func zeroGradients() {
        gradients.withUnsafeMutableRawPointer { _ = $0.initializeMemory(as: UInt8.self, repeating: 0, count: gradients.count * precision.byteWidth) }
        gradientsAreZero = true
    }

    /// True from `zeroGradients()` to the end of the next backward pass: accumulators then start
    /// from zeros, which is cheaper than widening the zeroed vector.
    private var gradientsAreZero = false

    /// The backward pass is over: a further one accumulates onto what it filed.
    func backwardFinished() { gradientsAreZero = false }

    /// The global tensors' fp32 gradient accumulators, holding what the gradients held.
    func globalGradientAccumulators() -> GlobalTensors {
        guard precision != .fp32 else { return GlobalTensors(gradients.floatBase, layout: layout) }
        timed {
            if gradientsAreZero { return globalGradients.fill(with: 0) }
            for tensor in Self.globalTensors { widen(gradients, layout.range(of: tensor), into: globalGradients, globalPacking, tensor) }
        }
        return GlobalTensors(globalGradients.address, packing: globalPacking)
    }

    /// Layer `l`'s fp32 gradient accumulators, holding what the gradients held, until
    /// `fileLayerGradients(l)`.
    func gradientAccumulators(layer l: Int) -> LayerTensors {
        guard precision != .fp32 else { return LayerTensors(gradients.floatBase, layout: layout, layer: l) }
        timed {
            if gradientsAreZero { return layerGradients.fill(with: 0) }
            for tensor in Self.layerTensors { widen(gradients, layout.range(of: tensor, layer: l), into: layerGradients, layerPacking, tensor) }
        }
        return LayerTensors(layerGradients.address, packing: layerPacking)
    }

    /// Rounds layer `l`'s accumulated gradients into the gradient vector: they are final.
    func fileLayerGradients(_ l: Int) {
        guard precision != .fp32 else { return }
        timed { for tensor in Self.layerTensors { narrow(layerGradients, layerPacking, tensor, into: layout.range(of: tensor, layer: l)) } }
    }

    /// Rounds the given global tensors' accumulated gradients into the gradient vector.
    func fileGlobalGradients(_ tensors: [ParameterTensor]) {
        guard precision != .fp32 else { return }
        timed { for tensor in tensors { narrow(globalGradients, globalPacking, tensor, into: layout.range(of: tensor)) } }
    }

    func resetCounters() { conversionSeconds = 0 }

    private func timed(_ body: () -> Void) {
        let start = ContinuousClock.now
        body()
        let elapsed = ContinuousClock.now - start
        conversionSeconds += elapsed / .seconds(1)
    }

    private func widen(_ vector: StreamBuffer, _ range: Range<Int>, into scratch: AlignedBuffer<Float>, _ packing: Packing,
                       _ tensor: ParameterTensor) {
        let width = precision.byteWidth
        vector.withUnsafeMutableRawPointer { base in
            scratch.withUnsafeMutableBufferPointer { s in
                let start = packing.offset(of: tensor)
                precision.widen(UnsafeRawPointer(base + range.lowerBound * width),
                                into: UnsafeMutableBufferPointer(rebasing: s[start..<(start + range.count)]))
            }
        }
    }

    private func narrow(_ scratch: AlignedBuffer<Float>, _ packing: Packing, _ tensor: ParameterTensor, into range: Range<Int>) {
        let width = precision.byteWidth
        gradients.withUnsafeMutableRawPointer { base in
            scratch.withUnsafeBufferPointer { s in
                let start = packing.offset(of: tensor)
                precision.narrow(UnsafeBufferPointer(rebasing: s[start..<(start + range.count)]), into: base + range.lowerBound * width)
            }
        }
    }
}

/// Offsets of some tensors packed one after another in a scratch buffer.
struct Packing {
    private var offsets: [ParameterTensor: Int] = [:]
    private(set) var count = 0

    init(_ tensors: [(ParameterTensor, Int)]) {
        for (tensor, elements) in tensors {
            offsets[tensor] = count
            // Each tensor starts on a 64-byte boundary, as in the flat vectors' allocations.
            count += (elements + 15) & ~15
        }
    }

    func offset(of tensor: ParameterTensor) -> Int { offsets[tensor]! }
}

/// The tensors used outside the layers: the token and position tables (wte is also the LM head)
/// and the final LayerNorm.
struct GlobalTensors {
    let wte, wpe, lnfw, lnfb: UnsafeMutablePointer<Float>

    /// In a flat vector in checkpoint order.
    init(_ base: UnsafeMutablePointer<Float>, layout: ParameterLayout) {
        (wte, wpe, lnfw, lnfb) = (base + layout.offset(of: .wte), base + layout.offset(of: .wpe),
                                  base + layout.offset(of: .lnfw), base + layout.offset(of: .lnfb))
    }

    /// In a staging scratch.
    init(_ base: UnsafeMutablePointer<Float>, packing: Packing) {
        (wte, wpe, lnfw, lnfb) = (base + packing.offset(of: .wte), base + packing.offset(of: .wpe),
                                  base + packing.offset(of: .lnfw), base + packing.offset(of: .lnfb))
    }
}

extension StreamBuffer {
    /// The first element of an fp32 buffer.
    fileprivate var floatBase: UnsafeMutablePointer<Float> {
        guard case .fp32(let buffer) = self else { preconditionFailure("\(precision) buffer used as fp32") }
        return buffer.address
    }
}
