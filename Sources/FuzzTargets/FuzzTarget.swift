import Foundation
import SeededRandom

/// One decoder of untrusted bytes, wrapped for fuzzing: seeds made with the real encoders, and a
/// run of the decoder on any input with the checks every run must pass.
///
/// A run must end in one of two ways: the input is accepted, or it is rejected with the
/// decoder's own typed error, whose description says what is wrong. Anything else is a finding:
/// a trap (the process dies, which is what the fuzzers look for), or a `FuzzViolation` that
/// `execute` throws — an error of another type, an empty message, a rejected payload that
/// touched its destination, a decoded value that does not survive re-encoding.
public protocol FuzzTarget: AnyObject {
    /// The target's name on the command line and under `fuzz/corpus/`.
    var name: String { get }
    /// Valid inputs, made with the real encoders (they are also the committed seed corpus).
    func seeds() throws -> [[UInt8]]
    /// Runs the decoder on `input`. Returns a short signature of the outcome (`ok`, or the
    /// rejection with its numbers removed) that the mutation engine uses as cheap feedback.
    func execute(_ input: [UInt8]) throws(FuzzViolation) -> String
    /// True when the inputs are text (JSON), so that text-aware mutations are worth trying.
    var isText: Bool { get }
    /// A structure-aware mutation (a header field set to an edge value…); false if none applies.
    func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool
}

extension FuzzTarget {
    public var isText: Bool { false }
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool { false }
}

/// A run that ended neither in acceptance nor in a clean, typed, described rejection.
public struct FuzzViolation: Error, CustomStringConvertible {
    public var target: String
    public var message: String

    public init(_ target: String, _ message: String) {
        self.target = target
        self.message = message
    }

    public var description: String { "\(target): \(message)" }
}

/// The registry of targets, by name.
public enum FuzzTargets {
    /// Every target, in the order `make fuzz` runs them.
    public static let names = ["payload", "protocol", "trace", "profile", "config", "checkpoint", "tokens", "snapshot", "safetensors"]

    /// A fresh instance of the target called `name`, or nil if there is none.
    public static func make(_ name: String) throws -> (any FuzzTarget)? {
        switch name {
        case "payload": PayloadTarget()
        case "protocol": ProtocolTarget()
        case "trace": try TraceTarget()
        case "profile": ProfileTarget()
        case "config": try ConfigTarget()
        case "checkpoint": try CheckpointTarget()
        case "tokens": try TokenFileTarget()
        case "snapshot": try SnapshotTarget()
        case "safetensors": try SafetensorsTarget()
        default: nil
        }
    }
}

/// The signature of a rejection: its description without the values in it — digits, `0x…`
/// words and quoted text — so that "found 7" and "found 8" are the same outcome, cut short and
/// prefixed by the error's type.
func signature(of error: some Error & CustomStringConvertible) -> String {
    var text = ""
    var quoted = false
    var hexWord = false
    var previous: Unicode.Scalar = " "
    for character in error.description.unicodeScalars.prefix(160) {
        defer { previous = character }
        if character == "\"" {
            quoted.toggle()
            text.unicodeScalars.append(character)
            continue
        }
        if quoted { continue }
        if previous == "0" && character == "x" { hexWord = true }
        if hexWord {
            if character.properties.isASCIIHexDigit || character == "x" { continue }
            hexWord = false
        }
        if ("0"..."9").contains(character) { continue }
        text.unicodeScalars.append(character)
    }
    return "\(type(of: error)): \(text)"
}

/// Checks that a rejection explains itself, and returns its signature.
func rejection(_ target: String, _ error: some Error & CustomStringConvertible) throws(FuzzViolation) -> String {
    guard !error.description.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
        throw FuzzViolation(target, "rejected with an empty description: \(error)")
    }
    return signature(of: error)
}

/// Little-endian integer access for the structure-aware mutations.
extension Array where Element == UInt8 {
    func loadLE<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T? {
        guard offset >= 0, offset + MemoryLayout<T>.size <= count else { return nil }
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }

    mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        guard offset >= 0, offset + MemoryLayout<T>.size <= count else { return }
        for i in 0..<MemoryLayout<T>.size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
}

/// Parses line `line` of `input` as a JSON object, lets `edit` change it, and writes it back
/// (keys in JSONSerialization's order, which the readers do not care about). False when the
/// line is not an object or `edit` declines.
func editJSONLine(_ input: inout [UInt8], line: Int, _ edit: (inout [String: Any]) -> Bool) -> Bool {
    var lines = input.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    guard line < lines.count,
          var object = (try? JSONSerialization.jsonObject(with: Data(lines[line]))) as? [String: Any],
          edit(&object),
          let data = try? JSONSerialization.data(withJSONObject: object) else { return false }
    lines[line] = [UInt8](data)
    input = Array(lines.joined(separator: [0x0A]))
    return true
}
