/// A training run that cannot start or go on, in words the user can act on.
public enum TrainingError: Error, CustomStringConvertible {
    case badOption(String)
    case output(path: String, detail: String)

    public var description: String {
        switch self {
        case .badOption(let text): text
        case .output(let path, let detail): "\(path): \(detail)"
        }
    }
}
