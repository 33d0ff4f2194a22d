import DurableWrite
import Glibc

/// A checkpoint or token file that cannot be read or written, naming the file, what is wrong
/// with it (the field, the value found) and what was expected.
///
/// Both formats share llm.c's 256 × int32 header, so they share one error type; `format` says
/// which kind of file was being handled.
public struct ModelFileError: Error, Equatable, CustomStringConvertible {
    public enum Format: String, Sendable {
        case checkpoint = "checkpoint"
        case tokens = "token file"
    }

    public enum Problem: Equatable, Sendable {
        /// A system call failed while reading (`code` is the errno value).
        case system(operation: String, code: Int32)
        /// The durable write failed (it names the call, and what it left at the path).
        case cannotWrite(DurableFileError)
        /// The file is shorter than the 1024-byte header.
        case truncatedHeader(bytes: Int)
        case badMagic(found: Int32, expected: Int32)
        case badVersion(found: Int32, expected: Int32)
        /// A header field holds a value the format does not allow.
        case badHeaderField(field: String, value: Int, expected: String)
        /// The file length disagrees with the sizes in its header (a truncated file, or a header
        /// describing a different model or token count).
        case lengthMismatch(bytes: Int, expected: Int)
        /// A token id outside the model's vocabulary, at `position` in the token stream.
        case tokenOutOfRange(position: Int, token: Int, vocabSize: Int)
    }

    public var format: Format
    public var path: String
    public var problem: Problem

    public init(_ format: Format, path: String, _ problem: Problem) {
        self.format = format
        self.path = path
        self.problem = problem
    }

    public var description: String {
        let subject = "\(format.rawValue) '\(path)'"
        switch problem {
        case .system(let operation, let code):
            return "\(subject): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .cannotWrite(let failure):
            return "\(subject): cannot write: \(failure.reason); \(failure.outcome)"
        case .truncatedHeader(let bytes):
            return "\(subject): file is \(bytes) bytes, shorter than the \(LLMCHeader.byteCount)-byte header"
        case .badMagic(let found, let expected):
            return "\(subject): header field 'magic' is \(found), expected \(expected) (not an llm.c \(format.rawValue))"
        case .badVersion(let found, let expected):
            return "\(subject): header field 'version' is \(found), expected \(expected)"
        case .badHeaderField(let field, let value, let expected):
            return "\(subject): header field '\(field)' is \(value), expected \(expected)"
        case .lengthMismatch(let bytes, let expected):
            let how = bytes < expected ? "the file is truncated" : "the file has trailing bytes"
            return "\(subject): file is \(bytes) bytes but its header describes \(expected) bytes (\(how), or the header sizes are wrong)"
        case .tokenOutOfRange(let position, let token, let vocabSize):
            return "\(subject): token \(token) at position \(position) is outside the vocabulary (expected < \(vocabSize))"
        }
    }
}
