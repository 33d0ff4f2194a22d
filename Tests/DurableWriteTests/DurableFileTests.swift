import DurableWrite
import Foundation
import Testing

/// The durable write's observable contract on real files: exact content, the target replaced
/// by a rename (never rewritten in place), nothing left behind, and the previous content intact
/// whenever a write fails before its rename. (That fsync is called is not observable without
/// tracing the process; the code path is the one every successful write takes.)
@Suite struct DurableFileTests {
    /// A fresh directory under /var/tmp (disk-backed), removed afterwards.
    func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = "/var/tmp/durable-file-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    func contents(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// Bytes that differ from position to position, so that a shifted or truncated copy fails.
    func pattern(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }

    @Test(arguments: [0, 1, 4095, 4096, 3 << 20])
    func roundTripIsExactAndLeavesOnlyTheTarget(count: Int) throws {
        try withDirectory { directory in
            let path = directory + "/file.bin"
            let bytes = pattern(count, seed: 7)
            try DurableFile.write(bytes, to: path)
            #expect(try contents(path) == bytes)
            #expect(try listing(directory) == ["file.bin"])
        }
    }

    @Test func textDataAndNonContiguousSequencesAllWriteTheirBytes() throws {
        try withDirectory { directory in
            try DurableFile.write("grüße\n".utf8, to: directory + "/text")
            #expect(try contents(directory + "/text") == Array("grüße\n".utf8))
            try DurableFile.write(Data([1, 2, 3]), to: directory + "/data")
            #expect(try contents(directory + "/data") == [1, 2, 3])
            // A lazy map has no contiguous storage: copied first, same bytes.
            try DurableFile.write((0..<300).lazy.map { UInt8($0 % 256) }, to: directory + "/lazy")
            #expect(try contents(directory + "/lazy") == (0..<300).map { UInt8($0 % 256) })
            #expect(try listing(directory) == ["data", "lazy", "text"])
        }
    }

    /// The target is replaced by a rename: a reader that opened the old file keeps reading the
    /// old bytes, a hard link to it still holds them, and the path names a new inode.
    @Test func theTargetIsReplacedByARenameNotRewrittenInPlace() throws {
        try withDirectory { directory in
            let path = directory + "/model.bin"
            let old = pattern(10_000, seed: 1), new = pattern(20_000, seed: 2)
            try DurableFile.write(old, to: path)
            try FileManager.default.linkItem(atPath: path, toPath: directory + "/old-link")
            let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? reader.close() }
            let oldInode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)

            try DurableFile.write(new, to: path)
            #expect(try contents(path) == new)
            #expect([UInt8](try reader.readToEnd() ?? Data()) == old)
            #expect(try contents(directory + "/old-link") == old)
            let newInode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
            #expect(newInode != oldInode)
            #expect(try listing(directory) == ["model.bin", "old-link"])
        }
    }

    /// While a streamed file is being written the target keeps its old content; the new bytes
    /// sit in one hidden temporary beside it, which the commit renames into place.
    @Test func aStreamedFileAppearsOnlyAtCommit() throws {
        try withDirectory { directory in
            let path = directory + "/tokens.bin"
            let old = pattern(100, seed: 3)
            try DurableFile.write(old, to: path)
            let file = try DurableFile(creating: path)
            let header: [Int32] = [20240520, 1, 3]
            try file.append(header)
            let body = pattern(1 << 20, seed: 4)
            try body.withUnsafeBytes { try file.append($0) }
            #expect(try contents(path) == old)
            let temporaries = try listing(directory).filter { $0 != "tokens.bin" }
            #expect(temporaries.count == 1 && temporaries[0].hasPrefix(".tokens.bin.tmp-"))
            try file.commit()
            let expected = header.withUnsafeBytes { Array($0) } + body
            #expect(try contents(path) == expected)
            #expect(try listing(directory) == ["tokens.bin"])
        }
    }

    struct Interrupted: Error {}

    /// A writer that stops halfway (its caller failed) leaves the old file exactly as it was and
    /// no temporary.
    @Test func aWriteAbandonedMidwayLeavesTheOldFileAndNoTemporary() throws {
        try withDirectory { directory in
            let path = directory + "/trainer-state.json"
            let old = Array(#"{"steps_done": 4}"#.utf8)
            try DurableFile.write(old, to: path)
            #expect(throws: Interrupted.self) {
                let file = try DurableFile(creating: path)
                try file.append(pattern(50_000, seed: 5))
                throw Interrupted()
            }
            #expect(try contents(path) == old)
            #expect(try listing(directory) == ["trainer-state.json"])
        }
    }

    /// A rename that the system refuses (the target is a non-empty directory) fails after the
    /// bytes were written and synced: the error names the rename and EISDIR, the temporary is
    /// removed, and what was at the path is untouched.
    @Test func aRefusedRenameRemovesTheTemporaryAndKeepsTheTarget() throws {
        try withDirectory { directory in
            let taken = directory + "/taken"
            try FileManager.default.createDirectory(atPath: taken, withIntermediateDirectories: false)
            try DurableFile.write([9, 9], to: taken + "/inside")
            let error = try #require(throws: DurableFileError.self) { try DurableFile.write(pattern(5000, seed: 6), to: taken) }
            #expect(error == DurableFileError(path: taken, call: .rename, code: EISDIR))
            #expect(try listing(directory) == ["taken"])
            #expect(try listing(taken) == ["inside"])
            #expect(try contents(taken + "/inside") == [9, 9])
        }
    }

    /// The directory removed while the file is written: the rename finds no directory to put
    /// the file in, and nothing is created anywhere else.
    @Test func aDirectoryRemovedMidwayFailsTheRename() throws {
        try withDirectory { directory in
            let vanishing = directory + "/run"
            try FileManager.default.createDirectory(atPath: vanishing, withIntermediateDirectories: false)
            let error = try #require(throws: DurableFileError.self) {
                let file = try DurableFile(creating: vanishing + "/model.bin")
                try file.append(pattern(10_000, seed: 8))
                try FileManager.default.removeItem(atPath: vanishing)
                try file.commit()
            }
            #expect(error.call == .rename && error.code == ENOENT && error.path == vanishing + "/model.bin")
            #expect(try listing(directory) == [])
        }
    }

    @Test func aMissingDirectoryIsNamedAndNothingIsCreated() throws {
        try withDirectory { directory in
            let path = directory + "/absent/report.html"
            let error = try #require(throws: DurableFileError.self) { try DurableFile.write([1], to: path) }
            #expect(error == DurableFileError(path: path, call: .openDirectory, code: ENOENT))
            #expect(error.description == "cannot write '\(path)': open(2) of its directory failed: No such file or directory (errno 2); nothing was written and any previous file is unchanged")
            #expect(try listing(directory) == [])
        }
    }

    /// Writers racing on one path: the file ends up as exactly one of them wrote it, never a
    /// mix, and none of their temporaries is left.
    @Test func concurrentWritersOfOnePathNeverMix() throws {
        try withDirectory { directory in
            let path = directory + "/race.bin"
            let versions = (0..<8).map { pattern(256 << 10, seed: UInt8($0)) }
            DispatchQueue.concurrentPerform(iterations: 32) { i in
                try? DurableFile.write(versions[i % versions.count], to: path)
            }
            let final = try contents(path)
            #expect(versions.contains(final))
            #expect(try listing(directory) == ["race.bin"])
        }
    }
}
