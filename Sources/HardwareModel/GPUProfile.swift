/// The compute side: a GPU as effective forward and backward FLOP rates (a datasheet peak times
/// a stated efficiency, so calibration adjusts a physical efficiency, never a per-figure factor),
/// plus the traffic it puts on its own host link under ZeRO-Infinity-style training: fp16
/// parameters fetched layer by layer, fp16 gradients sent back, activation checkpoints
/// optionally offloaded.
public struct GPUProfile: Sendable, Equatable {
    public let profile: Profile
    /// Dense fp16/bf16 tensor-core peak (FLOP/s).
    public let peakFLOPRate: Double
    /// Fraction of peak reached by forward computation (first passes and checkpoint recomputes).
    public let forwardEfficiency: Double
    /// Fraction of peak reached by backward computation.
    public let backwardEfficiency: Double
    /// Fixed cost of launching one layer's work (seconds).
    public let launchLatency: Double
    /// How fast the GPU selects the top-k of a gradient, in bytes of (fp16) gradient scanned per
    /// second: SmartComp's compression runs on the compute side, between a layer's backward and
    /// its gradient offload.
    public let topkScan: Double
    /// Device memory (bytes).
    public let memory: Int
    /// The GPU's PCIe link to host memory, per direction (bytes/s). Separate from the shared
    /// link the storage devices sit behind.
    public let hostLink: Double
    /// Bytes per parameter of each parameter fetch (the fp16 compute copy).
    public let parameterBytes: Int
    /// How many times per step every layer's parameters are fetched to the GPU.
    public let parameterFetches: Int
    /// Bytes per parameter of the gradient sent from the GPU to the host.
    public let gradientBytes: Int
    /// Bytes per element of a checkpointed activation.
    public let activationBytes: Int
    /// Whether activation checkpoints go to host memory (and cross the GPU link twice).
    public let offloadsActivationCheckpoints: Bool

    /// Effective forward rate (FLOP/s).
    public var forwardFLOPRate: Double { peakFLOPRate * forwardEfficiency }
    /// Effective backward rate (FLOP/s).
    public var backwardFLOPRate: Double { peakFLOPRate * backwardEfficiency }

    public init(_ profile: Profile) throws(ProfileError) {
        try profile.require(.gpu)
        self.profile = profile
        peakFLOPRate = profile.quantity("compute.peak")
        forwardEfficiency = profile.fraction("compute.forwardEfficiency")
        backwardEfficiency = profile.fraction("compute.backwardEfficiency")
        launchLatency = profile.quantity("compute.launchLatency")
        topkScan = profile.quantity("compute.topkScan")
        memory = profile.bytes("memory.capacity")
        hostLink = profile.quantity("hostTraffic.link")
        parameterBytes = profile.bytes("hostTraffic.parameterBytes")
        parameterFetches = profile.count("hostTraffic.parameterFetches")
        gradientBytes = profile.bytes("hostTraffic.gradientBytes")
        activationBytes = profile.bytes("hostTraffic.activationBytes")
        offloadsActivationCheckpoints = profile.flag("hostTraffic.offloadActivationCheckpoints")
    }

    static let schema = ProfileSchema(sections: [
        .init("compute", [("peak", .quantity(.flopRate)), ("forwardEfficiency", .fraction),
                          ("backwardEfficiency", .fraction), ("launchLatency", .quantity(.duration)),
                          ("topkScan", .quantity(.bandwidth))]),
        .init("memory", [("capacity", .quantity(.size))]),
        .init("hostTraffic", [("link", .quantity(.bandwidth)), ("parameterBytes", .quantity(.size)),
                              ("parameterFetches", .count), ("gradientBytes", .quantity(.size)),
                              ("activationBytes", .quantity(.size)), ("offloadActivationCheckpoints", .flag)]),
    ])
}
