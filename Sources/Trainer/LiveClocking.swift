import DeviceProtocol
import Foundation
import GPT
import HardwareModel
import LiveClock
import Offload
import Optim
import OffloadVocabulary
import Plan
import Trace

/// Modeled time for a live run. Every operation the host and the devices run is charged to the
/// hardware model along the routes of `LiveRoutes`: under the virtual clock the step's recorded
/// operations are simulated and the modeled seconds reported; under the paced clock the same
/// routes are enforced as they run (through the shared `PacerTable`) and also simulated, so
/// paced wall time ÷ dilation can be checked against the model.
///
/// A rank of a data-parallel run of R ranks is one of R hosts of the many-hosts model
/// (`IterationPlanner`): its machine has the network, and its step the rank's reduce-scatter and
/// all-gather with the bytes it moved. Rank 0 writes the trace, which stands for every host (they
/// are alike), so that `replay` and `export --chakra` take it as a trace of R hosts.
final class LiveClocking {
    let options: LiveClockOptions
    let routes: LiveRoutes
    let setup: HardwareSetup
    let table: PacerTable?
    let shape: ModelShape
    let mode: OffloadMode
    let devices: Int
    /// The ranks of the run: the hosts it is modeled as.
    let ranks: Int
    /// How the devices store the states: the trace's workload says so (its 8-bit what-if).
    let statePrecision: StatePrecision
    /// FLOPs of one forward pass of the live model; backward is twice that (no recompute here).
    var forwardFLOPs: Double { shape.forwardFLOPs }
    private var traceOperations: [TraceOperation] = []
    private var modeledElapsed = 0.0
    private var wallOrigin: UInt64?
    private(set) var lastTimeline: IterationTimeline?
    private var lastPayloadBytes = 0
    private var stepsRecorded = 0

    init(_ options: LiveClockOptions, config: GPTConfig, batch: Int, sequence: Int, mode: OffloadMode, devices: Int, ranks: Int,
         statePrecision: StatePrecision, directory: String) throws {
        self.options = options
        let library = try ProfileLibrary.locate()
        setup = try HardwareSetup(host: options.hostProfile, device: options.deviceProfile, gpu: options.gpuProfile, from: library,
                                  overrides: try options.overrides.map { (t) throws(ProfileError) in try ProfileOverride(parsing: t) })
        shape = try ModelShape(family: .gpt2, layers: config.layers, hidden: config.channels, heads: config.heads,
                               sequence: sequence, batch: batch, vocabulary: config.paddedVocabSize, positions: config.maxSeqLen)
        self.mode = mode
        self.devices = devices
        self.ranks = ranks
        self.statePrecision = statePrecision
        if ranks > 1, setup.host.network == nil {
            throw TrainingError.badOption("--host-profile \(options.hostProfile): a run of \(ranks) ranks is modeled as \(ranks) hosts, whose collectives cross their network, but the profile has no net section; use one that has (hpca24-host, pcie-gen4-host, pcie-gen5-host)")
        }
        routes = try LiveRoutes(setup: setup, devices: devices, hosts: ranks, mode: self.mode)
        if options.kind == .paced {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            table = try PacerTable(creating: "\(directory)/pacer.table", routes: routes, dilation: options.dilation)
        } else {
            table = nil
        }
    }

    /// Under the paced clock, holds the forward or backward pass to its modeled time.
    func paceCompute(backward: Bool, startedAt: ContinuousClock.Instant) {
        table?.paceCompute(backward: backward, flops: backward ? 2 * forwardFLOPs : forwardFLOPs,
                           startedAt: startedAt.systemNanoseconds)
    }

    /// The device processes' extra flags for the paced clock (each device's row in the table is
    /// its `--fleet-index`, which `DeviceProcesses` passes).
    func deviceArguments(_ i: Int) -> [String] {
        guard let table else { return [] }
        return ["--clock", "paced", "--pacer", table.path]
    }

    /// The in-process engines' pacers (base under the paced clock).
    func inProcessPacers() throws -> [OperationPacerHandle] {
        guard let table else { return [] }
        return try (0..<devices).map { try table.pacer(forDevice: $0) }
    }

