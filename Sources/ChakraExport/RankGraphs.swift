import ChakraSchema
import Plan
import Trace

/// How a trace's operations become each rank's Chakra nodes.
///
/// Chakra has one graph per rank (an NPU in ASTRA-sim), with dependencies only inside a graph
/// and ranks meeting only through messages. Our machine is a GPU on a host with N devices, so:
///
/// - ranks (of one host; `ChakraExport` repeats them per host): a resource placed at `device i`
///   belongs to rank 1 + i, every other resource (the GPU and its link, the shared link, the
///   host CPU, a shared drive, the network) to rank 0, the trainer. Every
///   device gets its file, even one without operations, since ASTRA-sim wants one per NPU;
/// - the node types are the two kinds ASTRA-sim runs to the end, compute on the NPU
///   (`COMP_NODE`, `is_cpu_op` false) and communication: since 2025-07 (astra-sim 1a5d712) its
///   end-of-run statistics abort on a rank with any CPU (`is_cpu_op` true) or memory
///   (`MEM_LOAD_NODE`, `MEM_STORE_NODE`) node ("Only GPU and COMM types are supported for
///   overlap extraction"), and a memory node also needs a remote-memory model the example
///   configurations leave out. So the host CPU's work and a transfer that stays on one rank (a
///   device's flash to its FPGA, host memory to the GPU) are compute nodes that ASTRA-sim
///   replays for their `duration_micros`; `smartinf_actor` and `smartinf_kind` keep what they
///   were;
/// - a compute operation is one COMP_NODE on the rank of its engine (its first resource; a join
///   point without resources sits with its actor: `device i` on rank 1 + i, the rest on rank 0),
///   with `num_ops` for a FLOP count or `tensor_size` for bytes (ASTRA-sim's roofline reads
///   them; its default replays `duration_micros`); a transfer inside one rank is one with
///   `tensor_size` its bytes;
/// - a transfer on the network (many hosts) is a collective, a COMM_COLL_NODE on the trainer's
///   rank: `comm_type` REDUCE_SCATTER for the gradients' reduce-scatter, ALL_GATHER for the
///   parameters' all-gather, `comm_size` the buffer, `pg_name` the trainers' group;
/// - a transfer between ranks (from its first resource's rank to its last's) is a
///   COMM_SEND_NODE on the source and a COMM_RECV_NODE on the destination, matched by
///   `comm_src`, `comm_dst` and `comm_tag`, with `comm_size` bytes (at least one: ASTRA-sim's
///   analytical network asserts on an empty message);
/// - dependencies: an operation's first node (the send, for a message) lists in `data_deps`
///   the last node of each operation it waits for (the receive, for a message). When that node
///   is on another rank, a one-byte send/receive pair carries the dependency across, once per
///   (operation, rank) however many operations there wait for it. A receive has no
///   dependencies: it is posted at once and completes when its message arrives.
///
/// Every node keeps its operation's modeled interval in microseconds (rounded; a zero duration
/// is what ASTRA-sim runs as one nanosecond) and the operation's id, phase, actor and kind as
/// attributes; a dependency message starts where its operation ends and lasts zero.
struct RankGraphs {
    let trace: TraceFile
    let file: String
    /// Per rank, its nodes; a node's id is its index.
    private(set) var nodes: [[ChakraProtoMsg_Node]]
    private(set) var dependencyMessages = 0
    /// Per operation, its last node: where operations after it wait.
    private var ends: [(rank: Int, node: UInt64)] = []
    /// The receive that brought operation `operation`'s end to `rank`, once made.
    private var arrivals: [Arrival: UInt64] = [:]
    private var nextTag: Int32 = 0

    /// What a message carries at least, and so what a dependency message carries: ASTRA-sim's
    /// analytical network asserts that a message is not empty.
    static let leastMessageBytes: UInt64 = 1

    private struct Arrival: Hashable {
        let operation: Int
        let rank: Int
    }

    init(_ trace: TraceFile, file: String) {
        self.trace = trace
        self.file = file
        nodes = Array(repeating: [], count: 1 + trace.header.config.devices)
    }

    static func rank(of place: ResourcePlace) -> Int {
        if case .device(let i) = place { return 1 + i }
        return 0
    }

