/// Where the optimizer update runs and how its I/O is handled — the four configurations the
/// paper compares, all in one program so every comparison is same code, same machine. One word
/// from the command line to the trainer, the planner, the traces and the study report.
///
/// Cases are declared in the paper's order, each adding one technique to the one before; the
/// order (`Comparable`, `allCases`) is the order tables and charts show them in.
public enum OffloadMode: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
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

    /// Whether gradients are top-k compressed before they cross the host link.
    public var compresses: Bool { self == .suOC }

    /// Whether the update runs in device processes (true) or in the host process (base).
    public var offloadsToDevices: Bool { self != .base }

    public static func < (a: OffloadMode, b: OffloadMode) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
