import DeviceProtocol
import Foundation
import OffloadVocabulary
import Synchronization

/// The operations of one step as the transfer handler runs them, from any of its threads, with
/// their dependencies; the paced clock's sleeps happen here, so every operation is charged in
/// one place.
final class OperationLog: Sendable {
    private let log = Mutex<(records: [OperationRecord], index: [Key: Int])>(([], [:]))
    let pacer: OperationPacer?

    var records: [OperationRecord] { log.withLock { $0.records } }

    struct Key: Hashable {
        let kind: OperationRecord.Kind
        let item: Int
    }

    init(pacer: OperationPacer?) { self.pacer = pacer }

    /// Paces, then records operation `kind` of step item `item` (on `subgroup`), started at
    /// `started` and finished at `finished` (default: now; a paced operation finishes when its
    /// pace says), after the listed earlier operations (those not recorded are skipped).
    @discardableResult
    func record(_ kind: OperationRecord.Kind, item: Int, subgroup: Int, bytes: Int, elements: Int, started: UInt64,
                finished: UInt64? = nil, after: [Key]) -> Int {
        pacer?.pace(kind, bytes: bytes, elements: elements, startedAt: started)
        let end = pacer == nil ? finished ?? ContinuousClock.now.systemNanoseconds : ContinuousClock.now.systemNanoseconds
        return log.withLock { log in
            let dependencies = after.compactMap { log.index[$0] }
            log.records.append(OperationRecord(kind: kind, subgroup: subgroup, bytes: bytes, elements: elements,
                                               wallStart: started, wallEnd: max(end, started), after: dependencies))
            log.index[Key(kind: kind, item: item)] = log.records.count - 1
            return log.records.count - 1
        }
    }
}
