import DeviceProtocol
import Logging
import Offload
import OffloadVocabulary
import Optim

/// A step's update over the flat parameters: one prepared update, and the ranges (parameter
/// groups) that take their own.
public struct StepUpdate: Sendable, Equatable {
    public var update: PreparedUpdate
    /// Flat ranges, in increasing order, with their own update.
    public var segments: [UpdateSegment]

    public init(_ update: PreparedUpdate, segments: [UpdateSegment] = []) {
        self.update = update
        self.segments = segments
    }
}

/// A range of the flat parameters with its own learning rate and weight decay (a param group of
/// `torch.optim`).
public struct ParameterGroup: Sendable, Equatable {
    public var elements: Range<Int>
    public var learningRate: Float
    public var weightDecay: Float

    public init(elements: Range<Int>, learningRate: Float, weightDecay: Float) {
        self.elements = elements
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }
}

/// The optimizer step around a model, with the optimizer on a device fleet: what `smartinf
/// train` and the C ABI (`libsmartinf`) both do between "the gradient is ready" and "the new
/// compute copy is back", and nowhere else.
///
/// Per step: the gradient is scanned (finite? its norm), the dynamic loss scaler decides whether
/// the step is applied or skipped, clipping and loss-scale removal are folded into one factor,
/// the update is prepared for the next applied step, and the fleet runs it (the four modes,
/// top-k with error feedback, as configured) and writes the new compute copy. Under
/// `DeviceFailurePolicy.retry` a failed device is recovered, the fleet rolled back, and the step
/// run again on the same inputs, so the run ends as if nothing had failed.
///
/// Used by one thread.
public final class OffloadedOptimizer {
    public let fleet: DeviceFleet
    public let optimizer: OptimizerConfig
    public let clipping: GradientClipping
    public let onDeviceFailure: DeviceFailurePolicy
    public private(set) var lossScaler: DynamicLossScaler?
    /// Steps the devices applied (skipped ones not counted): the optimizer's t is this + 1.
    public private(set) var appliedSteps: Int
    /// Device failures recovered from.
    public private(set) var recoveries = 0
    /// Each recovery is a warning naming the failure, with `device`, `step` and `failure` as metadata.
    private let logger: Logger

    public var partition: Partition { fleet.partition }

    /// Wraps a started `fleet`; `appliedSteps` and `lossScaler` continue a resumed run.
    public init(fleet: DeviceFleet, optimizer: OptimizerConfig, clipping: GradientClipping,
                lossScaler: DynamicLossScaler?, appliedSteps: Int = 0, onDeviceFailure: DeviceFailurePolicy = .abort,
                logger: Logger = Logger(label: "smartinf.optimizer", factory: SwiftLogNoOpLogHandler.init)) {
        self.fleet = fleet
        self.optimizer = optimizer
        self.clipping = clipping
        self.lossScaler = lossScaler
        self.appliedSteps = appliedSteps
        self.onDeviceFailure = onDeviceFailure
        self.logger = logger
    }

    /// The loss scale the next gradient must be computed under (1 without a scaler).
    public var lossScale: Double { lossScaler?.scale ?? 1 }

    /// Puts the loss scaler (if there is one) at `position`, keeping its configuration: a saved
    /// state loaded into a running optimizer.
    public func moveLossScaler(to position: DynamicLossScaler.Position) throws(DynamicLossScaler.PositionError) {
        if let configuration = lossScaler?.configuration { lossScaler = try DynamicLossScaler(configuration, continuing: position) }
    }

    /// Scans `gradient` (the flat, still loss-scaled gradient) and records the outcome with the
    /// loss scaler (or takes an `external` one's): call exactly once per step, before `prepare`.
    public func check(_ gradient: StreamBuffer, external: ExternalLossScale? = nil) -> GradientCheck {
        check(GradientStatistics.scan(gradient), external: external)
    }

    /// Records the outcome of a gradient whose `statistics` were taken elsewhere: per device
    /// slice and across data-parallel ranks, folded in device order so that every rank, and a
    /// one-rank run with as many devices, decides on the same bits. Call exactly once per step,
    /// before `prepare`.
    ///
    /// With an `external` loss scale the gradient carries that scale instead of the loss
    /// scaler's, so it is unscaled by it alone, and the loss scaler neither decides nor counts
    /// the step: the scaler that set the scale does (two scalers counting one overflow would
    /// lower the scale twice). The step is skipped when either check found an overflow.
    public func check(_ statistics: GradientStatistics, external: ExternalLossScale? = nil) -> GradientCheck {
        let overflow = !statistics.allFinite
        var skip = overflow
        let scale: Double
        if let external {
            scale = external.scale
            skip = overflow || external.overflowFound
        } else {
            scale = lossScale
            if var scaler = lossScaler {
                skip = scaler.update(overflow: overflow) == .skip
                lossScaler = scaler
            }
        }
        let unscale = skip ? 1 : clipping.combinedUnscale(scaledNorm: statistics.norm, lossScale: scale)
        return GradientCheck(statistics: statistics, lossScale: scale, overflow: overflow, skip: skip, combinedUnscale: unscale)
    }

    /// The update of the next applied step at `learningRate`, for a gradient `check` passed.
    public func prepare(_ check: GradientCheck, learningRate: Float) -> StepUpdate {
        StepUpdate(optimizer.prepare(step: appliedSteps + 1, learningRate: learningRate, combinedUnscale: check.combinedUnscale))
    }

