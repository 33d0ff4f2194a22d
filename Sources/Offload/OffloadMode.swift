import DeviceProtocol

/// Where the optimizer update runs and how its I/O is handled — the four configurations the
/// paper compares, all in one program so every comparison is same code, same machine.
public enum OffloadMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// ZeRO-Infinity style: the host reads gradients, p, m and v from its SSD files, updates on
    /// its CPU and writes them back (pipelined, like DeepSpeed's aio).
    case base
    /// SmartUpdate: each device updates its slice; one buffer set, no overlap.
    case su
    /// SmartUpdate with the transfer handler: overlapped loads, update and write-backs.
    case suO = "su+o"
    /// su+o with top-k compressed gradients (SmartComp).
    case suOC = "su+o+c"

    public var description: String { rawValue }

    /// The transfer handler the update engines run.
    public var handler: HandlerMode { self == .su ? .naive : .overlap }

    /// Whether gradients are top-k compressed before they cross the host link.
    public var compresses: Bool { self == .suOC }

    /// Whether the update runs in device processes (true) or in the host process (base).
    public var offloadsToDevices: Bool { self != .base }
}
