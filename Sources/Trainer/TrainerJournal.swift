import DurableWrite
import Foundation

/// The host's part of every step, made durable as the step settles: the trainer state (step,
/// applied steps, loss scaler, the run's last checkpoint) in a two-slot record beside the
/// devices' SSD files. The devices hold the rest durably (the fp32 masters and the optimizer
/// states), so after a host crash `--resume SSD_DIR` rebuilds the run from the two and loses at
/// most the step in flight. The data position follows from the step (the loader is replayed),
/// and so does the learning rate schedule.
///
/// One `pwrite` and `fdatasync` of about a kilobyte per step (`AlternatingRecord`): the
/// `trainer state (durable)` line of the run's phase table shows what it costs.
public final class TrainerJournal {
    /// The journal's file name in the run's SSD directory.
    public static let fileName = "trainer-state.journal"

    private let record: AlternatingRecord

    /// The journal in `directory`, with `state` as its newest entry.
    public init(directory: String, state: TrainerState) throws {
        record = try AlternatingRecord(path: Self.path(in: directory), initial: Array(try state.encoded()))
    }

    /// Makes `state` durable as the newest entry. `tearAfter` writes only that many bytes (the
    /// host fault `torn-journal` uses it to stand for a crash in the middle of the write).
    public func append(_ state: TrainerState, tearAfter: Int? = nil) throws {
        try record.write(Array(try state.encoded()), tearAfter: tearAfter)
    }

    public static func path(in directory: String) -> String { "\(directory)/\(fileName)" }

    /// Whether `directory` holds a journal (a run's SSD directory).
    public static func exists(in directory: String) -> Bool { FileManager.default.fileExists(atPath: path(in: directory)) }

    /// The newest state the journal in `directory` holds.
    public static func newest(in directory: String) throws -> TrainerState {
        guard let newest = try entries(in: directory).first else { throw TrainingError.badOption("--resume \(directory): no \(fileName) there") }
        return newest
    }

    /// The states the journal in `directory` holds, the newest first: the last step that settled
    /// and (unless a crash tore its slot) the one before, which a rank one step ahead of the
    /// others goes back to.
    public static func entries(in directory: String) throws -> [TrainerState] {
        let path = path(in: directory)
        let records: [[UInt8]]?
        do { records = try AlternatingRecord.records(from: path) } catch {
            throw TrainingError.badOption("--resume \(directory): \(error)")
        }
        guard let records else { throw TrainingError.badOption("--resume \(directory): no \(fileName) there") }
        return try records.map { try TrainerState.decode(Data($0), from: path) }
    }

    /// Removes the journal of an earlier run in `directory` (a new run starts its own).
    public static func remove(in directory: String) {
        try? FileManager.default.removeItem(atPath: path(in: directory))
    }
}
