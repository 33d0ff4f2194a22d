import Checksum
import BlockIO
import DeviceProtocol
import Foundation
import Logging
import OffloadVocabulary
import Optim

/// One emulated SmartSSD: its SSD, its DRAM, its journal, and the commands the host sends it.
///
/// The engine is driven by one thread (the command loop); the overlap transfer handler keeps two
/// stage threads of its own from configure to shutdown.
public final class DeviceEngine: @unchecked Sendable {
    // Safe to share: one request runs at a time (`DeviceServer` and `InProcessDevice` serialise
    // them), and the handler's stage threads work only inside a step, which that request awaits.
    public struct Options: Sendable {
        public var deviceName: String
        public var ssdPath: String
        /// The most SSD bytes the device may use.
        public var capacityBytes: Int
        public var dramBytes: Int
        public var threads: Int
        public var ioMode: BlockFile.Mode
        /// 2 (A/B, crash-safe) or 1 (`--in-place`).
        public var slots: Int
        public var queueDepth: Int
        public var blockSize: Int
        public var fault: FaultPlan?
        /// Paces every operation to a hardware model (the paced clock); nil: this machine's speed.
        public var pacer: OperationPacer?

        public init(deviceName: String = "smartssd", ssdPath: String, capacityBytes: Int, dramBytes: Int, threads: Int = 1,
                    ioMode: BlockFile.Mode = .direct, slots: Int = 2, queueDepth: Int = 16, blockSize: Int = 1 << 20,
                    fault: FaultPlan? = nil, pacer: OperationPacer? = nil) {
            self.deviceName = deviceName
            self.ssdPath = ssdPath
            self.capacityBytes = capacityBytes
            self.dramBytes = dramBytes
            self.threads = threads
            self.ioMode = ioMode
            self.slots = slots
            self.queueDepth = queueDepth
            self.blockSize = blockSize
            self.fault = fault
            self.pacer = pacer
        }
    }

    public let options: Options
    /// The `--fault` plan, armed once for the life of the process (each fault fires once).
    public let fault: ArmedFault?
    /// Where protocol paths may point.
    let confinement: PathConfinement
    let file: BlockFile
    let pool: DRAMPool
    let ring: IORing
    public private(set) var superblock: Superblock?
    private var journal: StepJournal?
    private var handler: TransferHandler?
    private var hostBuffer: SharedMemoryMapping?
    public private(set) var lastReport = StepReport()
    /// Told of every committed step and its report (the device's own clock reporting).
    public var stepObserver: ((Int, StepReport) -> Void)?
    /// The device's log: its server, its faults and its transfer handler log here too.
    public let logger: Logger

    /// Opens (or creates) the SSD, allocates the DRAM, and recovers the journal if the SSD was
    /// formatted before. `logger` is the device's log (by default none, as for an engine a
    /// benchmark or a test drives).
    public init(_ options: Options, logger: Logger = Logger(label: "smartssd.device", factory: SwiftLogNoOpLogHandler.init)) throws {
        self.options = options
        self.logger = logger
        fault = options.fault.map { ArmedFault($0, logger: logger) }
        confinement = PathConfinement(ssdPath: options.ssdPath)
        file = try BlockFile(path: options.ssdPath, mode: options.ioMode, create: !FileManager.default.fileExists(atPath: options.ssdPath))
        // One device per SSD, before reading a byte of it: a second device would trust a journal
        // the first rewrites and overwrite the slots the first's journal names as committed. The
        // lock lives as long as `file` (the kernel drops it when the process ends, however).
        if case .held(let holder) = try file.lockExclusively() {
            throw DeviceError.ssdInUse(path: options.ssdPath, holder: holder)
        }
        pool = DRAMPool(bytes: options.dramBytes)
        ring = try IORing(queueDepth: options.queueDepth)
        let block = AlignedBuffer<UInt8>(count: DeviceLayout.superblockBytes, alignment: DeviceLayout.alignment)
        if try file.size() >= DeviceLayout.superblockBytes {
            try block.withUnsafeMutableBufferPointer { b in
                try ring.run([BlockTransfer(.read, file: file, fileOffset: 0, memory: UnsafeMutableRawBufferPointer(b))], blockSize: 4096)
            }
            superblock = try Superblock.decode(block.array, path: options.ssdPath)
        }
        if let superblock {
            journal = try StepJournal(layout: superblock.layout, file: file, ring: ring, fresh: false)
        }
    }

    // MARK: commands

