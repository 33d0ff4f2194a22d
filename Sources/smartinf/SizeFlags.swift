import ArgumentParser
import SizeNotation

/// The size flags several commands share (`--params`, `--dram`), parsed in one place so that a
/// refusal reads the same whichever command it comes from.
enum SizeFlags {
    /// `--params`: a parameter count of at least 1024 (`example` is the command's own default).
    static func parameters(_ text: String, example: String) throws -> Int {
        guard let count = SizeArgument.parse(text), count >= 1024 else {
            throw ValidationError("--params '\(text)' is not a count of at least 1024 (example: \(example))")
        }
        return count
    }

    /// `--dram`: a device's DRAM, at least 1 MiB (a device refuses less: its buffer sets would
    /// not fit).
    static func dram(_ text: String) throws -> Int {
        guard let bytes = SizeArgument.parse(text), bytes >= 1 << 20 else {
            throw ValidationError("--dram '\(text)' is not a size of at least 1MiB (example: 1GiB)")
        }
        return bytes
    }
}
