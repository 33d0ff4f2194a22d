import Optim

/// Wire forms of the optimizer types, so that host and device agree on every fp32 constant bit
/// for bit: the device never re-derives a scalar the host prepared.
extension OptimizerConfig {
    public func encode(into w: inout WireWriter) {
        switch self {
        case .adamw(let h, let flavor):
            w.u8(1); w.u8(flavor == .torch ? 1 : 0)
            w.f32(h.beta1); w.f32(h.beta2); w.f32(h.eps); w.f32(h.weightDecay); w.f32(0); w.bool(false)
        case .sgd(let h, let flavor):
            w.u8(2); w.u8(flavor == .torch ? 1 : 0)
            w.f32(h.momentum); w.f32(h.dampening); w.f32(0); w.f32(h.weightDecay); w.f32(0); w.bool(h.nesterov)
        case .adagrad(let h, let flavor):
            w.u8(3); w.u8(flavor == .torch ? 1 : 0)
            w.f32(h.lrDecay); w.f32(h.initialAccumulatorValue); w.f32(h.eps); w.f32(h.weightDecay); w.f32(0); w.bool(false)
        }
    }

    public static func decode(from r: inout WireReader) throws(ProtocolError) -> OptimizerConfig {
        let kind = try r.u8("optimizer")
        let flavorCode = try r.u8("optimizer flavour")
        guard flavorCode <= 1 else {
            throw .invalidField(message: r.message, field: "optimizer flavour", found: "\(flavorCode)", expected: "0 (reference) or 1 (torch)")
        }
        let flavor: RuleFlavor = flavorCode == 1 ? .torch : .reference
        let a = try r.finiteF32("hyperparameter 1")
        let b = try r.finiteF32("hyperparameter 2")
        let c = try r.finiteF32("hyperparameter 3")
        let d = try r.finiteF32("hyperparameter 4")
        _ = try r.finiteF32("hyperparameter 5")
        let flag = try r.bool("nesterov")
        switch kind {
        case 1: return .adamw(AdamWHyperparameters(beta1: a, beta2: b, eps: c, weightDecay: d), flavor)
        case 2: return .sgd(SGDHyperparameters(momentum: a, dampening: b, nesterov: flag, weightDecay: d), flavor)
        case 3: return .adagrad(AdagradHyperparameters(lrDecay: a, initialAccumulatorValue: b, eps: c, weightDecay: d), flavor)
        default:
            throw .invalidField(message: r.message, field: "optimizer", found: "\(kind)", expected: "1 (adamw), 2 (sgd) or 3 (adagrad)")
        }
    }
}

extension PreparedUpdate {
    /// The rule's wire code (what a step's segments must share with the step).
    public var rule: UInt8 { wireForm.code }

    /// Rule code and its fp32 constants, in declaration order.
    public func encode(into w: inout WireWriter) {
        let (code, values) = wireForm
        w.u8(code)
        w.u8(UInt8(values.count))
        values.forEach { w.f32($0) }
    }

