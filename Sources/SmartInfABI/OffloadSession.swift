import DeviceProtocol
import DurableWrite
import Foundation
import Offload
import OffloadStep
import Optim

/// The state behind one `smartinf_optimizer` handle: the caller's tensors as one flat parameter
/// space, and once started, the `OffloadedOptimizer` (and its fleet) that steps them.
///
/// Called from one thread at a time (smartinf.h says so; torch's `Optimizer.step` is).
final class OffloadSession {
    let configuration: SessionConfiguration
    private var tensors: [TensorBinding] = []
    /// Learning rate and weight decay per parameter group, by group number.
    private var groups: [(learningRate: Float, weightDecay: Float)] = []
    private(set) var optimizer: OffloadedOptimizer?
    /// The flat gradient handed to the fleet, and the compute copy it writes back.
    private var gradient: StreamBuffer?
    private var computeCopy: StreamBuffer?
    /// Fleet steps taken since the fleet was started (skipped ones included).
    private(set) var fleetSteps = 0
    /// The session's part of every step, made durable beside the devices (`SessionState`).
    private var journal: AlternatingRecord?
    private var closed = false

    init(_ configuration: SessionConfiguration) {
        self.configuration = configuration
    }

    var parameterCount: Int { tensors.last.map { $0.offset + $0.count } ?? 0 }

    /// Adds a tensor to the end of the flat parameter space, in group `group`; groups come in
    /// order (a tensor's group is its predecessor's or the next).
    func register(_ storage: UnsafeMutableRawPointer?, count: Int, dtype: Int32, group: Int) throws(SessionError) {
        try requireOpen()
        guard optimizer == nil else { throw .badState("tensors are registered before smartinf_start") }
        guard let storage else { throw .badArgument("tensor \(tensors.count): the data pointer is NULL") }
        guard count >= 1 else { throw .badArgument("tensor \(tensors.count): element count must be at least 1, got \(count)") }
        guard let precision = Precision(rawValue: UInt8(clamping: max(0, dtype))) else {
            throw .badArgument("tensor \(tensors.count): dtype \(dtype) is not 1 (fp32), 2 (fp16) or 3 (bf16)")
        }
        guard precision == configuration.precision else {
            throw .badArgument("tensor \(tensors.count) is \(precision); this optimizer was created for \(configuration.precision) parameters")
        }
        let last = tensors.last?.group ?? 0
        guard group == last || group == last + 1 || (tensors.isEmpty && group == 0) else {
            throw .badArgument("tensor \(tensors.count) is in group \(group); groups are registered in order (expected \(last) or \(last + 1))")
        }
        if group == groups.count {
            groups.append((configuration.learningRate, configuration.optimizer.weightDecay))
        }
        tensors.append(TensorBinding(storage: storage, count: count, precision: precision, group: group, offset: parameterCount))
    }

