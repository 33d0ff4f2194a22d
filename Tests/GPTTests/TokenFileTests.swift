import Foundation
import GPT
import Testing

@Suite struct TokenFileTests {
    func readError(_ path: String, vocabSize: Int? = nil) -> ModelFileError? {
        do {
            _ = try TokenFile.read(from: path, vocabSize: vocabSize)
            return nil
        } catch {
            return error
        }
    }

    @Test func roundTripKeepsTokensAndWritesLlmcHeader() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("tokens.bin")
        let tokens: [UInt16] = [0, 1, 65535, 50256, 7, 7, 42]
        try TokenFile.write(tokens, to: path)
        #expect(try TokenFile.read(from: path) == tokens)
        let data = try bytes(of: path)
        let header = data.prefix(1024).withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        #expect(Array(header[0..<3]) == [20_240_520, 1, 7])
        #expect(data.count == 1024 + 2 * tokens.count)
        #expect(try TokenFile.read(from: path, vocabSize: 65536) == tokens)
    }

    @Test func emptyStreamRoundTrips() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("empty.bin")
        try TokenFile.write([], to: path)
        #expect(try TokenFile.read(from: path).isEmpty)
    }

    @Test func wrongMagicIsRefused() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("tokens.bin")
        try TokenFile.write([1, 2, 3], to: path)
        try patchHeader(path, field: 0, value: 20_240_326)
        let error = try #require(readError(path))
        #expect(error.problem == .badMagic(found: 20_240_326, expected: 20_240_520))
        #expect(error.format == .tokens)
    }

    @Test func wrongVersionIsRefused() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("tokens.bin")
        try TokenFile.write([1, 2, 3], to: path)
        try patchHeader(path, field: 1, value: 2)
        #expect(readError(path)?.problem == .badVersion(found: 2, expected: 1))
    }

    @Test func truncatedFileIsRefused() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("tokens.bin")
        try TokenFile.write(Array(0..<100), to: path)
        let full = try bytes(of: path)
        try write(full.prefix(full.count - 3), to: path)
        let error = try #require(readError(path))
        #expect(error.problem == .lengthMismatch(bytes: 1024 + 197, expected: 1024 + 200))
        #expect(error.description.contains("truncated"))
    }

    @Test func negativeCountIsRefused() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("tokens.bin")
        try TokenFile.write([1], to: path)
        try patchHeader(path, field: 2, value: -4)
        #expect(readError(path)?.problem == .badHeaderField(field: "token count", value: -4, expected: "at least 0"))
    }

    @Test func tokenOutsideVocabularyIsReportedWithItsPosition() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("tokens.bin")
        try TokenFile.write([3, 499, 0, 500, 12, 900], to: path)
        let error = try #require(readError(path, vocabSize: 500))
        #expect(error.problem == .tokenOutOfRange(position: 3, token: 500, vocabSize: 500))
        #expect(error.description.contains("position 3"))
    }
}
