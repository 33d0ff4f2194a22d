import CPosix
import DeviceProtocol
import Dispatch
import Foundation
import Logging
import OffloadVocabulary
import Optim
import SmartSSD
import Threading

/// The devices that hold the optimizer: N device processes (su, su+o, su+o+c) or N engines in the
/// host process over plain SSD files (base), all driven through the same requests.
///
/// Every step runs on all devices at once; a dead or failing device is reported by number and
/// socket as soon as its link fails.
///
/// Used by one thread (the trainer's); the work it hands to the devices runs on `workers`.
public final class DeviceFleet {
    public struct Configuration: Sendable {
        public var mode: OffloadMode
        public var optimizer: OptimizerConfig
        public var gradientPrecision: Precision
        public var copyOutPrecision: Precision
        /// Elements per subgroup; 0 lets each device choose from its DRAM.
        public var subgroupElements: Int
        public var compression: GradientCompressionSettings?
        public var queueDepth: Int
        public var blockSize: Int
        /// How the devices store the optimizer states (fp32, or 8-bit codes with block scales).
        public var statePrecision: StatePrecision

        public init(mode: OffloadMode, optimizer: OptimizerConfig, gradientPrecision: Precision = .fp32,
                    copyOutPrecision: Precision = .fp32, subgroupElements: Int = 0,
                    compression: GradientCompressionSettings? = nil, queueDepth: Int = 16, blockSize: Int = 1 << 20,
                    statePrecision: StatePrecision = .fp32) {
            self.mode = mode
            self.optimizer = optimizer
            self.gradientPrecision = gradientPrecision
            self.copyOutPrecision = copyOutPrecision
            self.subgroupElements = subgroupElements
            self.compression = compression
            self.queueDepth = queueDepth
            self.blockSize = blockSize
            self.statePrecision = statePrecision
        }
    }

    public let partition: Partition
    public let configuration: Configuration
    private(set) var members: [FleetMember]
    let directory: String
    /// The device processes this fleet started (nil when attached or in-process).
    public let processes: DeviceProcesses?
    private let names: [String]
    /// What every device is configured with (kept to configure a restarted one).
    private let deviceConfiguration: DeviceConfiguration
    /// The host's log: what a recovery does, at debug.
    let logger: Logger
    /// A call silent this long marks a device failed (0: no limit).
    public var timeout: Double = 0
    /// The paced clock's hook for the host's gradient writes; nil runs at this machine's speed.
    public var paceOffload: OffloadPacer?
    /// Each device's part of the last step (for the live clocks and traces).
    public private(set) var lastStep: [MemberStep] = []
    /// One thread per device for the whole run, which drives that device: its early gradient
    /// writes (`GradientOffloadSession`) and its steps, in the order they were handed over. Not
    /// a pool as wide as the cores: each thread mostly waits on its device (or, under the paced
    /// clock, sleeps out its modeled time), and a 2-core pool would issue a 4-device step two
    /// devices at a time. Ended by `shutdown()` (or with the fleet).
    let workers: [SerialWorker]

    /// How a fleet's devices get their states.
    public enum Start: Sendable {
        /// Fresh: load these initial parameters (`partition.parameterCount` values), zero states.
        case load(AlignedBuffer<Float>)
        /// Resume: the devices already hold the run's states at `step`, or past it. With a
        /// checkpoint's `snapshots`, a device not at `step` restores its snapshot `snapshots[i]`
        /// (the run went on past its last checkpoint before it stopped). Without, a device one
        /// step ahead on some or all of its subgroups (it went on with a step the host never
        /// recorded) is rolled back, and one at any other step is refused.
        case resume(committedStep: Int, snapshots: [String]? = nil)
        /// Lay out states saved elsewhere (an exported checkpoint, from any number of devices):
        /// p and each optimizer state over all `partition.parameterCount` parameters, committed
        /// as step `committedStep`.
        case restore(vectors: [AlignedBuffer<Float>], committedStep: Int)
    }

