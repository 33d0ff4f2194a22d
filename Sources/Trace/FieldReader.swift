import Foundation
import HardwareModel

/// A coding path as a person reads it: `resources[2].capacity`.
func fieldName(_ path: [any CodingKey]) -> String {
    var name = ""
    for key in path {
        if let index = key.intValue {
            name += "[\(index)]"
        } else {
            if !name.isEmpty { name += "." }
            name += key.stringValue
        }
    }
    return name
}

/// Reads the fields of one JSON object with messages that name the field and say what was found
/// and what was expected. Foundation's own decoding errors only say which Swift type it wanted
/// (`Expected to decode Double but found a string instead`), which is not a message for a user.
struct FieldReader<Key: CodingKey> {
    let container: KeyedDecodingContainer<Key>
    let path: [any CodingKey]

    init(_ decoder: any Decoder, _ keys: Key.Type) throws {
        path = decoder.codingPath
        do {
            container = try decoder.container(keyedBy: Key.self)
        } catch is DecodingError {
            let found = (try? JSONValue(from: decoder))?.found ?? "another type"
            if path.isEmpty { throw FieldError(nil, .malformedJSON(reason: "the line is \(found), not an object")) }
            throw FieldError(fieldName(path), .invalid(found: found, expected: "an object"))
        }
    }

    func name(_ key: Key) -> String { fieldName(path + [key]) }

    func fail(_ key: Key, _ problem: TraceError.Problem) -> FieldError { FieldError(name(key), problem) }

    /// What the field holds, described for a message: `the string "fast"`, `the number 3`.
    func found(_ key: Key) -> String {
        (try? container.decode(JSONValue.self, forKey: key))?.found ?? "a value of another type"
    }

    func contains(_ key: Key) -> Bool { container.contains(key) }

    /// A required field that must not be null.
    func value<T: Decodable>(_ key: Key, _ type: T.Type = T.self, expected: String) throws -> T {
        guard container.contains(key) else { throw fail(key, .missing(expected: expected)) }
        if (try? container.decodeNil(forKey: key)) == true { throw fail(key, .invalid(found: "null", expected: expected)) }
        return try decode(key, type, expected: expected)
    }

    /// An optional field: absent and null both read as nil.
    func optional<T: Decodable>(_ key: Key, _ type: T.Type = T.self, expected: String) throws -> T? {
        guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { return nil }
        return try decode(key, type, expected: expected)
    }

    private func decode<T: Decodable>(_ key: Key, _ type: T.Type, expected: String) throws -> T {
        do {
            return try container.decode(T.self, forKey: key)
        } catch let error as DecodingError {
            // Errors deeper inside the value (an element of an array, a nested object's field)
            // already name their own field; those about the value itself get found/expected.
            if let context = error.context, context.codingPath.count > path.count + 1 { throw error }
            throw fail(key, .invalid(found: found(key), expected: expected))
        }
    }

    // Whole numbers are read as JSON values and checked here: Foundation's JSONDecoder on Linux
    // reports `2.5` where an Int is expected as "not valid JSON", without saying where.

    /// A whole number, at least `minimum`.
    func integer(_ key: Key, atLeast minimum: Int, expected: String) throws -> Int {
        let found = try value(key, JSONValue.self, expected: expected)
        guard let n = found.wholeNumber, n >= minimum else { throw fail(key, .invalid(found: found.found, expected: expected)) }
        return n
    }

    /// Null, absent, or a whole number, at least `minimum` (an index: 0).
    func optionalInteger(_ key: Key, atLeast minimum: Int = 0, expected: String) throws -> Int? {
        guard let found = try optional(key, JSONValue.self, expected: expected) else { return nil }
        guard let n = found.wholeNumber, n >= minimum else { throw fail(key, .invalid(found: found.found, expected: expected)) }
        return n
    }

    /// An array of whole numbers.
    func integers(_ key: Key, expected: String) throws -> [Int] {
        let elements = try value(key, [JSONValue].self, expected: expected)
        return try elements.enumerated().map { i, element in
            guard let n = element.wholeNumber else {
                throw FieldError(name(key) + "[\(i)]", .invalid(found: element.found, expected: "a whole number"))
            }
            return n
        }
    }

    /// A string that is the raw value of `T`: `phase` must be one of FW, BW, …
    func choice<T: RawRepresentable & CaseIterable>(_ key: Key, _ type: T.Type) throws -> T where T.RawValue == String {
        try choice(key, type, cases: Array(T.allCases))
    }

    func choice<T: RawRepresentable>(_ key: Key, _ type: T.Type, cases: [T]) throws -> T where T.RawValue == String {
        let expected = "one of " + cases.map(\.rawValue).joined(separator: ", ")
        let raw = try value(key, String.self, expected: expected)
        guard let choice = T(rawValue: raw) else { throw fail(key, .invalid(found: quoted(raw), expected: expected)) }
        return choice
    }
}

extension DecodingError {
    var context: Context? {
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): context
        case .keyNotFound(_, let context): context
        @unknown default: nil
        }
    }

    /// Turns a decoding error of a value decoded by Foundation's synthesized code (the
    /// workload) into a field error.
    var fieldError: FieldError {
        switch self {
        case .keyNotFound(let key, let context):
            FieldError(fieldName(context.codingPath + [key]), .missing(expected: "a value"))
        case .valueNotFound(_, let context):
            FieldError(fieldName(context.codingPath), .invalid(found: "null", expected: "a value"))
        case .typeMismatch(let type, let context):
            FieldError(fieldName(context.codingPath), .invalid(found: "another type", expected: describe(type)))
        case .dataCorrupted(let context):
            FieldError(fieldName(context.codingPath), .other(context.debugDescription))
        @unknown default:
            FieldError(nil, .other("\(self)"))
        }
    }
}

private func describe(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Bool.Type: "true or false"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: "a whole number"
    case is Double.Type, is Float.Type: "a number"
    default: "a value of type \(type)"
    }
}

/// A string quoted as it appears in the JSON.
func quoted(_ text: String) -> String { JSONValue.quoted(text) }

/// A number as a person wrote it: `3` rather than `3.0`.
func formatNumber(_ number: Double) -> String { JSONValue.format(number) }



struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
}
