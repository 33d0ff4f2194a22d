import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import Testing

/// 8-bit optimizer states: bytes per parameter derived by hand (docs/STUDIES.md), checked
/// against `LinkTraffic` and against what the planned iteration moves.
@Suite struct StateQuantizationTests {
    /// One byte per state element plus an fp32 scale per 2048: s = 1 + 4/2048.
    static let s = 1 + 4.0 / 2048

    static func workloads() throws -> (fp32: IterationWorkload, int8: IterationWorkload) {
        let shape = try ModelPreset.named("llama3-8b").shape(sequence: 1024, batch: 1)
        return (try IterationWorkload(model: shape), try IterationWorkload(model: shape, quantizedStates: .blockwise8Bit))
    }

    /// By hand, Adam (two states), paper accounting (gradient, p 4 B):
    /// base: gradient offload 4 + read g, p, states 8 + 2s + write p, states 4 + 2s = 16 + 4s on
    /// the shared link; su/su+o: gradient down 4, parameters up 4 (8, as in fp32), and inside
    /// the device load g, p, states 8 + 2s + write back p, states 4 + 2s = 12 + 4s.
    @Test func bytesPerParameterAreTheHandDerivedCounts() {
        let s = Self.s
        #expect(StateQuantization.blockwise8Bit.bytesPerState == s)
        let base = LinkTraffic.perParameter(.base, accounting: .paper(compressedFraction: 0.02), bytesPerState: s)
        #expect(base.sharedDown == 4 + 4 + 2 * s && base.sharedUp == 4 + 4 + 2 * s)
        let su = LinkTraffic.perParameter(.suO, accounting: .paper(compressedFraction: 0.02), bytesPerState: s)
        #expect(su.shared == 8 && su.deviceInternal == 4 + 2 * (4 + 2 * s))
        // fp32 is the default and unchanged.
        #expect(LinkTraffic.perParameter(.base, accounting: .paper(compressedFraction: 0.02)).shared == 32)
    }

    @Test func thePlanMovesTheHandDerivedBytes() throws {
        let setup = try IterationPlannerTests.setup()
        let (fp32, int8) = try Self.workloads()
        let base = try StudyResult.run(.base, int8, devices: 4, on: setup)
        #expect(abs(base.sharedLinkBytesPerParameter - (16 + 4 * Self.s)) < 1e-6)
        // Inside the devices, su+o saves 2 states × (4 − s) on the load and again on the write-back.
        func devicePerParameter(_ w: IterationWorkload) throws -> Double {
            try StudyResult.run(.suO, w, devices: 4, on: setup).deviceBytes.reduce(0, +) / Double(w.parameters)
        }
        #expect(abs(try devicePerParameter(fp32) - devicePerParameter(int8) - 4 * (4 - Self.s)) < 1e-6)
        #expect(abs(try StudyResult.run(.suO, int8, devices: 4, on: setup).sharedLinkBytesPerParameter - 8) < 1e-6)
    }

    /// 8-bit states move fewer bytes, and are never slower, in every mode.
    @Test func eightBitStatesMoveFewerBytesAndAreNeverSlower() throws {
        let setup = try IterationPlannerTests.setup()
        let (fp32, int8) = try Self.workloads()
        for mode in OffloadMode.allCases {
            let full = try StudyResult.run(mode, fp32, devices: 4, on: setup)
            let small = try StudyResult.run(mode, int8, devices: 4, on: setup)
            #expect(small.deviceBytes.reduce(0, +) < full.deviceBytes.reduce(0, +), "\(mode.rawValue)")
            #expect(small.sharedLinkBytes <= full.sharedLinkBytes, "\(mode.rawValue)")
            #expect(small.iterationSeconds <= full.iterationSeconds, "\(mode.rawValue)")
        }
    }

    @Test func roundTripsAndRefusesABadBlock() throws {
        let int8 = try Self.workloads().int8
        #expect(try JSONDecoder().decode(IterationWorkload.self, from: JSONEncoder().encode(int8)) == int8)
        #expect(throws: WorkloadError.self) { try StateQuantization(blockSize: 0) }
        let bad = Data(#"{"blockSize": -1}"#.utf8)
        #expect(throws: WorkloadError.self) { try JSONDecoder().decode(StateQuantization.self, from: bad) }
    }
}