    public func hello() -> Reply.Hello {
        Reply.Hello(deviceName: options.deviceName, protocolVersion: Int(Frame.version), capacityBytes: options.capacityBytes,
                    dramBytes: options.dramBytes, threads: options.threads,
                    ssdPath: URL(fileURLWithPath: options.ssdPath).standardizedFileURL.path, directIO: options.ioMode == .direct)
    }

    public func configure(_ c: DeviceConfiguration) throws -> Reply.Configured {
        let sets = c.handler == .naive ? 1 : 3
        let stateCount = c.optimizer.stateCount
        let subgroup: Int
        if c.subgroupElements > 0 {
            subgroup = min(c.subgroupElements, c.sliceElements)
            if let block = c.statePrecision.blockSize, subgroup % block != 0, subgroup < c.sliceElements {
                throw DeviceError.outOfRange("configure: subgroups of \(subgroup) elements do not hold whole 8-bit state blocks of \(block); "
                    + "choose a multiple of \(block) (or 0: the device chooses)")
            }
        } else if let formatted = superblock?.layout, formatted.sliceElements == c.sliceElements,
                  formatted.statePrecision == c.statePrecision {
            subgroup = formatted.subgroupElements
        } else {
            guard let d = DRAMPool.subgroupSize(sliceElements: c.sliceElements, stateCount: stateCount, slots: options.slots,
                                                statePrecision: c.statePrecision, sets: sets, dramBytes: options.dramBytes) else {
                let step = DRAMPool.subgroupStep(c.statePrecision)
                let minimal = DeviceLayout(sliceElements: c.sliceElements, subgroupElements: step, stateCount: stateCount,
                                           slots: options.slots, statePrecision: c.statePrecision)
                throw DeviceError.insufficientDRAM(neededBytes: DRAMPool.bufferSetBytes(minimal) * sets, dramBytes: options.dramBytes,
                                                   detail: "\(sets) buffer set(s) of at least \(step) elements")
            }
            subgroup = d
        }
        let layout = DeviceLayout(sliceElements: c.sliceElements, subgroupElements: subgroup, stateCount: stateCount, slots: options.slots,
                                  statePrecision: c.statePrecision)
        let needed = DRAMPool.bufferSetBytes(layout) * sets
        guard needed <= options.dramBytes else {
            throw DeviceError.insufficientDRAM(neededBytes: needed, dramBytes: options.dramBytes,
                                               detail: "\(sets) buffer set(s) of \(subgroup) elements for \(c.optimizer.name)")
        }
        guard layout.totalBytes <= options.capacityBytes else {
            throw DeviceError.insufficientCapacity(neededBytes: layout.totalBytes, capacityBytes: options.capacityBytes)
        }
        let wanted = Superblock(layout: layout, optimizer: c.optimizer, gradientPrecision: c.gradientPrecision,
                                copyOutPrecision: c.copyOutPrecision)
        if let existing = superblock {
            guard existing.layout == layout, existing.optimizer.name == c.optimizer.name,
                  existing.gradientPrecision == c.gradientPrecision, existing.copyOutPrecision == c.copyOutPrecision else {
                throw DeviceError.formattedForSomethingElse(path: options.ssdPath, found: existing.summary, requested: wanted.summary)
            }
            superblock = wanted
        } else {
            try format(wanted)
        }
        handler = try TransferHandler(layout: layout, file: file, sets: pool.carve(sets, for: layout),
                                      kernel: UpdateKernel(threads: options.threads), mode: c.handler,
                                      queueDepth: options.queueDepth, blockSize: options.blockSize,
                                      registration: pool.registrationChunks, logger: logger)
        handler?.fault = fault
        handler?.pacer = options.pacer
        logger.debug("configured: \(c.handler) handler, \(layout.subgroupCount) subgroups of \(subgroup) elements, \(sets) buffer set(s), states \(c.statePrecision)")
        return Reply.Configured(subgroupElements: subgroup, subgroupCount: layout.subgroupCount, bufferSets: sets,
                                dramNeededBytes: needed, gradientOffset: layout.gradientOffset,
                                gradientSlotBytes: layout.gradientSlotBytes)
    }

