import Benchmarking
import Foundation
import Optim
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
        // The default: fp16 gradients, 2 bytes a parameter and a header per subgroup.
        #expect(rows.allSatisfy { $0.gradient == "fp16" && $0.payloadBytesPerParameter > 2 && $0.payloadBytesPerParameter < 2.01 })
        #expect(rows.allSatisfy { $0.states == "fp32" && $0.bytesVersusFP32 == 1 })
    }

    /// With 8-bit states the device moves the payload (2 bytes), p (4 + 4) and the states
    /// (2 × 2.002 each way) per parameter: 14.01 of fp32's 26, within the 4 KiB padding of each
    /// vector; the superblock says so.
    @Test func eightBitStatesMoveAboutHalfTheBytes() throws {
        let directory = "/var/tmp/smartinf-devbench-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rows = try DeviceBenchmark(DeviceBenchmark.Options(parameters: 1 << 20, directory: directory, dramBytes: 8 << 20,
                                                               handlers: [.overlap], queueDepth: 4, blockSize: 256 << 10, repetitions: 1,
                                                               statePrecision: .eightBit)).run()
        let row = try #require(rows.first)
        #expect(row.states == "8bit (blocks of 2048)")
        let perParameter = Double(row.bytesRead + row.bytesWritten) / Double(row.parameters)
        #expect(perParameter > 14.0 && perParameter < 14.0 * 1.02, "\(perParameter)")
        #expect(abs(row.bytesVersusFP32 - 14.01 / 26) < 0.01, "\(row.bytesVersusFP32)")
    }

    /// `gradientPrecision` reaches the device: its superblock records it, and the dense payloads
    /// it reads carry that many bytes a parameter (plus one header per subgroup).
    @Test(arguments: [(Precision.fp32, 4.0), (.fp16, 2.0), (.bf16, 2.0)])
    func theGradientPrecisionReachesTheDevice(precision: Precision, width: Double) throws {
        let directory = "/var/tmp/smartinf-devbench-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rows = try DeviceBenchmark(DeviceBenchmark.Options(parameters: 1 << 17, directory: directory, dramBytes: 2 << 20,
                                                               handlers: [.overlap], gradientPrecision: precision, queueDepth: 4,
                                                               blockSize: 256 << 10, repetitions: 1)).run()
        let row = try #require(rows.first)
        #expect(row.gradient == "\(precision)")
        #expect(row.payloadBytesPerParameter > width && row.payloadBytesPerParameter < width * 1.01)
    }
}
