import ArgumentParser

/// Comma-separated flag values (`--threads 1,2`).
enum CommaList {
    static func items(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
    }

    static func integers(_ text: String, flag: String, minimum: Int, maximum: Int = .max) throws -> [Int] {
        let values = items(text)
        guard !values.isEmpty else { throw ValidationError("\(flag) is empty: expected integers like 1,2") }
        return try values.map { item in
            guard let v = Int(item), v >= minimum, v <= maximum else {
                throw ValidationError("\(flag): '\(item)' is not an integer "
                                      + (maximum == .max ? "≥ \(minimum)" : "from \(minimum) to \(maximum)"))
            }
            return v
        }
    }

    static func strings(_ text: String, flag: String) throws -> [String] {
        let values = items(text)
        guard !values.isEmpty else { throw ValidationError("\(flag) is empty: expected a comma-separated list") }
        return values
    }

    /// Values of an argument type (`--modes su+o,base`): an item that is none of them is refused
    /// naming the flag and listing what it takes.
    static func values<Value: ExpressibleByArgument>(_ text: String, flag: String, as type: Value.Type = Value.self) throws -> [Value] {
        try strings(text, flag: flag).map { item in
            guard let value = Value(argument: item) else {
                throw ValidationError("\(flag): '\(item)' is not one of \(Value.allValueStrings.joined(separator: ", "))")
            }
            return value
        }
    }

    static func doubles(_ text: String, flag: String, range: ClosedRange<Double>) throws -> [Double] {
        try strings(text, flag: flag).map { item in
            guard let v = Double(item), range.contains(v) else {
                throw ValidationError("\(flag): '\(item)' is not a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
