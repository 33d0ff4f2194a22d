import Foundation

/// One command-line override, `--set section.name=value` (e.g. `--set link.shared=12GB/s`),
/// applied on top of a loaded profile. The value is validated exactly like a value in a file,
/// and the entry's source becomes the override itself, so reports show what was changed.
public struct ProfileOverride: Sendable, Equatable, CustomStringConvertible {
    /// `section.name`, e.g. `link.shared`.
    public let keyPath: String
    /// The value as typed, e.g. `12GB/s`.
    public let value: String

    /// Parses `section.name=value`.
    public init(parsing argument: String) throws(ProfileError) {
        let shown = "--set \(argument)"
        guard let equals = argument.firstIndex(of: "=") else {
            throw .malformedOverride(argument: shown, reason: "expected key.path=value, such as link.shared=12GB/s")
        }
        let key = String(argument[..<equals]).trimmingCharacters(in: .whitespaces)
        let value = String(argument[argument.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }) else {
            throw .malformedOverride(argument: shown, reason: "the key '\(key)' is not section.name, such as link.shared")
        }
        guard !value.isEmpty else { throw .malformedOverride(argument: shown, reason: "no value after '='") }
        keyPath = key
        self.value = value
    }

    public var description: String { "--set \(keyPath)=\(value)" }

    /// The section the key belongs to, which decides the profile kind it applies to.
    var section: Substring { keyPath.prefix { $0 != "." } }
}

extension Profile {
    /// This profile with `overrides` applied in order (a later override of the same key wins).
    /// A key the profile has is replaced; the value of a single-value optional section the
    /// profile leaves out (a price) is added, in schema order.
    public func applying(_ overrides: [ProfileOverride]) throws(ProfileError) -> Profile {
        var entries = self.entries
        for override in overrides {
            let index = entries.firstIndex { $0.keyPath == override.keyPath }
            let order = kind.schema.keyPaths
            let settable = order.filter { key in entries.contains { $0.keyPath == key } || kind.schema.addableKeyPaths.contains(key) }
            guard settable.contains(override.keyPath), let field = kind.schema.field(at: override.keyPath) else {
                throw .unknownOverrideKey(argument: override.description, key: override.keyPath,
                                          target: "\(kind.rawValue) profile '\(name)'", known: settable)
            }
            let entry: ProfileEntry
            do {
                let (value, text) = try field.kind.read(text: override.value)
                // The range stays: it is what the sources allow for the quantity, whoever sets it.
                entry = ProfileEntry(keyPath: override.keyPath, value: value, text: text, source: "command line: \(override)",
                                     range: index.flatMap { entries[$0].range }, rangeText: index.flatMap { entries[$0].rangeText })
            } catch {
                throw error.profileError(file: override.description, key: override.keyPath, kind: field.kind)
            }
            if let index {
                entries[index] = entry
            } else {
                entries.append(entry)
                entries.sort { order.firstIndex(of: $0.keyPath)! < order.firstIndex(of: $1.keyPath)! }
            }
        }
        return Profile(name: name, kind: kind, origin: origin, summary: summary, entries: entries)
    }
}
