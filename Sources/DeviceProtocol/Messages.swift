import Optim

/// How a device overlaps its per-subgroup work (paper: SU is `naive`, SU+O is `overlap`).
public enum HandlerMode: UInt8, Sendable, CaseIterable {
    /// One buffer set; read, update and write back each subgroup in sequence.
    case naive = 1
    /// Several buffer sets; the next subgroup's reads and the previous one's write-backs overlap
    /// this subgroup's update, parameters written back before the lazy m/v.
    case overlap = 2

    /// The handler's name on command lines and in reports.
    public var name: String {
        switch self {
        case .naive: "naive"
        case .overlap: "overlap"
        }
    }

    public init?(name: String) {
        guard let handler = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = handler
    }
}

/// What the host asks a device to hold: the geometry of its parameter slice, the optimizer, the
/// stream formats and how its states are stored.
public struct DeviceConfiguration: Sendable, Equatable {
    /// Elements in this device's slice of the flattened parameters.
    public var sliceElements: Int
    /// Elements per subgroup (D); 0 lets the device choose the largest its DRAM allows.
    public var subgroupElements: Int
    public var optimizer: OptimizerConfig
    public var gradientPrecision: Precision
    public var copyOutPrecision: Precision
    public var handler: HandlerMode
    /// The optimizer states on the SSD: fp32, or 8-bit codes with a scale per block (the
    /// subgroup size must then be a multiple of the block, or the whole slice).
    public var statePrecision: StatePrecision

    public init(sliceElements: Int, subgroupElements: Int, optimizer: OptimizerConfig, gradientPrecision: Precision,
                copyOutPrecision: Precision, handler: HandlerMode, statePrecision: StatePrecision = .fp32) {
        self.sliceElements = sliceElements
        self.subgroupElements = subgroupElements
        self.optimizer = optimizer
        self.gradientPrecision = gradientPrecision
        self.copyOutPrecision = copyOutPrecision
        self.handler = handler
        self.statePrecision = statePrecision
    }

    /// Slices beyond 2^40 elements (4 TiB of fp32) are refused outright.
    public static var maximumElements: Int { 1 << 40 }
}

/// A range of a device's slice updated with its own prepared update: the elements of a parameter
/// group whose learning rate or weight decay differs from the step's.
public struct UpdateSegment: Sendable, Equatable {
    /// Elements of the slice (device-local).
    public var elements: Range<Int>
    /// The same rule as the step's update, with this range's scalars.
    public var update: PreparedUpdate

    public init(elements: Range<Int>, update: PreparedUpdate) {
        self.elements = elements
        self.update = update
    }
}

/// One optimizer step on a device. The gradients are already in the device's gradient region.
public struct StepCommand: Sendable, Equatable {
    /// The optimizer step t (1-based).
    public var step: Int
    /// The update of every element no segment covers.
    public var update: PreparedUpdate
    /// Ranges of the slice with their own update, in increasing order, not overlapping (empty in
    /// a run with one set of hyperparameters).
    public var segments: [UpdateSegment]
    /// An overflow elsewhere: commit the step without touching any state.
    public var skip: Bool
    /// The subgroups to update (all of them in normal training), strictly increasing.
    public var subgroups: [Int]
    /// The byte length of each subgroup's payload in the gradient region (parallel to
    /// `subgroups`), so the device reads exactly what the host wrote.
    public var payloadBytes: [Int]

    public init(step: Int, update: PreparedUpdate, segments: [UpdateSegment] = [], skip: Bool, subgroups: [Int], payloadBytes: [Int]) {
        precondition(subgroups.count == payloadBytes.count, "one payload length per subgroup")
        self.step = step
        self.update = update
        self.segments = segments
        self.skip = skip
        self.subgroups = subgroups
        self.payloadBytes = payloadBytes
    }
}

/// Which vector of a subgroup to read back.
public enum StateVector: UInt8, Sendable, CaseIterable {
    case parameters = 1
    case state1 = 2
    case state2 = 3
}

/// One snapshot a device keeps (`snapshot`, `list-snapshots`): a file of its committed states
/// at one step, beside its SSD.
public struct StoredSnapshot: Sendable, Equatable {
    /// The snapshot file, as the device names it (absolute; inside the device's directory).
    public var path: String
    /// Taken order on the device: higher is newer.
    public var sequence: Int
    /// The committed step the snapshot holds.
    public var step: Int
    /// The file's length: the bytes the device copied inside itself.
    public var bytes: Int

