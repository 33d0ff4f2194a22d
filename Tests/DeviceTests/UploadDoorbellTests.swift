import CPosix
import DeviceProtocol
import Foundation
import Synchronization
import Testing
import Threading

/// The upload marks and the bell at the end of a host buffer: what one mapping publishes another
/// mapping of the same file (the other process) reads; a ring wakes a waiter asleep on the bell,
/// in this process or from another; a buffer without room for them has none.
@Suite struct UploadDoorbellTests {
    static let sliceBytes = 1000 * 2

    /// A host buffer of 3 subgroups' marks, mapped twice: the host's side and a device's.
    final class Buffer {
        let path: String
        let host: SharedMemoryMapping
        let device: SharedMemoryMapping

        init(path: String = "/dev/shm/smartinf-doorbell-test-\(getpid())-\(UUID().uuidString.prefix(8))") throws {
            self.path = path
            host = try SharedMemoryMapping.create(path: path, bytes: UploadDoorbell.bufferBytes(sliceBytes: sliceBytes, subgroupCount: 3))
            device = try SharedMemoryMapping.open(path: path, minimumBytes: sliceBytes)
        }

        var hostBell: UploadDoorbell { UploadDoorbell(host, sliceBytes: sliceBytes, subgroupCount: 3)! }
        var deviceBell: UploadDoorbell { UploadDoorbell(device, sliceBytes: sliceBytes, subgroupCount: 3)! }

        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func marksPublishedThroughOneMappingAreReadThroughAnother() throws {
        let buffer = try Buffer()
        let (published, seen) = (buffer.deviceBell, buffer.hostBell)
        #expect((0..<3).map { seen.uploadedStep(subgroup: $0) } == [0, 0, 0])
        published.publish(step: 7, subgroup: 1)
        #expect((0..<3).map { seen.uploadedStep(subgroup: $0) } == [0, 7, 0])
        // The bell and the marks sit past the compute copy (padded to 64 bytes), not on it.
        let copy = buffer.host.base.assumingMemoryBound(to: UInt16.self)
        #expect((0..<1000).allSatisfy { copy[$0] == 0 })
        #expect(UploadDoorbell(buffer.host, sliceBytes: Self.sliceBytes, subgroupCount: 4) == nil)
    }

    /// A thread asleep in the kernel on the bell (FUTEX_WAIT, shared: not the private flag) is
    /// woken by a publish through the other mapping, long before its timeout.
    @Test func aRingWakesAThreadAsleepOnTheBell() throws {
        let buffer = try Buffer()
        let bell = buffer.hostBell
        let seen = bell.rings
        let waiter = SerialWorker(name: "bell-waiter")
        let outcome = Mutex<(thread: Int64?, wake: UploadDoorbell.Wake?)>((nil, nil))
        waiter.submit {
            outcome.withLock { $0.thread = si_thread_id() }
            let wake = bell.wait(afterRings: seen, timeout: .seconds(600))
            outcome.withLock { $0.wake = wake }
        }
        // Asleep on the bell's word: the thread's current system call is futex (202) on the
        // bell's address (the compute copy's bytes rounded up to 64) with operation FUTEX_WAIT (0).
        let bellAddress = String(UInt(bitPattern: buffer.host.base + (Self.sliceBytes + 63) / 64 * 64), radix: 16)
        let asleep = Self.eventually {
            guard let thread = outcome.withLock({ $0.thread }),
                  let call = try? String(contentsOfFile: "/proc/self/task/\(thread)/syscall", encoding: .utf8) else { return false }
            return call.split(separator: " ").prefix(3) == ["202", "0x\(bellAddress)", "0x0"]
        }
        #expect(asleep)
        buffer.deviceBell.publish(step: 3, subgroup: 2)
        waiter.finish()
        #expect(outcome.withLock { $0.wake } == .rang)
        #expect(bell.uploadedStep(subgroup: 2) == 3)
    }

    /// Where the cross-process test's buffer lives: named by the test process, so that the
    /// child it starts finds it from its parent's id.
    static func crossProcessPath(_ testProcess: pid_t) -> String { "/dev/shm/smartinf-doorbell-exit-test-\(testProcess)" }

    /// Another process's publish wakes a thread of this one asleep on the bell.
    @Test func aRingFromAnotherProcessWakesTheWaiter() async throws {
        let buffer = try Buffer(path: Self.crossProcessPath(getpid()))
        let bell = buffer.hostBell
        let seen = bell.rings
        let waiter = SerialWorker(name: "bell-waiter")
        let wake = Mutex<UploadDoorbell.Wake?>(nil)
        waiter.submit {
            let woken = bell.wait(afterRings: seen, timeout: .seconds(600))
            wake.withLock { $0 = woken }
        }
        await #expect(processExitsWith: .success) {
            let sliceBytes = UploadDoorbellTests.sliceBytes
            let mapping = try SharedMemoryMapping.open(path: UploadDoorbellTests.crossProcessPath(getppid()), minimumBytes: sliceBytes)
            try #require(UploadDoorbell(mapping, sliceBytes: sliceBytes, subgroupCount: 3)).publish(step: 9, subgroup: 0)
        }
        waiter.finish()
        #expect(wake.withLock { $0 } == .rang)
        #expect(bell.uploadedStep(subgroup: 0) == 9)
    }

    /// A ring between reading the count and going to sleep is not lost: the wait returns at once.
    @Test func aRingBeforeTheSleepEndsTheWaitAtOnce() throws {
        let buffer = try Buffer()
        let seen = buffer.hostBell.rings
        buffer.deviceBell.ring()
        #expect(buffer.hostBell.wait(afterRings: seen, timeout: .seconds(600)) == .rang)
    }

    /// Without a ring the wait ends at its timeout, not before.
    @Test func aWaitWithoutARingTimesOut() throws {
        let buffer = try Buffer()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(buffer.hostBell.wait(afterRings: buffer.hostBell.rings, timeout: .milliseconds(50)) == .timedOut)
        #expect(start.duration(to: clock.now) >= .milliseconds(50))
    }

    /// Whether `condition` holds within 10 seconds, looking every millisecond.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.001)
        }
        return true
    }
}
