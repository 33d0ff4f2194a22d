import Foundation
@testable import Offload
import Testing

/// A gradient offload session starts one worker per device every step: a worker that outlived
/// its session leaked a few hundred bytes per device per step (the soak's heap growth).
@Test func aFinishedWorkerIsFreed() {
    weak var freed: SerialWorker?
    do {
        let worker = SerialWorker(name: "test")
        worker.submit {}
        worker.finish()
        freed = worker
    }
    // `finish` returns once the jobs are done; the thread lets go of the worker as it exits.
    let deadline = ContinuousClock.now + .seconds(5)
    while freed != nil && ContinuousClock.now < deadline { usleep(1000) }
    #expect(freed == nil)
}
