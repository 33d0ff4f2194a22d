import Dispatch
import Foundation
import Optim

/// The memory-bandwidth limits a streaming kernel is judged against, measured over the same
/// number of bytes moved (read + written) and with the same number of threads:
///
/// - `copy`: glibc `memcpy` from one buffer to another (half the bytes read, half written);
/// - `inPlace`: a SIMD read-modify-write pass over one buffer, which is the access pattern of an
///   optimizer update (p, m and v are read and written back in place). On machines whose
///   memcpy pays for write-allocate on a separate destination, this is the stricter limit.
public final class MemoryTrafficLimit: Sendable {
    public enum Pattern: String, Sendable, Codable {
        case copy
        case inPlace
    }

    public let pattern: Pattern
    public let bytesMoved: Int
    public let threads: Int
    private let source: AlignedBuffer<UInt8>
    private let destination: AlignedBuffer<UInt8>?

    /// Prepares a pass that reads `bytesMoved / 2` bytes and writes as many.
    public init(_ pattern: Pattern, bytesMoved: Int, threads: Int) {
        let half = max(bytesMoved / 2, 64) & ~63
        self.pattern = pattern
        self.bytesMoved = half * 2
        self.threads = max(threads, 1)
        source = AlignedBuffer(repeating: 1, count: half)
        destination = pattern == .copy ? AlignedBuffer(count: half) : nil
    }

    /// One pass, split into `threads` contiguous chunks.
    public func run() {
        let half = bytesMoved / 2
        let chunk = (half / threads + 63) & ~63
        let target = destination ?? source
        source.withUnsafeBufferPointer { src in
            target.withUnsafeMutableBufferPointer { dst in
                nonisolated(unsafe) let s = UnsafeRawPointer(src.baseAddress!)
                nonisolated(unsafe) let d = UnsafeMutableRawPointer(dst.baseAddress!)
                let pattern = self.pattern
                let work = { @Sendable (w: Int) in
                    let lower = min(w * chunk, half)
                    let upper = min(lower + chunk, half)
                    guard upper > lower else { return }
                    switch pattern {
                    case .copy: memcpy(d + lower, s + lower, upper - lower)
                    case .inPlace: Self.touch(d + lower, bytes: upper - lower)
                    }
                }
                if threads == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: work) }
            }
        }
    }

    /// Reads and rewrites every 64-byte line (a bit flip, so the store cannot be elided).
    private static func touch(_ base: UnsafeMutableRawPointer, bytes: Int) {
        let flip = SIMD16<UInt32>(repeating: 1)
        var offset = 0
        while offset &+ 64 <= bytes {
            let v = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt32>.self)
            base.storeBytes(of: v ^ flip, toByteOffset: offset, as: SIMD16<UInt32>.self)
            offset &+= 64
        }
    }
}
