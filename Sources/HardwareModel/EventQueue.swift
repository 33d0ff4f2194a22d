/// The simulator's future: a binary min-heap of timed events. When a flow's rate changes its
/// old completion event is not removed but left behind with an outdated version and skipped when
/// popped, which is cheaper than a decrease-key heap. Events at equal times come out in no
/// particular order; the simulator handles a whole instant at once, so that order never matters.
struct EventQueue {
    struct Event {
        var time: Double
        var operation: Int32
        /// Matches the operation's current version when the event is still valid.
        var version: UInt32
    }

    private var heap: [Event] = []

    var earliestTime: Double? { heap.first?.time }

    mutating func push(_ event: Event) {
        heap.append(event)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard event.time < heap[parent].time else { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = event
    }

    /// Removes and returns the earliest event if it happens exactly at `time`.
    mutating func pop(at time: Double) -> Event? {
        guard let first = heap.first, first.time == time else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return first }
        var parent = 0
        while true {
            var child = 2 * parent + 1
            guard child < heap.count else { break }
            if child + 1 < heap.count, heap[child + 1].time < heap[child].time { child += 1 }
            guard heap[child].time < last.time else { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = last
        return first
    }
}
