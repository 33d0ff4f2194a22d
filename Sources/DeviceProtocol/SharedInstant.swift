import Glibc

/// Every duration in the project comes from `ContinuousClock`. Instants that cross a process
/// boundary (a device's operation records, the paced clock's reservations in shared memory)
/// travel as nanoseconds since the clock's system epoch, which names the same instant in every
/// process of the machine (on Linux the epoch is boot and the clock is CLOCK_BOOTTIME).
extension ContinuousClock.Instant {
    /// Nanoseconds since `ContinuousClock().systemEpoch`.
    public var systemNanoseconds: UInt64 {
        let (seconds, attoseconds) = (self - ContinuousClock().systemEpoch).components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// The instant `systemNanoseconds` after the system epoch (from another process).
    public init(systemNanoseconds: UInt64) {
        self = ContinuousClock().systemEpoch.advanced(by: .nanoseconds(Int64(systemNanoseconds)))
    }
}

extension ContinuousClock {
    /// Blocks the calling thread until `deadline` (at once if it has passed). For threads that
    /// must not suspend into the concurrency runtime: a device's stage threads, the host's
    /// training loop.
    public static func sleepThread(until deadline: Instant) {
        while true {
            let remaining = deadline - now
            guard remaining > .zero else { return }
            let (seconds, attoseconds) = remaining.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            // Interrupted or woken early, the loop measures again; never returns early.
            nanosleep(&request, nil)
        }
    }
}
