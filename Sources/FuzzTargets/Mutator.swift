import SeededRandom

/// Byte- and text-level mutations of an input, driven by a seeded SplitMix64 so that a run is
/// reproducible from its seed: bit flips, interesting bytes and integers (little-endian, at any
/// offset), inserted, deleted, duplicated and copied ranges, truncation, splices with another
/// input; for text, numbers replaced by edge numbers, strings by edge strings, JSON fragments
/// inserted, lines dropped, duplicated and swapped.
public struct Mutator {
    public var random: SplitMix64
    /// No mutation makes an input longer than this.
    public var maximumLength: Int

    public init(seed: UInt64, maximumLength: Int = 1 << 16) {
        random = SplitMix64(seed: seed)
        self.maximumLength = maximumLength
    }

    /// `input` with one to eight stacked mutations; `corpus` supplies splice partners, `target`
    /// its structure-aware mutation.
    public mutating func mutate(_ input: [UInt8], corpus: [[UInt8]], target: any FuzzTarget) -> [UInt8] {
        var bytes = input
        let rounds = 1 + Int(below(8) & below(8))  // mostly few, sometimes many
        for _ in 0..<rounds {
            let choice = below(target.isText ? 24 : 16)
            switch choice {
            case 0, 1: flipBit(&bytes)
            case 2: setByte(&bytes, UInt8(truncatingIfNeeded: random.next()))
            case 3: setByte(&bytes, pick(Self.interestingBytes, &random))
            case 4, 5: setInteger(&bytes)
            case 6: insertBytes(&bytes)
            case 7: deleteRange(&bytes)
            case 8: duplicateRange(&bytes)
            case 9: copyRange(&bytes)
            case 10: if !bytes.isEmpty { bytes.removeLast(Int(below(UInt64(bytes.count) + 1))) }
            case 11: splice(&bytes, corpus)
            case 12, 13, 14, 15:
                if !target.mutate(&bytes, &random) { flipBit(&bytes) }
            case 16, 17, 18: replaceNumber(&bytes)
            case 19: replaceString(&bytes)
            case 20: insertFragment(&bytes)
            default: editLines(&bytes)
            }
        }
        if bytes.count > maximumLength { bytes.removeLast(bytes.count - maximumLength) }
        return bytes
    }

