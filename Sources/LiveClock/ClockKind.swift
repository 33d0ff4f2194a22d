/// How a live run keeps time (docs/ARCHITECTURE.md, "Clocks").
public enum ClockKind: String, Sendable, CaseIterable {
    /// No model: this machine's disks and cores.
    case wall
    /// Real work as fast as it goes; every operation is charged to the hardware model and the
    /// run reports modeled seconds. Deterministic for the same work.
    case virtual
    /// The model enforced in real time, `dilation` times slower: each operation takes at least
    /// its modeled time × dilation, resources shared across processes through one table.
    case paced
}
