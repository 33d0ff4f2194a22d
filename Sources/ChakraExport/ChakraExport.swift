import ChakraSchema
import DurableWrite
import Foundation
import SwiftProtobuf
import Trace

/// A trace as MLCommons Chakra execution traces (ETs), the format ASTRA-sim and Chakra's own
/// tools (visualizer, timeline, feeder) read: one file per rank, `PREFIX.<rank>.et`, which is how
/// ASTRA-sim's `--workload-configuration=PREFIX` finds them.
///
/// Each file is a `GlobalMetadata` message, then the rank's `Node` messages in an order where
/// every node comes after the nodes it depends on, each message preceded by its length as a
/// varint (Chakra's `protolib.encodeMessage`, protobuf's length-delimited framing).
///
/// A host has 1 + devices ranks: the trainer (the GPU, the host CPU and host memory), then
/// device i as 1 + i; host h's ranks follow host h − 1's. The trace is one host's, standing for
/// all (the hosts are alike), so every host's files hold the same nodes with its own ranks in
/// their messages; the collectives run among the trainers, the communicator group
/// `PREFIX.comm_group.json` names. How operations become nodes is `RankGraphs`' comment and
/// docs/FORMATS.md ("Chakra export").
public struct ChakraExport: Sendable {
    /// The Chakra schema version the files declare (what Chakra's own generator writes).
    public static let schemaVersion = "1.0.0"
    /// The most ranks an export writes (hosts × (1 + devices)): one file each.
    public static let maximumRanks = 16_384
    /// The communicator group of the trainers, as collective nodes name it (`pg_name`).
    public static let trainersGroup = "1"

    let header: TraceHeader
    /// One host's graphs: per rank of the host, its nodes.
    let graphs: [[ChakraProtoMsg_Node]]
    /// Hosts, from the trace's configuration.
    public var hosts: Int { header.config.hosts }
    /// Ranks per host: the trainer and the devices.
    public var ranksPerHost: Int { graphs.count }
    /// Ranks in all, one file each.
    public var rankCount: Int { hosts * ranksPerHost }
    /// Nodes per rank of one host (every host's are alike).
    public var nodeCounts: [Int] { graphs.map(\.count) }
    /// One-byte message pairs one host's graphs use to carry a dependency between its ranks.
    public let dependencyMessages: Int

    /// Builds the export. The trace is validated first (as `TraceFile.read` does); `file` names
    /// it in errors, such as an amount too large for Chakra's 64-bit counts.
    public init(_ trace: TraceFile, file: String = "trace") throws(TraceError) {
        try trace.validate(file: file)
        var graphs = RankGraphs(trace, file: file)
        try graphs.build()
        header = trace.header
        self.graphs = graphs.nodes
        dependencyMessages = graphs.dependencyMessages
        guard rankCount <= Self.maximumRanks else {
            throw TraceError(file: file, line: 1, field: "config.hosts", .invalid(
                found: "\(hosts) hosts of \(ranksPerHost) ranks each",
                expected: "at most \(Self.maximumRanks) ranks in all, one Chakra file each (synthesize or replay the trace with fewer hosts: the hosts are alike)"))
        }
    }

    /// Rank `rank`'s ET file (`rank` in 0..<rankCount): its host's graph, with the messages'
    /// ranks moved to that host's.
    public func file(rank: Int) -> Data {
        let offset = Int32(rank / ranksPerHost * ranksPerHost)
        let nodes = graphs[rank % ranksPerHost].map { offset == 0 ? $0 : Self.moved($0, by: offset) }
        return Self.encode(Self.metadata(header, rank: rank, ranksPerHost: ranksPerHost), nodes)
    }

    /// The trainers' communicator group as ASTRA-sim's `--comm-group-configuration` reads it
    /// (`{"1": [0, 3, 6]}`); nil for one host, whose trace has no collectives.
    public var communicatorGroups: Data? {
        guard hosts > 1 else { return nil }
        let trainers = (0..<hosts).map { String($0 * ranksPerHost) }.joined(separator: ", ")
        return Data("{\"\(Self.trainersGroup)\": [\(trainers)]}\n".utf8)
    }

    /// Where rank `rank`'s file goes: `PREFIX.<rank>.et`, Chakra's and ASTRA-sim's naming.
    public static func path(prefix: String, rank: Int) -> String { "\(prefix).\(rank).et" }

    /// Where the communicator groups go: `PREFIX.comm_group.json`.
    public static func communicatorGroupsPath(prefix: String) -> String { "\(prefix).comm_group.json" }

