import Foundation

/// A profile written back as a file in the shipped format, so a profile that `smartinf calibrate`
/// fitted loads like any other (`--device out/smartssd-calibrated.json`).
extension Profile {
    /// This profile under another name with `keyPath` set to `text` (validated like a `--set`
    /// value) and the entry's source replaced by `source`; the range stays.
    public func setting(_ keyPath: String, to text: String, source: String) throws(ProfileError) -> Profile {
        let applied = try applying([try ProfileOverride(parsing: "\(keyPath)=\(text)")])
        let entries = applied.entries.map { entry in
            entry.keyPath == keyPath
                ? ProfileEntry(keyPath: keyPath, value: entry.value, text: entry.text, source: source, range: entry.range,
                               rangeText: entry.rangeText)
                : entry
        }
        return Profile(name: name, kind: kind, origin: origin, summary: summary, entries: entries)
    }

    /// This profile with another name and description.
    public func renamed(_ name: String, summary: String) -> Profile {
        Profile(name: name, kind: kind, origin: origin, summary: summary, entries: entries)
    }

    /// The profile as a JSON document: `schema`, `kind`, `description`, then each section in
    /// schema order with `{"value", "source", "range"}` per key, one key per line.
    public var document: String {
        var sections: [(String, [ProfileEntry])] = []
        for entry in entries {
            let section = String(entry.keyPath.prefix { $0 != "." })
            if sections.last?.0 == section { sections[sections.count - 1].1.append(entry) } else { sections.append((section, [entry])) }
        }
        var lines = ["{", "  \"schema\": \(ProfileSchema.version),", "  \"kind\": \(JSONValue.quoted(kind.rawValue)),",
                     "  \"description\": \(JSONValue.quoted(summary)),"]
        for (s, (section, members)) in sections.enumerated() {
            lines.append("  \(JSONValue.quoted(section)): {")
            for (m, entry) in members.enumerated() {
                let name = String(entry.keyPath.drop { $0 != "." }.dropFirst())
                var leaf = "\"value\": \(Self.json(entry.value, text: entry.text)), \"source\": \(JSONValue.quoted(entry.source))"
                if let range = entry.rangeText {
                    leaf += ", \"range\": [" + range.map { Self.json(entry.value, text: $0) }.joined(separator: ", ") + "]"
                }
                lines.append("    \(JSONValue.quoted(name)): {\(leaf)}" + (m < members.count - 1 ? "," : ""))
            }
            lines.append("  }" + (s < sections.count - 1 ? "," : ""))
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A value as it is written in a file: quantities as strings with units, the rest bare.
    private static func json(_ value: ProfileValue, text: String) -> String {
        switch value {
        case .quantity: JSONValue.quoted(text)
        case .fraction, .count, .flag: text
        }
    }
}
