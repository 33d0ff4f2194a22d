import Checksum
import BlockIO
import Compression
import DeviceProtocol
import Dispatch
import Foundation
import Logging
import OffloadVocabulary
import Optim
import Synchronization
import Threading

/// One subgroup of a step: its payload, the slot it reads (with the checksum the journal holds
/// for it) and the slot it writes.
struct StepItem: Sendable {
    var subgroup: Int
    var payloadBytes: Int
    var readSlot: Int
    var writeSlot: Int
    var expectedChecksum: UInt32?
}

/// One step's work for the transfer handler.
struct StepWork: @unchecked Sendable {
    // Safe to hand to the stages: `copyOut` is written only by the update stage, one subgroup's
    // range at a time, and read by the host only once the doorbell or the reply says so.
    var step: Int
    var update: PreparedUpdate
    /// Ranges of the slice with their own update (`StepCommand.segments`).
    var segments: [UpdateSegment]
    var subgroups: [StepItem]
    /// Where each subgroup's compute copy goes (nil: no host buffer attached).
    var copyOut: UnsafeMutableRawPointer?
    var copyOutPrecision: Precision
    /// Where each subgroup's upload is announced once its compute copy is written (nil: the
    /// host buffer has no marks, or there is none).
    var doorbell: UploadDoorbell?
}

/// Moves each subgroup's payload and states between the SSD and the DRAM buffer sets around the
/// update. Every kernel run and every transfer goes through `update(_:)` and the rings here, the
/// one place a timing model will charge.
///
/// The overlap handler's loader and writer are two threads it keeps from configure (`init`) to
/// shutdown (when the engine lets go of it), not two threads per step.
final class TransferHandler: @unchecked Sendable {
    // Safe to share with its stage threads: `fault` and `pacer` are set by the engine
    // right after `init`, before any step; a step's changing state lives in its `Pipeline`,
    // `DiskTurns`, `OperationLog` and tallies, and each ring and buffer set is used by one
    // stage at a time.
    let layout: DeviceLayout
    let file: BlockFile
    let sets: [DRAMPool.BufferSet]
    let kernel: UpdateKernel
    let mode: HandlerMode
    let blockSize: Int
    /// Rings per role: loads, updates (naive uses it for everything), write-backs.
    let loadRing: IORing
    let mainRing: IORing
    let writeRing: IORing
    private let decoder = GradientPayloadDecoder()
    /// Where an injected crash may fire (tests of crash recovery).
    var fault: ArmedFault?
    /// The device's logger.
    let logger: Logger
    /// The paced clock's hook; nil runs at this machine's own speed.
    var pacer: OperationPacer?
    /// The overlap handler's loader and writer (the update runs on the thread that called
    /// `run`). Dedicated threads, not the global pool: a stage mostly waits (on the SSD, on
    /// another stage, or on the paced clock), and several engines in one process (base) would
    /// otherwise queue behind each other in a pool as wide as the cores.
    private let stages: (loader: SerialWorker, writer: SerialWorker)?

    private func checkFault(_ phase: FaultPlan.Phase, _ work: StepWork, _ subgroup: Int) {
        fault?.check(phase, step: work.step, subgroup: subgroup)
    }

    init(layout: DeviceLayout, file: BlockFile, sets: [DRAMPool.BufferSet], kernel: UpdateKernel, mode: HandlerMode,
         queueDepth: Int, blockSize: Int, registration: [UnsafeMutableRawBufferPointer], logger: Logger) throws(BlockIOError) {
        self.logger = logger
        self.layout = layout
        self.file = file
        self.sets = sets
        self.kernel = kernel
        self.mode = mode
        self.blockSize = blockSize
        mainRing = try IORing(queueDepth: queueDepth)
        loadRing = try IORing(queueDepth: queueDepth)
        writeRing = try IORing(queueDepth: queueDepth)
        for ring in [mainRing, loadRing, writeRing] { try ring.register(buffers: registration) }
        stages = mode == .overlap ? (SerialWorker(name: "stage-load"), SerialWorker(name: "stage-write")) : nil
    }