    /// Builds the fleet over `links` (one per device), configures every device, and loads the
    /// initial parameters or checks the committed step (`start`).
    public init(links: [DeviceLink], names: [String], partition: Partition, configuration: Configuration,
                start: Start, directory: String, processes: DeviceProcesses? = nil,
                logger: Logger = Logger(label: "smartinf.fleet", factory: SwiftLogNoOpLogHandler.init)) throws {
        precondition(links.count == partition.deviceCount)
        self.logger = logger
        self.partition = partition
        self.configuration = configuration
        self.directory = directory
        self.processes = processes
        self.names = names
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        Self.removeOrphanedHostBuffers()
        let device = DeviceConfiguration(sliceElements: partition.sliceElements, subgroupElements: configuration.subgroupElements,
                                         optimizer: configuration.optimizer, gradientPrecision: configuration.gradientPrecision,
                                         copyOutPrecision: configuration.copyOutPrecision, handler: configuration.mode.handler,
                                         statePrecision: configuration.statePrecision)
        deviceConfiguration = device
        var members: [FleetMember] = []
        for (i, link) in links.enumerated() {
            let member = try Self.attributing(i, names[i], processes) {
                try Self.member(i, link: link, device: device, configuration: configuration)
            }
            try Self.attributing(i, names[i], processes) {
                switch start {
                case .load(let parameters):
                    precondition(parameters.count == partition.parameterCount)
                    try parameters.withUnsafeBufferPointer { p in
                        try member.load(UnsafeBufferPointer(rebasing: p[partition.parameters(ofDevice: i)]))
                    }
                case .restore(let vectors, let step):
                    precondition(vectors.count == 1 + configuration.optimizer.stateCount && vectors.allSatisfy { $0.count == partition.parameterCount })
                    let own = partition.parameters(ofDevice: i)
                    try member.restore(vectors.map { vector in vector.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[own]) } },
                                       step: step, optimizer: configuration.optimizer)
                case .resume(let step, let snapshots):
                    let held = try link.status()
                    if held.allSatisfy({ $0 == step }) {
                        // At the step: nothing to do.
                    } else if let snapshots {
                        // A checkpoint's snapshot brings back its step whatever the device went
                        // on to, where a rollback may not: a step begun after the next one
                        // releases the older of the two slots it is about to overwrite.
                        try link.perform(.restoreSnapshot(path: snapshots[i]))
                    } else if held.contains(step + 1) && held.allSatisfy({ $0 == step || $0 == step + 1 }) {
                        // A device the host left in the middle of step + 1 may hold it on some
                        // subgroups only (each commits its own); step + 1 rolls back either way.
                        try link.perform(.rollback(step: step))
                    } else {
                        let steps = Set(held).sorted()
                        throw FleetError.deviceFailed(device: i, socket: names[i], failure: .unexpectedSteps(steps), detail:
                            "cannot resume at step \(step): its subgroups have committed steps \(steps) (a different run, or states lost)")
                    }
                }
            }
            members.append(member)
        }
        self.members = members
        workers = members.indices.map { SerialWorker(name: "fleet-\($0)") }
    }

    deinit {
        for m in members { try? FileManager.default.removeItem(atPath: m.hostBuffer.path) }
    }

    /// Where the host buffers live (shared memory), and how their names begin: the owner's pid
    /// follows.
    static let hostBufferDirectory = "/dev/shm"
    static let hostBufferPrefix = "smartinf-"

    /// Removes the host buffers of fleets whose process is gone: a host killed outright never
    /// removes its own (`deinit` does not run), and each holds a device slice's worth of
    /// shared memory. Buffers of live processes, whoever they are, stay.
    static func removeOrphanedHostBuffers() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: hostBufferDirectory)) ?? []
        for name in names where name.hasPrefix(hostBufferPrefix) && name.contains("-device-") {
            guard let owner = name.dropFirst(hostBufferPrefix.count).split(separator: "-").first.flatMap({ pid_t($0) }),
                  owner != getpid(), kill(owner, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: "\(hostBufferDirectory)/\(name)")
        }
    }

    private static func member(_ i: Int, link: DeviceLink, device: DeviceConfiguration, configuration: Configuration) throws -> FleetMember {
        try FleetMember(index: i, link: link, configuration: device, compression: configuration.mode.compresses ? configuration.compression : nil,
                        hostBufferPath: "\(hostBufferDirectory)/\(hostBufferPrefix)\(getpid())-\(UUID().uuidString.prefix(8))-device-\(i)",
                        queueDepth: configuration.queueDepth, blockSize: configuration.blockSize)
    }

    /// Brings the fleet back to step `step − 1` after device `failed` failed during step `step`:
    /// the failed device is restarted (a started process: killed if hung, relaunched without its
    /// injected fault), reattached (an attached one) or kept (an in-process engine, whose
    /// uncommitted step left its states untouched); it is configured again and keeps its error
    /// feedback residuals; then every device that committed step `step` rolls back to `step − 1`
    /// (its A/B slots hold both). The step can then run again on the same inputs.
    public func recover(failed: Int, inStep step: Int) throws {
        let old = members[failed]
        let link: DeviceLink
        let at: Logger.Metadata = ["device": "\(failed)", "step": "\(step)"]
        if let processes {
            logger.debug("restarting device \(failed)'s process", metadata: at)
            try Self.attributing(failed, names[failed], processes) { try processes.restart(failed) }
            link = try Self.connect(failed, processes.socketPaths[failed], timeout: timeout)
        } else if old.link is DeviceConnection {
            logger.debug("reconnecting to device \(failed) at \(names[failed])", metadata: at)
            link = try Self.connect(failed, names[failed], timeout: timeout)
        } else {
            logger.debug("keeping device \(failed)'s engine, which left its committed states untouched", metadata: at)
            link = old.link
        }
        let fresh = try Self.attributing(failed, names[failed], processes) {
            let member = try Self.member(failed, link: link, device: deviceConfiguration, configuration: configuration)
            try member.restoreFeedback(old.feedbackState, path: "device \(failed)'s residuals")
            return member
        }
        try? FileManager.default.removeItem(atPath: old.hostBuffer.path)
        members[failed] = fresh
        // A recovery frees a member's buffers in bulk; hand that memory back rather
        // than let the allocator keep it (long runs with many recoveries would otherwise grow).
        si_malloc_trim()
        for (i, member) in members.enumerated() {
            try Self.attributing(i, names[i], processes) {
                // A device may hold `step` on some subgroups and `step − 1` on others: a torn
                // journal write lands some journal blocks and not others.
                let held = Set(try member.link.status())
                guard held.isSubset(of: [step - 1, step]) else {
                    throw FleetError.deviceFailed(device: i, socket: names[i], failure: .unexpectedSteps(held.sorted()), detail:
                        "cannot recover to step \(step - 1): its subgroups have committed steps \(held.sorted())")
                }
                if held.contains(step) {
                    logger.debug("device \(i) committed step \(step): rolling it back to step \(step - 1)",
                                 metadata: ["device": "\(i)", "step": "\(step)"])
                    try member.link.perform(.rollback(step: step - 1))
                }
            }
        }
    }

    /// Subgroup size the devices settled on.
    public var subgroupElements: Int { members.first?.configured.subgroupElements ?? 0 }

    /// Runs step `step` on every device: `gradient` holds the flat gradient of every parameter
    /// (`partition.parameterCount`, or padded to `partition.paddedElements`), still loss-scaled:
    /// `update.combinedUnscale` removes the scale. Padding is sent as zeros. It may be fp32 or
    /// the run's 16-bit gradient precision. `segments` (flat ranges, in increasing order) take
    /// their own update: parameter groups with their own learning rate or weight decay.
    @discardableResult
    public func step(_ step: Int, update: PreparedUpdate, segments: [UpdateSegment] = [], skip: Bool, gradient: StreamBuffer,
                     early: GradientOffloadSession? = nil) throws -> StepTraffic {
        try beginStep(step, update: update, segments: segments, skip: skip, gradient: gradient, early: early).settle()
    }

    /// Starts `step(…)` and returns at once: the host may use each subgroup's new parameters as
    /// soon as its device announces them (`PendingFleetStep.awaitParameters`), while the devices
    /// go on updating and writing back. `gradient` must not change until the step is settled
    /// (a failed step is run again on it).
    public func beginStep(_ step: Int, update: PreparedUpdate, segments: [UpdateSegment] = [], skip: Bool, gradient: StreamBuffer,
                          early: GradientOffloadSession? = nil) throws -> PendingFleetStep {
        precondition(gradient.count >= partition.parameterCount, "the gradient must cover every parameter")
        let written = try early?.finish() ?? Array(repeating: [:], count: members.count)
        let pending = PendingFleetStep(fleet: self, step: step, skip: skip, gradient: gradient)
        let (flat, replies, paceOffload) = (pending.gradientValues, pending.replies, paceOffload)
        for (i, member) in members.enumerated() {
            let own = flat.slice(partition.slice(i).clamped(to: 0..<flat.count))
            let early = written[i]
            let slice = partition.slice(i)
            let local = segments.compactMap { segment -> UpdateSegment? in
                let inside = segment.elements.clamped(to: slice)
                guard !inside.isEmpty else { return nil }
                return UpdateSegment(elements: (inside.lowerBound - slice.lowerBound)..<(inside.upperBound - slice.lowerBound),
                                     update: segment.update)
            }
            workers[i].submit {
                replies.record(i, Result {
                    try member.step(step, update: update, segments: local, skip: skip, gradient: own, paceOffload: paceOffload,
                                    written: early)
                })
            }
        }
        return pending
    }

    /// Settles a step's replies: the traffic, or the first device's failure.
    func settle(_ results: [Result<MemberStep, Error>]) throws -> StepTraffic {
        var total = StepTraffic()
        var parts: [MemberStep] = []
        defer { lastStep = parts }
        for (i, result) in results.enumerated() {
            switch result {
            case .success(let part):
                total.add(part.traffic)
                parts.append(part)
            case .failure(let error): throw FleetError.device(i, names[i], error, exitStatus: processes?.exitStatus(i))
            }
        }
        return total
    }

    /// Whether the devices' payloads carry error feedback (su+o+c with residuals): steps then
    /// change host state (the residuals) that a checkpoint or a retried step must keep.
    public var usesErrorFeedback: Bool { configuration.mode.compresses && configuration.compression?.errorFeedback == true }

    /// Every device's error-feedback residuals (empty lists without error feedback).
    public var errorFeedback: ErrorFeedbackFile { ErrorFeedbackFile(devices: members.map(\.feedbackState)) }

    /// Puts back the residuals of a checkpoint (`path` names it in errors).
    public func restore(_ file: ErrorFeedbackFile, from path: String) throws {
        guard file.devices.count == members.count else {
            throw FleetError.checkpoint(path: path, detail: "holds \(file.devices.count) devices' residuals; the fleet has \(members.count)")
        }
        for (member, saved) in zip(members, file.devices) { try member.restoreFeedback(saved, path: path) }
    }

    /// The parameters' compute copy, as the devices wrote it, into `destination`
    /// (`partition.parameterCount` elements from element `start`: a data-parallel rank's part of
    /// the whole model's copy): copied as it is into a buffer of the copy-out precision, widened
    /// into an fp32 one.
    public func readComputeCopy(into destination: StreamBuffer, at start: Int = 0) {
        precondition(start >= 0 && destination.count >= start + partition.parameterCount)
        let width = destination.precision.byteWidth
        destination.withUnsafeMutableRawPointer { base in
            for (i, m) in members.enumerated() {
                let own = partition.parameters(ofDevice: i)
                m.readComputeCopy(0..<own.count, into: base + (start + own.lowerBound) * width, precision: destination.precision)
            }
        }
    }

    /// The committed fp32 values of one vector (p, m or v) over all parameters.
    public func readState(_ vector: StateVector) throws -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(partition.parameterCount)
        for (i, m) in members.enumerated() {
            let own = partition.parameters(ofDevice: i)
            if own.isEmpty { continue }
            values += try Self.attributing(i, names[i], processes) { try m.link.readState(vector, offset: 0, count: own.count) }
        }
        return values
    }

    /// A checkpoint's device part: every device, all at once, copies its committed states at
    /// `step` into a snapshot inside itself (no state byte crosses the shared host link) and
    /// keeps its newest `keep`. `note` (the trainer state) is kept with each snapshot. Returns
    /// each device's snapshot.
    public func snapshot(step: Int, keep: Int, note: String) throws -> [StoredSnapshot] {
        try onEveryDevice { member in try member.link.snapshot(step: step, keep: keep, note: note) }
    }

    /// Runs `body` for every device at once, each on its device's worker (behind anything
    /// already handed to it), and returns the results in device order, or the first device's
    /// failure.
    private func onEveryDevice<T: Sendable>(_ body: @escaping @Sendable (FleetMember) throws -> T) throws -> [T] {
        let results = Monitor<[Result<T, Error>?]>(Array(repeating: nil, count: members.count))
        for (i, member) in members.enumerated() {
            workers[i].submit {
                let result = Result { try body(member) }
                results.change { $0[i] = result }
            }
        }
        let all = results.wait { done in done.allSatisfy { $0 != nil } ? done.compactMap { $0 } : nil }
        return try all.enumerated().map { i, result in try Self.attributing(i, names[i], processes) { try result.get() } }
    }

    /// The committed step of every device (the minimum over its subgroups).
    public func committedSteps() throws -> [Int] {
        try members.enumerated().map { i, m in try Self.attributing(i, names[i], processes) { try m.link.status().min() ?? -1 } }
    }

    /// Asks every device to flush and stop, and ends the device workers.
    public func shutdown() {
        for m in members { try? m.link.perform(.shutdown) }
        processes?.waitForExit()
        workers.forEach { $0.finish() }
    }

    /// Runs `body` on the `range` of every buffer of `buffers`.
    private static func withSlices<R>(_ buffers: ArraySlice<AlignedBuffer<Float>>, _ range: Range<Int>,
                                      _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
        guard let first = buffers.first else { return try body([]) }
        return try first.withUnsafeBufferPointer { b in
            try withSlices(buffers.dropFirst(), range) { try body([UnsafeBufferPointer(rebasing: b[range])] + $0) }
        }
    }

    private static func withSlices<R>(_ buffers: [AlignedBuffer<Float>], _ range: Range<Int>,
                                      _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
        try withSlices(buffers[...], range, body)
    }

    /// Runs `body`, which talks to device `i`; what it throws becomes that device's failure.
    private static func attributing<T>(_ i: Int, _ name: String, _ processes: DeviceProcesses?, _ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            throw FleetError.device(i, name, error, exitStatus: processes?.exitStatus(i))
        }
    }

    /// Connects to device `i`'s socket `path`; a call silent for `timeout` seconds fails.
    static func connect(_ i: Int, _ path: String, timeout: Double) throws(FleetError) -> DeviceConnection {
        do { return try DeviceConnection(path: path, timeout: timeout) } catch {
            throw .deviceFailed(device: i, socket: path, failure: .transport(.unreachable), detail: "cannot connect: \(error)")
        }
    }
}
