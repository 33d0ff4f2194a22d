import Threading

/// The disk, one stage's transfer at a time, in the order the stages asked for it, except
/// that a subgroup's new parameters (the host waits for them) go before anything waiting.
/// Loads are not put ahead of the lazy state writes: the loader's next buffer set is the one
/// those writes free.
///
/// Why turns rather than reads and writes in flight together: on this machine's virtual disk a
/// 256M-parameter overlap step took 1.06–1.22× its I/O floor with the loader and the writer
/// submitting at once (reads fell from 3.9 to 2.5 GB/s while writes ran) and 1.02–1.12× taking
/// turns, five runs each; with loads also put before state writes it took 1.14–1.17×
/// (`smartinf bench device --params 256M --dram 1GiB`). Turns are as fast and steadier.
package final class DiskTurns: Sendable {
    private struct State {
        var busy = false
        var nextTicket = 0
        var waiting: [(ticket: Int, urgent: Bool)] = []

        /// The waiting transfer to go next: the oldest urgent one, else the oldest.
        var next: Int? { (waiting.first { $0.urgent } ?? waiting.first)?.ticket }
    }

    private let state = Monitor(State())

    package init() {}

    /// Waits for this transfer's turn, then holds the disk until `give()`.
    package func take(urgent: Bool) {
        let ticket = state.withLock { s in
            defer { s.nextTicket += 1 }
            s.waiting.append((s.nextTicket, urgent))
            return s.nextTicket
        }
        state.wait { s -> Void? in
            guard !s.busy && s.next == ticket else { return nil }
            s.waiting.removeAll { $0.ticket == ticket }
            s.busy = true
            return ()
        }
    }

    /// Transfers waiting for a turn.
    package var waiters: Int { state.withLock { $0.waiting.count } }

    package func give() { state.change { $0.busy = false } }
}