    /// Runs the step's subgroups; throws on the first bad payload or I/O error. Subgroups written
    /// before a failure went to their write slots, which are not committed, so the committed
    /// states are untouched either way.
    func run(_ work: StepWork) throws -> (report: StepReport, checksums: [Int: UInt32]) {
        let operations = OperationLog(pacer: pacer)
        let checksums = ChecksumLog()
        var report = switch mode {
        case .naive: try runNaive(work, operations, checksums)
        case .overlap: try runOverlapped(work, operations, checksums)
        }
        report.operations = operations.records
        return (report, checksums.all)
    }

    /// Checks a loaded slot's checksum (`found`, summed by `load` as it landed) against the one
    /// its commit recorded. A mismatch is never used: it is reported with the subgroup, the slot
    /// and its SSD offset.
    private func verify(_ item: StepItem, found: UInt32?) throws {
        guard let expected = item.expectedChecksum, let found, found != expected else { return }
        throw DeviceError.integrity(subgroup: item.subgroup, slot: item.readSlot,
                                    offset: layout.slotOffset(subgroup: item.subgroup, slot: item.readSlot),
                                    expected: expected, found: found)
    }

    /// What a load summed as the bytes landed: the slot (nil when its commit recorded no
    /// checksum to check it against) and the payload's body (nil when the payload is too short
    /// to have one; the decoder refuses it).
    struct LoadedSums: Sendable {
        var slot: UInt32?
        var payloadBody: UInt32?
    }

