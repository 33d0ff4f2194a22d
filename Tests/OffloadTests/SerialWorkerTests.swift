import CPosix
import Foundation
import Synchronization
import Testing
import Threading

/// The long-lived threads of a run (device workers, transfer stages): jobs in order on one
/// thread, and a worker freed, its thread ended, as soon as its owner lets go of it.
@Suite struct SerialWorkerTests {
    /// Offload workers were once started every step and each leaked a few hundred bytes (its
    /// thread held it): a finished worker is freed at once.
    @Test func aFinishedWorkerIsFreed() {
        weak var freed: SerialWorker?
        do {
            let worker = SerialWorker(name: "test")
            worker.submit {}
            worker.finish()
            freed = worker
        }
        #expect(freed == nil)
    }

    /// Every job runs, in the order submitted, on one thread (not the caller's); letting go of the
    /// worker runs what was queued and then ends that thread.
    @Test func jobsRunInOrderOnOneThreadThatEndsWithTheWorker() {
        let ran = Mutex<[(job: Int, thread: Int64)]>([])
        var worker: SerialWorker? = SerialWorker(name: "test-order")
        for job in 0..<100 { worker?.submit { ran.withLock { $0.append((job, si_thread_id())) } } }
        worker = nil
        let jobs = ran.withLock { $0 }
        #expect(jobs.map(\.job) == Array(0..<100))
        let threads = Set(jobs.map(\.thread))
        #expect(threads.count == 1)
        #expect(!threads.contains(si_thread_id()))
        #expect(threadsEnd(threads))
    }
}

/// The ids of this process's threads now (/proc/self/task).
func liveThreads() -> Set<Int64> {
    Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { Int64($0) })
}

/// Whether the threads `ids` are gone from /proc/self/task within a few seconds. A joined thread
/// has exited, but the kernel may list it for a moment longer while it releases it.
func threadsEnd(_ ids: Set<Int64>) -> Bool {
    let deadline = ContinuousClock.now + .seconds(5)
    while !ids.isDisjoint(with: liveThreads()) {
        guard ContinuousClock.now < deadline else { return false }
        Thread.sleep(forTimeInterval: 0.001)
    }
    return true
}
