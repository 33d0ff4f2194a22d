import DeviceProtocol
import Foundation
import Offload
import OffloadVocabulary
import Optim
import Testing
import Trainer

/// Training with 8-bit optimizer states (`--state-precision 8bit`): every guarantee the fp32
/// states give still holds — the modes agree bit for bit, a device failure is recovered and a
/// checkpoint resumed bit-identically, an export goes out as fp32 and comes back as the same codes.
@Suite(.serialized) struct EightBitStateTests {
    static let states = StatePrecision.blockwise8(blockSize: 2048)

    static func eightBit(_ dir: RunDirectory, _ data: (train: String, val: String), mode: OffloadMode, steps: Int,
                         compression: GradientCompressionSettings = GradientCompressionSettings()) -> TrainingOptions {
        var o = options(dir, data: data, mode: mode, steps: steps, compression: compression)
        o.statePrecision = states
        o.ssdDirectory += "-8bit"
        return o
    }

    static func bits(_ run: TrainingRun) -> [UInt32] { run.model.parameters.array.map(\.bitPattern) }
    static func lossBits(_ records: [StepRecord]) -> [UInt32] { records.map { Float($0.loss).bitPattern } }
    static func deviceStates(_ run: TrainingRun) throws -> [[UInt32]] {
        try [StateVector.parameters, .state1, .state2].map { try run.fleet.readState($0).map(\.bitPattern) }
    }

    /// Base (the host's in-process engines) and su+o give the same losses and parameters, which
    /// are not fp32 states' (the states really are 8-bit); three steps, a checkpoint and three
    /// more give the same as six in one go.
    @Test func modesAgreeAndAResumedRunMatchesAnUninterruptedOne() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let base = try undisturbedRun(Self.eightBit(dir, data, mode: .base, steps: 6))
        let suO = try undisturbedRun(Self.eightBit(dir, data, mode: .suO, steps: 6))
        #expect(Self.lossBits(base.records) == Self.lossBits(suO.records))
        #expect(Self.bits(base) == Self.bits(suO))
        let fp32 = try undisturbedRun(options(dir, data: data, mode: .suO, steps: 6))
        #expect(Self.bits(fp32) != Self.bits(suO))
        // Within a few percent of fp32 after six steps: same learning, other rounding.
        #expect(abs(suO.records.last!.loss - fp32.records.last!.loss) < 0.05 * fp32.records.last!.loss)

        let (part1, part2, second) = try runInTwoParts(Self.eightBit(dir, data, mode: .suO, steps: 6), split: 3,
                                                       checkpoint: "\(dir.path)/checkpoint-8bit")
        #expect(Self.lossBits(part1.records + part2.records) == Self.lossBits(suO.records))
        #expect(Self.bits(part2) == Self.bits(suO))

        // The SSDs hold 8-bit states: resuming them as fp32 is refused by the devices, naming both.
        var other = second
        other.statePrecision = .fp32
        #expect { _ = try TrainingRun(other) } throws: { "\($0)".contains("states 8bit (blocks of 2048)") && "\($0)".contains("states fp32") }
    }

    /// A device crash between the state write-backs, a damaged state slot and a torn journal
    /// commit, each recovered under `--on-device-failure retry`: the run ends as if undisturbed.
    @Test func deviceFailuresAreRecoveredBitIdentically() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let expected = Self.bits(try undisturbedRun(Self.eightBit(dir, data, mode: .suO, steps: 4)))
        for fault in ["crash@step=2,phase=write_m", "corrupt@state,step=3", "torn@step=3"] {
            var o = Self.eightBit(dir, data, mode: .suO, steps: 4)
            o.deviceFaults = [1: fault]
            o.onDeviceFailure = .retry(maxRetries: 2)
            let run = try TrainingRun(o)
            defer { run.finish() }
            try run.run()
            #expect(run.recoveries == 1, "\(fault)")
            #expect(Self.bits(run) == expected, "\(fault)")
        }
    }

    /// Mixed precision (bf16) with top-k and error feedback on 8-bit states: a crash recovered
    /// mid-run ends bit-identical to the undisturbed run, which learns.
    @Test func mixedPrecisionAndErrorFeedbackKeepWorking() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = Self.eightBit(dir, data, mode: .suOC, steps: 5, compression: GradientCompressionSettings(ratio: 0.1, errorFeedback: true))
        o.precision = .bf16
        var clean = o
        clean.ssdDirectory += "-reference"
        let undisturbed = try TrainingRun(clean)
        try undisturbed.run()
        let expected = try Self.deviceStates(undisturbed)
        undisturbed.finish()
        #expect(undisturbed.records.last!.loss < undisturbed.records.first!.loss)
        o.deviceFaults = [0: "crash@step=3,phase=update"]
        o.onDeviceFailure = .retry(maxRetries: 1)
        let run = try TrainingRun(o)
        defer { run.finish() }
        try run.run()
        #expect(run.recoveries == 1)
        #expect(try Self.deviceStates(run) == expected)
        #expect(Self.lossBits(run.records) == Self.lossBits(undisturbed.records))
    }

    /// An export writes the decoded states as fp32; resumed on the same devices they encode to the
    /// same codes (the devices then hold exactly what they held) and the run goes on as one that
    /// never stopped; resumed with fp32 states on three devices the devices hold the decoded
    /// values themselves.
    @Test func anExportRoundTripsThroughFP32() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        var o = Self.eightBit(dir, data, mode: .suO, steps: 3)
        o.saveCheckpoint = "\(dir.path)/checkpoint-8bit"
        let saved = try TrainingRun(o)
        try saved.run()
        let savedStates = try Self.deviceStates(saved)
        saved.finish()
        let exported = "\(dir.path)/exported"
        _ = try PortableCheckpoint.export(from: o.saveCheckpoint!, to: exported)
        let contents = try PortableCheckpoint.read(from: exported, optimizer: o.optimizer)
        #expect(contents.vectors.map { $0.array.map(\.bitPattern) } == savedStates)

        var resumed = Self.eightBit(dir, data, mode: .suO, steps: 6)
        resumed.ssdDirectory = "\(dir.path)/ssd-resumed"
        resumed.resume = exported
        let run = try TrainingRun(resumed)
        #expect(try Self.deviceStates(run) == savedStates)
        try run.run()
        run.finish()
        let whole = try undisturbedRun(Self.eightBit(dir, data, mode: .suO, steps: 6))
        #expect(Self.lossBits(run.records) == Self.lossBits(Array(whole.records.suffix(3))))
        #expect(Self.bits(run) == Self.bits(whole))

        var wide = options(dir, data: data, mode: .suO, steps: 4)
        wide.devices = 3
        wide.ssdDirectory = "\(dir.path)/ssd-fp32"
        wide.resume = exported
        let fp32 = try TrainingRun(wide)
        defer { fp32.finish() }
        #expect(try Self.deviceStates(fp32) == savedStates)
        try fp32.run()
    }
}
