import DurableWrite
import OffloadVocabulary

/// One row of a study: one (model, what-ifs, devices, hosts, mode, ratio, profiles, overrides,
/// device price) configuration and its modeled iteration, as `smartinf sweep` writes it (see
/// `StudyTable`). With many hosts every time and byte count is one host's (the hosts are alike);
/// the devices' cost is every host's.
public struct StudyRow: Sendable, Equatable {
    /// A preset name (`gpt2-4b`) or a description (`gpt2 L49 h2560`).
    public var model: String
    public var parameters: Int
    public var devices: Int
    public var mode: OffloadMode
    /// Top-k ratio of the gradient compression (meaningful for `su+o+c`).
    public var topkRatio: Double
    /// Hardware profile names.
    public var host: String
    public var device: String
    public var gpu: String
    /// Profile overrides, each `key=value`, in the order given (`;`-separated in the CSV).
    public var overrides: [String]
    /// Modeled seconds of one iteration's phases: forward; backward with the gradient offload;
    /// the optimizer update with its I/O. `iterationSeconds` is the whole iteration.
    public var fwSeconds: Double
    public var bwGradOffloadSeconds: Double
    public var updateSeconds: Double
    public var iterationSeconds: Double
    /// Base's `iteration_s` at the same model, devices and profiles ÷ this row's; nil when the
    /// study has no base row to compare with.
    public var speedupVsBase: Double?
    /// Bytes crossing the host's shared link in one iteration, the same per parameter, and bytes
    /// moved inside each device.
    public var sharedLinkBytes: Double
    public var sharedLinkBytesPerParam: Double
    public var deviceBytesPerDevice: Double
    /// Hosts training together, data parallel (1: the paper's single host), the bytes each
    /// sends to the others (and receives) in the gradients' reduce-scatter and the parameters'
    /// all-gather, and the seconds they keep its network busy.
    public var hosts: Int
    public var networkBytes: Double
    public var networkSeconds: Double
    /// What the workload changes from the paper's, as the flags that ask for it
    /// (`state-bits=8`, `overlap-backward`, `host-share=0.2`, `activations-to-storage`,
    /// `lora-rank=16`); empty for the paper's workload.
    public var whatIfs: [String]
    /// US dollars per storage device, from the device profile (or `--set device.price`, or
    /// sweep's `--prices`); nil where the profile has none: the price columns then say n/a.
    public var devicePrice: Double?

    /// What every host's devices cost together: hosts × devices × price (US dollars).
    public var deviceCost: Double? { devicePrice.map { Double(hosts) * Double(devices) * $0 } }

    /// Iterations per hour per 1,000 US dollars of storage devices: 3600 / iteration_s /
    /// (device cost / 1000). Higher is better; it weighs a faster step against dearer drives, so
    /// two set-ups of different speed and cost compare on one number.
    public var stepsPerHourPerThousandUSD: Double? { deviceCost.map { 3600 / iterationSeconds / ($0 / 1000) } }

    public init(model: String, parameters: Int, devices: Int, mode: OffloadMode, topkRatio: Double,
                host: String, device: String, gpu: String, overrides: [String] = [],
                fwSeconds: Double, bwGradOffloadSeconds: Double, updateSeconds: Double, iterationSeconds: Double,
                speedupVsBase: Double?, sharedLinkBytes: Double, sharedLinkBytesPerParam: Double,
                deviceBytesPerDevice: Double, hosts: Int = 1, networkBytes: Double = 0, networkSeconds: Double = 0,
                whatIfs: [String] = [], devicePrice: Double? = nil) {
        self.model = model
        self.parameters = parameters
        self.devices = devices
        self.mode = mode
        self.topkRatio = topkRatio
        self.host = host
        self.device = device
        self.gpu = gpu
        self.overrides = overrides
        self.fwSeconds = fwSeconds
        self.bwGradOffloadSeconds = bwGradOffloadSeconds
        self.updateSeconds = updateSeconds
        self.iterationSeconds = iterationSeconds
        self.speedupVsBase = speedupVsBase
        self.sharedLinkBytes = sharedLinkBytes
        self.sharedLinkBytesPerParam = sharedLinkBytesPerParam
        self.deviceBytesPerDevice = deviceBytesPerDevice
        self.hosts = hosts
        self.networkBytes = networkBytes
        self.networkSeconds = networkSeconds
        self.whatIfs = whatIfs
        self.devicePrice = devicePrice
    }
}

/// What went wrong reading a study table or writing a report. Table errors name the file, the
/// line (1-based, where the record starts), the column (1-based, and its name) and what was
/// expected.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// The first line is not the expected header; `column` is the first column that differs.
    case badHeader(source: String, line: Int, column: Int, expected: [String], found: [String])
    /// A record with the wrong number of fields; `column` is the first missing or extra one.
    case wrongColumnCount(source: String, line: Int, column: Int, expected: Int, found: Int)
    /// A field that does not hold the value its column needs.
    case badValue(source: String, line: Int, column: Int, name: String, expected: String, found: String)
    /// A `mode` that is none of base, su, su+o, su+o+c.
    case unknownMode(source: String, line: Int, column: Int, found: String)
    /// Broken CSV quoting (an unterminated quoted field, text after a closing quote).
    case badQuoting(source: String, line: Int, column: Int, detail: String)
    /// The input has no header line at all.
    case empty(source: String)
    /// A file could not be read, or a directory created.
    case io(path: String, detail: String)
    /// A report file could not be written (the durable write names the path and the call).
    case cannotWrite(DurableFileError)

    public var description: String {
        switch self {
        case let .badHeader(source, line, column, expected, found):
            let got = column <= found.count ? "\"\(found[column - 1])\"" : "nothing"
            return "\(source):\(line): column \(column): bad header: expected \(expected.count) columns "
                + "\(expected.joined(separator: ",")); column \(column) should be \"\(expected[column - 1])\", got \(got)"
        case let .wrongColumnCount(source, line, column, expected, found):
            return "\(source):\(line): column \(column): expected \(expected) columns, got \(found)"
        case let .badValue(source, line, column, name, expected, found):
            return "\(source):\(line): column \(column) (\(name)): expected \(expected), got \"\(found)\""
        case let .unknownMode(source, line, column, found):
            return "\(source):\(line): column \(column) (mode): unknown mode \"\(found)\"; expected one of "
                + OffloadMode.allCases.map(\.rawValue).joined(separator: ", ")
        case let .badQuoting(source, line, column, detail):
            return "\(source):\(line): column \(column): \(detail)"
        case let .empty(source):
            return "\(source):1: column 1: empty file; expected the header \(StudyTable.columns.joined(separator: ","))"
        case let .io(path, detail):
            return "\(path): \(detail)"
        case let .cannotWrite(failure):
            return failure.description
        }
    }
}