    /// Charges one step to the model, with the rank's `collectives` in it; returns its modeled
    /// phases and iteration.
    func account(forward: ClosedRange<ContinuousClock.Instant>, backward: ClosedRange<ContinuousClock.Instant>,
                 fleet: [MemberStep], collectives: [LiveCollective]) -> ModeledSeconds {
        // The devices' operations carry system nanoseconds; the host's passes join them so.
        func wall(_ range: ClosedRange<ContinuousClock.Instant>) -> ClosedRange<UInt64> {
            range.lowerBound.systemNanoseconds...range.upperBound.systemNanoseconds
        }
        let record = LiveStepRecord(forwardFLOPs: forwardFLOPs, backwardFLOPs: 2 * forwardFLOPs, forwardWall: wall(forward),
                                    backwardWall: wall(backward), offloads: fleet.map { ($0.offloadBytes, $0.offloadWall) },
                                    devices: fleet.map(\.operations), collectives: collectives)
        let (plan, wall) = routes.plan(record)
        let timeline = IterationTimeline(plan)
        lastTimeline = timeline
        lastPayloadBytes = fleet.reduce(0) { $0 + $1.offloadBytes }
        if options.tracePath != nil {
            appendToTrace(timeline, wall: wall)
            stepsRecorded += 1
        }
        modeledElapsed += timeline.iterationSeconds
        let phases = timeline.phaseSeconds
        // Operation 1 is the backward pass; what follows it is the fleet's step.
        let backwardEnd = timeline.result.operations[plan.tags.firstIndex { $0.phase == .backward } ?? 0].end
        return ModeledSeconds(forward: phases[.forward] ?? 0, backwardAndOffload: phases[.backwardAndOffload] ?? 0,
                              update: phases[.update] ?? 0, iteration: timeline.iterationSeconds,
                              fleetStep: timeline.iterationSeconds - backwardEnd)
    }

    private func appendToTrace(_ timeline: IterationTimeline, wall: [ClosedRange<UInt64>]) {
        let origin = wallOrigin ?? wall.map(\.lowerBound).min() ?? 0
        wallOrigin = origin
        let first = traceOperations.count
        let graph = timeline.plan.graph
        for (o, tag) in timeline.plan.tags.enumerated() {
            let id = OperationID(index: o)
            let timing = timeline.result.operations[o]
            let w = wall[o]
            traceOperations.append(TraceOperation(
                id: first + o, tag: tag, amount: graph.amount(of: id), path: graph.path(of: id).map(\.index),
                after: graph.predecessors(of: id).map { first + $0.index },
                modeled: TraceInterval(start: modeledElapsed + timing.start, end: modeledElapsed + timing.end),
                wall: TraceInterval(start: Double(w.lowerBound &- min(origin, w.lowerBound)) / 1e9,
                                    end: Double(w.upperBound &- min(origin, w.upperBound)) / 1e9),
                costs: TraceOperation.recordedCosts(graph.costs(of: id)),
                latency: graph.latency(of: id) > 0 ? graph.latency(of: id) : nil, step: stepsRecorded))
        }
    }

    /// Writes every step's operations as one trace (source `train`), with the live workload.
    func writeTrace(subgroupElements: Int, topkRatio: Double) throws {
        guard let path = options.tracePath, let timeline = lastTimeline else { return }
        let dense = Double(shape.parameters) * 4
        let fraction = mode == .suOC && lastPayloadBytes > 0 ? min(1, Double(lastPayloadBytes) / dense) : nil
        let workload = try IterationWorkload(model: shape, subgroupElements: max(1, subgroupElements), topkRatio: topkRatio,
                                             compressedFraction: fraction,
                                             quantizedStates: try statePrecision.blockSize.map { try StateQuantization(blockSize: $0) })
        var file = TraceFile(timeline, workload: workload, mode: mode, devices: devices, hosts: ranks,
                             profile: TraceProfile(host: options.hostProfile, device: options.deviceProfile, gpu: options.gpuProfile,
                                                   overrides: options.overrides),
                             source: .train, clock: TraceHeader.Clock(rawValue: options.kind.rawValue) ?? .wall,
                             dilation: options.kind == .paced ? options.dilation : 1)
        file.operations = traceOperations
        try file.write(to: path)
    }
}

/// Modeled seconds of one step, in the paper's three phases.
public struct ModeledSeconds: Codable, Sendable, Equatable {
    public var forward: Double
    public var backwardAndOffload: Double
    public var update: Double
    public var iteration: Double
    /// From the end of the backward pass to the end of the step: the gradient offload and the
    /// update, what the wall clock's `update` phase measures.
    public var fleetStep: Double

    enum CodingKeys: String, CodingKey {
        case forward = "fw", backwardAndOffload = "bw_grad_offload", update, iteration = "iteration_s", fleetStep = "fleet_step"
    }
}