    /// The update of the next applied step with each group's learning rate and weight decay
    /// (`groups` in increasing order, covering the parameters; the first one's update also
    /// covers the padding).
    public func prepare(_ check: GradientCheck, groups: [ParameterGroup]) -> StepUpdate {
        let updates = groups.map { group in
            optimizer.withWeightDecay(group.weightDecay)
                .prepare(step: appliedSteps + 1, learningRate: group.learningRate, combinedUnscale: check.combinedUnscale)
        }
        guard let first = updates.first else { return prepare(check, learningRate: 0) }
        let segments = zip(groups, updates).dropFirst().compactMap { group, update in
            update == first ? nil : UpdateSegment(elements: group.elements, update: update)
        }
        return StepUpdate(first, segments: segments)
    }

    /// Runs fleet step `step` on `gradient` (recovering under `retry`) and, unless it was
    /// skipped, reads the new compute copy into `computeCopy`.
    @discardableResult
    public func step(_ step: Int, update: StepUpdate, check: GradientCheck, gradient: StreamBuffer,
                     early: GradientOffloadSession? = nil, computeCopy: StreamBuffer?) throws -> StepTraffic {
        let residuals = residualsForRetry
        let traffic = try withRecovery(step, residuals: residuals) { attempt in
            // A retry writes every payload again (what was written early may be what failed).
            try fleet.step(step, update: update.update, segments: update.segments, skip: check.skip, gradient: gradient,
                           early: attempt == 0 ? early : nil)
        }
        if !check.skip {
            if let computeCopy { fleet.readComputeCopy(into: computeCopy) }
            appliedSteps += 1
        }
        return traffic
    }

    /// A step begun on the devices and not yet settled: what settling it (or running it again
    /// after a device failure) needs.
    public struct InFlight {
        public let pending: PendingFleetStep
        let update: StepUpdate
        let gradient: StreamBuffer
        let residuals: ErrorFeedbackFile?
    }

    /// Starts fleet step `step` and returns at once (`DeviceFleet.beginStep`); `gradient` must
    /// not change until `settle`.
    public func begin(_ step: Int, update: StepUpdate, check: GradientCheck, gradient: StreamBuffer,
                      early: GradientOffloadSession? = nil) throws -> InFlight {
        let residuals = residualsForRetry
        let pending = try fleet.beginStep(step, update: update.update, segments: update.segments, skip: check.skip,
                                          gradient: gradient, early: early)
        if !check.skip { appliedSteps += 1 }
        return InFlight(pending: pending, update: update, gradient: gradient, residuals: residuals)
    }

    /// Waits for a begun step (recovering under `retry`). `retried` says it had to be run
    /// again: whatever used its early parameters must be redone on `fleet.readComputeCopy`.
    public func settle(_ flight: InFlight) throws -> (traffic: StepTraffic, retried: Bool) {
        var retried = false
        let traffic = try withRecovery(flight.pending.step, residuals: flight.residuals) { attempt in
            guard attempt > 0 else { return try flight.pending.settle() }
            retried = true
            return try fleet.step(flight.pending.step, update: flight.update.update, segments: flight.update.segments,
                                  skip: flight.pending.skip, gradient: flight.gradient)
        }
        return (traffic, retried)
    }

    /// The error-feedback residuals as they stand, which a step run again must start from: a copy
    /// of every residual, so taken only when a retry may need it (retry policy, error feedback).
    private var residualsForRetry: ErrorFeedbackFile? {
        guard case .retry = onDeviceFailure, fleet.usesErrorFeedback else { return nil }
        return fleet.errorFeedback
    }

    /// Runs `attempt(0)`; under `retry`, after a device failure recovers the device, rolls the
    /// fleet back to step − 1, puts back the error-feedback `residuals` and runs `attempt(1)`,
    /// `attempt(2)`, … up to the retry limit.
    ///
    /// Every kind of device failure in a step is retried, as the recovery answers each: a
    /// device gone or silent (`transport`) is restarted or reattached; one that refused with
    /// `io`, `integrity` or `badPayload` reads its SSD again and gets its payloads written
    /// again; `notConfigured` and `outOfRange` (a step it cannot take) are configured and rolled
    /// back. A failure that happens again uses up the retries and is thrown.
    private func withRecovery(_ step: Int, residuals: ErrorFeedbackFile?,
                              _ attempt: (Int) throws -> StepTraffic) throws -> StepTraffic {
        guard case .retry(let maxRetries) = onDeviceFailure else { return try attempt(0) }
        var tries = 0
        while true {
            do {
                return try attempt(tries)
            } catch let error as FleetError {
                guard tries < maxRetries, case .deviceFailed(let device, _, let failure, _) = error else { throw error }
                tries += 1
                recoveries += 1
                logger.warning("step \(step): \(error); recovering device \(device) and rolling the fleet back to step \(step - 1) (retry \(tries) of \(maxRetries))",
                               metadata: ["device": "\(device)", "step": "\(step)", "failure": "\(failure)"])
                try fleet.recover(failed: device, inStep: step)
                if let residuals { try fleet.restore(residuals, from: "the residuals kept before step \(step)") }
            }
        }
    }
}
