import Foundation
import Testing

/// docs/ARCHITECTURE.md's module map says which module may import which; Package.swift is what
/// the compiler enforces. They must say the same thing, so the map cannot go stale: a module
/// added, removed or given a new dependency fails here until the map says so too.
@Suite struct ModuleMapTests {
    static let root = DocumentationLinkTests.root

    /// Each target of Package.swift (regular and executable, not tests) with the names of our
    /// own targets it depends on (products of other packages left out).
    static func packageTargets() throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var targets: [String: Set<String>] = [:]
        let declaration = /\.(?:target|executableTarget|systemLibrary)\(\s*name:\s*"([^"]+)"/
        for match in manifest.matches(of: declaration) {
            let name = String(match.output.1)
            // The dependency list, if any, runs from `dependencies: [` to its closing bracket.
            let rest = manifest[match.range.upperBound...]
            let end = rest.firstIndex(of: ")").map { rest.distance(from: rest.startIndex, to: $0) } ?? 0
            var dependencies: Set<String> = []
            if let open = rest.range(of: "dependencies: ["), rest.distance(from: rest.startIndex, to: open.lowerBound) < end {
                var depth = 1
                var index = open.upperBound
                var list = ""
                while depth > 0, index < rest.endIndex {
                    let c = rest[index]
                    if c == "[" { depth += 1 } else if c == "]" { depth -= 1 }
                    if depth > 0 { list.append(c) }
                    index = rest.index(after: index)
                }
                // Plain strings name our targets; `.product(name: …)` lines name other packages'.
                for line in list.split(separator: "\n") where !line.contains(".product(") {
                    for quoted in line.matches(of: /"([^"]+)"/) { dependencies.insert(String(quoted.output.1)) }
                }
            }
            targets[name] = dependencies
        }
        return targets
    }

    /// The map's rows: every module named (in backticks) in the first column, with the backticked
    /// names of the third; rows whose imports are described in words are left out.
    static func mapRows() throws -> [(modules: [String], imports: Set<String>)] {
        let architecture = try String(contentsOf: root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let start = architecture.range(of: "## Module map") else { return [] }
        let lines = architecture[start.upperBound...].split(separator: "\n").drop { !$0.hasPrefix("| module") }.dropFirst(2).prefix { $0.hasPrefix("|") }
        return lines.compactMap { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { return nil }
            func names(_ cell: String) -> [String] { cell.matches(of: /`([A-Za-z-]+)`/).map { String($0.output.1) } }
            let imports = cells[3] == "—" ? [] : names(cells[3])
            guard cells[3] == "—" || !imports.isEmpty else { return nil }
            return (names(cells[1]), Set(imports))
        }
    }

    @Test func theMapNamesEveryModuleWithTheImportsPackageSwiftAllows() throws {
        let targets = try Self.packageTargets()
        let rows = try Self.mapRows()
        #expect(!rows.isEmpty, "no module map found in docs/ARCHITECTURE.md")
        for row in rows {
            for module in row.modules {
                guard let dependencies = targets[module] else {
                    Issue.record("the map names `\(module)`, which Package.swift does not declare")
                    continue
                }
                #expect(row.imports == dependencies,
                        "`\(module)`: the map says \(row.imports.sorted()), Package.swift says \(dependencies.sorted())")
            }
        }
        // Every library target appears in the map (executables and the fuzz-only targets may be
        // described in words).
        let described = Set(rows.flatMap(\.modules))
        for name in targets.keys.sorted() where !described.contains(name) {
            let wordsOnly = ["smartinf", "smartssd", "FuzzTargets"]
            #expect(wordsOnly.contains(name), "`\(name)` is in Package.swift but not in the module map")
        }
    }
}