    /// Writes every rank's file (and, for many hosts, the communicator groups) next to
    /// `prefix` durably (`DurableFile`) and returns their paths. A prefix that names a
    /// directory is refused: the files would be hidden `.0.et`s.
    public func write(prefix: String) throws(TraceError) -> [String] {
        var isDirectory: ObjCBool = false
        if prefix.hasSuffix("/") || (FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw TraceError(file: prefix, .other(
                "is a directory; expected a file prefix such as DIR/NAME, which writes DIR/NAME.0.et, DIR/NAME.1.et, …"))
        }
        var written: [String] = []
        func write(_ bytes: Data, to path: String) throws(TraceError) {
            do throws(DurableFileError) { try DurableFile.write(bytes, to: path) } catch { throw TraceError(file: path, .cannotWrite(error)) }
            written.append(path)
        }
        for rank in 0..<rankCount { try write(file(rank: rank), to: Self.path(prefix: prefix, rank: rank)) }
        if let communicatorGroups { try write(communicatorGroups, to: Self.communicatorGroupsPath(prefix: prefix)) }
        return written
    }

    /// `node` with the ranks its message names moved by `offset` (host 0's to another host's).
    static func moved(_ node: ChakraProtoMsg_Node, by offset: Int32) -> ChakraProtoMsg_Node {
        var node = node
        for i in node.attr.indices where node.attr[i].name == "comm_src" || node.attr[i].name == "comm_dst" {
            node.attr[i].int32Val += offset
        }
        return node
    }

    /// What the trace was, on every rank's metadata: Chakra's readers skip attributes they do
    /// not know, and a person can tell which run and which rank a file is.
    static func metadata(_ header: TraceHeader, rank: Int, ranksPerHost: Int) -> ChakraProtoMsg_GlobalMetadata {
        let host = rank / ranksPerHost, local = rank % ranksPerHost
        var metadata = ChakraProtoMsg_GlobalMetadata()
        metadata.version = schemaVersion
        metadata.attr = [
            .string("smartinf_schema", "\(TraceHeader.schema) v\(TraceHeader.version)"),
            .string("smartinf_source", header.source.rawValue),
            .string("smartinf_created", header.created),
            .string("smartinf_mode", header.config.mode.rawValue),
            .int64("smartinf_devices", Int64(header.config.devices)),
            .int64("smartinf_hosts", Int64(header.config.hosts)),
            .string("smartinf_profiles", "host \(header.profile.host), device \(header.profile.device), gpu \(header.profile.gpu)"),
            .int64("smartinf_rank", Int64(rank)),
            .string("smartinf_role", "host \(host) " + (local == 0 ? "trainer (GPU, host CPU, host memory)" : "device \(local - 1)")),
        ]
        return metadata
    }

    /// The metadata and the nodes, each length-delimited.
    static func encode(_ metadata: ChakraProtoMsg_GlobalMetadata, _ nodes: [ChakraProtoMsg_Node]) -> Data {
        var data = Data()
        appendDelimited(metadata, to: &data)
        for node in nodes { appendDelimited(node, to: &data) }
        return data
    }

    /// `message` preceded by its length as a base-128 varint. Serializing a proto3 message
    /// cannot fail (that needs proto2's required fields or an `Any`), hence the `try!`.
    static func appendDelimited(_ message: some SwiftProtobuf.Message, to data: inout Data) {
        let bytes: [UInt8] = try! message.serializedBytes()
        var length = UInt64(bytes.count)
        while length >= 0x80 {
            data.append(UInt8(length & 0x7F) | 0x80)
            length >>= 7
        }
        data.append(UInt8(length))
        data.append(contentsOf: bytes)
    }
}

extension ChakraProtoMsg_AttributeProto {
    static func named(_ name: String, _ set: (inout Self) -> Void) -> Self {
        var attribute = Self()
        attribute.name = name
        set(&attribute)
        return attribute
    }

    static func bool(_ name: String, _ value: Bool) -> Self { named(name) { $0.boolVal = value } }
    static func int32(_ name: String, _ value: Int32) -> Self { named(name) { $0.int32Val = value } }
    static func int64(_ name: String, _ value: Int64) -> Self { named(name) { $0.int64Val = value } }
    static func uint64(_ name: String, _ value: UInt64) -> Self { named(name) { $0.uint64Val = value } }
    static func string(_ name: String, _ value: String) -> Self { named(name) { $0.stringVal = value } }
}
