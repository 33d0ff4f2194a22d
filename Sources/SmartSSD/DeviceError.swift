import BlockIO
import Compression
import DurableWrite
import DeviceProtocol
import Glibc

/// Why a device refused a command or could not start. Each case maps to an error reply; none
/// stops the device.
public enum DeviceError: Error, CustomStringConvertible {
    case notConfigured(String)
    case formattedForSomethingElse(path: String, found: String, requested: String)
    case corruptSuperblock(path: String, detail: String)
    /// An SSD written in another on-disk format version than this device reads.
    case unsupportedFormat(path: String, found: UInt32, supported: UInt32)
    /// Another device (another process, or another engine in this one) has the SSD open: its
    /// lock's holder, when the kernel names it.
    case ssdInUse(path: String, holder: Int32?)
    /// Both copies of a journal block fail their checks, which no single torn write can cause.
    case corruptJournal(path: String, subgroups: Range<Int>)
    case insufficientDRAM(neededBytes: Int, dramBytes: Int, detail: String)
    case insufficientCapacity(neededBytes: Int, capacityBytes: Int)
    case outOfRange(String)
    case notLoaded(subgroups: [Int])
    case rollbackUnavailable(subgroup: Int, requested: Int, held: [Int])
    /// A state slot whose bytes do not match the checksum its commit recorded.
    case integrity(subgroup: Int, slot: Int, offset: Int, expected: UInt32, found: UInt32)
    /// A payload that fails its checks, with the SSD offset of the gradient slot it was read from.
    case badPayload(subgroup: Int, offset: Int, PayloadError)
    case storage(BlockIOError)
    case hostBuffer(SharedMemoryMapping.MappingError)
    /// A snapshot of another geometry or optimizer than the device holds.
    case snapshotMismatch(path: String, detail: String)

    public var description: String {
        switch self {
        case .notConfigured(let what): "\(what): the device is not configured yet (send configure first)"
        case .formattedForSomethingElse(let path, let found, let requested):
            "\(path) is formatted for \(found), but the configuration asks for \(requested); use a fresh SSD file or the same configuration"
        case .corruptSuperblock(let path, let detail): "\(path): the superblock is damaged (\(detail))"
        case .unsupportedFormat(let path, let found, let supported):
            "\(path) is in SmartSSD on-disk format version \(found); this smartssd reads versions 2 and \(supported); start from a fresh SSD file (a run resumes from its checkpoint)"
        case .ssdInUse(let path, let holder):
            "\(path) is in use: " + (holder == getpid() ? "another device in this process (pid \(getpid())) has it open"
                : holder.map { "process \($0) holds its lock (another smartssd?)" } ?? "another process holds its lock")
                + "; one device per SSD file: stop that device or give this one another file"
        case .corruptJournal(let path, let subgroups):
            "\(path): both copies of the step journal of subgroups \(subgroups.lowerBound)..<\(subgroups.upperBound) fail their checksums, so their committed steps are unknown (a torn write damages only one copy: the disk is damaged); start from a fresh SSD file and resume from a checkpoint"
        case .insufficientDRAM(let needed, let dram, let detail):
            "the configuration needs \(needed) bytes of device DRAM (\(detail)), but the device has \(dram) (--dram)"
        case .insufficientCapacity(let needed, let capacity):
            "the configuration needs \(needed) bytes of SSD, but the device has \(capacity) (--capacity)"
        case .outOfRange(let what): what
        case .notLoaded(let subgroups):
            "subgroups \(subgroups.prefix(8).map(String.init).joined(separator: ", "))\(subgroups.count > 8 ? ", …" : "") have no parameters yet (send load-parameters first)"
        case .rollbackUnavailable(let s, let requested, let held):
            "subgroup \(s) cannot roll back to step \(requested): its journal holds steps \(held.map(String.init).joined(separator: " and "))"
        case .integrity(let s, let slot, let offset, let expected, let found):
            "integrity failure: subgroup \(s)'s state in slot \(slot) (SSD offset \(offset)) has checksum \(String(format: "0x%08x", found)), its commit recorded \(String(format: "0x%08x", expected)); the state was not used"
        case .badPayload(let s, let offset, let error):
            "gradient payload of subgroup \(s) (SSD offset \(offset)) rejected, states untouched: \(error)"
        case .storage(let error): "\(error)"
        case .hostBuffer(let detail): "host buffer: \(detail)"
        case .snapshotMismatch(let path, let detail): "snapshot \(path) does not fit this device: \(detail)"
        }
    }

    /// The error reply's code (the table at `Reply.ErrorCode`): what the host decides on.
    public var code: Reply.ErrorCode {
        switch self {
        case .notConfigured, .notLoaded: .notConfigured
        case .formattedForSomethingElse, .corruptSuperblock, .unsupportedFormat: .formatMismatch
        case .outOfRange, .rollbackUnavailable: .outOfRange
        case .insufficientDRAM: .outOfDRAM
        case .insufficientCapacity: .outOfSpace
        case .badPayload: .badPayload
        case .integrity, .corruptJournal: .integrity
        case .ssdInUse: .busy
        case .storage: .io
        case .hostBuffer(.failed): .io
        case .hostBuffer(.tooSmall): .outOfRange
        case .snapshotMismatch: .formatMismatch
        }
    }

    /// The code of anything a command throws: a `DeviceError`'s or `SnapshotError`'s own, a
    /// storage failure not wrapped in one (`BlockIOError`, a snapshot write's
    /// `DurableFileError`) as `io`, and anything else as `internalFailure`.
    public static func code(of error: Error) -> Reply.ErrorCode {
        switch error {
        case let error as DeviceError: error.code
        case let error as SnapshotError: error.code
        case is BlockIOError, is DurableFileError: .io
        default: .internalFailure
        }
    }
}
