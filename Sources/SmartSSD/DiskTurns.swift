import Foundation

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
package final class DiskTurns: @unchecked Sendable {
    private let condition = NSCondition()
    private var busy = false
    private var nextTicket = 0
    private var waiting: [(ticket: Int, urgent: Bool)] = []

    package init() {}

    /// Waits for this transfer's turn, then holds the disk until `give()`.
    package func take(urgent: Bool) {
        condition.lock()
        defer { condition.unlock() }
        let ticket = nextTicket
        nextTicket += 1
        waiting.append((ticket, urgent))
        while busy || next() != ticket { condition.wait() }
        waiting.removeAll { $0.ticket == ticket }
        busy = true
    }

    /// Transfers waiting for a turn.
    package var waiters: Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting.count
    }

    package func give() {
        condition.lock()
        busy = false
        condition.broadcast()
        condition.unlock()
    }

    /// The waiting transfer to go next: the oldest urgent one, else the oldest.
    private func next() -> Int? {
        (waiting.first { $0.urgent } ?? waiting.first)?.ticket
    }
}
