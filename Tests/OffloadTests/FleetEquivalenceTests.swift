import DeviceProtocol
import Foundation
import Offload
import SmartSSD
import OffloadVocabulary
import Optim
import SeededRandom
import Testing

/// A scratch directory on a disk-backed filesystem, removed afterwards.
final class FleetDirectory {
    let path = "/var/tmp/smartinf-fleet-\(getpid())-\(UUID().uuidString.prefix(8))"
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func seededValues(_ n: Int, scale: Float, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
}

/// Runs `steps` steps of `optimizer` in `mode` on random gradients and returns (p, m or the
/// single state, compute copy) over all parameters. The gradients are handed over in `storage`
/// (bf16, the gradient precision, or fp32; `bf16Values` rounds fp32 ones to bf16 first) and the
/// compute copy (fp16) read back as `storage` says too: as fp16 itself, or widened to fp32.
func runFleet(mode: OffloadMode, optimizer: OptimizerConfig, parameterCount: Int, devices: Int, steps: Int,
              compression: GradientCompressionSettings? = nil, storage: Precision = .fp32, bf16Values: Bool = false,
              states: StatePrecision = .fp32) throws -> (p: [Float], state: [Float], copy: [Float]) {
    let dir = FleetDirectory()
    let partition = Partition(parameterCount: parameterCount, deviceCount: devices)
    let configuration = DeviceFleet.Configuration(mode: mode, optimizer: optimizer, gradientPrecision: .bf16,
                                                  copyOutPrecision: .fp16, subgroupElements: 1024, compression: compression,
                                                  statePrecision: states)
    let backend: FleetBackend = mode == .base
        ? .inProcess(count: devices, directory: dir.path, dramBytes: 16 << 20, threads: 1, buffered: false)
        : .launch(DeviceProcesses.Options(count: devices, directory: dir.path, dram: "16MiB"))
    let fleet = try DeviceFleet.start(backend, partition: partition, configuration: configuration,
                                      start: .load(AlignedBuffer(seededValues(parameterCount, scale: 1, seed: 5))), directory: dir.path)
    defer { fleet.shutdown() }
    let gradient = StreamBuffer(precision: storage, count: parameterCount)
    for step in 1...steps {
        let values = seededValues(parameterCount, scale: 64, seed: UInt64(1000 + step))
        for i in 0..<parameterCount { gradient[i] = bf16Values ? Float(BFloat16(values[i])) : values[i] }
        let update = optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1.0 / 64)
        try fleet.step(step, update: update, skip: false, gradient: gradient)
    }
    #expect(try fleet.committedSteps() == Array(repeating: steps, count: devices))
    let copy = StreamBuffer(precision: storage == .fp32 ? .fp32 : .fp16, count: parameterCount)
    fleet.readComputeCopy(into: copy)
    return (try fleet.readState(.parameters), try fleet.readState(.state1), copy.floats)
}

@Suite(.serialized) struct FleetEquivalenceTests {
    /// Base (host update over SSD files), su and su+o give bit-identical parameters, states and
    /// compute copies after K steps, with every optimizer: they run the same kernel on the same
    /// rounded gradients, only on different sides of the link.
    @Test(arguments: [
        OptimizerConfig.adamw(AdamWHyperparameters()),
        .sgd(SGDHyperparameters(momentum: 0.9, nesterov: true, weightDecay: 0.01), .torch),
        .adagrad(AdagradHyperparameters(weightDecay: 0.01), .reference),
    ])
    func baseSuAndSuOAreBitIdentical(optimizer: OptimizerConfig) throws {
        let n = 5003  // slices of 2560, 3 subgroups per device, padding at the end
        let base = try runFleet(mode: .base, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3)
        let su = try runFleet(mode: .su, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3)
        let suO = try runFleet(mode: .suO, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3)
        #expect(base.p.map(\.bitPattern) == su.p.map(\.bitPattern))
        #expect(base.p.map(\.bitPattern) == suO.p.map(\.bitPattern))
        #expect(base.state.map(\.bitPattern) == suO.state.map(\.bitPattern))
        #expect(base.copy.map(\.bitPattern) == suO.copy.map(\.bitPattern))
        // The copy is the fp16 rounding of the committed fp32 parameters.
        #expect(suO.copy == suO.p.map { Float(Float16($0)) })
        // And the parameters moved.
        #expect(base.p != seededValues(n, scale: 1, seed: 5))
    }

