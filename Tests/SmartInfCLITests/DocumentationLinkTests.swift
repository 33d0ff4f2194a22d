import Foundation
import Testing

/// The documentation a user reads next to the commands: every relative link in the READMEs and
/// `docs/` leads to a file that exists (and to a heading in it, when it names one), and every
/// source comment that cites a section of `docs/` names a heading that exists. A moved or renamed
/// section fails here rather than in a reader's browser.
@Suite struct DocumentationLinkTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The Markdown files a reader of the repository follows links between.
    static var documents: [URL] {
        let docs = root.appendingPathComponent("docs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: docs.path)) ?? []
        return ["README.md", "Emulator/README.md", "fuzz/README.md"].map { root.appendingPathComponent($0) }
            + names.filter { $0.hasSuffix(".md") }.sorted().map { docs.appendingPathComponent($0) }
    }

    /// Every `.swift` file under `Sources/` and `Tests/`.
    static var sourceFiles: [URL] {
        ["Sources", "Tests"].flatMap { folder -> [URL] in
            let base = root.appendingPathComponent(folder)
            let paths = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
            return paths.filter { $0.hasSuffix(".swift") }.sorted().map { base.appendingPathComponent($0) }
        }
    }

    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// The lines of `markdown` outside fenced code blocks (whose brackets are not links).
    static func prose(_ markdown: String) -> [Substring] {
        var inFence = false
        return markdown.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            if line.hasPrefix("```") {
                inFence.toggle()
                return false
            }
            return !inFence
        }
    }

    /// The anchor GitHub gives a heading: lower case, only letters, digits, `-`, `_` and spaces
    /// kept, spaces turned into `-`.
    static func anchor(_ heading: Substring) -> String {
        String(heading.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == " " }
            .map { $0 == " " ? "-" : $0 })
    }

    static func anchors(of url: URL) throws -> Set<String> {
        Set(prose(try text(url)).compactMap { line -> String? in
            let hashes = line.prefix { $0 == "#" }
            guard (1...6).contains(hashes.count), line.dropFirst(hashes.count).first == " " else { return nil }
            return anchor(line.dropFirst(hashes.count + 1))
        })
    }

    /// The targets of the inline links `[text](target)` in `markdown`'s prose.
    static func linkTargets(_ markdown: String) -> [String] {
        prose(markdown).flatMap { line -> [String] in
            line.matches(of: /\]\(([^)\s]+)\)/).map { String($0.output.1) }
        }
    }

    @Test("the documents the checks below read are there")
    func documentsExist() throws {
        #expect(Self.documents.count >= 10, "\(Self.documents.map(\.lastPathComponent))")
        for document in Self.documents {
            #expect(FileManager.default.fileExists(atPath: document.path), "\(document.path)")
        }
        #expect(Self.sourceFiles.count > 100)
    }

    @Test("every relative link leads to a file, and to a heading when it names one")
    func relativeLinksResolve() throws {
        var checked = 0
        for document in Self.documents {
            for target in Self.linkTargets(try Self.text(document)) where !target.contains(":") {
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                let file = parts[0].isEmpty ? document
                    : document.deletingLastPathComponent().appendingPathComponent(String(parts[0])).standardizedFileURL
                checked += 1
                let name = "\(document.path.dropFirst(Self.root.path.count)): (\(target))"
                guard FileManager.default.fileExists(atPath: file.path) else {
                    Issue.record("\(name) leads to a file that does not exist")
                    continue
                }
                if parts.count == 2 {
                    #expect(file.pathExtension == "md", "\(name) names a heading in a file that is not Markdown")
                    if file.pathExtension == "md" {
                        #expect(try Self.anchors(of: file).contains(String(parts[1])), "\(name) names no heading of \(file.lastPathComponent)")
                    }
                }
            }
        }
        #expect(checked >= 50, "only \(checked) relative links found: the scan is broken")
    }

    @Test("every source comment citing docs/FILE.md, \"Section\" names a heading that exists")
    func sourceCitationsResolve() throws {
        var cited = 0
        for file in Self.sourceFiles where file.lastPathComponent != "DocumentationLinkTests.swift" {
            let lines = try Self.text(file).split(separator: "\n", omittingEmptySubsequences: false)
            for (number, line) in lines.enumerated() {
                for match in line.matches(of: /docs\/([A-Za-z]+\.md), "([^"]+)"/) {
                    cited += 1
                    let document = Self.root.appendingPathComponent("docs").appendingPathComponent(String(match.output.1))
                    let place = "\(file.path.dropFirst(Self.root.path.count)):\(number + 1)"
                    guard FileManager.default.fileExists(atPath: document.path) else {
                        Issue.record("\(place) cites \(match.output.1), which does not exist")
                        continue
                    }
                    #expect(try Self.anchors(of: document).contains(Self.anchor(match.output.2)),
                            "\(place) cites the section \"\(match.output.2)\", which \(match.output.1) does not have")
                }
            }
        }
        #expect(cited >= 8, "only \(cited) citations found: the scan is broken")
    }

    @Test("no source cites the design notes that live outside the repository")
    func noCitationLeavesTheRepository() throws {
        let outside = "DESIGN" + ".md"
        let shorthand = "DESIGN" + " §"
        for file in Self.sourceFiles {
            let text = try Self.text(file)
            #expect(!text.contains(outside) && !text.contains(shorthand),
                    "\(file.path.dropFirst(Self.root.path.count)) cites \(outside), which is not in the repository; cite docs/ instead")
        }
    }

    @Test("the heading anchors follow GitHub's rule")
    func anchorsFollowGitHub() {
        #expect(Self.anchor("Quick start (Debian/Ubuntu, Swift 6.3)") == "quick-start-debianubuntu-swift-63")
        #expect(Self.anchor("`smartinf bench clock`") == "smartinf-bench-clock")
        #expect(Self.anchor("One step, mode by mode") == "one-step-mode-by-mode")
    }
}
