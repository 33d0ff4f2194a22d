import CPosix
import Foundation
import OffloadVocabulary

/// The operations of one step as the transfer handler runs them, from any of its threads, with
/// their dependencies; the paced clock's sleeps happen here, so every operation is charged in
/// one place.
final class OperationLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var records: [OperationRecord] = []
    private var index: [Key: Int] = [:]
    let pacer: OperationPacer?

    struct Key: Hashable {
        let kind: OperationRecord.Kind
        let item: Int
    }

    init(pacer: OperationPacer?) { self.pacer = pacer }

    static var now: UInt64 { si_monotonic_ns() }

    /// Paces, then records operation `kind` of step item `item` (on `subgroup`), started at
    /// `started` and finished at `finished` (default: now; a paced operation finishes when its
    /// pace says), after the listed earlier operations (those not recorded are skipped).
    @discardableResult
    func record(_ kind: OperationRecord.Kind, item: Int, subgroup: Int, bytes: Int, elements: Int, started: UInt64,
                finished: UInt64? = nil, after: [Key]) -> Int {
        pacer?.pace(kind, bytes: bytes, elements: elements, startedAt: started)
        let end = pacer == nil ? finished ?? Self.now : Self.now
        lock.lock()
        defer { lock.unlock() }
        let dependencies = after.compactMap { index[$0] }
        records.append(OperationRecord(kind: kind, subgroup: subgroup, bytes: bytes, elements: elements,
                                       wallStart: started, wallEnd: max(end, started), after: dependencies))
        index[Key(kind: kind, item: item)] = records.count - 1
        return records.count - 1
    }
}