    public init(path: String, sequence: Int, step: Int, bytes: Int) {
        self.path = path
        self.sequence = sequence
        self.step = step
        self.bytes = bytes
    }
}

/// A request from host to device.
public enum Request: Sendable, Equatable {
    case hello(clientName: String)
    case configure(DeviceConfiguration)
    /// Initial fp32 parameters for `count` elements from `offset` of the slice, read from a file
    /// the device can open (a path inside its own directory).
    case loadParameters(offset: Int, count: Int, path: String)
    case step(StepCommand)
    case status
    /// `count` fp32 values of one vector of the slice from `offset` (bounded by the body cap).
    case readState(vector: StateVector, offset: Int, count: Int)
    case flush
    /// Roll every subgroup back to committed step `step`.
    case rollback(step: Int)
    case shutdown
    /// Like `loadParameters`, with the states too: the file holds `count` fp32 parameters, then
    /// `count` values of each state vector in rule order (a resumed optimizer's state).
    /// Map the host's shared buffer (a file in shared memory) that receives the compute copy of
    /// the whole slice, element i of the slice at byte i × copy-out width.
    case attachHostBuffer(path: String)
    /// Copy every subgroup's committed state (all at committed step `step`) into a new snapshot
    /// beside the SSD, inside the device: no state byte crosses the host link. `note` (at most
    /// `maximumNoteBytes`, the host's trainer state) is kept with it. Then keep the newest `keep`
    /// snapshots and delete the older ones (only once the new one is durable).
    case snapshot(step: Int, keep: Int, note: String)
    /// The snapshots the device keeps, oldest first.
    case listSnapshots
    /// Put a snapshot (a file in the device's directory, of this device's geometry and
    /// optimizer) back as every subgroup's committed state, at the snapshot's step: the
    /// device goes back (or forward) to that step whatever step it had reached.
    case restoreSnapshot(path: String)

    public var kind: UInt16 {
        switch self {
        case .hello: 1
        case .configure: 2
        case .loadParameters: 3
        case .step: 4
        case .status: 5
        case .readState: 6
        case .flush: 7
        case .rollback: 8
        case .shutdown: 9
        case .attachHostBuffer: 10
        case .snapshot: 12
        case .listSnapshots: 13
        case .restoreSnapshot: 14
        }
    }

    public var name: String {
        switch self {
        case .hello: "hello"
        case .configure: "configure"
        case .loadParameters: "load-parameters"
        case .step: "step"
        case .status: "status"
        case .readState: "read-state"
        case .flush: "flush"
        case .rollback: "rollback"
        case .shutdown: "shutdown"
        case .attachHostBuffer: "attach-host-buffer"
        case .snapshot: "snapshot"
        case .listSnapshots: "list-snapshots"
        case .restoreSnapshot: "restore-snapshot"
        }
    }

    /// Largest note a snapshot request carries (a trainer state is well under 1 KiB).
    public static var maximumNoteBytes: Int { 16_384 }
    /// Most snapshots a device is asked to keep.
    public static var maximumKeptSnapshots: Int { 1000 }

    /// Largest count of fp32 values one read-state reply can carry.
    public static var maximumReadCount: Int { (Frame.maximumBodyBytes - 64) / 4 }