    private func format(_ wanted: Superblock) throws {
        try file.allocate(length: wanted.layout.totalBytes)
        let block = AlignedBuffer<UInt8>(wanted.encoded())
        let aligned = AlignedBuffer<UInt8>(count: block.count, alignment: DeviceLayout.alignment)
        aligned.withUnsafeMutableBufferPointer { dst in block.withUnsafeBufferPointer { src in _ = dst.initialize(from: src) } }
        journal = try StepJournal(layout: wanted.layout, file: file, ring: ring, fresh: true)
        try aligned.withUnsafeMutableBufferPointer { b in
            try ring.run([BlockTransfer(.write, file: file, fileOffset: 0, memory: UnsafeMutableRawBufferPointer(b))], blockSize: 4096)
        }
        try file.sync()
        superblock = wanted
    }

    public func attachHostBuffer(path: String) throws {
        let (layout, superblock) = try configured("attach-host-buffer")
        let path = try confinement.check(path, for: "attach-host-buffer")
        do {
            hostBuffer = try SharedMemoryMapping.open(path: path, minimumBytes: layout.sliceElements * superblock.copyOutPrecision.byteWidth)
        } catch {
            throw DeviceError.hostBuffer(error)
        }
    }

    /// Loads initial fp32 parameters for whole subgroups from a file of raw little-endian fp32,
    /// initialises their states, and commits them as step 0. (Saved states come back as a
    /// snapshot restore.)
    public func loadParameters(offset: Int, count: Int, path: String) throws {
        let request = "load-parameters"
        let (layout, superblock) = try configured(request)
        guard let journal, let handler else { throw DeviceError.notConfigured(request) }
        guard offset % layout.subgroupElements == 0, offset < layout.sliceElements,
              count <= layout.sliceElements - offset,
              (offset + count) % layout.subgroupElements == 0 || offset + count == layout.sliceElements else {
            throw DeviceError.outOfRange("\(request): elements \(offset)..<\(offset + count) must cover whole subgroups of \(layout.subgroupElements) within the slice of \(layout.sliceElements)")
        }
        let source = try BlockFile(path: try confinement.check(path, for: request), mode: .buffered)
        let available = try source.size()
        guard available >= count * 4 else {
            throw DeviceError.outOfRange("\(request): \(path) holds \(available) bytes; \(count) fp32 values need \(count * 4)")
        }
        let set = handler.sets[0]
        let initial = superblock.optimizer.initialStateValue
        let maps = superblock.optimizer.kind.stateMaps
        for s in layout.subgroup(containing: offset)...layout.subgroup(containing: offset + count - 1) {
            let n = layout.elements(ofSubgroup: s)
            set.slot.initializeMemory(as: UInt8.self, repeating: 0)
            let p = UnsafeMutableRawBufferPointer(rebasing: set.slot[layout.vectorRange(subgroup: s, vector: 0)])
            try ring.run([BlockTransfer(.read, file: source, fileOffset: (layout.firstElement(ofSubgroup: s) - offset) * 4, memory: p)],
                         blockSize: options.blockSize)
            // Each state's initial value in the gradient buffer, then stored in the state precision.
            let values = UnsafeMutableBufferPointer(rebasing: set.gradient[0..<n])
            for v in 1...layout.stateCount {
                values.update(repeating: initial)
                layout.statePrecision.encode(UnsafeBufferPointer(values), map: maps[v - 1],
                                             into: UnsafeMutableRawBufferPointer(rebasing: set.slot[layout.vectorRange(subgroup: s, vector: v)]))
            }
            try ring.run([BlockTransfer(.write, file: file, fileOffset: layout.slotOffset(subgroup: s, slot: 0), memory: set.slot)],
                         blockSize: options.blockSize)
            journal.stageReset(subgroup: s)
            journal.stage(.init(step: 0, slot: 0, checksum: CRC32C.checksum(UnsafeRawBufferPointer(set.slot))), subgroup: s)
        }
        try file.sync()
        try journal.write(ring: ring)
    }

