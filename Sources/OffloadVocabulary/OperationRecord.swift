/// One operation a device ran during a step, as it happened: what, on which subgroup, how much,
/// when (`ContinuousClock` system nanoseconds, comparable with the host's), and which of the step's
/// earlier operations it waited for. The host charges these to the hardware model (the virtual
/// clock) and writes them into traces.
public struct OperationRecord: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// Payload and slot (p and states) read from the SSD into a DRAM buffer set.
        case load = 0
        /// Decompress and update in DRAM.
        case update = 1
        /// The compute copy written to the host's buffer (during the update in this emulator).
        case upload = 2
        /// The new parameters written to the SSD (urgent).
        case writeParameters = 3
        /// The new states written to the SSD (lazy).
        case writeStates = 4
    }

    public var kind: Kind
    public var subgroup: Int
    /// Bytes moved (transfers) or 0.
    public var bytes: Int
    /// Elements updated or uploaded, 0 for pure transfers.
    public var elements: Int
    public var wallStart: UInt64
    public var wallEnd: UInt64
    /// Indices of earlier records of the same step.
    public var after: [Int]

    public init(kind: Kind, subgroup: Int, bytes: Int, elements: Int, wallStart: UInt64, wallEnd: UInt64, after: [Int]) {
        self.kind = kind
        self.subgroup = subgroup
        self.bytes = bytes
        self.elements = elements
        self.wallStart = wallStart
        self.wallEnd = wallEnd
        self.after = after
    }
}
