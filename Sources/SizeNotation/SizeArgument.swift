/// Parses counts and sizes written the way people write them on a command line: `1000003`,
/// `64M`, `1.5G`, `2GiB`, `512KB`, `1e6`.
///
/// Bare K/M/G/T and the `i` forms (KiB, MiB, …) are binary (64M = 64·2^20, as model sizes are
/// usually quoted); KB/MB/GB/TB are decimal. A trailing `B` is optional.
public enum SizeArgument {
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters()
        guard !trimmed.isEmpty else { return nil }
        let digitsEnd = trimmed.firstIndex { !($0.isNumber || $0 == "." || $0 == "e" || $0 == "E" || $0 == "_") } ?? trimmed.endIndex
        let number = trimmed[..<digitsEnd].replacingUnderscores()
        let suffix = String(trimmed[digitsEnd...])
        guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
        let multipliers: [String: Double] = [
            "": 1, "B": 1,
            "K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40,
            "k": 0x1p10, "Ki": 0x1p10, "Mi": 0x1p20, "Gi": 0x1p30, "Ti": 0x1p40,
            "KiB": 0x1p10, "MiB": 0x1p20, "GiB": 0x1p30, "TiB": 0x1p40,
            "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
        ]
        guard let multiplier = multipliers[suffix] else { return nil }
        let result = value * multiplier
        guard result < 0x1p62, result == result.rounded() else { return nil }
        return Int(result)
    }
}

private extension String {
    func trimmingCharacters() -> Substring {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return s
    }
}

private extension Substring {
    func trimmingCharacters() -> Substring { String(self).trimmingCharacters() }
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
