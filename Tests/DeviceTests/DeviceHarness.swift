import BlockIO
import Compression
import DeviceProtocol
import Foundation
import Offload
import Optim
import Testing
import SeededRandom

/// A real `smartssd` child process on a scratch SSD file.
final class DeviceProcess {
    let directory: String
    let ssdPath: String
    let socketPath: String
    private(set) var process: Process
    let arguments: [String]
    private var stderrPipe = Pipe()

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("smartssd")
    }

    /// Starts a device; `extra` adds flags (e.g. --in-place).
    init(dram: String = "64MiB", capacity: String = "1GiB", extra: [String] = [], directory: String? = nil) throws {
        let dir = directory ?? "/var/tmp/smartinf-device-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        self.directory = dir
        ssdPath = "\(dir)/ssd.bin"
        socketPath = "\(dir)/device.sock"
        arguments = ["--ssd", ssdPath, "--socket", socketPath, "--dram", dram, "--capacity", capacity]
        process = Process()
        try start(extra: extra)
    }

    /// (Re)starts the process on the same SSD and socket, with `extra` flags (none by default,
    /// so a restarted device runs without the fault it was started with), and waits until it
    /// serves.
    func start(extra: [String] = []) throws {
        process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments + extra
        let out = Pipe()
        stderrPipe = Pipe()
        process.standardOutput = out
        process.standardError = stderrPipe
        try process.run()
        do {
            try DeviceProcesses.waitUntilServing(process, stdout: out, stderr: stderrPipe, device: 0)
        } catch DeviceProcesses.LaunchError.exitedBeforeServing(_, let status, let stderr) {
            throw DeviceStartError(status: status, stderr: stderr)
        }
    }

    func connect() throws -> DeviceConnection { try DeviceConnection(path: socketPath) }

    /// kill -9, and wait for the process to be gone.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    var stderr: String { String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct DeviceStartError: Error, CustomStringConvertible {
    var status: Int32
    var stderr: String
    var description: String { "smartssd exited with \(status) before serving: \(stderr)" }
}

/// What the host does for a device in these tests: writes payloads into the device's gradient
/// region, and keeps an in-process reference of the same update with the same kernel.
final class HostSide {
    let configuration: DeviceConfiguration
    let configured: Reply.Configured
    let ssd: BlockFile
    let ring: IORing
    let region: GradientRegionWriter
    let subgroupElements: Int
    /// Reference states, one array per vector per subgroup: [p, s1, s2?].
    var reference: [[AlignedBuffer<Float>]]
    var referenceCopy: StreamBuffer
    let decoder = GradientPayloadDecoder()
    let hostBufferPath: String

