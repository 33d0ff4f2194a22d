import Foundation
import SmartSSD
import Testing

/// The overlap handler's turns on the disk, with real threads.
@Suite struct DiskTurnsTests {
    /// Takes a turn on a new thread and appends `name` to `order` while holding it.
    private static func queue(_ name: String, urgent: Bool, on turns: DiskTurns, order: Order, group: DispatchGroup) {
        group.enter()
        let expected = turns.waiters + 1
        Thread {
            turns.take(urgent: urgent)
            order.append(name)
            turns.give()
            group.leave()
        }.start()
        while turns.waiters < expected { usleep(100) }
    }

    @Test func anUrgentTransferGoesFirstAndTheRestInTheOrderTheyAsked() {
        let turns = DiskTurns()
        let order = Order()
        let group = DispatchGroup()
        turns.take(urgent: false)
        Self.queue("load 1", urgent: false, on: turns, order: order, group: group)
        Self.queue("states 0", urgent: false, on: turns, order: order, group: group)
        Self.queue("parameters 1", urgent: true, on: turns, order: order, group: group)
        Self.queue("load 2", urgent: false, on: turns, order: order, group: group)
        Self.queue("parameters 2", urgent: true, on: turns, order: order, group: group)
        turns.give()
        group.wait()
        #expect(order.all == ["parameters 1", "parameters 2", "load 1", "states 0", "load 2"])
        #expect(turns.waiters == 0)
    }

    @Test func noTwoHoldersAtOnce() {
        let turns = DiskTurns()
        let holders = Order()
        let group = DispatchGroup()
        for t in 0..<4 {
            group.enter()
            Thread {
                for _ in 0..<200 {
                    turns.take(urgent: t == 0)
                    holders.enter()
                    usleep(10)
                    holders.leave()
                    turns.give()
                }
                group.leave()
            }.start()
        }
        group.wait()
        #expect(holders.mostAtOnce == 1)
    }
}

private final class Order: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var all: [String] = []
    private var inside = 0
    private(set) var mostAtOnce = 0

    func append(_ name: String) { lock.withLock { all.append(name) } }
    func enter() { lock.withLock { inside += 1; mostAtOnce = max(mostAtOnce, inside) } }
    func leave() { lock.withLock { inside -= 1 } }
}
