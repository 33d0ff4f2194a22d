import Glibc

/// A file that reaches its path whole and durably: after a crash at any moment the path holds
/// either its complete previous content (or nothing, if it had none) or the complete new
/// content, and once `commit` returns the new content survives a power loss.
///
/// The bytes go to a temporary file in the target's directory (the same file system, so the
/// rename is atomic); the temporary is fsync'ed, renamed over the target, and then the
/// directory is fsync'ed so that the rename itself is on disk. Foundation's `.atomic` writes do
/// the temporary and the rename but no fsync on Linux, and ext4 or XFS may then leave the new
/// name pointing at a zero-length file after a power loss: a checkpoint that is there but empty.
///
/// The directory is opened once, first, and the temporary's creation, the rename and the sync
/// all go through that descriptor, so they act on one directory even if its path changes while
/// the file is written. Until `commit` has renamed the temporary, dropping the value (an error
/// thrown by the caller or by `append`) removes it and leaves the target as it was.
///
/// Two ways in: `DurableFile.write(_:to:)` for bytes already in memory, and
/// `DurableFile(creating:)` + `append` + `commit` for files streamed out in pieces (llm.c
/// model and token files, which can be gigabytes).
public struct DurableFile: ~Copyable {
    /// The target.
    public let path: String
    /// The target's directory, open for the whole write.
    private let directory: Int32
    /// The target's name in `directory`.
    private let name: String
    /// The temporary file's name in `directory`.
    private let temporaryName: String
    /// The temporary file, open for writing; -1 once closed.
    private var descriptor: Int32
    /// Set once the temporary has been renamed over the target: from then on there is no
    /// temporary left to remove.
    private var renamed = false

    /// Starts writing `path`: opens its directory and creates the temporary file beside it.
    public init(creating path: String) throws(DurableFileError) {
        let slash = path.lastIndex(of: "/")
        let directoryPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let directory = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw DurableFileError(path: path, call: .openDirectory, code: errno) }
        // The process id and a random tag: concurrent writers of one path never share a
        // temporary, and O_EXCL refuses to reuse a file that happens to exist.
        let temporaryName = ".\(name).tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let descriptor = openat(directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let code = errno
            close(directory)
            throw DurableFileError(path: path, call: .createTemporary, code: code)
        }
        self.path = path
        self.directory = directory
        self.name = name
        self.temporaryName = temporaryName
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        if !renamed { unlinkat(directory, temporaryName, 0) }
        close(directory)
    }

    /// Appends `bytes` to the temporary file.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(DurableFileError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(descriptor, base + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw DurableFileError(path: path, call: .write, code: errno)
            }
            done += n
        }
    }

    /// Appends the bytes of `values` as they lie in memory (this host is little-endian, as every
    /// format written this way is).
    public func append<Element: BitwiseCopyable>(_ values: [Element]) throws(DurableFileError) {
        try values.withUnsafeBytes { bytes in
            Result { () throws(DurableFileError) in try append(bytes) }
        }.get()
    }

    /// Makes the file durable and puts it in place: fsync, close, rename over the target, fsync
    /// the directory. If anything before the rename fails, the temporary is removed and the
    /// target is untouched; if the directory's fsync fails, the new file is in place but the
    /// rename may not survive a crash (the error says so).
    public consuming func commit() throws(DurableFileError) {
        guard fsync(descriptor) == 0 else { throw DurableFileError(path: path, call: .fsync, code: errno) }
        let closing = descriptor
        descriptor = -1
        // Not retried on EINTR: on Linux the descriptor is released even then.
        guard close(closing) == 0 else { throw DurableFileError(path: path, call: .close, code: errno) }
        guard renameat(directory, temporaryName, directory, name) == 0 else {
            throw DurableFileError(path: path, call: .rename, code: errno)
        }
        renamed = true
        guard fsync(directory) == 0 else { throw DurableFileError(path: path, call: .fsyncDirectory, code: errno) }
    }

    /// Writes `bytes` to `path` durably (temporary, fsync, rename, directory fsync).
    public static func write(_ bytes: some Sequence<UInt8>, to path: String) throws(DurableFileError) {
        let file = try DurableFile(creating: path)
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(DurableFileError) in try file.append(UnsafeRawBufferPointer(buffer)) }
        }
        if let contiguous {
            try contiguous.get()
        } else {
            try file.append(Array(bytes))
        }
        try file.commit()
    }
}

/// A durable write that failed: the target's path, the step that failed and the system's errno.
public struct DurableFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The system call that failed, by the part it plays.
    public enum Call: String, Sendable, CaseIterable {
        case openDirectory = "open(2) of its directory"
        case createTemporary = "openat(2) creating the temporary file"
        case write = "write(2) to the temporary file"
        case fsync = "fsync(2) of the temporary file"
        case close = "close(2) of the temporary file"
        case rename = "renameat(2) of the temporary file over it"
        case fsyncDirectory = "fsync(2) of its directory"
        case openRecord = "open(2) of the record file"
        case writeRecord = "pwrite(2) of a record slot"
        case syncRecord = "fdatasync(2) of the record file"
    }

    public var path: String
    public var call: Call
    /// The errno value.
    public var code: Int32

    public init(path: String, call: Call, code: Int32) {
        self.path = path
        self.call = call
        self.code = code
    }

    /// What failed and why, without the path: `fsync(2) of the temporary file failed: No space
    /// left on device (errno 28)`.
    public var reason: String { "\(call.rawValue) failed: \(String(cString: strerror(code))) (errno \(code))" }

    /// What the failure left at the path.
    public var outcome: String {
        switch call {
        case .fsyncDirectory: "the new file is in place but may not survive a crash"
        case .openRecord, .writeRecord, .syncRecord: "the newest intact record is still the previous one"
        default: "nothing was written and any previous file is unchanged"
        }
    }

    public var description: String { "cannot write '\(path)': \(reason); \(outcome)" }
}