    /// Sets a group's learning rate and weight decay for the steps that follow.
    func setGroup(_ group: Int, learningRate: Double, weightDecay: Double) throws(SessionError) {
        try requireOpen()
        guard groups.indices.contains(group) else {
            throw .badArgument("group \(group) does not exist (\(groups.count) group(s) registered)")
        }
        guard learningRate.isFinite, learningRate >= 0 else { throw .badArgument("group \(group): lr must be finite and ≥ 0, got \(learningRate)") }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw .badArgument("group \(group): weight_decay must be finite and ≥ 0, got \(weightDecay)")
        }
        groups[group] = (Float(learningRate), Float(weightDecay))
    }

    /// Starts the devices with the registered tensors' values as the initial parameters; or,
    /// with `resume` and a journal in the SSD directory, on the states the devices already hold
    /// (a process that died goes on from its last step): the masters come back into the
    /// registered tensors, rounded to their precision.
    func start() throws(SessionError) {
        try requireOpen()
        guard optimizer == nil else { throw .badState("the optimizer is started already") }
        guard !tensors.isEmpty else { throw .badState("no tensors registered") }
        let directory = configuration.placement.ssdDirectory
        if configuration.resume, let saved = try SessionState.newest(in: directory) {
            try saved.check(against: state, in: directory)
            try startFleet(.resume(committedStep: saved.fleetSteps), appliedSteps: saved.appliedSteps, lossScaler: saved.lossScaler,
                           fleetSteps: saved.fleetSteps)
            let masters: [Float]
            do { masters = try optimizer!.fleet.readState(.parameters) } catch { throw SessionError(error) }
            let computeCopy = StreamBuffer(precision: configuration.precision, values: masters)
            tensors.forEach { $0.copy(from: computeCopy) }
            return
        }
        let values = StreamBuffer(precision: configuration.precision, count: parameterCount)
        tensors.forEach { $0.copy(into: values) }
        try startFleet(.load(AlignedBuffer(values.floats)), appliedSteps: 0)
    }

    /// The session's state now, as the journal keeps it.
    private var state: SessionState {
        SessionState(fleetSteps: fleetSteps, appliedSteps: optimizer?.appliedSteps ?? 0, parameterCount: parameterCount,
                     mode: configuration.placement.mode.rawValue, devices: configuration.placement.devices,
                     optimizer: configuration.optimizer.name, precision: "\(configuration.precision)",
                     lossScaler: optimizer?.lossScaler?.position)
    }

    /// One step: the gradients (one pointer per registered tensor, in its precision; NULL for a
    /// tensor without one, taken as zeros) go through the check, the fleet's update, and the new
    /// values come back into the registered tensors. With an `external` loss scale (an outside
    /// scaler's, `smartinf_step_scaled`) the gradients carry that one instead of the session's.
    func step(gradients: [UnsafeRawPointer?], external: ExternalLossScale? = nil) throws(SessionError) -> GradientCheck {
        let optimizer = try started()
        guard gradients.count == tensors.count else {
            throw .badArgument("\(gradients.count) gradient pointer(s) for \(tensors.count) registered tensor(s)")
        }
        if let external, !(external.scale.isFinite && external.scale > 0) {
            throw .badArgument("the gradients' loss scale must be finite and positive, got \(external.scale)")
        }
        guard let gradient, let computeCopy else { throw .badState("the optimizer is not started") }
        for (tensor, g) in zip(tensors, gradients) {
            if let g { tensor.copy(gradient: g, into: gradient) } else { tensor.zero(in: gradient) }
        }
        let check = optimizer.check(gradient, external: external)
        let update = optimizer.prepare(check, groups: groupRanges())
        fleetSteps += 1
        do {
            try optimizer.step(fleetSteps, update: update, check: check, gradient: gradient, computeCopy: computeCopy)
        } catch {
            throw SessionError(error)
        }
        if !check.skip { tensors.forEach { $0.copy(from: computeCopy) } }
        try record()
        return check
    }

    /// The session's flat buffers (`smartinf_flat_buffers`): the compute copy the devices write
    /// the new parameters into and the gradient a step hands them, both in the registered
    /// tensors' precision and order. A caller whose tensors are views of them at their offsets
    /// (`move`) saves a copy of the whole model each way per step. They live until `close`: a
    /// restart of the fleet (`loadState`) keeps them.
    func flatBuffers() throws(SessionError) -> (parameters: UnsafeMutableRawPointer, gradients: UnsafeMutableRawPointer) {
        _ = try started()
        guard let gradient, let computeCopy else { throw .badState("the optimizer is not started") }
        return (computeCopy.withUnsafeMutableRawPointer { $0 }, gradient.withUnsafeMutableRawPointer { $0 })
    }

    /// Tensor `index` now lives at `storage`, holding the values it held (the caller moved it,
    /// e.g. into `flatBuffers().parameters` at its offset).
    func move(_ index: Int, to storage: UnsafeMutableRawPointer?) throws(SessionError) {
        try requireOpen()
        guard tensors.indices.contains(index) else {
            throw .badArgument("tensor \(index) does not exist (\(tensors.count) tensor(s) registered)")
        }
        guard let storage else { throw .badArgument("tensor \(index): the data pointer is NULL") }
        tensors[index] = tensors[index].moved(to: storage)
    }

    /// The committed fp32 values of one vector (0: master parameters, 1 and 2: the optimizer's
    /// states in rule order) over all parameters.
    func readState(_ vector: Int) throws(SessionError) -> [Float] {
        let optimizer = try started()
        let which: StateVector
        switch vector {
        case 0: which = .parameters
        case 1 where optimizer.optimizer.stateCount >= 1: which = .state1
        case 2 where optimizer.optimizer.stateCount >= 2: which = .state2
        default:
            throw .badArgument("state vector \(vector) does not exist: 0 (parameters) or 1...\(optimizer.optimizer.stateCount) (\(optimizer.optimizer.name)'s states)")
        }
        do { return try optimizer.fleet.readState(which) } catch { throw SessionError(error) }
    }

    /// Replaces the optimizer's whole state: the devices are restarted on fresh files with these
    /// masters and states, `appliedSteps` steps into the run; the masters, rounded to the
    /// parameters' precision, are written into the registered tensors.
    func loadState(parameters: [Float], states: [[Float]], appliedSteps: Int) throws(SessionError) {
        let optimizer = try started()
        let n = parameterCount
        guard parameters.count == n, states.count == optimizer.optimizer.stateCount, states.allSatisfy({ $0.count == n }) else {
            throw .badArgument("a state holds \(n) parameters and \(optimizer.optimizer.stateCount) state vector(s) of \(n) values")
        }
        guard appliedSteps >= 0 else { throw .badArgument("applied steps must be ≥ 0, got \(appliedSteps)") }
        guard (parameters + states.joined()).allSatisfy(\.isFinite) else { throw .badArgument("a state value is not finite") }
        optimizer.fleet.shutdown()
        self.optimizer = nil
        try startFleet(.restore(vectors: ([parameters] + states).map { AlignedBuffer($0) }, committedStep: 0), appliedSteps: appliedSteps)
        // The devices write a compute copy only in a step: until then it is the masters, rounded.
        let computeCopy = StreamBuffer(precision: configuration.precision, values: parameters)
        tensors.forEach { $0.copy(from: computeCopy) }
    }

    /// Where the dynamic loss scaler stands (fp16 parameters).
    func lossScalerPosition() throws(SessionError) -> DynamicLossScaler.Position {
        try lossScaler().position
    }

    /// Puts the loss scaler at a saved position (after `loadState`, which starts it afresh), and
    /// records it in the journal.
    func moveLossScaler(to position: DynamicLossScaler.Position) throws(SessionError) {
        _ = try lossScaler()
        let optimizer = try started()
        do { try optimizer.moveLossScaler(to: position) } catch { throw .badArgument(error.description) }
        try record()
    }

    private func lossScaler() throws(SessionError) -> DynamicLossScaler {
        guard let scaler = try started().lossScaler else {
            throw .badState("the optimizer has no loss scaler: only fp16 parameters have one (these are \(configuration.precision))")
        }
        return scaler
    }

    /// The error-feedback residuals over all parameters, in parameter order.
    func errorFeedback() throws(SessionError) -> ErrorFeedbackFile.Flat {
        let fleet = try feedbackFleet()
        do { return try fleet.errorFeedback.flattened(over: fleet.partition, path: "the devices' residuals") } catch {
            throw .failed("\(error)")
        }
    }

    /// Replaces the error-feedback residuals (after `loadState`, which starts them at zero).
    func loadErrorFeedback(_ flat: ErrorFeedbackFile.Flat) throws(SessionError) {
        let fleet = try feedbackFleet()
        guard flat.residual.count == parameterCount else {
            throw .badArgument("the residuals hold \(flat.residual.count) values; the optimizer has \(parameterCount) parameters")
        }
        guard flat.completedSteps >= 0 else { throw .badArgument("completed steps must be ≥ 0, got \(flat.completedSteps)") }
        guard flat.residual.allSatisfy(\.isFinite) else { throw .badArgument("a residual is not finite") }
        do {
            try fleet.restore(ErrorFeedbackFile(flat, partition: fleet.partition, subgroupElements: fleet.subgroupElements),
                              from: "the loaded residuals")
        } catch {
            throw SessionError(error)
        }
    }

    private func feedbackFleet() throws(SessionError) -> DeviceFleet {
        let fleet = try started().fleet
        guard fleet.usesErrorFeedback else {
            throw .badState("the optimizer keeps no error-feedback residuals: only mode su+o+c with error_feedback does")
        }
        return fleet
    }

    /// The process id of device `i` (started devices only): for tests that kill one.
    func devicePID(_ i: Int) throws(SessionError) -> Int32 {
        let optimizer = try started()
        guard let processes = optimizer.fleet.processes, (0..<optimizer.partition.deviceCount).contains(i),
              let pid = processes.processIdentifier(i) else {
            throw .badArgument("device \(i) is not a started device process (mode \(configuration.placement.mode.rawValue), \(configuration.placement.devices) device(s))")
        }
        return pid
    }

    func close() {
        guard !closed else { return }
        closed = true
        optimizer?.fleet.shutdown()
        optimizer = nil
    }

    private func groupRanges() -> [ParameterGroup] {
        var ranges: [ParameterGroup] = []
        for t in tensors {
            if let last = ranges.last, ranges.count - 1 == t.group {
                ranges[ranges.count - 1].elements = last.elements.lowerBound..<(t.offset + t.count)
            } else {
                let g = groups[t.group]
                ranges.append(ParameterGroup(elements: t.offset..<(t.offset + t.count), learningRate: g.learningRate, weightDecay: g.weightDecay))
            }
        }
        return ranges
    }

    /// Makes the session's state durable (the journal's newest record).
    private func record() throws(SessionError) {
        do { try journal?.write(state.encoded()) } catch { throw .badState("cannot record the step: \(error)") }
    }

    /// Starts the fleet (a fresh one on fresh SSD files, unless `start` resumes the devices'
    /// states) and the journal, whose first record is the state it starts at.
    private func startFleet(_ start: DeviceFleet.Start, appliedSteps: Int, lossScaler: DynamicLossScaler.Position? = nil,
                            fleetSteps: Int = 0) throws(SessionError) {
        let c = configuration
        do {
            try c.placement.validate(flag: { $0 })
            if case .resume = start {} else {
                c.placement.removeStaleDeviceFiles()
                try? FileManager.default.removeItem(atPath: SessionState.path(in: c.placement.ssdDirectory))
            }
            let partition = Partition(parameterCount: parameterCount, deviceCount: c.placement.devices)
            let fleet = try DeviceFleet.start(c.placement.backend, partition: partition, configuration: DeviceFleet.Configuration(
                mode: c.placement.mode, optimizer: c.optimizer, gradientPrecision: c.precision, copyOutPrecision: c.precision,
                subgroupElements: c.subgroupElements, compression: c.compression, queueDepth: c.queueDepth, blockSize: c.blockSize,
                statePrecision: c.statePrecision),
                start: start, directory: c.placement.ssdDirectory)
            let scaler = try c.lossScaling.map { configuration throws(SessionError) in
                do { return try lossScaler.map { try DynamicLossScaler(configuration, continuing: $0) } ?? DynamicLossScaler(configuration) }
                catch { throw .badArgument("the saved loss scaler: \(error)") }
            }
            optimizer = OffloadedOptimizer(fleet: fleet, optimizer: c.optimizer, clipping: c.clipping, lossScaler: scaler,
                                           appliedSteps: appliedSteps, onDeviceFailure: c.onDeviceFailure)
            self.fleetSteps = fleetSteps
            journal = try AlternatingRecord(path: SessionState.path(in: c.placement.ssdDirectory), initial: state.encoded())
            // Allocated once: a caller's tensors may be views of them (`flatBuffers`).
            if gradient == nil { gradient = StreamBuffer(precision: c.precision, count: partition.paddedElements) }
            if computeCopy == nil { computeCopy = StreamBuffer(precision: c.precision, count: parameterCount) }
        } catch {
            throw SessionError(error)
        }
    }

    private func requireOpen() throws(SessionError) {
        guard !closed else { throw .badState("the optimizer is closed") }
    }

    private func started() throws(SessionError) -> OffloadedOptimizer {
        try requireOpen()
        guard let optimizer else { throw .badState("the optimizer is not started (call smartinf_start after registering its tensors)") }
        return optimizer
    }
}
