import COpenBLAS
import Foundation

/// The process-wide OpenBLAS thread pool that every matrix product of the model runs on.
///
/// OpenBLAS defaults to one thread per core; on a machine shared with device processes the
/// trainer wants to choose (and benchmarks compare 1 and 2 threads).
public enum OpenBLAS {
    /// Threads used by subsequent BLAS calls, in every model of the process.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the thread count for every later BLAS call in the process (waiting while another
    /// thread holds it pinned with `withThreadCount`).
    public static func setThreadCount(_ threads: Int) {
        precondition(threads >= 1, "OpenBLAS needs at least one thread, got \(threads)")
        pin.lock()
        defer { pin.unlock() }
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body` with `threads` BLAS threads that no other thread can change meanwhile. The
    /// count decides how products are split, and so the rounding of their sums: code that
    /// compares results bit for bit across several passes must not see it change in between.
    public static func withThreadCount<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        pin.lock()
        defer { pin.unlock() }
        openblas_set_num_threads(Int32(threads))
        return try body()
    }

    /// Held while the count is pinned; recursive, so that a pinned body may set the count again.
    private static let pin = NSRecursiveLock()
}

/// Row-major single-precision matrix products through `cblas_sgemm`, timed.
///
/// Every matrix product of the model goes through here, so the time spent in BLAS (the share a
/// benchmark reports) is known without a profiler; one clock read per call is negligible next to
/// even the smallest product the model issues.
final class MatrixMultiplier {
    /// Seconds spent inside `cblas_sgemm` since the last reset.
    private(set) var seconds: Double = 0
    /// Floating-point operations issued (2·M·N·K per call) since the last reset.
    private(set) var operations: Double = 0

    func resetCounters() {
        seconds = 0
        operations = 0
    }

    /// C[M×N] = op(A)·op(B) (+ C when `accumulate`), where op transposes when asked.
    /// Leading dimensions are row strides in elements.
    func multiply(
        _ a: UnsafePointer<Float>, transposeA: Bool, lda: Int,
        _ b: UnsafePointer<Float>, transposeB: Bool, ldb: Int,
        into c: UnsafeMutablePointer<Float>, ldc: Int,
        m: Int, n: Int, k: Int, accumulate: Bool
    ) {
        let start = ContinuousClock.now
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), 1, a, blasint(lda), b, blasint(ldb),
                    accumulate ? 1 : 0, c, blasint(ldc))
        let elapsed = ContinuousClock.now - start
        seconds += elapsed / .seconds(1)
        operations += 2 * Double(m) * Double(n) * Double(k)
    }
}