    /// Runs one optimizer step on the listed subgroups and commits it.
    public func step(_ command: StepCommand) throws {
        let (layout, superblock) = try configured("step")
        guard let journal, let handler else { throw DeviceError.notConfigured("step") }
        guard command.update.stateCount == layout.stateCount else {
            throw DeviceError.outOfRange("step: the update is for an optimizer with \(command.update.stateCount) state(s); this device holds \(superblock.optimizer.name)")
        }
        if let last = command.segments.last, last.elements.upperBound > layout.sliceElements {
            throw DeviceError.outOfRange("step: update segment \(last.elements) is outside the slice of \(layout.sliceElements) elements")
        }
        var items: [StepItem] = []
        var missing: [Int] = []
        for (s, bytes) in zip(command.subgroups, command.payloadBytes) {
            guard s < layout.subgroupCount else {
                throw DeviceError.outOfRange("step: subgroup \(s) does not exist (the device has \(layout.subgroupCount))")
            }
            guard let committed = journal.committed(s) else { missing.append(s); continue }
            guard committed.step == command.step - 1 else {
                throw DeviceError.outOfRange("step \(command.step): subgroup \(s) has committed step \(committed.step); it can only take step \(committed.step + 1)")
            }
            guard command.skip || (bytes > 0 && bytes <= layout.gradientSlotBytes) else {
                throw DeviceError.outOfRange("step: subgroup \(s)'s payload is \(bytes) bytes; its gradient slot holds 1...\(layout.gradientSlotBytes)")
            }
            let write = layout.slots == 1 ? committed.slot : 1 - committed.slot
            items.append(StepItem(subgroup: s, payloadBytes: bytes, readSlot: committed.slot, writeSlot: write,
                                  expectedChecksum: committed.checksum))
        }
        guard missing.isEmpty else { throw DeviceError.notLoaded(subgroups: missing) }
        if command.skip {
            for item in items {
                journal.stage(.init(step: command.step, slot: item.readSlot, checksum: item.expectedChecksum), subgroup: item.subgroup)
            }
            try journal.write(ring: ring)
            lastReport = StepReport()
            return
        }
        if layout.slots == 2 {
            for item in items { journal.stageRelease(slot: item.writeSlot, subgroup: item.subgroup) }
            try journal.write(ring: ring)
        }
        let doorbell = hostBuffer.flatMap {
            UploadDoorbell($0, sliceBytes: layout.sliceElements * superblock.copyOutPrecision.byteWidth, subgroupCount: layout.subgroupCount)
        }
        let work = StepWork(step: command.step, update: command.update, segments: command.segments, subgroups: items, copyOut: hostBuffer?.base,
                            copyOutPrecision: superblock.copyOutPrecision, doorbell: doorbell)
        let (report, checksums) = try handler.run(work)
        lastReport = report
        try file.sync()
        fault?.check(.beforeCommit, step: command.step, subgroup: nil)
        for item in items {
            journal.stage(.init(step: command.step, slot: item.writeSlot, checksum: checksums[item.subgroup]), subgroup: item.subgroup)
        }
        let tear = fault?.tearsCommit(step: command.step) ?? false
        try journal.write(ring: ring, tearing: tear)
        if tear { fault?.killDevice() }
        fault?.check(.afterCommit, step: command.step, subgroup: nil)
        logger.debug("step \(command.step): \(items.count) subgroups, \(report.operations.count) operations, \(report.bytesRead) bytes read, \(report.bytesWritten) written",
                     metadata: ["step": "\(command.step)"])
        stepObserver?(command.step, lastReport)
    }

    /// Committed step per subgroup, -1 where nothing was loaded.
    public func status() throws -> [Int] {
        let (layout, _) = try configured("status")
        guard let journal else { throw DeviceError.notConfigured("status") }
        return (0..<layout.subgroupCount).map { journal.committed($0)?.step ?? -1 }
    }

    /// Committed values of one vector, for checkpoints and tests.
    public func readState(vector: StateVector, offset: Int, count: Int) throws -> [Float] {
        let (layout, superblock) = try configured("read-state")
        guard let journal, let handler else { throw DeviceError.notConfigured("read-state") }
        let index = Int(vector.rawValue) - 1
        guard index <= layout.stateCount else {
            throw DeviceError.outOfRange("read-state: this optimizer keeps \(layout.stateCount) state vector(s); state \(index) does not exist")
        }
        guard offset >= 0, count >= 1, offset + count <= layout.sliceElements else {
            throw DeviceError.outOfRange("read-state: elements \(offset)..<\(offset + count) are outside the slice of \(layout.sliceElements)")
        }
        var values: [Float] = []
        values.reserveCapacity(count)
        var e = offset
        while e < offset + count {
            let s = layout.subgroup(containing: e)
            guard let committed = journal.committed(s) else { throw DeviceError.notLoaded(subgroups: [s]) }
            let first = layout.firstElement(ofSubgroup: s)
            let upto = min(first + layout.elements(ofSubgroup: s), offset + count)
            values += try read((e - first)..<(upto - first), ofVector: index, subgroup: s,
                               at: layout.vectorOffset(subgroup: s, slot: committed.slot, vector: index), layout: layout,
                               optimizer: superblock.optimizer, scratch: handler.sets[0].whole)
            e = upto
        }
        return values
    }

