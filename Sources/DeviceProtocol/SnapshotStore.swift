import Foundation

/// Where a device keeps its snapshots: the directory `<ssd file>.snapshots` beside its SSD file,
/// on the same file system, one file per snapshot named `snapshot-<sequence>-step-<step>.snap`.
///
/// Why files beside the SSD rather than a region inside it: the bytes stay inside the device
/// either way (the host link never carries them), but a file is written whole under a
/// temporary name and renamed (`DurableFile`), so a snapshot is immutable and all-or-nothing
/// without a journal of its own; keeping the last K is then "delete the oldest once the newest
/// is durable"; the SSD layout (format version 2) and `--capacity` stay as they are; and an
/// offline export can read a snapshot while no device runs, or while one runs, without taking
/// the SSD file's lock, because nothing ever writes a snapshot after its rename.
///
/// One device owns the directory: the SSD file's lock (`FileLock`) is held by the device that
/// takes snapshots into it.
public struct SnapshotStore: Sendable {
    public let directory: String

    public init(ssdPath: String) {
        directory = ssdPath + ".snapshots"
    }

    /// A snapshot file and the numbers its name carries.
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var sequence: Int
        public var step: Int
    }

    /// Every snapshot file by its name, oldest (lowest sequence) first; nothing when the
    /// directory does not exist.
    public func entries() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Entry? in
            guard name.hasPrefix("snapshot-"), name.hasSuffix(".snap") else { return nil }
            let parts = name.dropFirst("snapshot-".count).dropLast(".snap".count).split(separator: "-")
            guard parts.count == 3, parts[1] == "step", let sequence = Int(parts[0]), let step = Int(parts[2]) else { return nil }
            return Entry(path: "\(directory)/\(name)", sequence: sequence, step: step)
        }.sorted { $0.sequence < $1.sequence }
    }

    /// The path of a new snapshot at `step`: one sequence past every file there.
    public func newPath(step: Int) throws -> (path: String, sequence: Int) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sequence = (entries().last?.sequence ?? 0) + 1
        return ("\(directory)/snapshot-\(String(repeating: "0", count: max(0, 8 - "\(sequence)".count)))\(sequence)-step-\(step).snap",
                sequence)
    }

    /// Deletes all but the newest `keep` snapshots, and the temporaries of writes a crash cut
    /// short (their writer, this store's device, is gone: one device per SSD file).
    public func prune(keep: Int) {
        for old in entries().dropLast(keep) { try? FileManager.default.removeItem(atPath: old.path) }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(".snapshot-") && name.contains(".tmp-") {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }

    /// What the device reports of a snapshot file whose header reads.
    public static func stored(_ reader: SnapshotReader) -> StoredSnapshot {
        StoredSnapshot(path: reader.path, sequence: reader.header.sequence, step: reader.header.step, bytes: reader.header.fileBytes)
    }
}
