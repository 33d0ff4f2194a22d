import CPosix
import Glibc

/// One thread that runs submitted jobs in order, from `init` until `finish()`: a device's
/// worker in the host (its early gradient writes and its steps, for the whole run), a stage of
/// a device's transfer handler (from configure to shutdown). Created once and kept, so a step
/// costs no thread creation, and the threads of a process stay the same from step to step.
///
/// A POSIX thread, joinable, rather than a Foundation `Thread`: `finish()` returns once the
/// thread is gone (not merely about to go), and the thread holds only the job queue, never the
/// worker, so a worker is freed as soon as its owner lets go of it (a Foundation `Thread` keeps
/// its block, which held the worker, for as long as the thread object lives).
public final class SerialWorker: Sendable {
    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        var closing = false
        /// Set once the thread has been joined (or detached): no second join.
        var ended = false
    }

    private enum Next {
        case run(@Sendable () -> Void)
        case stop
    }

    private let queue = Monitor(Queue())
    private let thread: pthread_t
    public let name: String

    /// Starts the thread; `name` is what /proc and debuggers show for it (15 bytes at most).
    public init(name: String, stackBytes: Int = 1 << 20) {
        self.name = name
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackBytes)
        let start = Unmanaged.passRetained(Start(name: name, queue: queue)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { context in
            Unmanaged<Start>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, start)
        precondition(status == 0, "cannot start the \(name) thread: \(String(cString: strerror(status)))")
        self.thread = thread
    }

    /// The thread's body: its name, and the queue it serves until closed.
    private final class Start {
        let name: String
        let queue: Monitor<Queue>

        init(name: String, queue: Monitor<Queue>) {
            self.name = name
            self.queue = queue
        }

        func run() {
            si_set_thread_name(name)
            while case .run(let job) = queue.wait(for: { q -> Next? in
                if !q.jobs.isEmpty { return .run(q.jobs.removeFirst()) }
                return q.closing ? .stop : nil
            }) {
                job()
            }
        }
    }

    deinit { finish() }

    /// Queues `job` behind the jobs already submitted.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        queue.change { q in
            precondition(!q.closing, "a job was submitted to the \(name) thread after it was finished")
            q.jobs.append(job)
        }
    }

    /// Runs what was submitted, then ends the thread; returns once it has ended (again: at once).
    /// Called from the thread itself (its last job let go of the worker's owner), it ends the
    /// thread after that job without waiting for it.
    public func finish() {
        let join = queue.change { q -> Bool in
            defer { q.closing = true }
            return !q.closing
        }
        if pthread_equal(pthread_self(), thread) != 0 {
            if join {
                pthread_detach(thread)
                queue.change { $0.ended = true }
            }
            return
        }
        if join {
            pthread_join(thread, nil)
            queue.change { $0.ended = true }
        } else {
            queue.wait { $0.ended }
        }
    }
}