    public func frame(requestID: UInt32) -> Frame {
        var w = WireWriter()
        switch self {
        case .hello(let name): w.string(name)
        case .configure(let c):
            w.u64(UInt64(c.sliceElements)); w.u64(UInt64(c.subgroupElements))
            c.optimizer.encode(into: &w)
            w.u8(c.gradientPrecision.rawValue); w.u8(c.copyOutPrecision.rawValue); w.u8(c.handler.rawValue)
            c.statePrecision.encode(into: &w)
        case .loadParameters(let offset, let count, let path):
            w.u64(UInt64(offset)); w.u64(UInt64(count)); w.string(path)
        case .step(let s):
            w.u64(UInt64(s.step)); s.update.encode(into: &w); w.bool(s.skip)
            w.u32(UInt32(s.subgroups.count))
            for (subgroup, bytes) in zip(s.subgroups, s.payloadBytes) { w.u32(UInt32(subgroup)); w.u32(UInt32(bytes)) }
            w.u64(UInt64(s.segments.count))
            for segment in s.segments {
                w.u64(UInt64(segment.elements.lowerBound)); w.u64(UInt64(segment.elements.count)); segment.update.encode(into: &w)
            }
        case .readState(let vector, let offset, let count):
            w.u8(vector.rawValue); w.u64(UInt64(offset)); w.u64(UInt64(count))
        case .rollback(let step): w.u64(UInt64(step))
        case .attachHostBuffer(let path): w.string(path)
        case .snapshot(let step, let keep, let note): w.u64(UInt64(step)); w.u32(UInt32(keep)); w.string(note)
        case .restoreSnapshot(let path): w.string(path)
        case .status, .flush, .shutdown, .listSnapshots: break
        }
        return Frame(kind: kind, requestID: requestID, body: w.bytes)
    }

    /// Decodes and validates a request body. Values that depend on the device's state (a slice
    /// bound, a subgroup index) are checked by the device; everything else is checked here.
    public static func decode(_ frame: Frame) throws(ProtocolError) -> Request {
        let names: [UInt16: String] = [1: "hello", 2: "configure", 3: "load-parameters", 4: "step", 5: "status",
                                        6: "read-state", 7: "flush", 8: "rollback", 9: "shutdown", 10: "attach-host-buffer",
                                        12: "snapshot", 13: "list-snapshots", 14: "restore-snapshot"]
        guard let name = names[frame.kind] else {
            // 11 was load-states (saved states now come back as a snapshot restore).
            throw .invalidField(message: "request", field: "kind", found: "\(frame.kind)", expected: "a request kind 1...10 or 12...14")
        }
        var r = WireReader(frame.body, message: name)
        let request: Request
        switch frame.kind {
        case 1: request = .hello(clientName: try r.string("client name", maxLength: 256))
        case 2:
            let slice = try r.count("slice elements", in: 1...DeviceConfiguration.maximumElements)
            let subgroup = try r.count("subgroup elements", in: 0...DeviceConfiguration.maximumElements)
            let optimizer = try OptimizerConfig.decode(from: &r)
            let gradient = try Precision.decode(from: &r, "gradient precision")
            let copyOut = try Precision.decode(from: &r, "copy-out precision")
            let handlerCode = try r.u8("handler")
            guard let handler = HandlerMode(rawValue: handlerCode) else {
                throw .invalidField(message: name, field: "handler", found: "\(handlerCode)", expected: "1 (naive) or 2 (overlap)")
            }
            let states = try StatePrecision.decode(from: &r)
            request = .configure(DeviceConfiguration(sliceElements: slice, subgroupElements: subgroup, optimizer: optimizer,
                                                     gradientPrecision: gradient, copyOutPrecision: copyOut, handler: handler,
                                                     statePrecision: states))
        case 3:
            let offset = try r.count("offset", in: 0...DeviceConfiguration.maximumElements)
            let count = try r.count("count", in: 1...DeviceConfiguration.maximumElements)
            request = .loadParameters(offset: offset, count: count, path: try r.string("path"))
        case 4:
            let step = try r.count("step", in: 1...Int(UInt32.max))
            let update = try PreparedUpdate.decode(from: &r)
            let skip = try r.bool("skip")
            let count = Int(try r.u32("subgroup count"))
            guard count <= r.remaining / 8 else {
                throw .truncated(message: name, field: "subgroups", needed: count * 8, available: r.remaining)
            }
            var subgroups: [Int] = []
            var payloadBytes: [Int] = []
            for i in 0..<count {
                let s = Int(try r.u32("subgroup \(i)"))
                if let last = subgroups.last, s <= last {
                    throw .invalidField(message: name, field: "subgroup \(i)", found: "\(s)",
                                        expected: "strictly increasing subgroup numbers (previous was \(last))")
                }
                subgroups.append(s)
                payloadBytes.append(Int(try r.u32("payload bytes \(i)")))
            }
            let segments = try UpdateSegment.decodeList(from: &r, matching: update)
            request = .step(StepCommand(step: step, update: update, segments: segments, skip: skip, subgroups: subgroups,
                                        payloadBytes: payloadBytes))
        case 6:
            let code = try r.u8("vector")
            guard let vector = StateVector(rawValue: code) else {
                throw .invalidField(message: name, field: "vector", found: "\(code)", expected: "1 (p), 2 (state 1) or 3 (state 2)")
            }
            let offset = try r.count("offset", in: 0...DeviceConfiguration.maximumElements)
            let count = try r.count("count", in: 1...maximumReadCount)
            request = .readState(vector: vector, offset: offset, count: count)
        case 8: request = .rollback(step: try r.count("step", in: 0...Int(UInt32.max)))
        case 10: request = .attachHostBuffer(path: try r.string("path"))
        case 12:
            let step = try r.count("step", in: 0...Int(UInt32.max))
            let keep = Int(try r.u32("keep"))
            guard (1...maximumKeptSnapshots).contains(keep) else {
                throw .invalidField(message: name, field: "keep", found: "\(keep)", expected: "1...\(maximumKeptSnapshots)")
            }
            request = .snapshot(step: step, keep: keep, note: try r.string("note", maxLength: maximumNoteBytes))
        case 13: request = .listSnapshots
        case 14: request = .restoreSnapshot(path: try r.string("path"))
        case 5: request = .status
        case 7: request = .flush
        default: request = .shutdown
        }
        try r.finish()
        return request
    }
}

