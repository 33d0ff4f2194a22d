/// A bandwidth or rate written the way datasheets write it: `16GB/s`, `3.2 GB/s`, `800MB/s`,
/// `1.5GiB/s`, `8e9B/s`. Decimal units are powers of 1000, `i` units powers of 1024.
public enum Quantity {
    /// Bytes per second, or nil when `text` is not a bandwidth.
    public static func bandwidth(_ text: String) -> Double? {
        let trimmed = String(text.filter { $0 != " " })
        guard trimmed.hasSuffix("/s") else { return nil }
        let body = trimmed.dropLast(2)
        let units: [(String, Double)] = [("TiB", 0x1p40), ("GiB", 0x1p30), ("MiB", 0x1p20), ("KiB", 0x1p10),
                                         ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("kB", 1e3), ("B", 1)]
        for (unit, scale) in units where body.hasSuffix(unit) {
            guard let value = Double(body.dropLast(unit.count)), value.isFinite, value > 0 else { return nil }
            return value * scale
        }
        return nil
    }
}
