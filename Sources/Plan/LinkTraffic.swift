import OffloadVocabulary

/// Bytes per parameter that one optimizer step moves, by where they go — the quantity the whole
/// paper turns on: storage offload is slow because the shared host link carries ~32 B per
/// parameter; SmartUpdate moves the state traffic onto the devices' private links.
public struct LinkTraffic: Sendable, Equatable, Codable {
    /// Host ↔ storage/devices over the shared link, towards the devices.
    public var sharedDown: Double
    /// Over the shared link, towards the host.
    public var sharedUp: Double
    /// Inside each device, between its SSD and its DRAM/FPGA (0 in base mode).
    public var deviceInternal: Double

    public init(sharedDown: Double, sharedUp: Double, deviceInternal: Double) {
        self.sharedDown = sharedDown
        self.sharedUp = sharedUp
        self.deviceInternal = deviceInternal
    }

    public var shared: Double { sharedDown + sharedUp }
}

/// How bytes are counted.
public enum TrafficAccounting: Sendable, Equatable {
    /// The paper's: every value 4 bytes (fp32 gradients, parameters, states), top-k payloads as
    /// value + index, 4 bytes each; `compressedFraction` is payload bytes ÷ dense fp32 bytes (the
    /// paper's "2%" at r = 0.01).
    case paper(compressedFraction: Double)
    /// Ours: gradients in `gradientBytes` per element, the compute copy in `copyBytes`, fp32
    /// masters and states; a compressed payload of `compressedFraction` × dense fp32 bytes.
    case dtypeAware(gradientBytes: Double, copyBytes: Double, compressedFraction: Double)
}

extension LinkTraffic {
    /// Per-parameter traffic of one optimizer step in `mode` for an optimizer with `stateCount`
    /// states (2 for Adam) of `bytesPerState` each (4 in fp32; 1 + 4/2048 for bitsandbytes'
    /// 8-bit states, `StateQuantization`).
    ///
    /// - base (ZeRO-Infinity): everything crosses the shared link — the gradient is offloaded to
    ///   storage, then gradient, p and the states are read back and p and the states written:
    ///   down (to storage) g + p + s, up (to the host) g + p + s.
    /// - su / su+o: the gradient goes down, the updated compute copy comes up; p and the states
    ///   move only inside the device (read and written once each, plus the gradient read).
    /// - su+o+c: as su+o with the compressed gradient.
    public static func perParameter(_ mode: OffloadMode, accounting: TrafficAccounting, stateCount: Int = 2,
                                    bytesPerState: Double = 4) -> LinkTraffic {
        let fp32 = 4.0
        let states = Double(stateCount) * bytesPerState
        let (gradient, copy, fraction): (Double, Double, Double) = switch accounting {
        case .paper(let c): (fp32, fp32, c)
        case .dtypeAware(let g, let c, let f): (g, c, f)
        }
        switch mode {
        case .base:
            // Gradient offloaded to storage, then gradient, p, states read; p, states written.
            return LinkTraffic(sharedDown: gradient + fp32 + states, sharedUp: gradient + fp32 + states, deviceInternal: 0)
        case .su, .suO:
            return LinkTraffic(sharedDown: gradient, sharedUp: copy, deviceInternal: gradient + 2 * (fp32 + states))
        case .suOC:
            let payload = fraction * fp32
            return LinkTraffic(sharedDown: payload, sharedUp: copy, deviceInternal: payload + 2 * (fp32 + states))
        }
    }
}