    /// The fp32 values of elements `local` of vector `v` of subgroup `s`, whose stored form
    /// starts at SSD offset `base`. Only the 4 KiB blocks holding them are read (and, for an 8-bit
    /// state, those holding their blocks' scales): a reply carries at most 1 MiB, and reading the
    /// whole subgroup for each would move the subgroup many times over.
    private func read(_ local: Range<Int>, ofVector v: Int, subgroup s: Int, at base: Int, layout: DeviceLayout,
                      optimizer: OptimizerConfig, scratch: UnsafeMutableRawBufferPointer) throws -> [Float] {
        func pages(_ bytes: Range<Int>) -> Range<Int> {
            bytes.lowerBound.roundedDown(to: DeviceLayout.alignment)..<bytes.upperBound.roundedUp(to: DeviceLayout.alignment)
        }
        func read(_ span: Range<Int>, into start: Int) throws {
            try ring.run([BlockTransfer(.read, file: file, fileOffset: base + span.lowerBound,
                                        memory: UnsafeMutableRawBufferPointer(rebasing: scratch[start..<(start + span.count)]))],
                         blockSize: options.blockSize)
        }
        guard v > 0, case .blockwise8(let b) = layout.statePrecision else {
            let span = pages((local.lowerBound * 4)..<(local.upperBound * 4))
            try read(span, into: 0)
            return (local.lowerBound..<local.upperBound).map { scratch.load(fromByteOffset: $0 * 4 - span.lowerBound, as: Float.self) }
        }
        // Stored: the subgroup's block scales, then its codes.
        let scalesBytes = 4 * ((layout.elements(ofSubgroup: s) + b - 1) / b)
        let blocks = (local.lowerBound / b)..<((local.upperBound - 1) / b + 1)
        let scaleSpan = pages((4 * blocks.lowerBound)..<(4 * blocks.upperBound))
        let codeSpan = pages((scalesBytes + local.lowerBound)..<(scalesBytes + local.upperBound))
        try read(scaleSpan, into: 0)
        try read(codeSpan, into: scaleSpan.count)
        let map = optimizer.kind.stateMaps[v - 1]
        return local.map { i in
            let scale = scratch.load(fromByteOffset: 4 * (i / b) - scaleSpan.lowerBound, as: Float.self)
            let code = scratch[scaleSpan.count + scalesBytes + i - codeSpan.lowerBound]
            return map.values[Int(code)] * scale
        }
    }

    /// Copies every subgroup's committed state (p and the states, all at committed step `step`)
    /// into a new snapshot file beside the SSD, through the device's DRAM: no byte leaves the
    /// device. Each slot is checked against the checksum its commit recorded before it is
    /// copied, so a snapshot never preserves a damaged state. Once the snapshot is durable, only
    /// the newest `keep` are kept.
    public func snapshot(step: Int, keep: Int, note: String) throws -> StoredSnapshot {
        let (layout, superblock) = try configured("snapshot")
        guard let journal, let handler else { throw DeviceError.notConfigured("snapshot") }
        let committed = try (0..<layout.subgroupCount).map { s throws(DeviceError) -> StepJournal.Entry in
            guard let entry = journal.committed(s) else { throw .notLoaded(subgroups: [s]) }
            guard entry.step == step else {
                throw .outOfRange("snapshot at step \(step): subgroup \(s) has committed step \(entry.step); every subgroup must hold step \(step)")
            }
            return entry
        }
        let store = SnapshotStore(ssdPath: options.ssdPath)
        let (path, sequence) = try store.newPath(step: step)
        var writer = try SnapshotWriter(path: path, header: SnapshotHeader(
            sequence: sequence, step: step, sliceElements: layout.sliceElements, subgroupElements: layout.subgroupElements,
            optimizer: superblock.optimizer, statePrecision: layout.statePrecision, note: Array(note.utf8)))
        let set = handler.sets[0]
        for (s, entry) in committed.enumerated() {
            try ring.run([BlockTransfer(.read, file: file, fileOffset: layout.slotOffset(subgroup: s, slot: entry.slot), memory: set.slot)],
                         blockSize: options.blockSize)
            if let expected = entry.checksum {
                let found = CRC32C.checksum(UnsafeRawBufferPointer(set.slot))
                guard found == expected else {
                    throw DeviceError.integrity(subgroup: s, slot: entry.slot, offset: layout.slotOffset(subgroup: s, slot: entry.slot),
                                                expected: expected, found: found)
                }
            }
            for v in 0..<layout.vectorsPerSlot {
                try writer.append(UnsafeRawBufferPointer(rebasing: set.slot[layout.vectorRange(subgroup: s, vector: v)]))
            }
        }
        try writer.commit()
        store.prune(keep: keep)
        return SnapshotStore.stored(try SnapshotReader(path: path))
    }

