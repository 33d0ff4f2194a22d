import BlockIO
import Compression
import DeviceProtocol
import Foundation
import OffloadVocabulary
import Optim

/// The host's side of one device: its link, its gradient region (written through the device's
/// SSD file), its payload encoder, its error-feedback residuals, and the shared buffer its
/// compute copy lands in.
final class FleetMember: @unchecked Sendable {
    // Safe to share: used by one thread at a time — its device's worker during a step (the
    // early writes, then the step, in order on that one thread), the fleet's thread once the
    // step has settled.
    let index: Int
    let link: DeviceLink
    let hello: Reply.Hello
    let configured: Reply.Configured
    let sliceElements: Int
    let copyOutPrecision: Precision
    let statePrecision: StatePrecision
    private let region: GradientRegionWriter
    private let compressor: GradientCompressor
    private var feedback: [ErrorFeedback]
    /// Subgroup-sized fp32 scratch for a gradient that is not fp32 as it stands (16-bit, or the
    /// padded end of the last slice); allocated on first use and kept.
    private var staging = AlignedBuffer<Float>(count: 0)
    let hostBuffer: SharedMemoryMapping
    /// The device's per-subgroup upload marks at the end of `hostBuffer` (which outlives it).
    let doorbell: UploadDoorbell?

    init(index: Int, link: DeviceLink, configuration: DeviceConfiguration, compression: GradientCompressionSettings?,
         hostBufferPath: String, queueDepth: Int, blockSize: Int) throws {
        self.index = index
        self.link = link
        hello = try link.hello(clientName: "smartinf")
        guard hello.protocolVersion == Int(Frame.version) else {
            throw FleetError.incompatible(device: index, detail: "speaks protocol version \(hello.protocolVersion), we speak \(Frame.version)")
        }
        configured = try link.configure(configuration)
        sliceElements = configuration.sliceElements
        copyOutPrecision = configuration.copyOutPrecision
        statePrecision = configuration.statePrecision
        region = try GradientRegionWriter(ssdPath: hello.ssdPath, directIO: hello.directIO, configured: configured,
                                          queueDepth: queueDepth, blockSize: blockSize)
        compressor = try GradientCompressor(ratio: compression?.ratio ?? 1,
                                            options: PayloadOptions(valueEncoding: configuration.gradientPrecision))
        if let compression, compression.errorFeedback {
            let (d, slice) = (configured.subgroupElements, sliceElements)
            feedback = try (0..<configured.subgroupCount).map { s in
                let n = min(d, slice - s * d)
                return try ErrorFeedback(residual: AlignedBuffer(count: n), denseWarmUpSteps: compression.denseWarmUpSteps)
            }
        } else {
            feedback = []
        }
        let sliceBytes = sliceElements * configuration.copyOutPrecision.byteWidth
        hostBuffer = try SharedMemoryMapping.create(path: hostBufferPath, bytes: UploadDoorbell.bufferBytes(
            sliceBytes: sliceBytes, subgroupCount: configured.subgroupCount))
        doorbell = UploadDoorbell(hostBuffer, sliceBytes: sliceBytes, subgroupCount: configured.subgroupCount)
        try link.perform(.attachHostBuffer(path: hostBufferPath))
    }

