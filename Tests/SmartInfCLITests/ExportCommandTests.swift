import Foundation
import Testing

/// `smartinf export --chakra`, run as the real executable. What the files hold is checked
/// message by message in ChakraExportTests; here the command's files, its count, and the
/// errors a user can cause.
@Suite struct ExportCommandTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// The messages of a length-delimited file (each a varint length, then that many bytes),
    /// read by hand; nil if the lengths do not tile the file exactly.
    static func messageCount(_ bytes: [UInt8]) -> Int? {
        var position = 0, count = 0
        while position < bytes.count {
            var length = 0, shift = 0
            while true {
                guard position < bytes.count, shift < 64 else { return nil }
                let byte = bytes[position]
                position += 1
                length |= Int(byte & 0x7F) << shift
                shift += 7
                if byte & 0x80 == 0 { break }
            }
            position += length
            count += 1
        }
        return position == bytes.count ? count : nil
    }

    @Test func chakraWritesOneFilePerRank() throws {
        let trace = "\(dir)/t.jsonl"
        let saved = try SmartInfProcess.run(["synth", "--preset", "gpt2-4.0b", "--devices", "2", "--mode", "su+o+c", "--save", trace])
        #expect(saved.status == 0, "\(saved.stderr)")
        let result = try SmartInfProcess.run(["export", trace, "--chakra", "\(dir)/run", "--perfetto", "\(dir)/run.json"])
        #expect(result.status == 0, "\(result.stderr)")
        // The trainer and the two devices; each file a metadata message and its nodes.
        let files = try (0..<3).map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(dir)/run.\($0).et"))) }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/run.3.et"))
        let messages = files.map(Self.messageCount)
        #expect(messages.allSatisfy { ($0 ?? 0) > 1 }, "\(messages)")
        let nodes = messages.compactMap { $0 }.reduce(0, +) - 3
        #expect(result.stdout.contains("→ \(nodes) Chakra nodes in 3 files"), "\(result.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/run.json"))
    }

    @Test func badPathsAreRefusedNamingThem() throws {
        let missing = "\(dir)/no-such.jsonl"
        let unread = try SmartInfProcess.run(["export", missing, "--chakra", "\(dir)/x"])
        #expect(unread.status != 0 && unread.stderr.contains(missing), "\(unread.stderr)")

        let trace = "\(dir)/t.jsonl"
        #expect(try SmartInfProcess.run(["synth", "--preset", "gpt2-2.5b", "--devices", "1", "--mode", "su", "--save", trace]).status == 0)
        let nowhere = "\(dir)/missing-directory/run"
        let unwritable = try SmartInfProcess.run(["export", trace, "--chakra", nowhere])
        #expect(unwritable.status != 0 && unwritable.stderr.contains("\(nowhere).0.et") && unwritable.stderr.contains("cannot write"),
                "\(unwritable.stderr)")
        let directory = try SmartInfProcess.run(["export", trace, "--chakra", dir])
        #expect(directory.status != 0 && directory.stderr.contains("is a directory"), "\(directory.stderr)")
        let nothing = try SmartInfProcess.run(["export", trace])
        #expect(nothing.status != 0 && nothing.stderr.contains("--chakra"), "\(nothing.stderr)")
    }
}
