import DurableWrite
import Foundation
import GPT
import Glibc
import Optim
import Testing

@Suite struct CheckpointFileTests {
    /// Writes a fresh small-model checkpoint and returns its path and the checkpoint.
    func writtenCheckpoint(in scratch: ScratchDirectory) throws -> (String, GPTCheckpoint) {
        let path = scratch.file("model.bin")
        let checkpoint = initialized(smallConfig, seed: 11)
        try checkpoint.write(to: path)
        return (path, checkpoint)
    }

    func readError(_ path: String) -> ModelFileError? {
        do {
            _ = try GPTCheckpoint.read(from: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func roundTripKeepsEveryBitAndWritesLlmcHeader() throws {
        let scratch = try ScratchDirectory()
        let (path, original) = try writtenCheckpoint(in: scratch)
        let restored = try GPTCheckpoint.read(from: path)
        #expect(restored.config == original.config)
        #expect(restored.parameters.array.map(\.bitPattern) == original.parameters.array.map(\.bitPattern))

        let data = try bytes(of: path)
        let header = data.prefix(1024).withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        #expect(Array(header[0..<8]) == [20_240_326, 3, 16, 500, 2, 4, 64, 512])
        #expect(header[8...].allSatisfy { $0 == 0 })
        #expect(data.count == 1024 + 4 * smallConfig.parameterCount)
        #expect(scratch.contents == ["model.bin"], "no temporary file is left behind")
    }

    @Test func wrongMagicIsRefused() throws {
        let scratch = try ScratchDirectory()
        let (path, _) = try writtenCheckpoint(in: scratch)
        try patchHeader(path, field: 0, value: 20_240_520)
        let error = try #require(readError(path))
        #expect(error.problem == .badMagic(found: 20_240_520, expected: 20_240_326))
        #expect(error.path == path && error.format == .checkpoint)
        #expect(error.description.contains("magic") && error.description.contains(path))
    }

    @Test func wrongVersionIsRefused() throws {
        let scratch = try ScratchDirectory()
        let (path, _) = try writtenCheckpoint(in: scratch)
        try patchHeader(path, field: 1, value: 5)
        #expect(readError(path)?.problem == .badVersion(found: 5, expected: 3))
    }

    @Test func truncatedFileIsRefused() throws {
        let scratch = try ScratchDirectory()
        let (path, _) = try writtenCheckpoint(in: scratch)
        let full = try bytes(of: path)
        try write(full.prefix(full.count - 100), to: path)
        #expect(readError(path)?.problem == .lengthMismatch(bytes: full.count - 100, expected: full.count))
        try write(full.prefix(1000), to: path)
        #expect(readError(path)?.problem == .truncatedHeader(bytes: 1000))
    }

    /// A header describing a bigger or smaller model than the data that follows it.
    @Test(arguments: [3, 1])
    func headerSizesInconsistentWithLengthAreRefused(layers: Int32) throws {
        let scratch = try ScratchDirectory()
        let (path, _) = try writtenCheckpoint(in: scratch)
        try patchHeader(path, field: 4, value: layers)
        var claimed = smallConfig
        claimed.layers = Int(layers)
        let error = try #require(readError(path))
        #expect(error.problem == .lengthMismatch(bytes: 1024 + 4 * smallConfig.parameterCount,
                                                 expected: 1024 + 4 * claimed.parameterCount))
        #expect(error.description.contains(layers > 2 ? "truncated" : "trailing bytes"))
    }

    @Test func implausibleDimensionsAreRefused() throws {
        let scratch = try ScratchDirectory()
        let (path, _) = try writtenCheckpoint(in: scratch)
        try patchHeader(path, field: 6, value: 0)
        #expect(readError(path)?.problem == .badHeaderField(field: "C", value: 0, expected: "1...\(1 << 20)"))
        try patchHeader(path, field: 6, value: 66)
        #expect(readError(path)?.problem == .badHeaderField(field: "C", value: 66, expected: "a multiple of NH = 4"))
        try patchHeader(path, field: 6, value: 64)
        try patchHeader(path, field: 7, value: 499)
        #expect(readError(path)?.problem == .badHeaderField(field: "Vp", value: 499, expected: "at least V = 500"))
    }

    @Test func missingFileNamesTheSystemError() throws {
        let scratch = try ScratchDirectory()
        let error = try #require(readError(scratch.file("absent.bin")))
        #expect(error.problem == .system(operation: "open", code: ENOENT))
        #expect(error.description.contains("absent.bin"))
    }

    /// A failed write leaves neither a partial file nor a temporary one, and never damages the
    /// file it was meant to replace.
    @Test func failedWriteLeavesNothingBehind() throws {
        let scratch = try ScratchDirectory()
        let (path, original) = try writtenCheckpoint(in: scratch)
        let unwritable = scratch.file("missing-directory/model.bin")
        #expect(throws: ModelFileError.self) { try original.write(to: unwritable) }
        #expect(!FileManager.default.fileExists(atPath: unwritable))

        // Replacing a file with a directory of the same name fails at the rename: the
        // temporary file must be gone and the directory untouched.
        let directoryPath = scratch.file("taken")
        try FileManager.default.createDirectory(atPath: directoryPath + "/inside", withIntermediateDirectories: true)
        let error = try #require(throws: ModelFileError.self) { try original.write(to: directoryPath) }
        #expect(error.problem == .cannotWrite(DurableFileError(path: directoryPath, call: .rename, code: EISDIR)))
        #expect(Set(scratch.contents) == ["model.bin", "taken"])
        #expect(try GPTCheckpoint.read(from: path).parameters.array == original.parameters.array)
    }
}
