import DeviceProtocol
import OffloadVocabulary
import Testing

/// The step reply's operation records on the wire: a round trip, and every malformed record
/// refused with the field named.
@Suite struct StepReportWireTests {
    static let report = StepReport(bytesRead: 4096, bytesWritten: 8192, operations: [
        OperationRecord(kind: .load, subgroup: 0, bytes: 4096, elements: 0, wallStart: 10, wallEnd: 20, after: []),
        OperationRecord(kind: .update, subgroup: 0, bytes: 0, elements: 256, wallStart: 20, wallEnd: 30, after: [0]),
        OperationRecord(kind: .upload, subgroup: 0, bytes: 1024, elements: 256, wallStart: 20, wallEnd: 30, after: [1]),
        OperationRecord(kind: .writeParameters, subgroup: 0, bytes: 4096, elements: 0, wallStart: 30, wallEnd: 40, after: [1, 2]),
        OperationRecord(kind: .writeStates, subgroup: 0, bytes: 4096, elements: 0, wallStart: 40, wallEnd: 50, after: [3]),
    ])

    @Test func roundTrip() throws {
        let frame = Reply.stepped(Self.report).frame(requestID: 9)
        guard case .stepped(let decoded) = try Reply.decode(frame) else { Issue.record("not a stepped reply"); return }
        #expect(decoded == Self.report)
    }

    /// The body, with one byte changed at `offset` from the start of the records.
    static func corrupted(_ edit: (inout [UInt8]) -> Void) -> Frame {
        var body = Reply.stepped(report).frame(requestID: 1).body
        edit(&body)
        return Frame(kind: 106, requestID: 1, body: body)
    }

    // Layout: read u64, written u64, count u32, then per record: kind u8, subgroup u32, bytes u64,
    // elements u64, start u64, end u64, dependency count u8, dependencies u32 each.
    static let recordsStart = 20
    static let firstRecord = 1 + 4 + 8 + 8 + 8 + 8 + 1

    @Test func malformedRecordsAreRefusedByField() {
        let (recordsStart, firstRecord) = (Self.recordsStart, Self.firstRecord)
        let cases: [(String, (inout [UInt8]) -> Void)] = [
            ("operation 0 kind", { $0[recordsStart] = 9 }),
            ("operation count", { $0[16] = 0xff; $0[17] = 0xff; $0[18] = 0xff }),
            // Record 0's end (offset 29 within it) before its start.
            ("operation 0 end", { b in for i in 0..<8 { b[recordsStart + 29 + i] = 0 } }),
            // Record 1 depends on itself (its dependency after the count byte).
            ("operation 1 dependency 0", { b in b[recordsStart + firstRecord + 38] = 1 }),
            ("operation 1 dependency count", { b in b[recordsStart + firstRecord + 37] = 200 }),
            ("operation 4", { b in b.removeLast(3) }),
        ]
        for (field, edit) in cases {
            #expect {
                _ = try Reply.decode(Self.corrupted(edit))
            } throws: { error in
                "\(error)".contains(field)
            }
        }
    }
}
