import Foundation

/// State that threads share and wait on: a value behind a lock, with a wait for the value to
/// become what a thread needs. Every change wakes the waiters, and each looks again at what it
/// waits for, so a wait can never miss the change that ends it.
///
/// Why NSCondition: Synchronization has `Mutex` and `Atomic` but no condition variable, and a
/// thread that must sleep until another thread's change (a stage's hand-off, a worker's next
/// job, a device's reply) needs one. Plain locks, with no waiting, use `Mutex`. A wait across
/// processes cannot use this (nor any condition variable): see `UploadDoorbell`'s futex.
public final class Monitor<State>: @unchecked Sendable {
    // Safe: `state` is reached only with `condition` locked (by every method here), as a Mutex's value is.
    private let condition = NSCondition()
    private var state: State

    public init(_ initial: State) { state = initial }

    /// Runs `body` on the state with the lock held, waking no one: for reads, and for changes
    /// no waiter waits for.
    public func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&state)
    }

    /// Changes the state with the lock held, then wakes every waiter.
    public func change<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return try body(&state)
    }

    /// Waits until `ready` (run with the lock held: at once, then after every change) returns a
    /// value, and returns that value.
    public func wait<T>(for ready: (inout State) -> T?) -> T {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let value = ready(&state) { return value }
            condition.wait()
        }
    }

    /// `wait(for:)`, giving up at `deadline`: nil then.
    public func wait<T>(for ready: (inout State) -> T?, deadline: ContinuousClock.Instant) -> T? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let value = ready(&state) { return value }
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return nil }
            // NSCondition takes a wall-clock date; it is recomputed from the monotonic deadline
            // at every wake, so a clock change costs at most one early or late look.
            let (seconds, attoseconds) = left.components
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) * 1e-18))
        }
    }

    /// Waits until `isReady` (run with the lock held) holds.
    public func wait(until isReady: (State) -> Bool) {
        wait { isReady($0) ? () : nil }
    }

    /// Waits until `isReady` holds or `deadline` passes; false if it did not hold by then.
    public func wait(until isReady: (State) -> Bool, deadline: ContinuousClock.Instant) -> Bool {
        wait(for: { isReady($0) ? () : nil }, deadline: deadline) != nil
    }
}
