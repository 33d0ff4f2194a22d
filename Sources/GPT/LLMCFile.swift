import Glibc

#if _endian(big)
#error("llm.c files are little-endian; this reader maps them directly and needs a little-endian host")
#endif

/// llm.c's file header: 256 little-endian int32 fields, the first two being magic and version.
enum LLMCHeader {
    static let fieldCount = 256
    static let byteCount = fieldCount * MemoryLayout<Int32>.size
}

/// A file of one of llm.c's formats, open for reading at absolute offsets.
///
/// Every failure becomes a `ModelFileError` naming the file, so callers never see a bare errno.
struct LLMCFileReader: ~Copyable {
    let path: String
    let format: ModelFileError.Format
    let byteCount: Int
    private let descriptor: Int32

    init(path: String, format: ModelFileError.Format) throws(ModelFileError) {
        self.path = path
        self.format = format
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelFileError(format, path: path, .system(operation: "open", code: errno)) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw ModelFileError(format, path: path, .system(operation: "stat", code: code))
        }
        byteCount = Int(status.st_size)
    }

    deinit { close(descriptor) }

    func failure(_ problem: ModelFileError.Problem) -> ModelFileError {
        ModelFileError(format, path: path, problem)
    }

    /// Reads the header and checks its magic and version; returns all 256 fields.
    func readHeader(magic: Int32, version: Int32) throws(ModelFileError) -> [Int32] {
        guard byteCount >= LLMCHeader.byteCount else { throw failure(.truncatedHeader(bytes: byteCount)) }
        var fields = [Int32](repeating: 0, count: LLMCHeader.fieldCount)
        try fields.withUnsafeMutableBytes { bytes in
            Result { () throws(ModelFileError) in try read(into: bytes.baseAddress!, count: bytes.count, at: 0) }
        }.get()
        guard fields[0] == magic else { throw failure(.badMagic(found: fields[0], expected: magic)) }
        guard fields[1] == version else { throw failure(.badVersion(found: fields[1], expected: version)) }
        return fields
    }

    /// Checks that the file is exactly `expected` bytes long, as its header says it must be.
    func requireLength(_ expected: Int) throws(ModelFileError) {
        guard byteCount == expected else { throw failure(.lengthMismatch(bytes: byteCount, expected: expected)) }
    }

    /// Fills `count` bytes at `destination` from file offset `offset`.
    func read(into destination: UnsafeMutableRawPointer, count: Int, at offset: Int) throws(ModelFileError) {
        var done = 0
        while done < count {
            let n = pread(descriptor, destination + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(.system(operation: "read", code: errno))
            }
            guard n > 0 else { throw failure(.lengthMismatch(bytes: offset + done, expected: offset + count)) }
            done += n
        }
    }
}

/// Writes a file so that it either appears complete or not at all: the bytes go to a
/// temporary file beside the target, which is synced and then renamed over it. On any error the
/// temporary file is removed and the target is left as it was.
struct AtomicFileWriter {
    let path: String
    let format: ModelFileError.Format
    private let temporaryPath: String
    private let descriptor: Int32

    private init(path: String, format: ModelFileError.Format) throws(ModelFileError) {
        self.path = path
        self.format = format
        // Process id and a random tag: concurrent writers of the same path never share a temporary.
        temporaryPath = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ModelFileError(format, path: path, .system(operation: "create", code: errno)) }
    }

    /// Creates the file at `path` with the bytes `body` appends, atomically.
    static func write(
        path: String, format: ModelFileError.Format, _ body: (AtomicFileWriter) throws(ModelFileError) -> Void
    ) throws(ModelFileError) {
        let writer = try AtomicFileWriter(path: path, format: format)
        do {
            try body(writer)
        } catch {
            writer.abandon()
            throw error
        }
        try writer.commit()
    }

    /// Appends `count` bytes from `source`.
    func append(_ source: UnsafeRawPointer, count: Int) throws(ModelFileError) {
        var done = 0
        while done < count {
            let n = Glibc.write(descriptor, source + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelFileError(format, path: path, .system(operation: "write", code: errno))
            }
            done += n
        }
    }

    /// Appends a 256-field header.
    func appendHeader(_ fields: [Int32]) throws(ModelFileError) {
        precondition(fields.count == LLMCHeader.fieldCount, "an llm.c header has \(LLMCHeader.fieldCount) fields")
        try fields.withUnsafeBytes { bytes in
            Result { () throws(ModelFileError) in try append(bytes.baseAddress!, count: bytes.count) }
        }.get()
    }

    /// Syncs, closes and renames into place; cleans up after itself on failure.
    private func commit() throws(ModelFileError) {
        guard fsync(descriptor) == 0 else {
            let code = errno
            abandon()
            throw ModelFileError(format, path: path, .system(operation: "fsync", code: code))
        }
        guard close(descriptor) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw ModelFileError(format, path: path, .system(operation: "close", code: code))
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw ModelFileError(format, path: path, .system(operation: "rename", code: code))
        }
    }

    private func abandon() {
        close(descriptor)
        unlink(temporaryPath)
    }
}
