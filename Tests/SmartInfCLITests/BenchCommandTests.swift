import Foundation
import Testing

/// Runs the real `smartinf` executable built next to this test bundle.
struct SmartInfProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("smartinf")
    }

    /// Runs `smartinf arguments…`; with `memoryLimitKiB`, under that `ulimit -v`, with no core
    /// file and no backtrace (for inputs that would otherwise exhaust memory if a bound broke).
    static func run(_ arguments: [String], memoryLimitKiB: Int? = nil) throws -> Result {
        let process = Process()
        if let memoryLimitKiB {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", #"ulimit -c 0; ulimit -v \#(memoryLimitKiB); exec "$0" "$@""#, executable.path] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { _, new in new }
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct BenchOptimCommandTests {
    @Test func jsonDocumentHoldsOneRowPerOptimizerAndThreadCount() throws {
        let result = try SmartInfProcess.run(["bench", "optim", "--params", "4099", "--threads", "1,2",
                                              "--optimizer", "adamw,sgd:torch", "--repetitions", "1", "--json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(document["benchmark"] as? String == "optim")
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(rows.count == 4)
        // fp16 gradient in, fp16 copy out: AdamW moves p, m, v both ways (24 B) + 2 + 2.
        let bytes = rows.map { "\($0["optimizer"]!):\($0["threads"]!):\($0["bytesPerParameter"]!)" }
        #expect(bytes == ["adamw:1:28", "adamw:2:28", "sgd:torch:1:20", "sgd:torch:2:20"])
        for row in rows {
            #expect(row["parameters"] as? Int == 4099)
            let gbps = try #require(row["gigabytesPerSecond"] as? Double)
            let ratio = try #require(row["ratioToMemoryCopy"] as? Double)
            let copy = try #require(row["memoryCopyGigabytesPerSecond"] as? Double)
            #expect(gbps > 0 && copy > 0)
            #expect(abs(ratio - gbps / copy) <= 1e-9 * ratio)
            // The CRC32C rate over p and the states (what the device checksums twice a step).
            let checksum = try #require(row["checksumGigabytesPerSecond"] as? Double)
            #expect(checksum > 0 && checksum.isFinite)
        }
    }

    /// `--state-precision fp32,8bit`: a row per precision; an 8-bit state moves its code and its
    /// share of a scale each way (AdamW, 4099 parameters in blocks of 2048: 3 scales and 4099
    /// codes per state), and the kernel leaves its states as valid codes (a second step runs).
    @Test func eightBitStatesAreMeasuredBesideFP32() throws {
        let result = try SmartInfProcess.run(["bench", "optim", "--params", "4099", "--threads", "1",
                                              "--state-precision", "fp32,8bit", "--repetitions", "2", "--json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(rows.map { $0["states"] as? String } == ["fp32", "8bit/2048"])
        let bytes = rows.compactMap { $0["bytesPerParameter"] as? Double }
        #expect(bytes.count == 2 && bytes[0] == 28)
        #expect(abs(bytes[1] - Double(8 * 4099 + 2 * 2 * (4 * 3 + 4099) + 4 * 4099) / 4099) < 1e-12, "\(bytes)")
        let bad = try SmartInfProcess.run(["bench", "optim", "--params", "4099", "--state-precision", "fp32,int4"])
        #expect(bad.status != 0 && bad.stderr.contains("--state-precision int4"), "\(bad.stderr)")
    }

    @Test func saveWritesTheSameDocumentWhileTheTableIsPrinted() throws {
        let path = "/tmp/smartinf-save-test-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try SmartInfProcess.run(["bench", "topk", "--elements", "20000", "--ratio", "0.05", "--repetitions", "1",
                                              "--save", path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("select GB/s"))
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        let rows = try #require(saved?["rows"] as? [[String: Any]])
        #expect(rows.first?["kept"] as? Int == 1000)
        #expect(saved?["benchmark"] as? String == "topk")
    }

    @Test func tableNamesEveryColumn() throws {
        let result = try SmartInfProcess.run(["bench", "optim", "--params", "1000", "--threads", "1", "--repetitions", "1"])
        #expect(result.status == 0)
        for column in ["optimizer", "params/s", "GB/s", "memcpy GB/s", "ratio", "in-place GB/s"] {
            #expect(result.stdout.contains(column), "missing column \(column)")
        }
    }

    @Test(arguments: [
        (["--params", "abc"], "--params 'abc' is not a positive count"),
        (["--params", "0"], "--params '0' is not a positive count"),
        (["--threads", "1,x"], "--threads: 'x' is not an integer"),
        (["--threads", "0"], "--threads: '0' is not an integer ≥ 1"),
        (["--optimizer", "lion"], "--optimizer: 'lion' is not one of adamw, adamw:torch, sgd, sgd:torch, adagrad, adagrad:torch"),
        (["--optimizer", "adamw,adamw:pytorch"], "--optimizer: 'adamw:pytorch' is not one of adamw, adamw:torch, sgd, sgd:torch, adagrad, adagrad:torch"),
        (["--grad", "fp8"], "The value 'fp8' is invalid for '--grad <grad>'. Please provide one of 'fp32', 'fp16' or 'bf16'."),
        (["--copy-out", "int8"], "The value 'int8' is invalid for '--copy-out <copy-out>'. Please provide one of 'fp32', 'fp16', 'bf16' or 'none'."),
        (["--path", "avx"], "The value 'avx' is invalid for '--path <path>'. Please provide one of 'simd' and 'scalar'."),
        (["--repetitions", "0"], "--repetitions must be at least 1"),
    ] as [([String], String)])
    func badFlagsAreRefusedWithAMessageNamingThem(flags: [String], message: String) throws {
        let result = try SmartInfProcess.run(["bench", "optim"] + flags)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }
}

@Suite struct BenchDeviceCommandTests {
    @Test(arguments: [
        (["--handler", "naive,naive"], "names a handler twice"),
        (["--handler", "fast"], "--handler: 'fast' is not one of naive, overlap"),
        (["--optimizer", "lion"], "The value 'lion' is invalid for '--optimizer <optimizer>'. Please provide one of the following:\n  - adamw\n  - adamw:torch\n  - sgd\n  - sgd:torch\n  - adagrad\n  - adagrad:torch"),
        (["--block-size", "1000"], "--block-size '1000' is not a multiple of 4KiB"),
        (["--grad", "fp8"], "The value 'fp8' is invalid for '--grad <grad>'. Please provide one of 'fp32', 'fp16' or 'bf16'."),
        // 2^40 parameters need ~90 TB of device files: refused before anything is written.
        (["--params", "1T", "--dir", "/var/tmp/smartinf-bench-refused"], "choose another --dir or fewer --params"),
    ] as [([String], String)])
    func badDeviceBenchFlagsAreRefusedWithAMessageNamingThem(flags: [String], message: String) throws {
        let result = try SmartInfProcess.run(["bench", "device"] + flags)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/var/tmp/smartinf-bench-refused/bench-replay.ssd"))
        try? FileManager.default.removeItem(atPath: "/var/tmp/smartinf-bench-refused")
    }

    /// `--grad fp32` reaches the device: the row names the precision the device was configured
    /// with, and its dense payloads carry 4 bytes a parameter (plus one header per subgroup).
    @Test func gradFlagSetsThePrecisionTheDeviceReads() throws {
        let directory = "/var/tmp/smartinf-bench-grad-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try SmartInfProcess.run(["bench", "device", "--grad", "fp32", "--params", "128K", "--dram", "2MiB",
                                              "--handler", "overlap", "--queue-depth", "4", "--block-size", "256KiB",
                                              "--repetitions", "1", "--dir", directory, "--json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let row = try #require((document["rows"] as? [[String: Any]])?.first)
        #expect(row["gradient"] as? String == "fp32")
        let bytes = try #require(row["payloadBytesPerParameter"] as? Double)
        #expect(bytes > 4 && bytes < 4.04)
    }
}
