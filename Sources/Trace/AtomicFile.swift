import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that it appears complete or not at all: the bytes go to a temporary file
/// beside the target (same file system, so the rename is atomic), which is synced and renamed
/// over it. On any error the temporary file is removed and the target is left as it was.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws(TraceError) {
        func failure(_ operation: String, _ code: Int32) -> TraceError {
            TraceError(file: path, .cannotWrite(reason: "\(operation): \(String(cString: strerror(code)))"))
        }
        // Process id and a random tag: concurrent writers of the same path never share a temporary.
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("create \(temporary)", errno) }
        let written: Int32? = data.withUnsafeBytes { buffer -> Int32? in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let code = written {
            close(descriptor)
            unlink(temporary)
            throw failure("write", code)
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            close(descriptor)
            unlink(temporary)
            throw failure("fsync", code)
        }
        guard close(descriptor) == 0 else {
            let code = errno
            unlink(temporary)
            throw failure("close", code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw failure("rename", code)
        }
    }
}

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
