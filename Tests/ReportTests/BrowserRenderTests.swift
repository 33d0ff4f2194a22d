import Foundation
import Report
import Testing

/// The report in a real browser: headless Chromium (Debian's `chromium`) renders index.html to a
/// PNG through scripts/render-report.sh. Skipped (reported as such) when no chromium is on PATH.
@Suite struct BrowserRenderTests {
    static let chromium: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }()

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/render-report.sh").path

    @Test(.enabled(if: chromium != nil, "no chromium or chromium-browser on PATH (apt-get install -y chromium)"),
          .timeLimit(.minutes(3)))
    func chromiumRendersTheReport() throws {
        let dir = Fixtures.temporaryDirectory("render")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rows = Fixtures.study()
        rows[0].model = "<script>alert(1)</script>"
        try StudyReport.write(rows: rows, title: "Render check", to: dir)
        let png = dir + "/report.png"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script, dir, png]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(log)")
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(data.count > 20_000)
        let bytes = [UInt8](data.prefix(24))
        #expect(bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(bytes[12..<16].elementsEqual(Array("IHDR".utf8)))
        func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        #expect(be32(16) == 1400)
        #expect(be32(20) > 0)
    }
}
