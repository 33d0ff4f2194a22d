import OffloadVocabulary

/// What a committed step reports: the bytes it moved between the SSD and DRAM, and its
/// operations.
public struct StepReport: Sendable, Equatable {
    public var bytesRead: Int
    public var bytesWritten: Int
    public var operations: [OperationRecord]

    public init(bytesRead: Int = 0, bytesWritten: Int = 0, operations: [OperationRecord] = []) {
        self.bytesRead = bytesRead
        self.bytesWritten = bytesWritten
        self.operations = operations
    }

    /// Records per reply: each takes at most 42 + 4·8 bytes, so this many fit a frame.
    public static let maximumOperations = 12_000
    static let maximumDependencies = 8

    func encode(into w: inout WireWriter) {
        w.u64(UInt64(bytesRead)); w.u64(UInt64(bytesWritten))
        let kept = operations.prefix(Self.maximumOperations)
        w.u32(UInt32(kept.count))
        for op in kept {
            w.u8(op.kind.rawValue); w.u32(UInt32(op.subgroup)); w.u64(UInt64(op.bytes)); w.u64(UInt64(op.elements))
            w.u64(op.wallStart); w.u64(op.wallEnd)
            let after = op.after.prefix(Self.maximumDependencies)
            w.u8(UInt8(after.count))
            after.forEach { w.u32(UInt32($0)) }
        }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> StepReport {
        var report = StepReport(bytesRead: try r.count("bytes read", in: 0...Int.max),
                                bytesWritten: try r.count("bytes written", in: 0...Int.max))
        let count = Int(try r.u32("operation count"))
        guard count <= maximumOperations else {
            throw .invalidField(message: r.message, field: "operation count", found: "\(count)", expected: "at most \(maximumOperations)")
        }
        report.operations.reserveCapacity(count)
        for i in 0..<count {
            let raw = try r.u8("operation \(i) kind")
            guard let kind = OperationRecord.Kind(rawValue: raw) else {
                throw .invalidField(message: r.message, field: "operation \(i) kind", found: "\(raw)", expected: "0...4")
            }
            let subgroup = Int(try r.u32("operation \(i) subgroup"))
            let bytes = try r.count("operation \(i) bytes", in: 0...Int.max)
            let elements = try r.count("operation \(i) elements", in: 0...Int.max)
            let start = try r.u64("operation \(i) start"), end = try r.u64("operation \(i) end")
            guard end >= start else {
                throw .invalidField(message: r.message, field: "operation \(i) end", found: "\(end) ns", expected: "at or after its start, \(start) ns")
            }
            let dependencies = Int(try r.u8("operation \(i) dependency count"))
            guard dependencies <= maximumDependencies else {
                throw .invalidField(message: r.message, field: "operation \(i) dependency count", found: "\(dependencies)", expected: "at most \(maximumDependencies)")
            }
            var after: [Int] = []
            for j in 0..<dependencies {
                let d = Int(try r.u32("operation \(i) dependency \(j)"))
                guard d < i else {
                    throw .invalidField(message: r.message, field: "operation \(i) dependency \(j)", found: "\(d)", expected: "an earlier operation (< \(i))")
                }
                after.append(d)
            }
            report.operations.append(OperationRecord(kind: kind, subgroup: subgroup, bytes: bytes, elements: elements,
                                                     wallStart: start, wallEnd: end, after: after))
        }
        return report
    }
}
