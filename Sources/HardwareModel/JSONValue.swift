import Foundation

/// A JSON document as a plain tree, decoded strictly: `true` never reads as the number 1, nor 1 as
/// `true`, so profile and trace validation can say exactly which type it found where.
public enum JSONValue: Decodable, Equatable, Sendable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let members = try? container.decode([String: JSONValue].self) {
            self = .object(members)
        } else {
            self = .array(try container.decode([JSONValue].self))
        }
    }

    /// What was found, for error messages: `the number 3.2`, `the string "fast"`, `an object`.
    public var found: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string(let text): "the string \(JSONValue.quoted(text))"
        case .number(let number): "the number \(JSONValue.format(number))"
        case .bool(let flag): "\(flag)"
        case .null: "null"
        }
    }

    /// The value as an Int, if it is a number without a fraction that a Double holds exactly.
    public var wholeNumber: Int? {
        guard case .number(let number) = self, number == number.rounded(), abs(number) <= 9_007_199_254_740_992 else { return nil }
        return Int(number)
    }

    /// A string quoted as it appears in JSON (JSONEncoder's escaping, slashes left alone).
    public static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        // A string always encodes: JSON can spell every Unicode scalar.
        return String(decoding: try! encoder.encode(text), as: UTF8.self)
    }

    /// Numbers as a person wrote them: `3` rather than `3.0` for whole values.
    public static func format(_ number: Double) -> String {
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    /// Where `data` stops being JSON, e.g. "Invalid value around character 9.". JSONDecoder's
    /// errors on Linux do not say where; JSONSerialization's do, so it is asked only for that.
    static func syntaxError(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)
            return nil
        } catch {
            return (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
        }
    }
}