    /// Loads the initial fp32 parameters of the slice through a file the device reads; the
    /// slice's padding past `parameters` is loaded as zeros. The file is written straight from
    /// the caller's memory (no copy: slices of large models are gigabytes).
    /// The file goes into the device's own directory (beside its SSD file), the only place
    /// besides the run's shared memory that a device reads paths from. (States saved elsewhere
    /// come back through `restore`.)
    func load(_ parameters: UnsafeBufferPointer<Float>) throws {
        precondition(parameters.count <= sliceElements)
        let scratchPath = URL(fileURLWithPath: hello.ssdPath).deletingLastPathComponent()
            .appendingPathComponent("initial-\(index)-\(getpid()).f32").path
        guard FileManager.default.createFile(atPath: scratchPath, contents: nil),
              let handle = FileHandle(forWritingAtPath: scratchPath) else {
            throw FleetError.deviceFailed(device: index, socket: hello.ssdPath, failure: .host, detail: "cannot create \(scratchPath)")
        }
        defer { try? FileManager.default.removeItem(atPath: scratchPath) }
        if let base = parameters.baseAddress {
            try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: parameters.count * 4,
                                              deallocator: .none))
        }
        try handle.write(contentsOf: Data(count: (sliceElements - parameters.count) * 4))
        try handle.close()
        try link.perform(.loadParameters(offset: 0, count: sliceElements, path: scratchPath))
    }

    /// Lays out states saved elsewhere on this device: p and each optimizer state of the
    /// slice's real parameters (`vectors`, one per vector), committed as step `step`. They go
    /// as a snapshot of this device's geometry, written into its directory, that the device
    /// restores (each vector checked on the way), its states stored in the device's precision
    /// (8-bit states are encoded here); the slice's padding gets zero parameters and the
    /// optimizer's initial states.
    func restore(_ vectors: [UnsafeBufferPointer<Float>], step: Int, optimizer: OptimizerConfig) throws {
        let path = URL(fileURLWithPath: hello.ssdPath).deletingLastPathComponent().appendingPathComponent("import-\(index)-\(getpid()).snap").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var writer = try SnapshotWriter(path: path, header: SnapshotHeader(
            sequence: 0, step: step, sliceElements: sliceElements, subgroupElements: configured.subgroupElements, optimizer: optimizer,
            statePrecision: statePrecision, note: []))
        for s in 0..<configured.subgroupCount {
            let range = subgroupRange(s)
            for (v, vector) in vectors.enumerated() {
                let real = range.clamped(to: 0..<vector.count)
                if real == range {
                    try writer.appendValues(UnsafeBufferPointer(rebasing: vector[range]))
                } else {
                    var padded = [Float](repeating: v == 0 ? 0 : optimizer.initialStateValue, count: range.count)
                    for e in real { padded[e - range.lowerBound] = vector[e] }
                    try padded.withUnsafeBufferPointer { values in try writer.appendValues(values) }
                }
            }
        }
        try writer.commit()
        try link.perform(.restoreSnapshot(path: path))
    }

    /// The error-feedback residuals, per subgroup (empty without error feedback).
    var feedbackState: [ErrorFeedbackFile.Subgroup] {
        feedback.map { .init(completedSteps: $0.completedSteps, residual: $0.residual.array) }
    }

    /// Puts back residuals a checkpoint saved; the geometry must match this device's.
    func restoreFeedback(_ saved: [ErrorFeedbackFile.Subgroup], path: String) throws {
        guard saved.count == feedback.count else {
            throw FleetError.checkpoint(path: path, detail: "device \(index) has \(feedback.count) subgroups with error feedback; the file holds \(saved.count)")
        }
        feedback = try zip(feedback, saved).enumerated().map { s, pair in
            let (current, stored) = pair
            guard stored.residual.count == current.residual.count else {
                throw FleetError.checkpoint(path: path, detail: "device \(index) subgroup \(s) holds \(current.residual.count) elements; the file has \(stored.residual.count)")
            }
            return try ErrorFeedback(residual: AlignedBuffer(stored.residual), denseWarmUpSteps: current.denseWarmUpSteps,
                                     completedSteps: stored.completedSteps)
        }
    }

    /// Writes one payload per subgroup into the device's gradient region and runs the step.
    /// `gradient` holds the slice's real parameters' gradients, in any precision; the slice's
    /// padding beyond them (the end of the last device's slice) is sent as zeros.
    /// `written` holds the payload sizes of subgroups already written this step (during
    /// backward, `GradientOffloadSession`), which are not written again.
    func step(_ step: Int, update: PreparedUpdate, segments: [UpdateSegment] = [], skip: Bool, gradient: StoredValues,
              paceOffload: OffloadPacer?, written: [Int: Int] = [:]) throws -> MemberStep {
        precondition(gradient.count <= sliceElements)
        let offloadStart = ContinuousClock.now.systemNanoseconds
        var sizes: [Int] = []
        if !skip {
            for s in 0..<configured.subgroupCount {
                if let bytes = written[s] {
                    sizes.append(bytes)
                    continue
                }
                sizes.append(try writePayload(step, subgroup: s, from: gradient))
            }
        } else {
            sizes = Array(repeating: 0, count: configured.subgroupCount)
        }
        let payloadBytes = sizes.reduce(0, +)
        paceOffload?(index, payloadBytes, offloadStart)
        let offloadEnd = max(offloadStart, ContinuousClock.now.systemNanoseconds)
        let moved = try link.step(StepCommand(step: step, update: update, segments: segments, skip: skip,
                                              subgroups: Array(0..<configured.subgroupCount), payloadBytes: sizes))
        return MemberStep(traffic: StepTraffic(gradientBytes: payloadBytes,
                                               parameterBytes: skip ? 0 : sliceElements * copyOutPrecision.byteWidth,
                                               deviceBytesRead: moved.bytesRead, deviceBytesWritten: moved.bytesWritten),
                          offloadBytes: payloadBytes, offloadWall: offloadStart...offloadEnd, operations: moved.operations,
                          earlySubgroups: skip ? 0 : written.count)
    }

    /// Subgroup `s`'s elements within the slice.
    func subgroupRange(_ s: Int) -> Range<Int> {
        let d = configured.subgroupElements
        return (s * d)..<min((s + 1) * d, sliceElements)
    }

    var subgroupCount: Int { configured.subgroupCount }

    /// Compresses subgroup `s`'s part of the slice's gradient `gradient` and writes the payload
    /// into the device's gradient region; returns the payload's bytes.
    func writePayload(_ step: Int, subgroup s: Int, from gradient: StoredValues) throws -> Int {
        let part = fp32Subgroup(gradient, subgroupRange(s))
        return try region.write(subgroup: s) { buffer in
            try compressor.compress(part, subgroup: UInt32(s), step: UInt64(step), feedback: feedback.isEmpty ? nil : feedback[s],
                                    into: buffer)
        }
    }

    /// Whether this member keeps error-feedback residuals (which an early, possibly skipped,
    /// write would advance).
    var usesErrorFeedback: Bool { !feedback.isEmpty }

    /// The subgroup `range` of the slice's gradient as fp32: the gradient itself where it is
    /// fp32 and real, else widened into the staging scratch with zeros past the real gradient.
    private func fp32Subgroup(_ gradient: StoredValues, _ range: Range<Int>) -> UnsafeBufferPointer<Float> {
        let real = range.clamped(to: 0..<gradient.count)
        if real == range, let values = gradient.slice(range).fp32 { return values }
        if staging.count < range.count { staging = AlignedBuffer(count: configured.subgroupElements) }
        return staging.withUnsafeMutableBufferPointer { s in
            let part = UnsafeMutableBufferPointer(rebasing: s[0..<range.count])
            gradient.slice(real).widen(into: part)
            return UnsafeBufferPointer(part)
        }
    }

    /// The compute copy the device last wrote of the slice's elements `range`, into
    /// `destination` (where the slice's element 0 goes): copied as it is when `precision` is the
    /// copy-out precision, widened when it is fp32.
    func readComputeCopy(_ range: Range<Int>, into destination: UnsafeMutableRawPointer, precision: Precision) {
        precondition(range.lowerBound >= 0 && range.upperBound <= sliceElements)
        precondition(precision == copyOutPrecision || precision == .fp32,
                     "a \(copyOutPrecision) compute copy cannot be read as \(precision)")
        let source = UnsafeRawPointer(hostBuffer.base + range.lowerBound * copyOutPrecision.byteWidth)
        let target = destination + range.lowerBound * precision.byteWidth
        if precision == copyOutPrecision {
            target.copyMemory(from: source, byteCount: range.count * precision.byteWidth)
        } else {
            copyOutPrecision.widen(source, into: UnsafeMutableBufferPointer(start: target.assumingMemoryBound(to: Float.self), count: range.count))
        }
    }
}

