import DeviceProtocol
import Testing

/// The one clock's cross-process form: system nanoseconds name the instant they came from, and
/// a thread sleeping until an instant wakes no earlier than it.
@Suite struct SharedInstantTests {
    @Test func systemNanosecondsRoundTripToTheSameInstant() {
        let instant = ContinuousClock.now
        let back = ContinuousClock.Instant(systemNanoseconds: instant.systemNanoseconds)
        // Nanoseconds drop the attoseconds below one nanosecond.
        #expect(back <= instant && instant - back < .nanoseconds(1))
        let later = instant + .milliseconds(5)
        #expect(later.systemNanoseconds - instant.systemNanoseconds == 5_000_000)
    }

    @Test func sleepingUntilAnInstantNeverWakesEarly() {
        for wait in [Duration.zero, .microseconds(200), .milliseconds(20)] {
            let deadline = ContinuousClock.now + wait
            ContinuousClock.sleepThread(until: deadline)
            #expect(ContinuousClock.now >= deadline)
        }
        // A deadline in the past returns at once.
        let started = ContinuousClock.now
        ContinuousClock.sleepThread(until: started - .seconds(10))
        #expect(ContinuousClock.now - started < .seconds(1))
    }
}
