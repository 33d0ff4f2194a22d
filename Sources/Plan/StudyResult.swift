import HardwareModel
import OffloadVocabulary

/// One modeled configuration and what it came to: the numbers every study command prints, in
/// text, JSON or a CSV row.
public struct StudyResult: Sendable {
    public let mode: OffloadMode
    /// Storage devices of each host.
    public let devices: Int
    /// Hosts training together, data parallel; every figure below is one host's.
    public let hosts: Int
    public let workload: IterationWorkload
    public let phaseSeconds: [BreakdownPhase: Double]
    public let iterationSeconds: Double
    /// Both directions of the shared host link.
    public let sharedLinkBytes: Double
    /// Bytes each device's flash, port or FPGA link carried, by device.
    public let deviceBytes: [Double]
    /// Bytes the host sent to the other hosts (and, a ring being symmetric, received from them):
    /// the reduce-scatters and all-gathers; 0 for one host.
    public let networkBytes: Double
    /// Seconds the network is busy with them at its bandwidth (each way), to set beside the
    /// phases they fall in; 0 for one host.
    public let networkSeconds: Double

    public init(mode: OffloadMode, devices: Int, hosts: Int = 1, workload: IterationWorkload, timeline: IterationTimeline) {
        self.mode = mode
        self.devices = devices
        self.hosts = hosts
        self.workload = workload
        phaseSeconds = timeline.phaseSeconds
        iterationSeconds = timeline.iterationSeconds
        sharedLinkBytes = timeline.bytes(at: .sharedLink)
        deviceBytes = timeline.deviceBytes(devices: devices)
        let bytes = timeline.bytes(at: .network)
        networkBytes = bytes
        let network = timeline.plan.places.firstIndex(of: .network).map { timeline.plan.graph.resources[$0].capacity }
        networkSeconds = network.map { bytes / $0 } ?? 0
    }

    public static func run(_ mode: OffloadMode, _ workload: IterationWorkload, devices: Int, hosts: Int = 1,
                           on setup: HardwareSetup) throws(PlanError) -> StudyResult {
        StudyResult(mode: mode, devices: devices, hosts: hosts, workload: workload,
                    timeline: try IterationPlanner.timeline(mode, workload, devices: devices, hosts: hosts, on: setup))
    }

    public var sharedLinkBytesPerParameter: Double { sharedLinkBytes / Double(workload.parameters) }

    /// A study's points at one device and host count on one machine (`smartinf sweep`, and
    /// `smartinf report` around a trace): each of `modes`, su+o+c once per top-k ratio in
    /// `ratios` and the others at the workload's own (every mode keeps the workload's LoRA, state
    /// precision and schedule what-ifs), with the speedup over base at the same
    /// devices, hosts and machine (base is modeled for it even when `modes` leaves it out). Base
    /// comes first, then the other modes in the order given; `progress` is told of each point as
    /// it is done.
    public static func grid(_ workload: IterationWorkload, modes: [OffloadMode], ratios: [Double], devices: Int, hosts: Int = 1,
                            on setup: HardwareSetup,
                            progress: (StudyResult) -> Void = { _ in }) throws -> [(result: StudyResult, speedupVsBase: Double)] {
        let base = try run(.base, workload, devices: devices, hosts: hosts, on: setup)
        var points: [(result: StudyResult, speedupVsBase: Double)] = []
        for mode in modes.filter({ $0 == .base }) + modes.filter({ $0 != .base }) {
            for ratio in mode == .suOC ? ratios : [workload.topkRatio] {
                let result = mode == .base ? base
                    : try run(mode, workload.withTopkRatio(ratio), devices: devices, hosts: hosts, on: setup)
                points.append((result, base.iterationSeconds / result.iterationSeconds))
                progress(result)
            }
        }
        return points
    }

    public func seconds(_ phase: BreakdownPhase) -> Double { phaseSeconds[phase] ?? 0 }
}

/// `smartinf validate`: the model against reference sets (the paper's Fig. 9 and Fig. 3b), on
/// the profiles as shipped (in-sample: they were calibrated on these points) and cross-validated
/// (each device-count group predicted by a refit without it).
public struct Validation: Sendable {
    /// The goals the issue sets: every speedup within ±10 %, every total within ±15 %, and a
    /// cross-validated mean absolute error of at most 8 %.
    public static let speedupTolerance = 0.10
    public static let totalTolerance = 0.15
    public static let crossValidatedMeanTolerance = 0.08

    public let predictions: [PointPrediction]
    /// Each fold's predictions of the points it left out; empty when not cross-validated.
    public let folds: [Calibration.Fold]

    public init(points: [ReferenceSet.Point], setup: HardwareSetup, crossValidation: Calibration? = nil,
                grouping: Calibration.Grouping = .devices) throws {
        predictions = try ReferencePredictor.predict(points, on: setup)
        folds = try crossValidation?.crossValidate(points, by: grouping) ?? []
    }

    public var totalErrors: ErrorSummary { ErrorSummary(predictions.compactMap(\.totalError)) }
    public var speedupErrors: ErrorSummary { ErrorSummary(predictions.compactMap(\.speedupError)) }
    public var inSample: ErrorSummary { ErrorSummary(predictions.flatMap(\.errors)) }
    public var crossValidated: ErrorSummary? {
        folds.isEmpty ? nil : ErrorSummary(folds.flatMap { $0.predictions.flatMap(\.errors) })
    }

    public var worstSpeedupError: Double { speedupErrors.worst }
    public var worstTotalError: Double { totalErrors.worst }
    public var goalsMet: Bool {
        worstSpeedupError <= Self.speedupTolerance && worstTotalError <= Self.totalTolerance
            && (crossValidated.map { $0.meanAbsolute <= Self.crossValidatedMeanTolerance } ?? true)
    }
}
