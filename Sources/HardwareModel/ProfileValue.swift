/// One validated value of a profile, in base units (bytes/s, bytes, FLOP/s, seconds).
public enum ProfileValue: Sendable, Equatable {
    case quantity(Double, Quantity.Dimension)
    case fraction(Double)
    case count(Int)
    case flag(Bool)
}

/// A value with the text it was written as and where it comes from: the paper, a datasheet, a
/// measurement, an assumption, or a command-line override.
public struct ProfileEntry: Sendable, Equatable {
    /// `section.name`, e.g. `link.shared`.
    public let keyPath: String
    public let value: ProfileValue
    /// The value as written, e.g. `8GB/s` or `0.3`.
    public let text: String
    public let source: String
    /// The range the sources allow, in base units (`"range": ["2.8GB/s", "3.5GB/s"]` in the
    /// file): what `smartinf calibrate` may move the value within. nil where the value is fixed
    /// by its source (a datasheet size, a configuration) and no fit should move it.
    public let range: ClosedRange<Double>?
    /// The range as written, e.g. `["2.8GB/s", "3.5GB/s"]`.
    public let rangeText: [String]?

    public init(keyPath: String, value: ProfileValue, text: String, source: String,
                range: ClosedRange<Double>? = nil, rangeText: [String]? = nil) {
        self.keyPath = keyPath
        self.value = value
        self.text = text
        self.source = source
        self.range = range
        self.rangeText = rangeText
    }

    /// The value as a number in base units (a flag reads as 0 or 1).
    public var number: Double {
        switch value {
        case .quantity(let number, _), .fraction(let number): number
        case .count(let count): Double(count)
        case .flag(let flag): flag ? 1 : 0
        }
    }
}

/// Why a value does not fit its kind, before the caller adds the file and the key.
enum ValueProblem: Error {
    /// The JSON type is wrong (a string where a number belongs…): what was found.
    case wrongType(found: String)
    /// The type is right but the value is not acceptable: what is wrong with it.
    case unacceptable(String)
}

extension ProfileValueKind {
    /// Reads a value from a profile file. Quantities are strings with units; a bare JSON number
    /// where a quantity belongs is refused with a message saying that the unit is missing.
    func read(_ json: JSONValue) throws(ValueProblem) -> (ProfileValue, text: String) {
        switch (self, json) {
        case (.quantity(let dimension), .string(let text)):
            return try Self.quantity(text, dimension)
        case (.quantity, .number(let number)):
            throw .unacceptable("the number \(JSONValue.format(number)) has no unit")
        case (.fraction, .number(let number)), (.count, .number(let number)):
            return try checked(number, text: JSONValue.format(number))
        case (.flag, .bool(let flag)):
            return (.flag(flag), String(flag))
        default:
            throw .wrongType(found: json.found)
        }
    }

    /// Reads a value written on the command line, where every value is text.
    func read(text: String) throws(ValueProblem) -> (ProfileValue, text: String) {
        switch self {
        case .quantity(let dimension):
            return try Self.quantity(text, dimension)
        case .fraction, .count:
            guard let number = Double(text) else { throw .unacceptable("\"\(text)\" is not a number") }
            return try checked(number, text: text)
        case .flag:
            guard let flag = Bool(text) else { throw .unacceptable("\"\(text)\" is not true or false") }
            return (.flag(flag), text)
        }
    }

    private static func quantity(_ text: String, _ dimension: Quantity.Dimension) throws(ValueProblem)
        -> (ProfileValue, text: String) {
        let value: Double
        do {
            value = try Quantity.parse(text, as: dimension)
        } catch {
            throw .unacceptable(error.description)
        }
        // Sizes are used as whole bytes (`Profile.bytes`, an Int): one that an Int cannot hold
        // is refused here rather than trapping in the conversion.
        if dimension == .size, !(value < largestSize) {
            throw .unacceptable("\"\(text)\" is larger than the largest size, 8EiB (2^63 bytes)")
        }
        return (.quantity(value, dimension), text)
    }

    /// 2^63 bytes: every size below it rounds to an Int.
    private static let largestSize = Double(Int.max)

    /// Range checks shared by file and command-line numbers.
    private func checked(_ number: Double, text: String) throws(ValueProblem) -> (ProfileValue, text: String) {
        if self == .fraction {
            guard number > 0, number <= 1 else { throw .unacceptable("\(text) is outside (0, 1]") }
            return (.fraction(number), text)
        }
        guard number == number.rounded(), number >= 1, number <= Double(Int32.max) else {
            throw .unacceptable("\(text) is not a whole number ≥ 1")
        }
        return (.count(Int(number)), text)
    }
}