    init(device: DeviceProcess, connection: DeviceConnection, configuration: DeviceConfiguration, initial: [Float]) throws {
        self.configuration = configuration
        configured = try connection.configure(configuration)
        subgroupElements = configured.subgroupElements
        ssd = try BlockFile(path: device.ssdPath, mode: .direct)
        ring = try IORing(queueDepth: 8)
        region = try GradientRegionWriter(ssdPath: device.ssdPath, directIO: true, configured: configured)
        let n = configuration.sliceElements
        // Initial parameters through a file, as the protocol asks.
        let parameterFile = "\(device.directory)/initial.f32"
        try initial.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: parameterFile)) }
        try connection.perform(.loadParameters(offset: 0, count: n, path: parameterFile))
        hostBufferPath = "/dev/shm/smartinf-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try Data(count: n * configuration.copyOutPrecision.byteWidth).write(to: URL(fileURLWithPath: hostBufferPath))
        try connection.perform(.attachHostBuffer(path: hostBufferPath))
        let states = configuration.optimizer.stateCount
        let d = configured.subgroupElements
        reference = stride(from: 0, to: n, by: d).map { first in
            let count = min(d, n - first)
            return [AlignedBuffer(initial[first..<(first + count)])]
                + (0..<states).map { _ in AlignedBuffer(repeating: configuration.optimizer.initialStateValue, count: count) }
        }
        referenceCopy = StreamBuffer(precision: configuration.copyOutPrecision, count: n)
        for vectors in reference { roundTrip(Array(vectors[1...])) }
    }

    deinit { try? FileManager.default.removeItem(atPath: hostBufferPath) }

    /// Encodes `gradient` (dense, the whole slice) per subgroup, writes each payload into the
    /// device's gradient region, updates the reference, and returns the payload sizes.
    func stage(step: Int, gradient: [Float], ratio: Double?, valueEncoding: Precision) throws -> [Int] {
        var sizes: [Int] = []
        let options = PayloadOptions(valueEncoding: valueEncoding)
        let compressor = try GradientCompressor(ratio: ratio ?? 1, options: options)
        for (s, vectors) in reference.enumerated() {
            let first = s * subgroupElements
            let count = vectors[0].count
            let part = Array(gradient[first..<(first + count)])
            sizes.append(try region.write(subgroup: s) { buffer in
                try part.withUnsafeBufferPointer { try compressor.compress($0, subgroup: UInt32(s), step: UInt64(step), into: buffer) }
            })
        }
        try ssd.sync()
        return sizes
    }

    /// Applies the same step in process: decode each payload, run the same kernel.
    func referenceStep(update: PreparedUpdate, step: Int, sizes: [Int]) throws {
        for (s, vectors) in reference.enumerated() {
            let count = vectors[0].count
            let payload = AlignedBuffer<UInt8>(count: configured.gradientSlotBytes, alignment: 4096)
            try payload.withUnsafeMutableBufferPointer { b in
                let padded = (sizes[s] + 4095) / 4096 * 4096
                try ring.run([BlockTransfer(.read, file: ssd, fileOffset: region.slotOffset(s),
                                            memory: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(b)[0..<padded]))],
                             blockSize: 1 << 20)
            }
            let dense = AlignedBuffer<Float>(count: count)
            try payload.withUnsafeBufferPointer { p in
                try dense.withUnsafeMutableBufferPointer { d in
                    _ = try decoder.decode(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[0..<sizes[s]]), into: d)
                }
            }
            let copy = StreamBuffer(precision: configuration.copyOutPrecision, count: count)
            UpdateKernel().run(update, parameters: vectors[0], states: Array(vectors[1...]), gradient: .fp32(dense), copyOut: copy)
            roundTrip(Array(vectors[1...]))
            for i in 0..<count { referenceCopy[s * subgroupElements + i] = copy[i] }
        }
    }

    /// Reference states as the device keeps them: 8-bit states are the decoding of their
    /// encoding (a subgroup's blocks start at its first element).
    func roundTrip(_ states: [AlignedBuffer<Float>]) {
        let precision = configuration.statePrecision
        guard precision != .fp32 else { return }
        for (state, map) in zip(states, configuration.optimizer.kind.stateMaps) {
            let stored = AlignedBuffer<UInt8>(count: precision.storedBytes(elements: state.count))
            state.withUnsafeMutableBufferPointer { values in
                stored.withUnsafeMutableBufferPointer { bytes in
                    precision.encode(UnsafeBufferPointer(values), map: map, into: UnsafeMutableRawBufferPointer(bytes))
                    precision.decode(UnsafeRawBufferPointer(bytes), map: map, into: values)
                }
            }
        }
    }

    /// The reference vector `v` (0 = p) over the whole slice.
    func referenceVector(_ v: Int) -> [Float] { reference.flatMap { $0[v].array } }

    /// The host buffer's compute copy as fp32, read from shared memory.
    func hostCopy() throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: hostBufferPath))
        let n = configuration.sliceElements
        return data.withUnsafeBytes { raw in
            (0..<n).map { i in
                switch configuration.copyOutPrecision {
                case .fp32: raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
                case .fp16: Float(raw.loadUnaligned(fromByteOffset: i * 2, as: Float16.self))
                case .bf16: Float(BFloat16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                }
            }
        }
    }
}


func randomFloats(_ n: Int, scale: Float, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
}

func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