/// A device's answer. Every request gets exactly one, with the request's id.
public enum Reply: Sendable, Equatable {
    public struct Hello: Sendable, Equatable {
        public var deviceName: String
        public var protocolVersion: Int
        public var capacityBytes: Int
        public var dramBytes: Int
        public var threads: Int
        /// The device's SSD, which the host writes gradient payloads into (the emulated
        /// peer-to-peer path: on real hardware the host DMAs into the device's NVMe namespace).
        public var ssdPath: String
        /// Whether the SSD is opened with O_DIRECT; the host must write it the same way.
        public var directIO: Bool

        public init(deviceName: String, protocolVersion: Int, capacityBytes: Int, dramBytes: Int, threads: Int,
                    ssdPath: String, directIO: Bool) {
            self.deviceName = deviceName
            self.protocolVersion = protocolVersion
            self.capacityBytes = capacityBytes
            self.dramBytes = dramBytes
            self.threads = threads
            self.ssdPath = ssdPath
            self.directIO = directIO
        }
    }

    public struct Configured: Sendable, Equatable {
        public var subgroupElements: Int
        public var subgroupCount: Int
        public var bufferSets: Int
        public var dramNeededBytes: Int
        /// Where the host writes subgroup s's payload: `gradientOffset + s × gradientSlotBytes`
        /// of the device's SSD, at most `gradientSlotBytes` long.
        public var gradientOffset: Int
        public var gradientSlotBytes: Int

        public init(subgroupElements: Int, subgroupCount: Int, bufferSets: Int, dramNeededBytes: Int,
                    gradientOffset: Int, gradientSlotBytes: Int) {
            self.subgroupElements = subgroupElements
            self.subgroupCount = subgroupCount
            self.bufferSets = bufferSets
            self.dramNeededBytes = dramNeededBytes
            self.gradientOffset = gradientOffset
            self.gradientSlotBytes = gradientSlotBytes
        }
    }

    case hello(Hello)
    case configured(Configured)
    case done
    /// A step committed, with the bytes it moved between the device's SSD and its DRAM and the
    /// operations it ran.
    case stepped(StepReport)
    /// The committed step of every subgroup, in subgroup order; -1 for a subgroup never loaded.
    case status(committedSteps: [Int])
    case state(values: [Float])
    /// Snapshots the device keeps (`list-snapshots`, oldest first) or has just taken (`snapshot`).
    case snapshots([StoredSnapshot])
    case error(code: ErrorCode, message: String)

    /// Most snapshots one reply lists.
    public static var maximumSnapshotCount: Int { 4096 }