    private var wireForm: (code: UInt8, values: [Float]) {
        switch self {
        case .adamw(let r): (1, [r.combinedUnscale, r.beta1, r.beta2, r.oneMinusBeta1, r.oneMinusBeta2, r.eps,
                                 r.biasCorrection2, r.stepSize, r.decayFactor])
        case .sgdReference(let r): (2, [r.combinedUnscale, r.learningRate, r.momentum, r.oneMinusMomentum, r.weightDecay])
        case .sgdTorch(let r): (3, [r.combinedUnscale, r.learningRate, r.momentum, r.bufferKeep, r.gradientWeight,
                                    r.nesterov ? 1 : 0, r.weightDecay])
        case .adagrad(let r): (4, [r.combinedUnscale, r.stepSize, r.eps, r.weightDecay, r.decayedNumerator ? 1 : 0])
        case .adamwTorch(let r): (5, [r.combinedUnscale, r.decayFactor, r.oneMinusBeta1, r.beta2, r.oneMinusBeta2,
                                      r.biasCorrection2Root, r.eps, r.stepSize])
        }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> PreparedUpdate {
        let code = try r.u8("update rule")
        let expectedCounts: [UInt8: Int] = [1: 9, 2: 5, 3: 7, 4: 5, 5: 8]
        guard let expected = expectedCounts[code] else {
            throw .invalidField(message: r.message, field: "update rule", found: "\(code)", expected: "1...5")
        }
        let count = Int(try r.u8("update scalar count"))
        guard count == expected else {
            throw .invalidField(message: r.message, field: "update scalar count", found: "\(count)", expected: "\(expected) for rule \(code)")
        }
        var v: [Float] = []
        for i in 0..<count { v.append(try r.finiteF32("update scalar \(i)")) }
        switch code {
        case 1:
            return .adamw(AdamWRule(combinedUnscale: v[0], beta1: v[1], beta2: v[2], oneMinusBeta1: v[3], oneMinusBeta2: v[4],
                                    eps: v[5], biasCorrection2: v[6], stepSize: v[7], decayFactor: v[8]))
        case 2:
            return .sgdReference(SGDReferenceRule(combinedUnscale: v[0], learningRate: v[1], momentum: v[2],
                                                  oneMinusMomentum: v[3], weightDecay: v[4]))
        case 3:
            guard v[5] == 0 || v[5] == 1 else {
                throw .invalidField(message: r.message, field: "nesterov", found: "\(v[5])", expected: "0 or 1")
            }
            return .sgdTorch(SGDTorchRule(combinedUnscale: v[0], learningRate: v[1], momentum: v[2], bufferKeep: v[3],
                                          gradientWeight: v[4], nesterov: v[5] == 1, weightDecay: v[6]))
        case 5:
            return .adamwTorch(AdamWTorchRule(combinedUnscale: v[0], decayFactor: v[1], oneMinusBeta1: v[2], beta2: v[3],
                                              oneMinusBeta2: v[4], biasCorrection2Root: v[5], eps: v[6], stepSize: v[7]))
        default:
            guard v[4] == 0 || v[4] == 1 else {
                throw .invalidField(message: r.message, field: "decayed numerator", found: "\(v[4])", expected: "0 or 1")
            }
            return .adagrad(AdagradRule(combinedUnscale: v[0], stepSize: v[1], eps: v[2], weightDecay: v[3], decayedNumerator: v[4] == 1))
        }
    }
}

extension Precision {
    public static func decode(from r: inout WireReader, _ field: String) throws(ProtocolError) -> Precision {
        let code = try r.u8(field)
        guard let p = Precision(rawValue: code) else {
            throw .invalidField(message: r.message, field: field, found: "\(code)", expected: "1 (fp32), 2 (fp16) or 3 (bf16)")
        }
        return p
    }
}

extension StatePrecision {
    /// Code u8 (1 fp32, 2 blockwise 8-bit) and block size u32 (0 for fp32): in `configure`, the
    /// superblock and snapshot headers.
    public func encode(into w: inout WireWriter) {
        w.u8(self == .fp32 ? 1 : 2)
        w.u32(UInt32(blockSize ?? 0))
    }

    public static func decode(from r: inout WireReader) throws(ProtocolError) -> StatePrecision {
        let code = try r.u8("state precision")
        let block = Int(try r.u32("state block size"))
        switch code {
        case 1:
            guard block == 0 else {
                throw .invalidField(message: r.message, field: "state block size", found: "\(block)", expected: "0 for fp32 states")
            }
            return .fp32
        case 2:
            do { return try StatePrecision(name: "8bit", blockSize: block) } catch {
                throw .invalidField(message: r.message, field: "state block size", found: "\(block)",
                                    expected: "a power of two from \(blockSizes.lowerBound) to \(blockSizes.upperBound)")
            }
        default:
            throw .invalidField(message: r.message, field: "state precision", found: "\(code)", expected: "1 (fp32) or 2 (8-bit)")
        }
    }
}