    // MARK: Bytes

    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x0A, 0x0D, 0x20, 0x22, 0x5C, 0x2C, 0x3A, 0x7B, 0x7D,
                                            0x5B, 0x5D, 0x2D, 0x2E, 0x30, 0x39, 0x65, 0xC0, 0xED, 0xF4]
    static let interestingIntegers: [UInt64] = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095,
                                                4096, 32767, 32768, 65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 1 << 24,
                                                0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF, 1 << 32, (1 << 40) + 1,
                                                1 << 62, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt64.max - 1, UInt64.max]

    mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : random.next() % bound }

    mutating func position(in bytes: [UInt8], end: Bool = false) -> Int {
        Int(below(UInt64(bytes.count + (end ? 1 : 0))))
    }

    mutating func flipBit(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { bytes.append(UInt8(truncatingIfNeeded: random.next())); return }
        bytes[position(in: bytes)] ^= 1 << UInt8(below(8))
    }

    mutating func setByte(_ bytes: inout [UInt8], _ value: UInt8) {
        guard !bytes.isEmpty else { bytes.append(value); return }
        bytes[position(in: bytes)] = value
    }

    /// An interesting value, or the value already there nudged by a little, in 1, 2, 4 or 8 bytes.
    mutating func setInteger(_ bytes: inout [UInt8]) {
        let width = 1 << Int(below(4))
        guard bytes.count >= width else { return }
        let offset = Int(below(UInt64(bytes.count - width + 1)))
        var value = pick(Self.interestingIntegers, &random)
        if below(3) == 0 {
            var old: UInt64 = 0
            for i in 0..<width { old |= UInt64(bytes[offset + i]) << (8 * i) }
            value = old &+ UInt64(bitPattern: Int64(below(33)) - 16)
        }
        if below(4) == 0 { value = ~value &+ 1 }  // negated
        for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    mutating func insertBytes(_ bytes: inout [UInt8]) {
        let count = 1 + Int(below(below(4) == 0 ? 256 : 8))
        let at = position(in: bytes, end: true)
        let repeated = below(2) == 0
        let byte = UInt8(truncatingIfNeeded: random.next())
        bytes.insert(contentsOf: (0..<count).map { _ in repeated ? byte : UInt8(truncatingIfNeeded: random.next()) }, at: at)
    }

    mutating func deleteRange(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        let start = position(in: bytes)
        let count = 1 + Int(below(UInt64(min(bytes.count - start, below(4) == 0 ? 512 : 16))))
        bytes.removeSubrange(start..<(start + count))
    }

    mutating func duplicateRange(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        let start = position(in: bytes)
        let count = 1 + Int(below(UInt64(min(bytes.count - start, 256))))
        let times = 1 + Int(below(4))
        let piece = Array(bytes[start..<(start + count)])
        for _ in 0..<times { bytes.insert(contentsOf: piece, at: start) }
    }

    mutating func copyRange(_ bytes: inout [UInt8]) {
        guard bytes.count >= 2 else { return }
        let from = position(in: bytes)
        let to = position(in: bytes)
        let count = 1 + Int(below(UInt64(min(bytes.count - from, bytes.count - to, 64))))
        let piece = Array(bytes[from..<(from + count)])
        bytes.replaceSubrange(to..<(to + count), with: piece)
    }

    mutating func splice(_ bytes: inout [UInt8], _ corpus: [[UInt8]]) {
        guard let other = corpus.isEmpty ? nil : pick(corpus, &random), !other.isEmpty else { return }
        let cut = position(in: bytes, end: true)
        let from = position(in: other)
        bytes = Array(bytes[..<cut]) + Array(other[from...])
    }

    // MARK: Text

    static let numbers = ["0", "-0", "1", "-1", "2", "0.5", "1e308", "1e309", "-1e309", "1e-400", "4.9e-324", "1.7976931348623157e308",
                          "9007199254740993", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
                          "18446744073709551616", "4294967296", "2147483648", "65536", "1e9223372036854775807",
                          "1e-9223372036854775808", "1e18", "123456789012345678901234567890", "0.1e1", "1E2", "0x10", "NaN",
                          "Infinity", "-", "1.", ".5", "00", "1e", "3.84"]
    static let strings = ["", " ", "x", "\\u0000", "\\ud800", "\\\"", "\\\\", "é", "µs", "GB/s", "GiB", "TFLOP/s", "us", "1e999GB/s",
                          "1e9223372036854775807PB", "-1GB/s", "0B", "NaNGB/s", "1e-400s", "2026-11-28T03:00:00Z",
                          "2026-13-40T99:99:99Z", "header", "op", "summary", "device", "shared", "FW", "su+o+c"]
    static let fragments = ["null", "true", "false", "[]", "{}", "\"\"", "0", "-1", "1e999", "[1,2]", "{\"a\":1}", ",", ":", "\"",
                            "{", "}", "[", "]", "\n", "\r\n", "\u{FEFF}", String(repeating: "[", count: 600),
                            String(repeating: "{\"a\":", count: 300)]

    /// Replaces a run of number characters with an edge number.
    mutating func replaceNumber(_ bytes: inout [UInt8]) {
        let isNumber: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x65 || $0 == 0x45 || $0 == 0x2B }
        let digits = bytes.indices.filter { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
        guard !digits.isEmpty else { insertFragment(&bytes); return }
        let at = pick(digits, &random)
        var start = at, end = at + 1
        while start > 0, isNumber(bytes[start - 1]) { start -= 1 }
        while end < bytes.count, isNumber(bytes[end]) { end += 1 }
        bytes.replaceSubrange(start..<end, with: Array(pick(Self.numbers, &random).utf8))
    }

    /// Replaces the contents of a JSON string with an edge string.
    mutating func replaceString(_ bytes: inout [UInt8]) {
        let quotes = bytes.indices.filter { bytes[$0] == 0x22 }
        guard quotes.count >= 2 else { insertFragment(&bytes); return }
        let q = Int(below(UInt64(quotes.count - 1)))
        let (start, end) = (quotes[q] + 1, quotes[q + 1])
        var replacement = pick(Self.strings, &random)
        if below(8) == 0 { replacement = String(repeating: "a", count: 1 + Int(below(5000))) }
        bytes.replaceSubrange(start..<end, with: Array(replacement.utf8))
    }

    mutating func insertFragment(_ bytes: inout [UInt8]) {
        bytes.insert(contentsOf: Array(pick(Self.fragments, &random).utf8), at: position(in: bytes, end: true))
    }

    /// Drops, duplicates or swaps whole lines (a trace is one record per line).
    mutating func editLines(_ bytes: inout [UInt8]) {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        guard lines.count >= 2 else { insertFragment(&bytes); return }
        let a = Int(below(UInt64(lines.count))), b = Int(below(UInt64(lines.count)))
        switch below(3) {
        case 0: lines.remove(at: a)
        case 1: lines.insert(lines[a], at: b)
        default: lines.swapAt(a, b)
        }
        bytes = Array(lines.joined(separator: [0x0A]))
    }
}
