import DeviceProtocol
import Foundation
import Optim
import Testing

/// Near-storage snapshots on a real device process: the committed states copied inside the
/// device, kept K deep, restored whatever step the device reached, and refused by name when
/// damaged.
@Suite(.serialized) struct DeviceSnapshotTests {
    static let optimizer = OptimizerConfig.adamw(AdamWHyperparameters(weightDecay: 0.01))
    static let n = 10_000  // three subgroups of 4096, the last one short

    /// A configured, loaded device and a way to run steps on it.
    final class SteppedDevice {
        let device: DeviceProcess
        let connection: DeviceConnection
        let host: HostSide
        private(set) var step = 0

        init(states: StatePrecision = .fp32) throws {
            device = try DeviceProcess()
            connection = try device.connect()
            host = try HostSide(device: device, connection: connection,
                                configuration: DeviceConfiguration(sliceElements: DeviceSnapshotTests.n, subgroupElements: 4096,
                                                                   optimizer: DeviceSnapshotTests.optimizer, gradientPrecision: .fp32,
                                                                   copyOutPrecision: .fp32, handler: .overlap, statePrecision: states),
                                initial: randomFloats(DeviceSnapshotTests.n, scale: 1, seed: 1))
        }

        func run(_ steps: Int) throws {
            for _ in 0..<steps {
                step += 1
                let sizes = try host.stage(step: step, gradient: randomFloats(DeviceSnapshotTests.n, scale: 0.5, seed: UInt64(step)),
                                           ratio: nil, valueEncoding: .fp32)
                try connection.step(StepCommand(step: step, update: DeviceSnapshotTests.optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1),
                                                skip: false, subgroups: [0, 1, 2], payloadBytes: sizes))
            }
        }