    /// What kind of failure an error reply reports. The host decides on this code alone (which
    /// device to restart, when a run must resume from a checkpoint); the message is for people
    /// and may be worded any way.
    ///
    /// An error reply's body is the code (u16) and the message (a u16-length-prefixed UTF-8
    /// string of at most 4000 bytes). A code not in this table is refused as a malformed reply.
    ///
    /// ```
    /// code  case              the device could not…                           DeviceError (SmartSSD)
    ///    1  malformedRequest  decode the frame or the request in it            (ProtocolError)
    ///    2  notConfigured     run a command that needs configure or
    ///                         load-parameters first                            notConfigured, notLoaded
    ///    3  outOfDRAM         fit the configuration's buffer sets in its DRAM  insufficientDRAM
    ///    4  badPayload        accept a gradient payload (format, checksums,
    ///                         indices); the states were not touched            badPayload
    ///    5  io                move bytes between its SSD (or a file it was
    ///                         asked to read) and its DRAM                      storage, hostBuffer (cannot map)
    ///    6  outOfRange        act on a value beyond what it holds: subgroup,
    ///                         range, step, a path outside its directory        outOfRange, rollbackUnavailable,
    ///                                                                          hostBuffer (too small)
    ///    7  internalFailure   finish, for a reason it has no code for          (any other error)
    ///    8  integrity         use committed state whose bytes do not match
    ///                         the checksum its commit recorded                 integrity
    ///    9  outOfSpace        fit the configuration's layout in its SSD
    ///                         capacity                                         insufficientCapacity
    ///   10  formatMismatch    use its SSD as asked: formatted for another
    ///                         configuration, or its superblock unreadable      formattedForSomethingElse,
    ///                                                                          corruptSuperblock,
    ///                                                                          unsupportedFormat
    ///   11  busy              open its SSD file: another device holds the file's
    ///                         lock                                             ssdInUse
    /// ```
    /// A journal whose two copies of a block are both unreadable is an integrity failure too
    /// (`corruptJournal`, code 8): committed state can no longer be trusted. So is a snapshot
    /// that fails its checks (`SnapshotError`, code 8; one that cannot be read at all is `io`),
    /// and a snapshot of another geometry or optimizer is a format mismatch (`snapshotMismatch`).
    public enum ErrorCode: UInt16, Sendable, CaseIterable {
        case malformedRequest = 1
        case notConfigured = 2
        case outOfDRAM = 3
        case badPayload = 4
        case io = 5
        case outOfRange = 6
        case internalFailure = 7
        case integrity = 8
        case outOfSpace = 9
        case formatMismatch = 10
        case busy = 11
    }

    public var kind: UInt16 {
        switch self {
        case .hello: 101
        case .configured: 102
        case .done: 103
        case .stepped: 106
        case .status: 104
        case .state: 105
        case .snapshots: 107
        case .error: 199
        }
    }

    public func frame(requestID: UInt32) -> Frame {
        var w = WireWriter()
        switch self {
        case .hello(let h):
            w.string(h.deviceName); w.u16(UInt16(h.protocolVersion)); w.u64(UInt64(h.capacityBytes))
            w.u64(UInt64(h.dramBytes)); w.u32(UInt32(h.threads)); w.string(h.ssdPath); w.bool(h.directIO)
        case .configured(let c):
            w.u64(UInt64(c.subgroupElements)); w.u64(UInt64(c.subgroupCount)); w.u32(UInt32(c.bufferSets))
            w.u64(UInt64(c.dramNeededBytes)); w.u64(UInt64(c.gradientOffset)); w.u64(UInt64(c.gradientSlotBytes))
        case .done: break
        case .stepped(let report): report.encode(into: &w)
        case .status(let steps):
            w.u32(UInt32(steps.count)); steps.forEach { w.u64(UInt64(bitPattern: Int64($0))) }
        case .state(let values):
            w.u32(UInt32(values.count)); w.f32s(values)
        case .snapshots(let list):
            w.u32(UInt32(list.count))
            for s in list { w.string(s.path); w.u64(UInt64(s.sequence)); w.u64(UInt64(s.step)); w.u64(UInt64(s.bytes)) }
        case .error(let code, let message):
            w.u16(code.rawValue); w.string(String(message.utf8.prefix(4000)) ?? "error")
        }
        return Frame(kind: kind, requestID: requestID, body: w.bytes)
    }

