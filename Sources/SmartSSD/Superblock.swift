import Checksum
import DeviceProtocol
import Optim

/// The first 4 KiB of a device's SSD: what the SSD was formatted for.
///
/// A device refuses to run a configuration its SSD was not formatted for: p, m and v of one
/// geometry or optimizer are garbage under another.
public struct Superblock: Sendable, Equatable {
    public static var magic: UInt64 { 0x4453_5354_5241_4D53 }  // "SMARTSSD"
    /// The on-disk format: 3 since the superblock records the state precision (8-bit states);
    /// 2 (still read, as fp32 states) since the step journal keeps each group of subgroups'
    /// records in two whole-block copies in separate regions (version 1 packed both records of a
    /// subgroup into one block that every commit rewrote). A file of another version is
    /// refused, never read under the wrong layout.
    public static var version: UInt32 { 3 }

    public var layout: DeviceLayout
    public var optimizer: OptimizerConfig
    public var gradientPrecision: Precision
    public var copyOutPrecision: Precision

    public init(layout: DeviceLayout, optimizer: OptimizerConfig, gradientPrecision: Precision, copyOutPrecision: Precision) {
        self.layout = layout
        self.optimizer = optimizer
        self.gradientPrecision = gradientPrecision
        self.copyOutPrecision = copyOutPrecision
    }

    /// A one-line account of what the SSD holds, for error messages.
    public var summary: String {
        "\(layout.sliceElements) elements in subgroups of \(layout.subgroupElements), \(optimizer.name), "
            + "\(layout.slots == 2 ? "two slots" : "in place"), gradients \(gradientPrecision), copy-out \(copyOutPrecision), "
            + "states \(layout.statePrecision)"
    }

    /// The 4 KiB block to write at offset 0.
    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.u64(Self.magic)
        w.u32(Self.version)
        w.u64(UInt64(layout.sliceElements))
        w.u64(UInt64(layout.subgroupElements))
        w.u8(UInt8(layout.stateCount))
        w.u8(UInt8(layout.slots))
        optimizer.encode(into: &w)
        w.u8(gradientPrecision.rawValue)
        w.u8(copyOutPrecision.rawValue)
        layout.statePrecision.encode(into: &w)
        w.u64(UInt64(layout.journalOffset))
        w.u64(UInt64(layout.gradientOffset))
        w.u64(UInt64(layout.statesOffset))
        w.u64(UInt64(layout.totalBytes))
        w.u32(CRC32C.checksum(of: w.bytes))
        return w.bytes + [UInt8](repeating: 0, count: DeviceLayout.superblockBytes - w.bytes.count)
    }

    /// Reads a superblock; nil when the block was never formatted (no magic at all).
    public static func decode(_ block: [UInt8], path: String) throws(DeviceError) -> Superblock? {
        var r = WireReader(block, message: "superblock")
        do {
            let magic = try r.u64("magic")
            if magic == 0 || block.allSatisfy({ $0 == 0 }) { return nil }
            guard magic == Self.magic else {
                throw DeviceError.corruptSuperblock(path: path, detail: "magic is \(String(magic, radix: 16)), not a SmartInfinity device")
            }
            let version = try r.u32("version")
            guard version == 2 || version == Self.version else {
                throw DeviceError.unsupportedFormat(path: path, found: version, supported: Self.version)
            }
            let slice = try r.count("slice elements", in: 1...DeviceConfiguration.maximumElements)
            let subgroup = try r.count("subgroup elements", in: 1...DeviceConfiguration.maximumElements)
            let states = Int(try r.u8("state count"))
            let slots = Int(try r.u8("slots"))
            let optimizer = try OptimizerConfig.decode(from: &r)
            let gradient = try Precision.decode(from: &r, "gradient precision")
            let copyOut = try Precision.decode(from: &r, "copy-out precision")
            let statePrecision = version == 2 ? .fp32 : try StatePrecision.decode(from: &r)
            _ = try r.u64("journal offset")
            _ = try r.u64("gradient offset")
            _ = try r.u64("states offset")
            _ = try r.u64("total bytes")
            let covered = r.offset
            let stored = try r.u32("checksum")
            let actual = CRC32C.checksum(of: Array(block[0..<covered]))
            guard stored == actual else {
                throw DeviceError.corruptSuperblock(path: path, detail: "checksum \(String(stored, radix: 16)) does not match its contents (\(String(actual, radix: 16)))")
            }
            guard (1...2).contains(states), (1...2).contains(slots), states == optimizer.stateCount else {
                throw DeviceError.corruptSuperblock(path: path, detail: "state count \(states) / slots \(slots) are impossible")
            }
            return Superblock(layout: DeviceLayout(sliceElements: slice, subgroupElements: subgroup, stateCount: states, slots: slots,
                                                   statePrecision: statePrecision),
                              optimizer: optimizer, gradientPrecision: gradient, copyOutPrecision: copyOut)
        } catch let error as DeviceError {
            throw error
        } catch {
            throw DeviceError.corruptSuperblock(path: path, detail: "\(error)")
        }
    }
}