    /// The snapshots beside the SSD, oldest first (the newest that one reply holds); a file
    /// whose header or checksum table is damaged is left out (and named in the log).
    public func listSnapshots() -> [StoredSnapshot] {
        SnapshotStore(ssdPath: options.ssdPath).entries().suffix(Reply.maximumSnapshotCount).compactMap { entry in
            do {
                return SnapshotStore.stored(try SnapshotReader(path: entry.path))
            } catch {
                logger.warning("list-snapshots: leaving out \(error)")
                return nil
            }
        }
    }

    /// Makes snapshot `path` every subgroup's committed state, at the snapshot's step, whatever
    /// step the device had reached (the host resumes from an older checkpoint, or lays out
    /// exported states over a new fleet). Every vector is checked before anything is committed.
    /// Crash-safe like a step: each subgroup is written into the slot that does not hold its
    /// committed state, synced, and committed in one journal write.
    public func restoreSnapshot(path: String) throws {
        let (layout, superblock) = try configured("restore-snapshot")
        guard let journal, let handler else { throw DeviceError.notConfigured("restore-snapshot") }
        let snapshot = try SnapshotReader(path: try confinement.check(path, for: "restore-snapshot"))
        let header = snapshot.header
        guard header.sliceElements == layout.sliceElements, header.subgroupElements == layout.subgroupElements,
              header.optimizer.name == superblock.optimizer.name, header.statePrecision == layout.statePrecision else {
            throw DeviceError.snapshotMismatch(path: path, detail: "it holds \(header.sliceElements) elements in subgroups of \(header.subgroupElements) "
                + "for \(header.optimizer.name), states \(header.statePrecision); this device holds \(layout.sliceElements) in subgroups of "
                + "\(layout.subgroupElements) for \(superblock.optimizer.name), states \(layout.statePrecision)")
        }
        let set = handler.sets[0]
        var targets: [(slot: Int, checksum: UInt32)] = []
        if layout.slots == 2 {
            for s in 0..<layout.subgroupCount {
                if let current = journal.committed(s) { journal.stageRelease(slot: 1 - current.slot, subgroup: s) }
            }
            try journal.write(ring: ring)
        }
        for s in 0..<layout.subgroupCount {
            let slot = journal.committed(s).map { layout.slots == 2 ? 1 - $0.slot : $0.slot } ?? 0
            set.slot.initializeMemory(as: UInt8.self, repeating: 0)
            for v in 0..<layout.vectorsPerSlot {
                try snapshot.read(subgroup: s, vector: v, into: UnsafeMutableRawBufferPointer(rebasing: set.slot[layout.vectorRange(subgroup: s, vector: v)]))
            }
            try ring.run([BlockTransfer(.write, file: file, fileOffset: layout.slotOffset(subgroup: s, slot: slot), memory: set.slot)],
                         blockSize: options.blockSize)
            targets.append((slot, CRC32C.checksum(UnsafeRawBufferPointer(set.slot))))
        }
        try file.sync()
        for (s, target) in targets.enumerated() {
            journal.stageReset(subgroup: s)
            journal.stage(.init(step: header.step, slot: target.slot, checksum: target.checksum), subgroup: s)
        }
        try journal.write(ring: ring)
    }

    public func flush() throws { try file.sync() }

    /// Flushes and lets go of the transfer handler, ending its stage threads: the engine takes
    /// no more steps (it must be configured again).
    public func shutdown() throws {
        try flush()
        handler = nil
    }

    public func rollback(to step: Int) throws {
        let (layout, _) = try configured("rollback")
        guard let journal else { throw DeviceError.notConfigured("rollback") }
        for s in 0..<layout.subgroupCount where journal.committed(s) != nil {
            try journal.stageRollback(subgroup: s, to: step)
        }
        try journal.write(ring: ring)
        logger.debug("rolled back to step \(step)", metadata: ["step": "\(step)"])
    }

    private func configured(_ what: String) throws(DeviceError) -> (DeviceLayout, Superblock) {
        guard let superblock, handler != nil else { throw .notConfigured(what) }
        return (superblock.layout, superblock)
    }
}
