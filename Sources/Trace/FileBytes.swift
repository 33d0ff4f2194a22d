import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A whole file's bytes, with the system's reason when it cannot be read.
enum FileBytes {
    static func read(_ path: String) throws(TraceError) -> [UInt8] {
        func failure(_ code: Int32) -> TraceError {
            TraceError(file: path, .cannotRead(reason: String(cString: strerror(code))))
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }
}
