import Foundation
import Optim
import Testing

@Suite struct AlignedBufferTests {
    @Test func smallBuffersKeepTheirAlignmentAndStartZeroed() {
        let buffer = AlignedBuffer<Float>(count: 1000, alignment: 4096)
        buffer.withUnsafeBufferPointer { b in
            #expect(Int(bitPattern: b.baseAddress) % 4096 == 0)
            #expect(b.allSatisfy { $0 == 0 })
        }
    }

    /// A buffer of 2 MiB or more starts on a huge-page boundary, starts zeroed, and where the
    /// kernel offers transparent huge pages (`always` or `madvise`) carries the huge-page advice
    /// (whether the kernel found huge pages to give depends on its memory at the time).
    @Test func largeBuffersAskForHugePages() throws {
        let count = 24 << 20
        let buffer = AlignedBuffer<UInt8>(count: count, alignment: 4096)
        let base = buffer.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
        #expect(base % AlignedBuffer<UInt8>.hugePageBytes == 0)
        buffer.withUnsafeBufferPointer { b in #expect(b.allSatisfy { $0 == 0 }) }
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "[never]"
        guard !mode.contains("[never]") else { return }
        let flags = try #require(try Self.mappingFlags(containing: base))
        #expect(flags.contains("hg"), "VmFlags: \(flags.joined(separator: " "))")
    }

    /// The VmFlags of the mapping holding `address`, from /proc/self/smaps ("hg": huge-page advice).
    private static func mappingFlags(containing address: Int) throws -> [String]? {
        // /proc files report no size: read to the end rather than by the size.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return nil }
        let smaps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { Int($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inside, fields.first == "VmFlags:" {
                return fields.dropFirst().map(String.init)
            }
        }
        return nil
    }
}
