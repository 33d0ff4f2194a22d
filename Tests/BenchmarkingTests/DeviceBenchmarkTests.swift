import Benchmarking
import Foundation
import Testing

/// The device benchmark's bookkeeping on a small device (its speed is not tested here).
@Suite struct DeviceBenchmarkTests {
    @Test func rowsAreConsistent() throws {
        let directory = "/var/tmp/smartinf-devbench-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rows = try DeviceBenchmark(DeviceBenchmark.Options(parameters: 1 << 20, directory: directory, dramBytes: 8 << 20,
                                                               queueDepth: 4, blockSize: 256 << 10, repetitions: 1)).run()
        #expect(rows.map(\.handler) == ["naive", "overlap"])
        for row in rows {
            #expect(row.bytesRead > 0 && row.bytesWritten > 0)
            #expect(row.subgroups > 1)
            #expect(abs(row.ratioToFloor * row.ioFloorSeconds - row.seconds.median) < 1e-9)
            // The floor is the step's own bytes at the raw replay's rates.
            let floor = Double(row.bytesRead) / (row.rawReadGigabytesPerSecond * 1e9)
                + Double(row.bytesWritten) / (row.rawWriteGigabytesPerSecond * 1e9)
            #expect(abs(floor - row.ioFloorSeconds) < 1e-9 * max(1, floor))
            // Every stage ran, and no stage was busy longer than the steps took.
            #expect(Set(row.stageSeconds.keys) == ["load", "update", "writeParameters", "writeStates"])
            #expect(row.stageSeconds.values.allSatisfy { $0 > 0 && $0 <= row.seconds.maximum })
        }
        #expect(rows[0].speedupOverNaive == nil && rows[1].speedupOverNaive != nil)
    }
}