    mutating func build() throws(TraceError) {
        ends.reserveCapacity(trace.operations.count)
        for operation in trace.operations {
            let (source, destination) = ranks(of: operation)
            var dependencies: [UInt64] = []
            var seen: Set<Int> = []
            for predecessor in operation.after where seen.insert(predecessor).inserted {
                dependencies.append(try dependency(on: predecessor, at: source))
            }
            let interval = try times(operation.modeled, of: operation)
            if source == destination {
                let type = Self.nodeType(of: operation, in: trace.header.resources)
                var node = base(operation.name, type, interval, dependencies)
                node.attr = try attributes(of: operation, as: type) + identity(of: operation)
                ends.append((source, append(node, to: source)))
            } else {
                let size = max(try count(operation.amount, of: operation), Self.leastMessageBytes)
                let tag = try takeTag(at: operation)
                var send = base(operation.name, .commSendNode, interval, dependencies)
                send.attr = Self.message(from: source, to: destination, tag: tag, bytes: size) + identity(of: operation)
                _ = append(send, to: source)
                var receive = base(operation.name, .commRecvNode, interval, [])
                receive.attr = Self.message(from: source, to: destination, tag: tag, bytes: size) + identity(of: operation)
                ends.append((destination, append(receive, to: destination)))
            }
        }
    }

    /// The rank of an operation's first node and of its last (different only for a message).
    func ranks(of operation: TraceOperation) -> (Int, Int) {
        let resources = trace.header.resources
        guard let first = operation.path.first, let last = operation.path.last else {
            let device = operation.actor.hasPrefix("device") ? operation.device : nil
            let rank = device.map { 1 + $0 } ?? 0
            return (rank, rank)
        }
        let source = Self.rank(of: resources[first].place)
        return operation.kind == .transfer ? (source, Self.rank(of: resources[last].place)) : (source, source)
    }

    static func nodeType(of operation: TraceOperation, in resources: [TraceResource]) -> ChakraProtoMsg_NodeType {
        if operation.kind == .transfer, let first = operation.path.first, resources[first].place == .network { return .commCollNode }
        return .compNode
    }

    /// The node in `rank` that follows operation `predecessor`'s end: that end itself, or the
    /// receive of a dependency message from it.
    mutating func dependency(on predecessor: Int, at rank: Int) throws(TraceError) -> UInt64 {
        let end = ends[predecessor]
        if end.rank == rank { return end.node }
        let arrival = Arrival(operation: predecessor, rank: rank)
        if let node = arrivals[arrival] { return node }
        let operation = trace.operations[predecessor]
        let tag = try takeTag(at: operation)
        let at = try times(TraceInterval(start: operation.modeled.end, end: operation.modeled.end), of: operation)
        let name = "after \(operation.name)"
        let origin = ChakraProtoMsg_AttributeProto.int64("smartinf_after_op", Int64(operation.id))
        var send = base(name, .commSendNode, at, [end.node])
        send.attr = Self.message(from: end.rank, to: rank, tag: tag, bytes: Self.leastMessageBytes) + [origin]
        _ = append(send, to: end.rank)
        var receive = base(name, .commRecvNode, at, [])
        receive.attr = Self.message(from: end.rank, to: rank, tag: tag, bytes: Self.leastMessageBytes) + [origin]
        let node = append(receive, to: rank)
        arrivals[arrival] = node
        dependencyMessages += 1
        return node
    }

    func base(_ name: String, _ type: ChakraProtoMsg_NodeType, _ interval: (start: UInt64, duration: UInt64),
              _ dependencies: [UInt64]) -> ChakraProtoMsg_Node {
        var node = ChakraProtoMsg_Node()
        node.name = name
        node.type = type
        node.dataDeps = dependencies
        node.startTimeMicros = interval.start
        node.durationMicros = interval.duration
        return node
    }

    /// Adds `node` to `rank`'s graph with the next id there (a device index beyond the
    /// configuration's count still gets its rank).
    mutating func append(_ node: ChakraProtoMsg_Node, to rank: Int) -> UInt64 {
        while nodes.count <= rank { nodes.append([]) }
        var node = node
        node.id = UInt64(nodes[rank].count)
        nodes[rank].append(node)
        return node.id
    }