        /// p, m and v as the device reads them back.
        func states() throws -> [[UInt32]] {
            try [StateVector.parameters, .state1, .state2].map { bits(try connection.readState($0, offset: 0, count: DeviceSnapshotTests.n)) }
        }
    }

    @Test func aRestoredSnapshotIsTheStateItCopied() throws {
        let d = try SteppedDevice()
        try d.run(2)
        let atTwo = try d.states()
        let taken = try d.connection.snapshot(step: 2, keep: 2, note: "{\"steps_done\":2}")
        #expect(taken.step == 2 && taken.sequence == 1)
        #expect(taken.path.hasPrefix(d.device.ssdPath + ".snapshots/"))
        #expect(FileManager.default.fileExists(atPath: taken.path))
        // The snapshot reads back offline, vector by vector, to the device's states, with its note.
        let reader = try SnapshotReader(path: taken.path)
        #expect(String(decoding: reader.header.note, as: UTF8.self) == "{\"steps_done\":2}")
        var offline: [[UInt32]] = [[], [], []]
        for s in 0..<3 {
            for v in 0..<3 {
                let count = min(4096, Self.n - s * 4096)
                var values = [Float](repeating: 0, count: count)
                try values.withUnsafeMutableBytes { try reader.read(subgroup: s, vector: v, into: $0) }
                offline[v] += bits(values)
            }
        }
        #expect(offline == atTwo)

        // Three steps on, then back: the device holds step 2 again, bit for bit, and takes step 3
        // from there to the same states as the first time.
        try d.run(1)
        let atThree = try d.states()
        try d.run(2)
        #expect(try d.connection.status() == [5, 5, 5])
        try d.connection.perform(.restoreSnapshot(path: taken.path))
        #expect(try d.connection.status() == [2, 2, 2])
        #expect(try d.states() == atTwo)
        // A restart reads the restored commit from the journal.
        try d.connection.perform(.shutdown)
        _ = d.device.waitForExit()
        try d.device.start()
        let again = try d.device.connect()
        _ = try again.configure(d.host.configuration)
        #expect(try again.status() == [2, 2, 2])
        #expect(try again.listSnapshots() == [taken])
        let sizes = try d.host.stage(step: 3, gradient: randomFloats(Self.n, scale: 0.5, seed: 3), ratio: nil, valueEncoding: .fp32)
        try again.step(StepCommand(step: 3, update: Self.optimizer.prepare(step: 3, learningRate: 1e-2, combinedUnscale: 1), skip: false,
                                   subgroups: [0, 1, 2], payloadBytes: sizes))
        #expect(try [StateVector.parameters, .state1, .state2].map { bits(try again.readState($0, offset: 0, count: Self.n)) } == atThree)
    }

    @Test func theNewestKSnapshotsAreKept() throws {
        let d = try SteppedDevice()
        var taken: [StoredSnapshot] = []
        // A temporary left by a snapshot write a crash cut short is cleared away, never listed.
        let directory = d.device.ssdPath + ".snapshots"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stale = "\(directory)/.snapshot-00000009-step-9.snap.tmp-1-ab"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3])))
        for _ in 0..<4 {
            taken.append(try d.connection.snapshot(step: d.step, keep: 2, note: ""))
            try d.run(1)
        }
        #expect(taken.map(\.sequence) == [1, 2, 3, 4])
        #expect(taken.map(\.step) == [0, 1, 2, 3])
        #expect(try d.connection.listSnapshots() == Array(taken.suffix(2)))
        #expect(taken.prefix(2).allSatisfy { !FileManager.default.fileExists(atPath: $0.path) })
        #expect(!FileManager.default.fileExists(atPath: stale))
        // A snapshot of a step the device does not hold everywhere is refused.
        #expect { _ = try d.connection.snapshot(step: 2, keep: 2, note: "") } throws: {
            ($0 as? DeviceReplyError)?.code == .outOfRange && "\($0)".contains("subgroup 0 has committed step 4")
        }
    }

    /// Any damage to a snapshot (a flipped byte in a vector, a cut-short file) is refused naming
    /// the file; the device's states are untouched.
    @Test(arguments: ["vector", "truncated", "header"])
    func aDamagedSnapshotIsRefusedByName(damage: String) throws {
        let d = try SteppedDevice()
        try d.run(1)
        let taken = try d.connection.snapshot(step: 1, keep: 2, note: "")
        try d.run(2)
        let before = try d.states()
        let handle = try #require(FileHandle(forUpdatingAtPath: taken.path))
        switch damage {
        case "vector":
            // Subgroup 1's v: 80 header bytes, subgroup 0's three vectors, subgroup 1's p and m.
            let offset: UInt64 = 80 + 5 * 4096 * 4 + 100
            try handle.seek(toOffset: offset)
            let byte = try #require(try handle.read(upToCount: 1))
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: Data([byte[0] ^ 0x10]))
        case "truncated": try handle.truncate(atOffset: UInt64(taken.bytes - 1000))
        default:
            try handle.seek(toOffset: 20)
            try handle.write(contentsOf: Data([0xFF]))
        }
        try handle.close()
        #expect { try d.connection.perform(.restoreSnapshot(path: taken.path)) } throws: { error in
            let refusal = error as? DeviceReplyError
            return refusal?.code == .integrity && refusal!.message.contains(taken.path)
                && (damage != "vector" || refusal!.message.contains("subgroup 1's state 2"))
        }
        #expect(try d.connection.status() == [3, 3, 3])
        #expect(try d.states() == before)
        // A snapshot whose header or length is wrong is not even listed.
        #expect(try d.connection.listSnapshots().isEmpty == (damage != "vector"))
    }

    /// With 8-bit states a snapshot holds them as stored (scales and codes: about half the fp32
    /// file's bytes for AdamW), reads back offline as the fp32 values the device decodes, and
    /// restores bit for bit; a snapshot of fp32 states does not fit an 8-bit device.
    @Test func anEightBitSnapshotHoldsTheStatesAsStored() throws {
        let d = try SteppedDevice(states: .blockwise8(blockSize: 1024))
        try d.run(2)
        let atTwo = try d.states()
        let taken = try d.connection.snapshot(step: 2, keep: 2, note: "")
        let reader = try SnapshotReader(path: taken.path)
        #expect(reader.header.statePrecision == .blockwise8(blockSize: 1024))
        // p in fp32, then m and v: per subgroup 4n + 2 × (4⌈n/1024⌉ + n) bytes.
        let vectors = [4096, 4096, 1808].map { n in 4 * n + 2 * (4 * ((n + 1023) / 1024) + n) }.reduce(0, +)
        #expect(taken.bytes == 80 + vectors + 4 * 9 + 4)
        var offline: [[UInt32]] = [[], [], []]
        for s in 0..<3 {
            for v in 0..<3 {
                var values = [Float](repeating: 0, count: min(4096, Self.n - s * 4096))
                try values.withUnsafeMutableBufferPointer { try reader.readValues(subgroup: s, vector: v, into: $0) }
                offline[v] += bits(values)
            }
        }
        #expect(offline == atTwo)
        try d.run(2)
        try d.connection.perform(.restoreSnapshot(path: taken.path))
        #expect(try d.connection.status() == [2, 2, 2])
        #expect(try d.states() == atTwo)

        let fp32 = try SteppedDevice()
        let foreign = try fp32.connection.snapshot(step: 0, keep: 1, note: "")
        let copy = d.device.directory + "/fp32.snap"
        try FileManager.default.copyItem(atPath: foreign.path, toPath: copy)
        #expect { try d.connection.perform(.restoreSnapshot(path: copy)) } throws: {
            ($0 as? DeviceReplyError)?.code == .formatMismatch && "\($0)".contains("states fp32; this device holds")
                && "\($0)".contains("states 8bit (blocks of 1024)")
        }
    }

    /// A snapshot of another geometry is refused, and so is a path outside the device's directory.
    @Test func aSnapshotMustFitTheDevice() throws {
        let d = try SteppedDevice()
        let other = try DeviceProcess()
        let otherConnection = try other.connect()
        _ = try HostSide(device: other, connection: otherConnection,
                         configuration: DeviceConfiguration(sliceElements: Self.n, subgroupElements: 2048, optimizer: Self.optimizer,
                                                            gradientPrecision: .fp32, copyOutPrecision: .fp32, handler: .naive),
                         initial: randomFloats(Self.n, scale: 1, seed: 2))
        let foreign = try otherConnection.snapshot(step: 0, keep: 1, note: "")
        let copy = d.device.directory + "/foreign.snap"
        try FileManager.default.copyItem(atPath: foreign.path, toPath: copy)
        #expect { try d.connection.perform(.restoreSnapshot(path: copy)) } throws: {
            ($0 as? DeviceReplyError)?.code == .formatMismatch && "\($0)".contains("subgroups of 2048")
        }
        #expect { try d.connection.perform(.restoreSnapshot(path: foreign.path)) } throws: {
            ($0 as? DeviceReplyError)?.code == .outOfRange && "\($0)".contains("outside the device's directory")
        }
    }
}