    /// Reads the subgroup's payload and slot into `set` (in the disk's turn, if `turns`),
    /// summing both as they land; returns the sums and when the disk was held.
    private func load(_ item: StepItem, into set: DRAMPool.BufferSet, on ring: IORing, step: Int,
                      taking turns: DiskTurns?) throws -> (transfers: [BlockTransfer], sums: LoadedSums, held: (started: UInt64, finished: UInt64)) {
        let (reads, payloadRead, slotRead) = loads(item, into: set)
        let slot = UnsafeRawBufferPointer(set.slot)
        let checked = item.expectedChecksum != nil
        let bodyRange = GradientPayloadDecoder.bodyRange(ofPayloadBytes: min(item.payloadBytes, set.payload.count))
        let body = bodyRange.map { UnsafeRawBufferPointer(rebasing: set.payload[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let bodyStart = bodyRange?.lowerBound ?? 0
        var slotDigest = RunningChecksum()
        var bodyDigest = RunningChecksum()
        let held = try transfer(reads, on: ring, step: step, taking: turns) { ready in
            bodyDigest.advance(over: body, to: ready[payloadRead] - bodyStart)
            if checked { slotDigest.advance(over: slot, to: ready[slotRead]) }
        }
        if let byte = fault?.corruptState(set.slot, step: step, subgroup: item.subgroup) {
            logger.notice("subgroup \(item.subgroup)'s loaded state was corrupted at byte \(byte) (injected)",
                          metadata: ["step": "\(step)", "subgroup": "\(item.subgroup)"])
            // The flip stands for damage on the way from the SSD: sum the slot as it now is.
            slotDigest = RunningChecksum()
        }
        return (reads, LoadedSums(slot: checked ? slotDigest.finish(over: slot) : nil,
                                  payloadBody: bodyRange == nil ? nil : bodyDigest.finish(over: body)), held)
    }

    private typealias Key = OperationLog.Key

    /// Runs `transfers` on `ring`, failing as an injected `eio` fault says (the one place SSD
    /// traffic passes, so the fault hits reads and writes alike); `meanwhile` as in `IORing.run`.
    private func transfer(_ transfers: [BlockTransfer], on ring: IORing, step: Int,
                          meanwhile: ((_ ready: [Int]) -> Void)? = nil) throws {
        if let fault {
            for t in transfers {
                let direction: FaultPlan.Direction = t.direction == .read ? .read : .write
                if fault.failsIO(direction, step: step, range: t.fileOffset..<(t.fileOffset + t.memory.count)) {
                    throw DeviceError.storage(BlockIOError(t.direction == .read ? .read : .write, path: file.path,
                                                           offset: t.fileOffset, code: EIO, detail: "injected by --fault"))
                }
            }
        }
        try ring.run(transfers, blockSize: blockSize, meanwhile: meanwhile)
    }

    /// `transfer` in its turn on the disk (when `turns` is given); returns when the disk was
    /// held, which is what the operation's record spans (the wait before is the other stage's
    /// transfer).
    private func transfer(_ transfers: [BlockTransfer], on ring: IORing, step: Int, urgent: Bool = false, taking turns: DiskTurns?,
                          meanwhile: ((_ ready: [Int]) -> Void)? = nil) throws -> (started: UInt64, finished: UInt64) {
        turns?.take(urgent: urgent)
        defer { turns?.give() }
        let started = ContinuousClock.now.systemNanoseconds
        try transfer(transfers, on: ring, step: step, meanwhile: meanwhile)
        return (started, ContinuousClock.now.systemNanoseconds)
    }

    /// Writes the updated slot back, the parameters first (the host waits for them), then the
    /// states, summing the slot while it goes out; returns its checksum for the commit record
    /// and each write's transfers and hold on the disk. A fault may fire between the two.
    private func writeBack(_ item: StepItem, from set: DRAMPool.BufferSet, on ring: IORing, work: StepWork,
                           taking turns: DiskTurns?, afterParameters: (_ transfers: [BlockTransfer], _ held: (started: UInt64, finished: UInt64)) -> Void)
        throws -> (transfers: [BlockTransfer], held: (started: UInt64, finished: UInt64), checksum: UInt32) {
        let (parameters, states) = writeBacks(item, from: set)
        let slot = UnsafeRawBufferPointer(set.slot)
        let vector = layout.vectorBytes
        var digest = RunningChecksum()
        let parametersHeld = try transfer(parameters, on: ring, step: work.step, urgent: true, taking: turns) { ready in
            digest.advance(over: slot, to: ready[0])
        }
        checkFault(.writeParameters, work, item.subgroup)
        afterParameters(parameters, parametersHeld)
        let statesHeld = try transfer(states, on: ring, step: work.step, taking: turns) { ready in
            digest.advance(over: slot, to: vector + ready[0])
        }
        return (states, statesHeld, digest.finish(over: slot))
    }

    /// Records a stage's transfers as one operation of `kind`.
    private func recordTransfers(_ kind: OperationRecord.Kind, _ transfers: [BlockTransfer], item: Int, subgroup: Int,
                                 started: UInt64, finished: UInt64? = nil, after: [Key], in operations: OperationLog) {
        operations.record(kind, item: item, subgroup: subgroup, bytes: transfers.reduce(0) { $0 + $1.memory.count },
                          elements: 0, started: started, finished: finished, after: after)
    }

    /// Records the update of item `i` and the upload of its compute copy, which the kernel writes
    /// as it goes. The update's bytes are what it streams, in the accounting the profiles' update
    /// rates use: the gradient as fp32 (a decoded copy, or a dense payload read in place in its
    /// own encoding, counted the same), p, and each state as stored (so a model charges 8-bit
    /// states what they cost).
    private func recordUpdate(item i: Int, subgroup: Int, started: UInt64, after: [Key], work: StepWork, in operations: OperationLog) {
        let n = layout.elements(ofSubgroup: subgroup)
        let streamed = 4 * n + (0...layout.stateCount).reduce(0) { $0 + layout.vectorRange(subgroup: subgroup, vector: $1).count }
        operations.record(.update, item: i, subgroup: subgroup, bytes: streamed, elements: n, started: started, after: after)
        if work.copyOut != nil {
            operations.record(.upload, item: i, subgroup: subgroup, bytes: n * work.copyOutPrecision.byteWidth, elements: n,
                              started: started, after: [Key(kind: .update, item: i)])
        }
    }

    /// The payload's read, then the slot's; and their indices.
    private func loads(_ item: StepItem,
                       into set: DRAMPool.BufferSet) -> (transfers: [BlockTransfer], payload: Int, slot: Int) {
        let payloadRead = min(item.payloadBytes.roundedUp(to: DeviceLayout.alignment), set.payload.count)
        return ([
            BlockTransfer(.read, file: file, fileOffset: layout.gradientSlotOffset(subgroup: item.subgroup),
                          memory: UnsafeMutableRawBufferPointer(rebasing: set.payload[0..<payloadRead])),
            BlockTransfer(.read, file: file, fileOffset: layout.slotOffset(subgroup: item.subgroup, slot: item.readSlot),
                          memory: set.slot),
        ], 0, 1)
    }

    /// The parameter write first (the host waits for it), then the states.
    private func writeBacks(_ item: StepItem,
                            from set: DRAMPool.BufferSet) -> (parameters: [BlockTransfer], states: [BlockTransfer]) {
        // With two slots a step never writes over the state it read, which the journal still
        // names as committed until the step commits: a crash mid-step loses nothing.
        precondition(layout.slots == 1 || item.writeSlot != item.readSlot,
                     "subgroup \(item.subgroup): a step must write the slot its committed state is not in")
        let vector = layout.vectorBytes
        let base = layout.slotOffset(subgroup: item.subgroup, slot: item.writeSlot)
        let parameters = BlockTransfer(.write, file: file, fileOffset: base,
                                       memory: UnsafeMutableRawBufferPointer(rebasing: set.slot[0..<vector]))
        let states = BlockTransfer(.write, file: file, fileOffset: base + vector,
                                   memory: UnsafeMutableRawBufferPointer(rebasing: set.slot[vector...]))
        return ([parameters], [states])
    }

    /// Checks the payload and applies the update in DRAM, writing the compute copy to the host.
    /// `bodyChecksum` is the payload body's sum taken as it landed.
    private func update(_ item: StepItem, in set: DRAMPool.BufferSet, bodyChecksum: UInt32?, work: StepWork) throws {
        let s = item.subgroup
        let n = layout.elements(ofSubgroup: s)
        var bodyChecksum = bodyChecksum
        if let byte = fault?.corrupt(UnsafeMutableRawBufferPointer(rebasing: set.payload[0..<item.payloadBytes]), step: work.step, subgroup: s) {
            logger.notice("subgroup \(s)'s payload was corrupted at byte \(byte) (injected)",
                          metadata: ["step": "\(work.step)", "subgroup": "\(s)"])
            // Damage after the sum: the decoder sums the payload as it now is.
            bodyChecksum = nil
        }
        let payload = UnsafeRawBufferPointer(rebasing: set.payload[0..<item.payloadBytes])
        let gradient: (values: UnsafeRawPointer, encoding: Precision)
        do {
            let header = try GradientPayloadHeader(parsing: payload)
            guard header.subgroup == UInt32(s), header.step == UInt64(work.step) else {
                throw DeviceError.outOfRange("gradient payload in subgroup \(s)'s region is for subgroup \(header.subgroup), step \(header.step); expected subgroup \(s), step \(work.step) (a stale or misplaced payload)")
            }
            // A dense payload is read where it lies; a sparse one is scattered into the set's
            // dense fp32 gradient.
            gradient = try decoder.gradient(payload, scratch: UnsafeMutableBufferPointer(rebasing: set.gradient[0..<n]),
                                            bodyChecksum: bodyChecksum)
        } catch let error as PayloadError {
            throw DeviceError.badPayload(subgroup: s, offset: layout.gradientSlotOffset(subgroup: s), error)
        }
        let slot = set.slot.baseAddress!
        let first = layout.firstElement(ofSubgroup: s)
        let pieces = work.pieces(of: first..<(first + n))
        let parameters = (slot + layout.vectorRange(subgroup: s, vector: 0).lowerBound).assumingMemoryBound(to: Float.self)
        let states = (1...layout.stateCount).map { slot + layout.vectorRange(subgroup: s, vector: $0).lowerBound }
        if case .blockwise8(let blockSize) = layout.statePrecision {
            // 8-bit states: the kernel decodes a block, updates it in fp32 and encodes it again.
            kernel.run(pieces.map { (range: ($0.0.lowerBound - first)..<($0.0.upperBound - first), update: $0.1) }, on: QuantizedUpdateOperands(
                count: n, blockSize: blockSize, parameters: parameters, states: states,
                gradient: gradient.values, gradientPrecision: gradient.encoding,
                copyOut: work.copyOut.map { $0 + first * work.copyOutPrecision.byteWidth }, copyOutPrecision: work.copyOutPrecision))
            return
        }
        for (range, update) in pieces {
            let local = range.lowerBound - first
            let copyOut = work.copyOut.map { $0 + range.lowerBound * work.copyOutPrecision.byteWidth }
            let operands = UpdateOperands(
                count: range.count,
                parameters: parameters + local,
                state1: states[0].assumingMemoryBound(to: Float.self) + local,
                state2: layout.stateCount > 1 ? states[1].assumingMemoryBound(to: Float.self) + local : nil,
                gradient: gradient.values + local * gradient.encoding.byteWidth, gradientPrecision: gradient.encoding,
                copyOut: copyOut, copyOutPrecision: work.copyOutPrecision)
            kernel.run(update, on: operands)
        }
    }

    /// The compute between a load and its write-backs: check the loaded slot's sum, decode the
    /// payload (checking its body's sum), update, announce the upload. The sums are taken by the
    /// loader and the writer while the bytes move, not here: with 8-bit states this stage is the
    /// step's bottleneck.
    private func verifiedUpdate(_ item: StepItem, in set: DRAMPool.BufferSet, sums: LoadedSums, work: StepWork) throws {
        try verify(item, found: sums.slot)
        try update(item, in: set, bodyChecksum: sums.payloadBody, work: work)
        checkFault(.update, work, item.subgroup)
        work.doorbell?.publish(step: work.step, subgroup: item.subgroup)
    }

    private func count(_ transfers: [BlockTransfer], into report: inout StepReport) {
        for t in transfers {
            if t.direction == .read { report.bytesRead += t.memory.count } else { report.bytesWritten += t.memory.count }
        }
    }

    /// One thing at a time: load, update (and upload), write p, write states, next subgroup.
    private func runNaive(_ work: StepWork, _ operations: OperationLog, _ checksums: ChecksumLog) throws -> StepReport {
        var report = StepReport()
        let set = sets[0]
        for (i, item) in work.subgroups.enumerated() {
            let s = item.subgroup
            let (reads, sums, loaded) = try load(item, into: set, on: mainRing, step: work.step, taking: nil)
            checkFault(.read, work, s)
            recordTransfers(.load, reads, item: i, subgroup: s, started: loaded.started, after: [Key(kind: .writeStates, item: i - 1)],
                            in: operations)
            let started = ContinuousClock.now.systemNanoseconds
            try verifiedUpdate(item, in: set, sums: sums, work: work)
            recordUpdate(item: i, subgroup: s, started: started, after: [Key(kind: .load, item: i)], work: work, in: operations)
            var parameters: [BlockTransfer] = []
            let (states, written, checksum) = try writeBack(item, from: set, on: mainRing, work: work, taking: nil) { transfers, held in
                parameters = transfers
                recordTransfers(.writeParameters, transfers, item: i, subgroup: s, started: held.started,
                                after: [Key(kind: .update, item: i), Key(kind: .upload, item: i)], in: operations)
            }
            checkFault(.writeStates, work, s)
            recordTransfers(.writeStates, states, item: i, subgroup: s, started: written.started,
                            after: [Key(kind: .writeParameters, item: i)], in: operations)
            checksums.record(s, checksum)
            count(reads + parameters + states, into: &report)
        }
        return report
    }

    /// Three stages over the buffer sets: the loader reads subgroup i+1 while subgroup i is
    /// updated and subgroup i-1 is written back (parameters first, states lazily after). The
    /// loader and the writer take turns on the disk (`DiskTurns`), so the update and the
    /// upload are what overlaps the I/O, and reads never share the disk with writes.
    private func runOverlapped(_ work: StepWork, _ operations: OperationLog, _ checksums: ChecksumLog) throws -> StepReport {
        let items = work.subgroups
        let pipeline = Pipeline(setCount: sets.count)
        let turns = DiskTurns()
        let stagesDone = DispatchGroup()
        let loaderCounters = ByteCounters()
        let writerCounters = ByteCounters()
        guard let (loader, writer) = stages else { preconditionFailure("the overlap handler has no stage threads") }

        stagesDone.enter()
        loader.submit { [self] in
            defer { stagesDone.leave() }
            for (i, item) in items.enumerated() {
                guard let (setIndex, previousUser) = pipeline.takeFreeSet(for: i) else { return }
                do {
                    let (reads, sums, held) = try load(item, into: sets[setIndex], on: loadRing, step: work.step, taking: turns)
                    checkFault(.read, work, item.subgroup)
                    recordTransfers(.load, reads, item: i, subgroup: item.subgroup, started: held.started, finished: held.finished,
                                    after: [Key(kind: .load, item: i - 1), Key(kind: .writeStates, item: previousUser)], in: operations)
                    loaderCounters.add(reads)
                    pipeline.loaded(i, set: setIndex, sums: sums)
                } catch {
                    pipeline.fail(error)
                    return
                }
            }
        }
        stagesDone.enter()
        writer.submit { [self] in
            defer { stagesDone.leave() }
            for (i, item) in items.enumerated() {
                guard let setIndex = pipeline.takeUpdated(i) else { return }
                do {
                    let (states, held, checksum) = try writeBack(item, from: sets[setIndex], on: writeRing, work: work,
                                                                 taking: turns) { parameters, held in
                        recordTransfers(.writeParameters, parameters, item: i, subgroup: item.subgroup, started: held.started,
                                        finished: held.finished,
                                        after: [Key(kind: .update, item: i), Key(kind: .upload, item: i), Key(kind: .writeStates, item: i - 1)],
                                        in: operations)
                        writerCounters.add(parameters)
                    }
                    checkFault(.writeStates, work, item.subgroup)
                    recordTransfers(.writeStates, states, item: i, subgroup: item.subgroup, started: held.started, finished: held.finished,
                                    after: [Key(kind: .writeParameters, item: i)], in: operations)
                    writerCounters.add(states)
                    checksums.record(item.subgroup, checksum)
                    pipeline.release(setIndex)
                } catch {
                    pipeline.fail(error)
                    return
                }
            }
        }
        for (i, item) in items.enumerated() {
            guard let (setIndex, sums) = pipeline.takeLoaded(i) else { break }
            do {
                let started = ContinuousClock.now.systemNanoseconds
                try verifiedUpdate(item, in: sets[setIndex], sums: sums, work: work)
                recordUpdate(item: i, subgroup: item.subgroup, started: started,
                             after: [Key(kind: .load, item: i), Key(kind: .update, item: i - 1)], work: work, in: operations)
                pipeline.updated(i, set: setIndex)
            } catch {
                pipeline.fail(error)
                break
            }
        }
        stagesDone.wait()
        if let error = pipeline.failure { throw error }
        return StepReport(bytesRead: loaderCounters.read + writerCounters.read,
                          bytesWritten: loaderCounters.written + writerCounters.written)
    }
}

/// Hand-offs between the three overlap stages. A failure anywhere wakes every stage.
private final class Pipeline: Sendable {
    private struct State {
        var free: [Int]
        /// The step item that last held each buffer set (-1: none yet).
        var lastUser: [Int]
        /// Loaded items: their set and what the loader summed.
        var loaded: [Int: (set: Int, sums: TransferHandler.LoadedSums)] = [:]
        var updated: [Int: Int] = [:]
        var failure: Error?
    }

    private let state: Monitor<State>

    init(setCount: Int) {
        state = Monitor(State(free: Array((0..<setCount).reversed()), lastUser: Array(repeating: -1, count: setCount)))
    }

    /// Waits until `ready` gives a value, and returns it; or until a stage has failed: nil.
    private func wait<T>(until ready: (inout State) -> T?) -> T? {
        state.wait { s -> T?? in
            if s.failure != nil { return .some(nil) }
            return ready(&s).map { .some($0) }
        }
    }

    var failure: Error? { state.withLock { $0.failure } }

    /// A free set for item `item`, and the item that used it before.
    func takeFreeSet(for item: Int) -> (set: Int, previousUser: Int)? {
        wait { s in
            guard let set = s.free.popLast() else { return nil }
            defer { s.lastUser[set] = item }
            return (set, s.lastUser[set])
        }
    }
    func loaded(_ i: Int, set: Int, sums: TransferHandler.LoadedSums) { state.change { Self.handOn(set, in: $0); $0.loaded[i] = (set, sums) } }
    func takeLoaded(_ i: Int) -> (set: Int, sums: TransferHandler.LoadedSums)? { wait { $0.loaded.removeValue(forKey: i) } }
    func updated(_ i: Int, set: Int) { state.change { Self.handOn(set, in: $0); $0.updated[i] = set } }
    func takeUpdated(_ i: Int) -> Int? { wait { $0.updated.removeValue(forKey: i) } }
    func release(_ set: Int) { state.change { Self.handOn(set, in: $0); $0.free.append(set) } }
    func fail(_ error: Error) { state.change { if $0.failure == nil { $0.failure = error } } }

    /// A set is held by one stage at a time: the one handing it on must be its only holder, so
    /// it is in none of the queues (two subgroups in one set would overwrite each other).
    private static func handOn(_ set: Int, in s: State) {
        precondition(!s.free.contains(set) && !s.loaded.values.contains { $0.set == set } && !s.updated.values.contains(set),
                     "buffer set \(set) handed on while another stage still holds it")
    }
}

/// The checksums of the slots a step writes, from whichever stage computes them.
private final class ChecksumLog: Sendable {
    private let checksums = Mutex<[Int: UInt32]>([:])

    func record(_ subgroup: Int, _ checksum: UInt32) { checksums.withLock { $0[subgroup] = checksum } }

    var all: [Int: UInt32] { checksums.withLock { $0 } }
}

/// Bytes one stage read and wrote in a step.
private final class ByteCounters: Sendable {
    private let counts = Mutex<(read: Int, written: Int)>((0, 0))

    func add(_ transfers: [BlockTransfer]) {
        counts.withLock { c in
            for t in transfers {
                if t.direction == .read { c.read += t.memory.count } else { c.written += t.memory.count }
            }
        }
    }

    var read: Int { counts.withLock { $0.read } }
    var written: Int { counts.withLock { $0.written } }
}

extension StepWork {
    /// `elements` of the slice cut where the step's segments begin and end, each piece with
    /// the update it takes: a segment's own, or the step's elsewhere.
    func pieces(of elements: Range<Int>) -> [(Range<Int>, PreparedUpdate)] {
        var pieces: [(Range<Int>, PreparedUpdate)] = []
        var next = elements.lowerBound
        for segment in segments where segment.elements.overlaps(elements) {
            let inside = segment.elements.clamped(to: elements)
            if next < inside.lowerBound { pieces.append((next..<inside.lowerBound, update)) }
            pieces.append((inside, segment.update))
            next = inside.upperBound
        }
        if next < elements.upperBound { pieces.append((next..<elements.upperBound, update)) }
        return pieces
    }
}
