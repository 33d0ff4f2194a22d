/// Everything that can be wrong with a profile or an override. Every message names where the
/// problem is (the file, or the `--set` argument), the key, and what was expected.
public enum ProfileError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case invalidJSON(file: String, reason: String)
    case unknownKey(file: String, key: String, allowed: [String])
    case missingKey(file: String, key: String, expected: String)
    case wrongType(file: String, key: String, expected: String, found: String)
    case badValue(file: String, key: String, problem: String, expected: String)
    case missingSource(file: String, key: String)
    case wrongKind(file: String, found: ProfileKind, expected: ProfileKind)
    case unknownProfile(name: String, directory: String, available: [String])
    case emulatorDirectoryNotFound(searched: [String])
    case malformedOverride(argument: String, reason: String)
    case unknownOverrideKey(argument: String, key: String, target: String, known: [String])

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            "\(file): cannot read the profile (\(reason))"
        case .invalidJSON(let file, let reason):
            "\(file): not valid JSON (\(reason))"
        case .unknownKey(let file, let key, let allowed):
            "\(file): unknown key '\(key)' (expected one of: \(allowed.joined(separator: ", ")))"
        case .missingKey(let file, let key, let expected):
            "\(file): missing key '\(key)' (expected \(expected))"
        case .wrongType(let file, let key, let expected, let found):
            "\(file): key '\(key)': expected \(expected), found \(found)"
        case .badValue(let file, let key, let problem, let expected):
            "\(file): key '\(key)': \(problem); expected \(expected)"
        case .missingSource(let file, let key):
            "\(file): key '\(key)' has no source; every value must say where it comes from: "
                + #"{"value": …, "source": "…"}"#
        case .wrongKind(let file, let found, let expected):
            "\(file): this is a \(found.rawValue) profile where a \(expected.rawValue) profile was expected"
        case .unknownProfile(let name, let directory, let available):
            "no profile named '\(name)' in \(directory) (available: \(available.joined(separator: ", ")))"
        case .emulatorDirectoryNotFound(let searched):
            "no Emulator/ folder with the hardware profiles found upward from \(searched.joined(separator: " or ")); "
                + "pass the profile directory explicitly"
        case .malformedOverride(let argument, let reason):
            "\(argument): \(reason)"
        case .unknownOverrideKey(let argument, let key, let target, let known):
            "\(argument): unknown key '\(key)' for \(target) (known keys: \(known.joined(separator: ", ")))"
        }
    }
}
