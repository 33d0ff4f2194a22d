import DurableWrite
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

extension DurableFile {
    /// Appends an llm.c header of 256 fields.
    func appendHeader(_ fields: [Int32]) throws(DurableFileError) {
        precondition(fields.count == LLMCHeader.fieldCount, "an llm.c header has \(LLMCHeader.fieldCount) fields")
        try append(fields)
    }
}
