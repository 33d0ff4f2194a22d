import BlockIO
import Foundation
import Optim
import Testing

/// A scratch directory on the disk-backed filesystem (O_DIRECT needs one), removed afterwards.
final class ScratchDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path == "/tmp" ? "/var/tmp" : FileManager.default.temporaryDirectory.path
        path = "\(base)/smartinf-blockio-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

private func pattern(_ count: Int, seed: UInt8) -> AlignedBuffer<UInt8> {
    let buffer = AlignedBuffer<UInt8>(count: count, alignment: BlockFile.directAlignment)
    buffer.withUnsafeMutableBufferPointer { b in
        for i in b.indices { b[i] = UInt8(truncatingIfNeeded: i &* 31 &+ Int(seed) &+ (i >> 12)) }
    }
    return buffer
}

private func raw(_ buffer: AlignedBuffer<UInt8>) -> UnsafeMutableRawBufferPointer {
    buffer.withUnsafeMutableBufferPointer { UnsafeMutableRawBufferPointer($0) }
}

@Suite struct IORingTests {
    @Test(arguments: [(1, 4096), (4, 65536), (16, 1 << 20), (32, 12288)])
    func directWriteThenReadRoundTrips(queueDepth: Int, blockSize: Int) throws {
        let dir = try ScratchDirectory()
        let file = try BlockFile(path: dir.file("ssd.bin"), mode: .direct, create: true)
        let size = 3 << 20 + 8192  // not a multiple of most block sizes: the last block is short
        try file.allocate(length: size)
        let written = pattern(size, seed: 7)
        let ring = try IORing(queueDepth: queueDepth)
        try withExtendedLifetime(written) {
            try ring.run([BlockTransfer(.write, file: file, fileOffset: 0, memory: raw(written))], blockSize: blockSize)
        }
        try file.sync()
        let readBack = AlignedBuffer<UInt8>(count: size, alignment: BlockFile.directAlignment)
        try withExtendedLifetime(readBack) {
            try ring.run([BlockTransfer(.read, file: file, fileOffset: 0, memory: raw(readBack))], blockSize: blockSize)
        }
        #expect(readBack.array == written.array)
        // And the bytes are really in the file, as another reader sees them.
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: dir.file("ssd.bin")))
        #expect(Array(onDisk.prefix(size)) == written.array)
    }

    @Test func registeredBuffersAndSeveralTransfersInOneRun() throws {
        let dir = try ScratchDirectory()
        let a = try BlockFile(path: dir.file("a.bin"), mode: .direct, create: true)
        let b = try BlockFile(path: dir.file("b.bin"), mode: .direct, create: true)
        let pool = pattern(1 << 20, seed: 3)
        let ring = try IORing(queueDepth: 8)
        try withExtendedLifetime(pool) {
            let memory = raw(pool)
            try ring.register(buffers: [memory])
            let first = UnsafeMutableRawBufferPointer(rebasing: memory[0..<(512 << 10)])
            let second = UnsafeMutableRawBufferPointer(rebasing: memory[(512 << 10)...])
            // Two files, one at an offset, in one run.
            try ring.run([
                BlockTransfer(.write, file: a, fileOffset: 0, memory: first),
                BlockTransfer(.write, file: b, fileOffset: 1 << 20, memory: second),
            ], blockSize: 64 << 10)
        }
        let expected = pool.array
        let target = AlignedBuffer<UInt8>(count: 1 << 20, alignment: BlockFile.directAlignment)
        try withExtendedLifetime(target) {
            let memory = raw(target)
            try ring.run([
                BlockTransfer(.read, file: b, fileOffset: 1 << 20, memory: UnsafeMutableRawBufferPointer(rebasing: memory[(512 << 10)...])),
                BlockTransfer(.read, file: a, fileOffset: 0, memory: UnsafeMutableRawBufferPointer(rebasing: memory[0..<(512 << 10)])),
            ], blockSize: 128 << 10)
        }
        #expect(target.array == expected)
        #expect(try b.size() == 3 << 19)
    }

    /// `meanwhile` sees each transfer's done prefix grow, block by block, for writes and reads
    /// (what is left when the last requests complete is the caller's after `run` returns), and
    /// a read's never ahead of its bytes: each call finds exactly the file's bytes there.
    @Test func meanwhileSeesWhatHasLanded() throws {
        let dir = try ScratchDirectory()
        let file = try BlockFile(path: dir.file("ssd.bin"), mode: .direct, create: true)
        let size = 3 << 20 + 8192
        let written = pattern(size, seed: 5)
        let ring = try IORing(queueDepth: 8)
        var writeCalls: [[Int]] = []
        try withExtendedLifetime(written) {
            let memory = raw(written)
            try ring.run([BlockTransfer(.write, file: file, fileOffset: 0, memory: UnsafeMutableRawBufferPointer(rebasing: memory[0..<(1 << 20)])),
                          BlockTransfer(.write, file: file, fileOffset: 1 << 20, memory: UnsafeMutableRawBufferPointer(rebasing: memory[(1 << 20)...]))],
                         blockSize: 64 << 10) { writeCalls.append($0) }
        }
        #expect(zip(writeCalls, writeCalls.dropFirst()).allSatisfy { $0[0] <= $1[0] && $0[1] <= $1[1] })
        #expect(writeCalls.contains { $0[1] > 0 && $0[1] < size - (1 << 20) })
        let expected = written.array
        let target = AlignedBuffer<UInt8>(count: size, alignment: BlockFile.directAlignment)
        var seen: [[Int]] = []
        var mismatches = 0
        try withExtendedLifetime(target) {
            let memory = raw(target)
            let tail = UnsafeMutableRawBufferPointer(rebasing: memory[(1 << 20)...])
            let head = UnsafeMutableRawBufferPointer(rebasing: memory[0..<(1 << 20)])
            // The tail first, as a device reads its payload before its slot.
            try ring.run([BlockTransfer(.read, file: file, fileOffset: 1 << 20, memory: tail),
                          BlockTransfer(.read, file: file, fileOffset: 0, memory: head)], blockSize: 64 << 10) { ready in
                seen.append(ready)
                if !tail.prefix(ready[0]).elementsEqual(expected[(1 << 20)...].prefix(ready[0])) { mismatches += 1 }
                if !head.prefix(ready[1]).elementsEqual(expected.prefix(ready[1])) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(target.array == expected)
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0[0] <= $1[0] && $0[1] <= $1[1] })
        // At most 8 of the 50 blocks are in flight, so the prefixes grow over several calls.
        #expect(seen.contains { $0[0] > 0 && $0[0] < size - (1 << 20) })
        #expect(seen.allSatisfy { $0[0] % (64 << 10) == 0 || $0[0] == size - (1 << 20) } && seen.allSatisfy { $0[1] % (64 << 10) == 0 })
        #expect(seen.allSatisfy { $0[0] <= size - (1 << 20) && $0[1] <= 1 << 20 })
    }

    @Test func readingPastTheEndNamesTheFileAndOffset() throws {
        let dir = try ScratchDirectory()
        let path = dir.file("short.bin")
        let file = try BlockFile(path: path, mode: .direct, create: true)
        let data = pattern(8192, seed: 1)
        let ring = try IORing(queueDepth: 4)
        try withExtendedLifetime(data) {
            try ring.run([BlockTransfer(.write, file: file, fileOffset: 0, memory: raw(data))], blockSize: 4096)
        }
        let target = AlignedBuffer<UInt8>(count: 16384, alignment: BlockFile.directAlignment)
        let error = #expect(throws: BlockIOError.self) {
            try withExtendedLifetime(target) {
                try ring.run([BlockTransfer(.read, file: file, fileOffset: 0, memory: raw(target))], blockSize: 4096)
            }
        }
        #expect(error?.operation == .read)
        #expect(error?.path == path)
        #expect(error?.offset == 8192)
        #expect(error?.description.contains("the file ends before") == true)
        // The part that exists was read.
        #expect(Array(target.array.prefix(8192)) == data.array)
    }

    @Test func bufferedModeCompletesShortReadsAtTheEnd() throws {
        let dir = try ScratchDirectory()
        let path = dir.file("odd.bin")
        try Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0) }).write(to: URL(fileURLWithPath: path))
        let file = try BlockFile(path: path, mode: .buffered)
        let target = AlignedBuffer<UInt8>(count: 10_000)
        let ring = try IORing(queueDepth: 2)
        try withExtendedLifetime(target) {
            try ring.run([BlockTransfer(.read, file: file, fileOffset: 0, memory: raw(target))], blockSize: 3000)
        }
        #expect(target.array == (0..<10_000).map { UInt8(truncatingIfNeeded: $0) })
    }

    @Test func misalignedDirectIOIsATypedErrorNotACrash() throws {
        let dir = try ScratchDirectory()
        let path = dir.file("direct.bin")
        let file = try BlockFile(path: path, mode: .direct, create: true)
        let ring = try IORing(queueDepth: 2)
        // Real data first: ext4 serves unaligned direct reads of never-written extents.
        let data = pattern(1 << 16, seed: 9)
        try withExtendedLifetime(data) {
            try ring.run([BlockTransfer(.write, file: file, fileOffset: 0, memory: raw(data))], blockSize: 1 << 16)
        }
        try file.sync()
        let target = AlignedBuffer<UInt8>(count: 8192, alignment: BlockFile.directAlignment)
        let error = #expect(throws: BlockIOError.self) {
            try withExtendedLifetime(target) {
                // Offset 100 is not sector-aligned: O_DIRECT refuses it with EINVAL.
                try ring.run([BlockTransfer(.read, file: file, fileOffset: 100, memory: raw(target))], blockSize: 4096)
            }
        }
        #expect(error?.codeName == "EINVAL")
        #expect(error?.offset == 100)
        #expect(error?.description.contains(path) == true)
    }

    /// A direct transfer that is not whole aligned blocks is refused before anything reaches
    /// the disk, naming what is misaligned (the kernel would refuse some of these and serve
    /// others).
    @Test func directTransfersOfPartialBlocksAreRefusedBeforeSubmission() throws {
        let dir = try ScratchDirectory()
        let path = dir.file("partial.bin")
        let file = try BlockFile(path: path, mode: .direct, create: true)
        let ring = try IORing(queueDepth: 2)
        let buffer = AlignedBuffer<UInt8>(count: 16384, alignment: BlockFile.directAlignment)
        withExtendedLifetime(buffer) {
            let memory = raw(buffer)
            let cases: [(BlockTransfer, Int, String)] = [
                (BlockTransfer(.write, file: file, fileOffset: 0, memory: UnsafeMutableRawBufferPointer(rebasing: memory[0..<5000])),
                 4096, "length (5000)"),
                (BlockTransfer(.write, file: file, fileOffset: 4096, memory: UnsafeMutableRawBufferPointer(rebasing: memory[512..<8704])),
                 4096, "buffer address"),
                (BlockTransfer(.write, file: file, fileOffset: 0, memory: memory), 6144, "block size (6144)"),
                (BlockTransfer(.read, file: file, fileOffset: 0, memory: memory), 1000, "block size (1000)"),
            ]
            for (transfer, blockSize, named) in cases {
                let error = #expect(throws: BlockIOError.self) { try ring.run([transfer], blockSize: blockSize) }
                #expect(error?.codeName == "EINVAL" && error?.path == path && error?.offset == transfer.fileOffset)
                #expect(error?.description.contains(named) == true, "\(error?.description ?? "no error")")
            }
        }
        #expect(try file.size() == 0)
    }

    @Test func openingAMissingFileSaysSo() {
        let error = #expect(throws: BlockIOError.self) {
            _ = try BlockFile(path: "/nonexistent-dir/ssd.bin", mode: .direct)
        }
        #expect(error?.codeName == "ENOENT")
        #expect(error?.description.hasPrefix("open of /nonexistent-dir/ssd.bin failed") == true)
    }

    @Test func badQueueDepthIsRefused() {
        #expect(throws: BlockIOError.self) { _ = try IORing(queueDepth: 0) }
    }
}