    public static func decode(_ frame: Frame) throws(ProtocolError) -> Reply {
        var r = WireReader(frame.body, message: "reply \(frame.kind)")
        let reply: Reply
        switch frame.kind {
        case 101:
            reply = .hello(Hello(deviceName: try r.string("device name"), protocolVersion: Int(try r.u16("protocol version")),
                                 capacityBytes: try r.count("capacity", in: 0...Int.max),
                                 dramBytes: try r.count("dram", in: 0...Int.max), threads: Int(try r.u32("threads")),
                                 ssdPath: try r.string("ssd path"), directIO: try r.bool("direct I/O")))
        case 102:
            reply = .configured(Configured(subgroupElements: try r.count("subgroup elements", in: 1...Int.max),
                                           subgroupCount: try r.count("subgroup count", in: 1...Int.max),
                                           bufferSets: Int(try r.u32("buffer sets")),
                                           dramNeededBytes: try r.count("dram needed", in: 0...Int.max),
                                           gradientOffset: try r.count("gradient offset", in: 0...Int.max),
                                           gradientSlotBytes: try r.count("gradient slot bytes", in: 1...Int.max)))
        case 103: reply = .done
        case 106:
            reply = .stepped(try StepReport.decode(from: &r))
        case 104:
            let count = Int(try r.u32("count"))
            guard count <= r.remaining / 8 else { throw .truncated(message: r.message, field: "steps", needed: count * 8, available: r.remaining) }
            var steps: [Int] = []
            for i in 0..<count {
                let step = Int(Int64(bitPattern: try r.u64("step \(i)")))
                guard step >= -1 else {
                    throw .invalidField(message: r.message, field: "step \(i)", found: "\(step)", expected: "-1 (not loaded) or a step")
                }
                steps.append(step)
            }
            reply = .status(committedSteps: steps)
        case 105:
            let count = Int(try r.u32("count"))
            guard count <= r.remaining / 4 else { throw .truncated(message: r.message, field: "values", needed: count * 4, available: r.remaining) }
            reply = .state(values: try r.f32s(count, "values"))
        case 107:
            let count = Int(try r.u32("count"))
            guard count <= maximumSnapshotCount else {
                throw .invalidField(message: r.message, field: "count", found: "\(count)", expected: "at most \(maximumSnapshotCount)")
            }
            var list: [StoredSnapshot] = []
            for i in 0..<count {
                list.append(StoredSnapshot(path: try r.string("snapshot \(i) path"), sequence: try r.count("snapshot \(i) sequence", in: 0...Int(Int64.max)),
                                           step: try r.count("snapshot \(i) step", in: 0...Int(UInt32.max)),
                                           bytes: try r.count("snapshot \(i) bytes", in: 0...Int(Int64.max))))
            }
            reply = .snapshots(list)
        case 199:
            let raw = try r.u16("error code")
            guard let code = ErrorCode(rawValue: raw) else {
                throw .invalidField(message: r.message, field: "error code", found: "\(raw)",
                                    expected: "an error code 1...\(ErrorCode.allCases.count)")
            }
            reply = .error(code: code, message: try r.string("message"))
        default:
            throw .invalidField(message: "reply", field: "kind", found: "\(frame.kind)", expected: "a reply kind")
        }
        try r.finish()
        return reply
    }
}

extension UpdateSegment {
    /// At most this many segments per step: parameter groups are few (one per learning rate or
    /// weight decay a model uses), and a bound keeps a hostile count from costing anything.
    public static var maximumCount: Int { 4096 }

    /// Decodes a step's segments: a bounded count, each range non-empty, after the previous
    /// one and within the largest slice, each update the step's own rule.
    static func decodeList(from r: inout WireReader, matching update: PreparedUpdate) throws(ProtocolError) -> [UpdateSegment] {
        let count = try r.count("segment count", in: 0...maximumCount)
        var segments: [UpdateSegment] = []
        for i in 0..<count {
            let start = try r.count("segment \(i) start", in: (segments.last?.elements.upperBound ?? 0)...(DeviceConfiguration.maximumElements - 1))
            let length = try r.count("segment \(i) elements", in: 1...(DeviceConfiguration.maximumElements - start))
            let segmentUpdate = try PreparedUpdate.decode(from: &r)
            guard segmentUpdate.rule == update.rule else {
                throw .invalidField(message: r.message, field: "segment \(i) update rule", found: "\(segmentUpdate.rule)",
                                    expected: "the step's rule \(update.rule)")
            }
            segments.append(UpdateSegment(elements: start..<(start + length), update: segmentUpdate))
        }
        return segments
    }
}
