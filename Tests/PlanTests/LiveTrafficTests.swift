import Foundation
import Offload
import OffloadVocabulary
import Optim
import Plan
import Testing
import Trainer

/// The traffic model against a live run: what the trainer measured crossing the shared link and
/// moving inside the devices matches the dtype-aware per-parameter counts (up to payload headers
/// and 4 KiB direct-I/O rounding), with fp32 states and with 8-bit ones, whose bytes per state
/// (1 + 4/B) the studies' what-if (`StateQuantization`) charges.
@Suite(.serialized) struct LiveTrafficTests {
    @Test(arguments: [(Precision.fp32, 1.0, StatePrecision.fp32), (.bf16, 1.0, .fp32), (.fp32, 0.1, .fp32), (.fp32, 1.0, .eightBit)])
    func measuredTrafficMatchesTheModel(precision: Precision, ratio: Double, states: StatePrecision) throws {
        let dir = "/var/tmp/smartinf-traffic-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SyntheticCorpus.write(to: dir, trainBytes: 20_000, validationBytes: 2_000, seed: 1)
        let mode: OffloadMode = ratio < 1 ? .suOC : .suO
        var options = TrainingOptions(
            model: .initialize(spec: "gpt2:1,2,64,16,256", seed: 1), trainData: "\(dir)/train.bin", batchSize: 2,
            sequenceLength: 16, steps: 2, precision: precision, mode: mode, devices: 2, ssdDirectory: "\(dir)/ssd",
            dramBytes: 16 << 20, subgroupElements: 65536, compression: GradientCompressionSettings(ratio: ratio))
        options.statePrecision = states
        let run = try TrainingRun(options)
        defer { run.finish() }
        try run.run()
        let parameters = Double(run.partition.paddedElements * 2)  // two steps
        let measured = run.traffic
        let gradientBytes = Double(precision.byteWidth)
        // The compressed payload's measured share of dense fp32 bytes feeds the model.
        let fraction = mode == .suOC ? Double(measured.gradientBytes) / (parameters * 4) : 1
        let quantization = try states.blockSize.map { try StateQuantization(blockSize: $0) }
        let model = LinkTraffic.perParameter(mode,
                                             accounting: .dtypeAware(gradientBytes: gradientBytes, copyBytes: gradientBytes,
                                                                     compressedFraction: fraction),
                                             bytesPerState: quantization?.bytesPerState ?? 4)
        #expect(states.bytesPerState == quantization?.bytesPerState ?? 4)
        func close(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool { abs(a - b) <= tolerance * b }
        if mode == .suO {
            #expect(close(Double(measured.gradientBytes) / parameters, model.sharedDown, 0.01), "down \(measured.gradientBytes)")
        } else {
            // top-10% with fp32 values and ~8-bit varint indices: about 12.5% of dense fp32.
            #expect(fraction > 0.1 && fraction < 0.16)
        }
        #expect(close(Double(measured.parameterBytes) / parameters, model.sharedUp, 0.001))
        let internalBytes = Double(measured.deviceBytesRead + measured.deviceBytesWritten) / parameters
        #expect(close(internalBytes, model.deviceInternal, 0.05), "inside \(internalBytes) vs \(model.deviceInternal)")
    }
}
