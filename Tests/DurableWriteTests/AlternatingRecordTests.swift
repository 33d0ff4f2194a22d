import Checksum
import DurableWrite
import Foundation
import Testing

/// The two-slot record on real files: the newest write reads back, from a new process's view
/// (a fresh open); a write torn at any byte leaves the previous record; damage to both slots is
/// reported by name; and the sequence keeps growing across reopenings, so that a record written
/// after going back to an older state is still the newest.
@Suite struct AlternatingRecordTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = "/var/tmp/alternating-record-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    func payload(_ n: Int) -> [UInt8] { Array("record \(n): \(String(repeating: "x", count: n % 37))".utf8) }

    @Test func theNewestRecordReadsBackAfterEveryWriteAndEveryReopening() throws {
        try withDirectory { directory in
            let path = directory + "/state.record"
            #expect(try AlternatingRecord.read(from: path) == nil)
            var record = try AlternatingRecord(path: path, initial: payload(0))
            #expect(try AlternatingRecord.read(from: path) == payload(0))
            #expect(try AlternatingRecord.records(from: path) == [payload(0)])
            for n in 1...9 {
                try record.write(payload(n))
                #expect(try AlternatingRecord.read(from: path) == payload(n))
                // The record before it stays in the other slot (a rank one step ahead goes back to it).
                if n % 3 != 1 { #expect(try AlternatingRecord.records(from: path) == [payload(n), payload(n - 1)]) }
                if n % 3 == 0 {
                    record = try AlternatingRecord(path: path, initial: payload(100 + n))
                    #expect(try AlternatingRecord.read(from: path) == payload(100 + n))
                }
            }
            // Going back: an older state written after reopening is still the newest.
            _ = try AlternatingRecord(path: path, initial: payload(2))
            #expect(try AlternatingRecord.read(from: path) == payload(2))
        }
    }

    /// A write torn after any number of bytes (what a crash mid-write leaves) keeps the previous
    /// record, and the next whole write wins.
    @Test func aTornWriteLeavesThePreviousRecord() throws {
        try withDirectory { directory in
            let path = directory + "/state.record"
            let record = try AlternatingRecord(path: path, initial: payload(1))
            try record.write(payload(2))
            let whole = 24 + payload(3).count
            for tear in [0, 1, 7, 23, 24, 25, whole - 1] {
                try AlternatingRecord(path: path, initial: payload(2)).write(payload(3), tearAfter: tear)
                #expect(try AlternatingRecord.read(from: path) == payload(2), "torn after \(tear) bytes")
                #expect(try AlternatingRecord.records(from: path)?.contains(payload(3)) == false, "torn after \(tear) bytes")
            }
            try record.write(payload(4))
            #expect(try AlternatingRecord.read(from: path) == payload(4))
        }
    }

    /// A flipped byte in the newest slot falls back to the other one; with both slots damaged
    /// the file is refused by name.
    @Test func aDamagedSlotFallsBackAndTwoAreRefusedByName() throws {
        try withDirectory { directory in
            let path = directory + "/state.record"
            let record = try AlternatingRecord(path: path, initial: payload(1))
            try record.write(payload(2))
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            func flip(at offset: UInt64) throws {
                try handle.seek(toOffset: offset)
                let byte = try handle.read(upToCount: 1)![0]
                try handle.seek(toOffset: offset)
                try handle.write(contentsOf: [byte ^ 0x40])
            }
            try flip(at: UInt64(64 << 10) + 30)  // the newest record (slot 1), in its payload
            #expect(try AlternatingRecord.read(from: path) == payload(1))
            try flip(at: 12)  // the other (slot 0), in its sequence
            try handle.close()
            #expect(throws: AlternatingRecordError.damaged(path: path)) { try AlternatingRecord.read(from: path) }
            #expect("\(AlternatingRecordError.damaged(path: path))".contains(path))
        }
    }

    /// The layout the docs give: magic, version, sequence, length, CRC32C of the header and the
    /// payload, checked here against an independent reading of the bytes.
    @Test func theSlotLayoutIsTheDocumentedOne() throws {
        try withDirectory { directory in
            let path = directory + "/state.record"
            _ = try AlternatingRecord(path: path, initial: Array("abc".utf8))
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(Array(bytes[0..<4]) == Array("SIAR".utf8))
            #expect(bytes[4..<8] == [1, 0, 0, 0] && bytes[8..<16] == [1, 0, 0, 0, 0, 0, 0, 0] && bytes[16..<20] == [3, 0, 0, 0])
            let crc = UInt32(bytes[20]) | UInt32(bytes[21]) << 8 | UInt32(bytes[22]) << 16 | UInt32(bytes[23]) << 24
            #expect(crc == CRC32C.portableChecksum(Array(bytes[0..<20]) + Array("abc".utf8)))
            #expect(Array(bytes[24..<27]) == Array("abc".utf8))
        }
    }
}

extension CRC32C {
    static func portableChecksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { portableChecksum($0) } }
}
