/// A training run that cannot start or go on, in words the user can act on.
public enum TrainingError: Error, CustomStringConvertible {
    case badOption(String)
    case output(path: String, detail: String)
    /// Device state that failed its checksum and could not be recovered: where to resume from.
    case integrity(detail: String, resumeFrom: String?)

    public var description: String {
        switch self {
        case .badOption(let text): text
        case .output(let path, let detail): "\(path): \(detail)"
        case .integrity(let detail, let resume):
            detail + "\n" + (resume.map { "the device's state is damaged: resume from the last checkpoint with --resume \($0) on fresh SSD files (a new --ssd-dir)" }
                ?? "the device's state is damaged and no checkpoint was saved (--save-checkpoint, --checkpoint-every): the run must start again")
        }
    }
}
