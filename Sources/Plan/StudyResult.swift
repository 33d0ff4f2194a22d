import HardwareModel
import OffloadVocabulary

/// One modeled configuration and what it came to: the numbers every study command prints, in
/// text, JSON or a CSV row.
public struct StudyResult: Sendable {
    public let mode: OffloadMode
    public let devices: Int
    public let workload: IterationWorkload
    public let phaseSeconds: [BreakdownPhase: Double]
    public let iterationSeconds: Double
    /// Both directions of the shared host link.
    public let sharedLinkBytes: Double
    /// Bytes each device's flash, port or FPGA link carried, by device.
    public let deviceBytes: [Double]

    public init(mode: OffloadMode, devices: Int, workload: IterationWorkload, timeline: IterationTimeline) {
        self.mode = mode
        self.devices = devices
        self.workload = workload
        phaseSeconds = timeline.phaseSeconds
        iterationSeconds = timeline.iterationSeconds
        sharedLinkBytes = timeline.bytes(at: .sharedLink)
        deviceBytes = timeline.deviceBytes(devices: devices)
    }

    public static func run(_ mode: OffloadMode, _ workload: IterationWorkload, devices: Int,
                           on setup: HardwareSetup) throws(PlanError) -> StudyResult {
        StudyResult(mode: mode, devices: devices, workload: workload,
                    timeline: try IterationPlanner.timeline(mode, workload, devices: devices, on: setup))
    }

    public var sharedLinkBytesPerParameter: Double { sharedLinkBytes / Double(workload.parameters) }

    /// A study's points at one device count on one machine (`smartinf sweep`, and `smartinf
    /// report` around a trace): each of `modes`, su+o+c once per top-k ratio in `ratios` and the
    /// others at the workload's own, with the speedup over base at the same devices and machine
    /// (base is modeled for it even when `modes` leaves it out). Base comes first, then the
    /// other modes in the order given; `progress` is told of each point as it is done.
    public static func grid(_ workload: IterationWorkload, modes: [OffloadMode], ratios: [Double], devices: Int,
                            on setup: HardwareSetup,
                            progress: (StudyResult) -> Void = { _ in }) throws -> [(result: StudyResult, speedupVsBase: Double)] {
        let base = try run(.base, workload, devices: devices, on: setup)
        var points: [(result: StudyResult, speedupVsBase: Double)] = []
        for mode in modes.filter({ $0 == .base }) + modes.filter({ $0 != .base }) {
            for ratio in mode == .suOC ? ratios : [workload.topkRatio] {
                let result = mode == .base ? base
                    : try run(mode, IterationWorkload(model: workload.model, optimizer: workload.optimizer,
                                                      subgroupElements: workload.subgroupElements, topkRatio: ratio),
                              devices: devices, on: setup)
                points.append((result, base.iterationSeconds / result.iterationSeconds))
                progress(result)
            }
        }
        return points
    }

    public func seconds(_ phase: BreakdownPhase) -> Double { phaseSeconds[phase] ?? 0 }
}

/// `smartinf validate`: the paper's Fig. 9 configurations replayed on the calibrated profiles.
public struct Validation: Sendable {
    public struct Row: Sendable {
        public let reference: PaperReference.Point
        public let modeled: StudyResult
        public let modeledSpeedup: Double

        public var speedupError: Double { modeledSpeedup / reference.speedup - 1 }
        public var totalError: Double { modeled.iterationSeconds / reference.totalSeconds - 1 }
    }

    /// The goals the issue sets: every speedup within ±10 %, every total within ±15 %.
    public static let speedupTolerance = 0.10
    public static let totalTolerance = 0.15

    public let rows: [Row]

    public init(reference: PaperReference, setup: HardwareSetup) throws {
        var rows: [Row] = []
        var baseSeconds: [String: Double] = [:]
        // Base first in each group, so speedups can be formed.
        let ordered = reference.points.sorted { ($0.model, $0.devices, $0.mode != .base) < ($1.model, $1.devices, $1.mode != .base) }
        for point in ordered {
            let workload = try IterationWorkload(model: try ModelPreset.named(point.preset).shape())
            let result = try StudyResult.run(point.mode, workload, devices: point.devices, on: setup)
            let key = "\(point.model)/\(point.devices)"
            if point.mode == .base { baseSeconds[key] = result.iterationSeconds }
            let speedup = (baseSeconds[key] ?? .nan) / result.iterationSeconds
            rows.append(Row(reference: point, modeled: result, modeledSpeedup: speedup))
        }
        self.rows = rows
    }

    public var worstSpeedupError: Double { rows.map { abs($0.speedupError) }.max() ?? 0 }
    public var worstTotalError: Double { rows.map { abs($0.totalError) }.max() ?? 0 }
    public var goalsMet: Bool { worstSpeedupError <= Self.speedupTolerance && worstTotalError <= Self.totalTolerance }
}

extension Bool: @retroactive Comparable {
    public static func < (a: Bool, b: Bool) -> Bool { !a && b }
}