    /// What ASTRA-sim reads of a compute node, with the types Chakra's feeder reads them as.
    func attributes(of operation: TraceOperation, as type: ChakraProtoMsg_NodeType) throws(TraceError) -> [ChakraProtoMsg_AttributeProto] {
        if type == .commCollNode { return try collective(operation) }
        var attributes: [ChakraProtoMsg_AttributeProto] = [.bool("is_cpu_op", false)]
        switch operation.unit {
        case "FLOP" where operation.kind == .compute: attributes.append(.int64("num_ops", Int64(try count(operation.amount, of: operation))))
        case "B": attributes.append(.uint64("tensor_size", try count(operation.amount, of: operation)))
        default: break
        }
        return attributes
    }

    /// A collective among the hosts' trainers. The trace's amount is the bytes one host sends
    /// (and receives), (N − 1)/N of the buffer in a ring of N hosts; Chakra's `comm_size` is the
    /// buffer, which ASTRA-sim's collective algorithms divide themselves.
    func collective(_ operation: TraceOperation) throws(TraceError) -> [ChakraProtoMsg_AttributeProto] {
        let type: ChakraProtoMsg_CollectiveCommType
        switch operation.phase {
        case .gradientReduceScatter: type = .reduceScatter
        case .parameterAllGather: type = .allGather
        default:
            throw TraceError(file: file, line: operation.id + 2, field: "phase", .invalid(
                found: operation.phase.rawValue,
                expected: "GRAD_REDUCE_SCATTER or PARAM_ALLGATHER for a transfer on the network (the collectives the export knows)"))
        }
        let hosts = Double(trace.header.config.hosts)
        let buffer = hosts > 1 ? operation.amount * hosts / (hosts - 1) : operation.amount
        return [.bool("is_cpu_op", false), .int64("comm_type", Int64(type.rawValue)),
                .int64("comm_size", Int64(try count(buffer, of: operation))), .string("pg_name", ChakraExport.trainersGroup)]
    }

    static func message(from source: Int, to destination: Int, tag: Int32, bytes: UInt64) -> [ChakraProtoMsg_AttributeProto] {
        [.bool("is_cpu_op", false), .int32("comm_src", Int32(source)), .int32("comm_dst", Int32(destination)),
         .int32("comm_tag", tag), .int64("comm_size", Int64(bytes)), .uint64("tensor_size", bytes)]
    }

    /// The operation a node stands for, so a reader can go back to the trace and tell the host
    /// CPU's work and a transfer from the GPU's compute, which their node types do not.
    func identity(of operation: TraceOperation) -> [ChakraProtoMsg_AttributeProto] {
        [.int64("smartinf_op", Int64(operation.id)), .string("smartinf_phase", operation.phase.rawValue),
         .string("smartinf_actor", operation.actor), .string("smartinf_kind", operation.kind.rawValue)]
    }

    mutating func takeTag(at operation: TraceOperation) throws(TraceError) -> Int32 {
        guard nextTag < Int32.max else {
            throw TraceError(file: file, line: operation.id + 2, .other(
                "the export needs more than \(Int32.max) messages; expected fewer (Chakra's comm_tag is a 32-bit integer)"))
        }
        defer { nextTag += 1 }
        return nextTag
    }

    /// `amount` as Chakra's whole 64-bit count.
    func count(_ amount: Double, of operation: TraceOperation) throws(TraceError) -> UInt64 {
        guard let whole = Int64(exactly: amount.rounded()) else {
            throw TraceError(file: file, line: operation.id + 2, field: "amount", .invalid(
                found: "\(amount)", expected: "at most \(Int64.max) (Chakra keeps counts and sizes as 64-bit integers)"))
        }
        return UInt64(whole)
    }

    /// The interval's start and duration in whole microseconds.
    func times(_ interval: TraceInterval, of operation: TraceOperation) throws(TraceError) -> (start: UInt64, duration: UInt64) {
        let start = (interval.start * 1e6).rounded(), duration = (interval.duration * 1e6).rounded()
        guard let s = UInt64(exactly: start), let d = UInt64(exactly: duration) else {
            throw TraceError(file: file, line: operation.id + 2, field: "modeled", .invalid(
                found: "[\(interval.start), \(interval.end)]", expected: "times below \(UInt64.max) µs (Chakra's 64-bit microseconds)"))
        }
        return (s, d)
    }
}
