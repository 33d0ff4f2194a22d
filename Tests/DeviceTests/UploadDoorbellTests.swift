import DeviceProtocol
import Foundation
import Testing

/// The upload marks at the end of a host buffer: what one mapping publishes another mapping of
/// the same file (the other process) reads; a buffer without room for them has none.
@Suite struct UploadDoorbellTests {
    @Test func marksPublishedThroughOneMappingAreReadThroughAnother() throws {
        let path = "/dev/shm/smartinf-doorbell-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sliceBytes = 1000 * 2
        let host = try SharedMemoryMapping.create(path: path, bytes: UploadDoorbell.bufferBytes(sliceBytes: sliceBytes, subgroupCount: 3))
        let device = try SharedMemoryMapping.open(path: path, minimumBytes: sliceBytes)
        let published = try #require(UploadDoorbell(device, sliceBytes: sliceBytes, subgroupCount: 3))
        let seen = try #require(UploadDoorbell(host, sliceBytes: sliceBytes, subgroupCount: 3))
        #expect((0..<3).map { seen.uploadedStep(subgroup: $0) } == [0, 0, 0])
        published.publish(step: 7, subgroup: 1)
        #expect((0..<3).map { seen.uploadedStep(subgroup: $0) } == [0, 7, 0])
        // The marks sit past the compute copy (padded to 64 bytes), not on it.
        let copy = host.base.assumingMemoryBound(to: UInt16.self)
        #expect((0..<1000).allSatisfy { copy[$0] == 0 })
        #expect(UploadDoorbell(host, sliceBytes: sliceBytes, subgroupCount: 4) == nil)
    }
}
