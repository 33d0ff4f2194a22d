/// A physical quantity written the way datasheets write it, with its unit: bandwidths (`16GB/s`,
/// `3.2 GB/s`, `1.5GiB/s`, `8e9B/s`, and in bits, as networks are rated: `200Gb/s`), sizes
/// (`4GiB`, `3.84TB`, `2B`), compute rates (`27.8TFLOP/s`) and durations (`10us`, `80µs`,
/// `1.5ms`); and prices, in US dollars as price lists write them (`517USD`, `1.2kUSD`).
/// Decimal prefixes are powers of 1000, `i` prefixes powers of 1024.
///
/// Profiles insist on units so that a bare `3.2` can never be read as GB/s by one reader and
/// GiB/s or MB/s by another; every value comes back in base units (bytes/s, bytes, FLOP/s,
/// seconds).
public enum Quantity {
    /// What a quantity measures, and hence which units it accepts.
    public enum Dimension: String, Sendable, CaseIterable {
        case bandwidth, size, flopRate, duration, price

        /// Accepted unit spellings (matched exactly) and their scale to the base unit.
        var units: [Unit] {
            switch self {
            case .bandwidth:
                Self.byteUnits.map { Unit(symbol: $0.symbol + "/s", scale: $0.scale) }
                    + Self.decimalPrefixes.map { Unit(symbol: $0.prefix + "b/s", scale: .decimal($0.exponent), bits: true) }
            case .size: Self.byteUnits
            case .flopRate: Self.decimalPrefixes.map { Unit(symbol: $0.prefix + "FLOP/s", scale: .decimal($0.exponent)) }
            case .duration:
                [Unit(symbol: "ms", scale: .decimal(-3)), Unit(symbol: "us", scale: .decimal(-6)),
                 Unit(symbol: "µs", scale: .decimal(-6)), Unit(symbol: "ns", scale: .decimal(-9)),
                 Unit(symbol: "s", scale: .decimal(0))]
            case .price: [Unit(symbol: "USD", scale: .decimal(0)), Unit(symbol: "kUSD", scale: .decimal(3))]
            }
        }

        /// A phrase for error messages: what was expected, with an example.
        public var expectation: String {
            switch self {
            case .bandwidth: #"a bandwidth such as "3.2GB/s""#
            case .size: #"a size such as "4GiB""#
            case .flopRate: #"a FLOP rate such as "27.8TFLOP/s""#
            case .duration: #"a duration such as "10us""#
            case .price: #"a price in US dollars such as "517USD""#
            }
        }

        /// Zero is a meaningful duration (no latency) but never a meaningful bandwidth, size, rate or price.
        var allowsZero: Bool { self == .duration }

        private static let decimalPrefixes: [(prefix: String, exponent: Int)] =
            [("", 0), ("k", 3), ("K", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15)]
        private static let byteUnits: [Unit] =
            [("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)].map { Unit(symbol: $0.0, scale: .binary($0.1)) }
            + decimalPrefixes.map { Unit(symbol: $0.prefix + "B", scale: .decimal($0.exponent)) }
    }

    /// A unit symbol and its scale. Decimal scales are applied to the written digits (`8.2GB/s`
    /// is read as `8.2e9`), so the result is the double nearest the decimal value, exactly what
    /// a literal `8.2e9` gives; multiplying 8.2 by 1e9 would be one unit in the last place off.
    /// A bit rate (`b/s`, lower-case b, as network links are rated) is divided by 8 after
    /// scaling, which is exact in binary floating point: `200Gb/s` is 25e9 bytes/s.
    struct Unit {
        enum Scale { case decimal(Int), binary(Int) }
        let symbol: String
        let scale: Scale
        var bits = false

        func apply(to number: Substring) -> Double? {
            let value: Double?
            switch scale {
            case .binary(let exponent):
                value = Double(number).map { $0 * Double(sign: .plus, exponent: exponent, significand: 1) }
            case .decimal(let exponent):
                let parts = number.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: { $0 == "e" || $0 == "E" })
                guard let written = parts.count == 2 ? Int(parts[1]) : 0 else { return nil }
                // An exponent at Int's limit is infinite or zero whatever the unit: keep the
                // limit rather than overflow, and let the caller refuse the value.
                let (sum, overflow) = written.addingReportingOverflow(exponent)
                value = Double("\(parts[0])e\(overflow ? written : sum)")
            }
            return bits ? value.map { $0 / 8 } : value
        }
    }

    /// The value of `text` in base units, or the reason it is not a `dimension`.
    public static func parse(_ text: String, as dimension: Dimension) throws(QuantityError) -> Double {
        let compact = String(text.filter { $0 != " " })
        guard let (number, unitSymbol) = splitNumber(compact) else { throw .notANumber(text) }
        guard !unitSymbol.isEmpty else { throw .missingUnit(text) }
        guard let unit = dimension.units.first(where: { $0.symbol == unitSymbol }) else {
            throw .unknownUnit(text, unit: String(unitSymbol), dimension: dimension)
        }
        guard let value = unit.apply(to: number) else { throw .notANumber(text) }
        guard value.isFinite else { throw .notFinite(text) }
        guard value >= 0 else { throw .negative(text) }
        guard value > 0 || dimension.allowsZero else { throw .zero(text) }
        return value
    }

    /// Bytes per second, or nil when `text` is not a positive bandwidth.
    public static func bandwidth(_ text: String) -> Double? { try? parse(text, as: .bandwidth) }

    /// Bytes, or nil when `text` is not a positive size.
    public static func size(_ text: String) -> Double? { try? parse(text, as: .size) }

    /// FLOP per second, or nil when `text` is not a positive FLOP rate.
    public static func flopRate(_ text: String) -> Double? { try? parse(text, as: .flopRate) }

    /// Seconds, or nil when `text` is not a non-negative duration.
    public static func duration(_ text: String) -> Double? { try? parse(text, as: .duration) }

    /// The longest leading part of `text` that reads as a decimal number, and the rest. `8e9B/s`
    /// splits into `8e9` and `B/s`: the exponent is taken only while the prefix still parses.
    private static func splitNumber(_ text: String) -> (Substring, Substring)? {
        var end = text.firstIndex { !"0123456789.+-eE".contains($0) } ?? text.endIndex
        while end > text.startIndex {
            if Double(text[..<end]) != nil { return (text[..<end], text[end...]) }
            end = text.index(before: end)
        }
        return nil
    }
}

/// Why a string is not the quantity that was asked for. Descriptions quote the text as given.
public enum QuantityError: Error, Equatable, CustomStringConvertible {
    case notANumber(String)
    case missingUnit(String)
    case unknownUnit(String, unit: String, dimension: Quantity.Dimension)
    case notFinite(String)
    case negative(String)
    case zero(String)

    public var description: String {
        switch self {
        case .notANumber(let text): "\"\(text)\" does not start with a number"
        case .missingUnit(let text): "\"\(text)\" has no unit"
        case .unknownUnit(let text, let unit, let dimension):
            "\"\(text)\" has an unknown unit \"\(unit)\" (\(dimension.rawValue) units: "
                + dimension.units.map(\.symbol).joined(separator: ", ") + ")"
        case .notFinite(let text): "\"\(text)\" is not finite"
        case .negative(let text): "\"\(text)\" is negative"
        case .zero(let text): "\"\(text)\" is zero"
        }
    }
}