/// Bytes one step moved, by where they went.
/// Paces the host's gradient writes to device `device` (the paced clock): called once the
/// `bytes` of payload written since `startedAt` (`ContinuousClock` system nanoseconds) are out.
public typealias OffloadPacer = @Sendable (_ device: Int, _ bytes: Int, _ startedAt: UInt64) -> Void

/// One device's part of a step: its traffic, the host's gradient offload to it, and the
/// operations it reported.
public struct MemberStep: Sendable {
    public var traffic: StepTraffic
    public var offloadBytes: Int
    /// `ContinuousClock` system nanoseconds.
    public var offloadWall: ClosedRange<UInt64>
    public var operations: [OperationRecord]
    /// Subgroups whose payloads were written during backward (`GradientOffloadSession`).
    public var earlySubgroups: Int
}

public struct StepTraffic: Sendable, Equatable, Codable {
    /// Gradient payloads written to the devices (the shared host link, downwards).
    public var gradientBytes = 0
    /// Compute copies written back to the host (the shared host link, upwards).
    public var parameterBytes = 0
    /// Between each device's SSD and its DRAM (the devices' internal links).
    public var deviceBytesRead = 0
    public var deviceBytesWritten = 0

    public init(gradientBytes: Int = 0, parameterBytes: Int = 0, deviceBytesRead: Int = 0, deviceBytesWritten: Int = 0) {
        self.gradientBytes = gradientBytes
        self.parameterBytes = parameterBytes
        self.deviceBytesRead = deviceBytesRead
        self.deviceBytesWritten = deviceBytesWritten
    }

    public mutating func add(_ other: StepTraffic) {
        gradientBytes += other.gradientBytes
        parameterBytes += other.parameterBytes
        deviceBytesRead += other.deviceBytesRead
        deviceBytesWritten += other.deviceBytesWritten
    }
}
