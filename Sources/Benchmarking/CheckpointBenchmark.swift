import DeviceProtocol
import DurableWrite
import Foundation
import Offload
import OffloadVocabulary
import Optim
import SeededRandom
import Synchronization
import Threading

/// `smartinf bench checkpoint`: the device part of a checkpoint (p and every optimizer state)
/// two ways on the same fleet of device processes (wall clock, this machine's disk):
///
/// - near-storage: every device copies its committed states into a snapshot inside itself
///   (`snapshot`), all at once; only the request and its reply cross the host link;
/// - host gather: the host reads the same states from every device over its link
///   (`read-state`, one thread per device) and writes them durably into a file per device.
///
/// Both end with the same bytes durable on storage. The shared-link bytes are counted at the
/// host's sockets (whole frames, both directions).
public struct CheckpointBenchmark: Sendable {
    public struct Options: Sendable {
        public var parameters: Int
        public var devices: Int
        public var directory: String
        public var dramBytes: Int
        public var optimizer: OptimizerConfig
        public var repetitions: Int

        public init(parameters: Int, devices: Int, directory: String, dramBytes: Int = 1 << 30,
                    optimizer: OptimizerConfig = .adamw(AdamWHyperparameters()), repetitions: Int = 3) {
            self.parameters = parameters
            self.devices = devices
            self.directory = directory
            self.dramBytes = dramBytes
            self.optimizer = optimizer
            self.repetitions = repetitions
        }
    }

    public struct Row: Codable, Sendable {
        /// `near-storage` or `host gather`.
        public var method: String
        public var parameters: Int
        public var devices: Int
        /// p and the optimizer's states, fp32, over all parameters.
        public var stateBytes: Int
        public var seconds: SampledFigure
        /// Bytes over the devices' links to the host in the last timed run, both directions.
        public var sharedLinkBytes: Int
        /// Bytes the checkpoint left durable (snapshot files, or the host's files).
        public var bytesWritten: Int
        /// Host gather's median ÷ this method's median.
        public var speedupOverHostGather: Double?
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    public func run(progress: (String) -> Void = { _ in }) throws -> [Row] {
        let o = options
        let directory = "\(o.directory)/checkpoint-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let partition = Partition(parameterCount: o.parameters, deviceCount: o.devices)
        let processes = try DeviceProcesses(DeviceProcesses.Options(count: o.devices, directory: directory, dram: "\(o.dramBytes)"))
        let connections = try processes.socketPaths.map { try DeviceConnection(path: $0) }
        var rng = SplitMix64(seed: 1)
        let initial = AlignedBuffer<Float>((0..<o.parameters).map { _ in Float.random(in: -1...1, using: &rng) })
        progress("loading \(o.parameters) parameters into \(o.devices) device(s)")
        let fleet = try DeviceFleet(links: connections, names: processes.socketPaths, partition: partition,
                                    configuration: DeviceFleet.Configuration(mode: .suO, optimizer: o.optimizer),
                                    start: .load(initial), directory: directory, processes: processes)
        defer { fleet.shutdown() }
        let vectors = [StateVector.parameters, .state1, .state2].prefix(1 + o.optimizer.stateCount)
        let stateBytes = o.parameters * 4 * vectors.count
        func linkBytes() -> Int { connections.map { $0.socket.bytesSent + $0.socket.bytesReceived }.reduce(0, +) }

        var near: [Double] = []
        var nearLink = 0
        var nearWritten = 0
        var gather: [Double] = []
        var gatherLink = 0
        var gatherWritten = 0
        let workers = (0..<o.devices).map { SerialWorker(name: "gather-\($0)") }
        defer { workers.forEach { $0.finish() } }
        for round in 1...o.repetitions {
            progress("round \(round) of \(o.repetitions): near-storage snapshot")
            var before = linkBytes()
            var taken: [StoredSnapshot] = []
            near.append(try Timing.seconds { taken = try fleet.snapshot(step: 0, keep: 1, note: "") })
            nearLink = linkBytes() - before
            nearWritten = taken.map(\.bytes).reduce(0, +)

            progress("round \(round) of \(o.repetitions): host gather")
            before = linkBytes()
            gather.append(try Timing.seconds {
                gatherWritten = try Self.gather(connections, partition: partition, vectors: Array(vectors), directory: directory, workers: workers)
            })
            gatherLink = linkBytes() - before
        }
        let gatherMedian = Timing.median(gather)
        return [
            Row(method: "near-storage", parameters: o.parameters, devices: o.devices, stateBytes: stateBytes, seconds: SampledFigure(near),
                sharedLinkBytes: nearLink, bytesWritten: nearWritten, speedupOverHostGather: gatherMedian / Timing.median(near)),
            Row(method: "host gather", parameters: o.parameters, devices: o.devices, stateBytes: stateBytes, seconds: SampledFigure(gather),
                sharedLinkBytes: gatherLink, bytesWritten: gatherWritten, speedupOverHostGather: nil),
        ]
    }

    /// Every device's `vectors`, read over its link on its own thread and written durably into
    /// `gather-i.bin`; returns the bytes written.
    static func gather(_ connections: [DeviceConnection], partition: Partition, vectors: [StateVector], directory: String,
                       workers: [SerialWorker]) throws -> Int {
        let results = Monitor<[Result<Int, Error>?]>(Array(repeating: nil, count: connections.count))
        for (i, connection) in connections.enumerated() {
            let count = partition.sliceElements
            workers[i].submit {
                let result = Result { () throws -> Int in
                    let file = try DurableFile(creating: "\(directory)/gather-\(i).bin")
                    for vector in vectors { try file.append(try connection.readState(vector, offset: 0, count: count)) }
                    try file.commit()
                    return count * 4 * vectors.count
                }
                results.change { $0[i] = result }
            }
        }
        let all = results.wait { done in done.allSatisfy { $0 != nil } ? done.compactMap { $0 } : nil }
        return try all.map { try $0.get() }.reduce(0, +)
    }

    public static func table(_ rows: [Row]) -> String {
        var table = TextTable(["method", "parameters", "devices", "state bytes", "seconds (median)", "shared-link bytes", "bytes written", "speed-up"])
        for r in rows {
            table.append([r.method, Figures.count(Double(r.parameters)), "\(r.devices)", Figures.count(Double(r.stateBytes)) + "B",
                          String(format: "%.3f", r.seconds.median), "\(r.sharedLinkBytes)", Figures.count(Double(r.bytesWritten)) + "B",
                          r.speedupOverHostGather.map { String(format: "%.2f×", $0) } ?? "—"])
        }
        return table.rendered
    }
}