    /// With 8-bit states too: the in-process engines of base run the same quantized kernel as the
    /// device processes, so every mode gives the same bits; and the states are not fp32's.
    @Test(arguments: [
        OptimizerConfig.adamw(AdamWHyperparameters()),
        .sgd(SGDHyperparameters(momentum: 0.9, nesterov: true, weightDecay: 0.01), .torch),
        .adagrad(AdagradHyperparameters(weightDecay: 0.01), .reference),
    ])
    func baseSuAndSuOAreBitIdenticalWithEightBitStates(optimizer: OptimizerConfig) throws {
        let n = 5003
        let states = StatePrecision.blockwise8(blockSize: 512)
        let base = try runFleet(mode: .base, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3, states: states)
        let su = try runFleet(mode: .su, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3, states: states)
        let suO = try runFleet(mode: .suO, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3, states: states)
        #expect(base.p.map(\.bitPattern) == su.p.map(\.bitPattern))
        #expect(base.p.map(\.bitPattern) == suO.p.map(\.bitPattern))
        #expect(base.state.map(\.bitPattern) == su.state.map(\.bitPattern))
        #expect(base.state.map(\.bitPattern) == suO.state.map(\.bitPattern))
        #expect(base.copy.map(\.bitPattern) == suO.copy.map(\.bitPattern))
        let fp32 = try runFleet(mode: .suO, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3)
        #expect(suO.state != fp32.state)
        // Every state a decoded 8-bit value: a map value times its block's scale.
        let map = optimizer.kind.stateMaps[0]
        for block in stride(from: 0, to: 2048, by: 512) {
            let values = Array(suO.state[block..<(block + 512)])
            let scale = values.max { abs($0) < abs($1) }!
            #expect(values.allSatisfy { v in map.values.contains { $0 * scale == v || $0 * -scale == v } })
        }
    }

