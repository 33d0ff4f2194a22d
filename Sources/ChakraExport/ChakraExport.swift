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
/// Rank 0 is the trainer (the GPU, the host CPU and host memory), rank 1 + i is device i; how
/// operations become nodes is `RankGraphs`' comment and docs/FORMATS.md ("Chakra export").
public struct ChakraExport: Sendable {
    /// The Chakra schema version the files declare (what Chakra's own generator writes).
    public static let schemaVersion = "1.0.0"

    /// Each rank's ET file, rank 0 first.
    public let files: [Data]
    /// Nodes per rank.
    public let nodeCounts: [Int]
    /// Zero-byte message pairs added to carry a dependency from one rank to another.
    public let dependencyMessages: Int

    /// Builds the export. The trace is validated first (as `TraceFile.read` does); `file` names
    /// it in errors, such as an amount too large for Chakra's 64-bit counts.
    public init(_ trace: TraceFile, file: String = "trace") throws(TraceError) {
        try trace.validate(file: file)
        var graphs = RankGraphs(trace, file: file)
        try graphs.build()
        files = graphs.nodes.indices.map { rank in
            Self.encode(Self.metadata(trace.header, rank: rank), graphs.nodes[rank])
        }
        nodeCounts = graphs.nodes.map(\.count)
        dependencyMessages = graphs.dependencyMessages
    }

    /// Where rank `rank`'s file goes: `PREFIX.<rank>.et`, Chakra's and ASTRA-sim's naming.
    public static func path(prefix: String, rank: Int) -> String { "\(prefix).\(rank).et" }

    /// Writes every rank's file next to `prefix` durably (`DurableFile`) and returns their
    /// paths. A prefix that names a directory is refused: the files would be hidden `.0.et`s.
    public func write(prefix: String) throws(TraceError) -> [String] {
        var isDirectory: ObjCBool = false
        if prefix.hasSuffix("/") || (FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw TraceError(file: prefix, .other(
                "is a directory; expected a file prefix such as DIR/NAME, which writes DIR/NAME.0.et, DIR/NAME.1.et, …"))
        }
        var written: [String] = []
        for (rank, bytes) in files.enumerated() {
            let path = Self.path(prefix: prefix, rank: rank)
            do throws(DurableFileError) { try DurableFile.write(bytes, to: path) } catch { throw TraceError(file: path, .cannotWrite(error)) }
            written.append(path)
        }
        return written
    }

    /// What the trace was, on every rank's metadata: Chakra's readers skip attributes they do
    /// not know, and a person can tell which run and which rank a file is.
    static func metadata(_ header: TraceHeader, rank: Int) -> ChakraProtoMsg_GlobalMetadata {
        var metadata = ChakraProtoMsg_GlobalMetadata()
        metadata.version = schemaVersion
        metadata.attr = [
            .string("smartinf_schema", "\(TraceHeader.schema) v\(TraceHeader.version)"),
            .string("smartinf_source", header.source.rawValue),
            .string("smartinf_created", header.created),
            .string("smartinf_mode", header.config.mode.rawValue),
            .int64("smartinf_devices", Int64(header.config.devices)),
            .string("smartinf_profiles", "host \(header.profile.host), device \(header.profile.device), gpu \(header.profile.gpu)"),
            .int64("smartinf_rank", Int64(rank)),
            .string("smartinf_role", rank == 0 ? "trainer (GPU, host CPU, host memory)" : "device \(rank - 1)"),
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