    /// A mixed-precision host hands over its bf16 gradients and reads back the fp16 compute copy
    /// as it is: the same bits as handing over the same values in fp32 and widening the copy —
    /// in every mode, dense and compressed, through the padded tail. (Top-k must see the rounded
    /// values either way: rounding makes ties, and ties pick other elements.)
    @Test(arguments: [OffloadMode.base, .suO, .suOC])
    func sixteenBitGradientsAndCopiesGiveTheSameBits(mode: OffloadMode) throws {
        let n = 5003
        let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())
        let compression = mode.compresses ? GradientCompressionSettings(ratio: 0.1) : nil
        let wide = try runFleet(mode: mode, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3, compression: compression,
                                bf16Values: true)
        let narrow = try runFleet(mode: mode, optimizer: optimizer, parameterCount: n, devices: 2, steps: 3, compression: compression,
                                  storage: .bf16)
        #expect(narrow.p.map(\.bitPattern) == wide.p.map(\.bitPattern))
        #expect(narrow.state.map(\.bitPattern) == wide.state.map(\.bitPattern))
        #expect(narrow.copy.map(\.bitPattern) == wide.copy.map(\.bitPattern))
    }

    /// Against an in-process float64-free reference: the same kernel over the whole flat vector
    /// on the bf16-rounded gradients gives the fleet's result (the partition changes nothing).
    @Test func partitionedUpdateEqualsOneFlatUpdate() throws {
        let n = 3001
        let optimizer = OptimizerConfig.adamw(AdamWHyperparameters())
        let fleet = try runFleet(mode: .suO, optimizer: optimizer, parameterCount: n, devices: 3, steps: 2)
        let p = AlignedBuffer(seededValues(n, scale: 1, seed: 5))
        let states = [AlignedBuffer<Float>(count: n), AlignedBuffer<Float>(count: n)]
        for step in 1...2 {
            let gradient = StreamBuffer(precision: .bf16, values: seededValues(n, scale: 64, seed: UInt64(1000 + step)))
            UpdateKernel().run(optimizer.prepare(step: step, learningRate: 1e-2, combinedUnscale: 1.0 / 64), parameters: p,
                               states: states, gradient: gradient)
        }
        #expect(fleet.p.map(\.bitPattern) == p.array.map(\.bitPattern))
        #expect(fleet.state.map(\.bitPattern) == states[0].array.map(\.bitPattern))
    }

    /// su+o+c moves the parameters too, and with error feedback converges towards dense.
    @Test func compressedModeRuns() throws {
        let n = 4096
        let optimizer = OptimizerConfig.sgd(SGDHyperparameters(momentum: 0), .reference)
        let dense = try runFleet(mode: .suO, optimizer: optimizer, parameterCount: n, devices: 2, steps: 2)
        let sparse = try runFleet(mode: .suOC, optimizer: optimizer, parameterCount: n, devices: 2, steps: 2,
                                  compression: GradientCompressionSettings(ratio: 0.1))
        let initial = seededValues(n, scale: 1, seed: 5)
        let moved = zip(sparse.p, initial).filter { $0 != $1 }.count
        // Top-10% per subgroup over two steps: between 10% and 20% of the parameters moved.
        #expect(moved >= n / 10 && moved <= n / 5 + 4)
        #expect(sparse.p != dense.p)
    }

    @Test func aDeadDeviceIsReportedByNumber() throws {
        let dir = FleetDirectory()
        let partition = Partition(parameterCount: 4000, deviceCount: 2)
        let fleet = try DeviceFleet.start(
            .launch(DeviceProcesses.Options(count: 2, directory: dir.path, dram: "16MiB")), partition: partition,
            configuration: DeviceFleet.Configuration(mode: .suO, optimizer: .adamw(AdamWHyperparameters()), subgroupElements: 1024),
            start: .load(AlignedBuffer(count: 4000)), directory: dir.path)
        let processes = try #require(fleet.processes)
        kill(processes.processes[1].processIdentifier, SIGKILL)
        processes.processes[1].waitUntilExit()
        let error = #expect(throws: FleetError.self) {
            try fleet.step(1, update: OptimizerConfig.adamw(AdamWHyperparameters()).prepare(step: 1, learningRate: 1e-3, combinedUnscale: 1),
                           skip: false, gradient: StreamBuffer(precision: .fp32, count: partition.paddedElements))
        }
        #expect(error?.description.hasPrefix("device 1 (") == true)
        #expect(error?.description.contains("exited with status") == true)
        #expect(error?.failure == .transport(.exited(status: SIGKILL)))
    }

    @Test func partitionPadsSlicesTo64AndExplainsThePlan() {
        let p = Partition(parameterCount: 1000, deviceCount: 3)
        #expect(p.sliceElements == 384)
        #expect(p.paddedElements == 1152)
        #expect(p.parameters(ofDevice: 2) == 768..<1000)
        let plan = p.explain(tensors: [("wte", 600), ("wpe", 400)], subgroupElements: 128)
        #expect(plan.contains("device 0: elements 0..<384, 3 subgroup(s) of ≤ 128: wte[0..<384]"))
        #expect(plan.contains("device 1: elements 384..<768, 3 subgroup(s) of ≤ 128: wte[384..<600], wpe[0..<168]"))
    }
}

/// A baseline run whose SSD file another engine holds is refused with the device's own `busy`
/// code, the value recovery and the user see, whatever the message says.
@Test func aBaselineOnAnSSDFileInUseIsRefusedAsBusy() throws {
    let dir = FleetDirectory()
    try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
    let holder = try DeviceEngine(DeviceEngine.Options(deviceName: "holder", ssdPath: "\(dir.path)/base-0.ssd",
                                                       capacityBytes: 1 << 30, dramBytes: 16 << 20))
    let configuration = DeviceFleet.Configuration(mode: .base, optimizer: .adamw(AdamWHyperparameters()), subgroupElements: 1024)
    #expect {
        _ = try DeviceFleet.start(.inProcess(count: 1, directory: dir.path, dramBytes: 16 << 20, threads: 1, buffered: false),
                                  partition: Partition(parameterCount: 100, deviceCount: 1), configuration: configuration,
                                  start: .load(AlignedBuffer(seededValues(100, scale: 1, seed: 5))), directory: dir.path)
    } throws: { error in
        guard case FleetError.deviceFailed(0, _, .refused(.busy), _) = error else { return false }
        return true
    }
    withExtendedLifetime(holder) {}
}
