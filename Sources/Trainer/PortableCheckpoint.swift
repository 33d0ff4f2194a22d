import DurableWrite
import Foundation
import GPT
import Offload
import Optim
import Safetensors
import DeviceProtocol

/// A checkpoint that any fleet resumes from, whatever its device count or mode: the model and
/// every optimizer state gathered from the devices' snapshots into safetensors files, under the
/// model's own tensor names, plus the trainer state as JSON.
///
/// ```
/// model.safetensors       every parameter, fp32: wte.weight, wpe.weight, h.L.ln_1.weight, …
/// optimizer.safetensors   every state, fp32 (8-bit states decoded): NAME/exp_avg and NAME/exp_avg_sq (AdamW),
///                         NAME/momentum_buffer (SGD), NAME/sum (AdaGrad)
/// error-feedback.safetensors   (a checkpoint of su+o+c with --error-feedback) the residuals, fp32:
///                         NAME/error_feedback
/// trainer-state.json      where the run stands (TrainerState, with the model's shape)
/// ```
/// The update is per element, so states laid out again over M devices continue the run exactly
/// as N devices would have: resharding is an export and a resume (`--resume DIR`). The residuals
/// are per element too; top-k picks per subgroup, so only the same geometry picks as the saving
/// run would have.
public enum PortableCheckpoint {
    public static let modelFile = "model.safetensors"
    public static let optimizerFile = "optimizer.safetensors"
    public static let errorFeedbackFile = "error-feedback.safetensors"
    /// The residual's name beside each tensor's own: `h.0.attn.c_attn.weight/error_feedback`.
    public static let errorFeedbackSuffix = "/error_feedback"
    public static let stateFile = "trainer-state.json"

    /// Whether `directory` holds an exported checkpoint rather than a run's own.
    public static func isExported(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(directory)/\(modelFile)")
    }

    /// Whether the exported checkpoint in `directory` holds error-feedback residuals.
    public static func hasErrorFeedback(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(directory)/\(errorFeedbackFile)")
    }

    /// What an export wrote.
    public struct Summary: Sendable {
        public var step: Int
        public var devices: Int
        public var tensors: Int
        public var files: [String]
        public var bytes: Int
        /// Whether the checkpoint's error-feedback residuals were exported.
        public var errorFeedback: Bool
    }

    /// Gathers the snapshots of a checkpoint (`source` is a checkpoint directory, whose trainer
    /// state names its snapshots, or the devices' SSD directory, whose newest snapshot that
    /// every device holds is taken, with the trainer state the host kept in it) into `out`.
    ///
    /// Snapshot files are never written after they are put in place, so this reads them
    /// whether or not devices run, without their SSD files' locks. The residuals of a checkpoint
    /// saved with error feedback go along (from an SSD directory: those of the run's last
    /// checkpoint, when it is the snapshots' step).
    public static func export(from source: String, to out: String) throws -> Summary {
        let snapshots = try DeviceSnapshots(source)
        let config = snapshots.config
        let named = config.parameterLayout.namedTensors(config)
        let stateNames = snapshots.optimizer.kind.stateNames
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let step = snapshots.state.stepsDone
        let common = ["format": "pt", "producer": "smartinf checkpoint export", "step": "\(step)"]

        var model = try SafetensorsWriter(path: "\(out)/\(modelFile)", tensors: named.map { SafetensorsTensor(name: $0.name, shape: $0.shape) },
                                          metadata: common.merging(["model": config.initSpec, "padded_vocab_size": "\(config.paddedVocabSize)",
                                                                    "layout": "llm.c: matrices [out, in]; wte has padded_vocab_size rows"]) { $1 })
        try snapshots.appendVector(0, to: &model)
        try model.commit()

        var optimizer = try SafetensorsWriter(
            path: "\(out)/\(optimizerFile)",
            tensors: stateNames.flatMap { state in named.map { SafetensorsTensor(name: "\($0.name)/\(state)", shape: $0.shape) } },
            metadata: common.merging(["optimizer": snapshots.state.optimizer, "applied_steps": "\(snapshots.state.appliedSteps)"]) { $1 })
        for v in stateNames.indices { try snapshots.appendVector(1 + v, to: &optimizer) }
        try optimizer.commit()

        var names = [modelFile, optimizerFile]
        if let path = snapshots.errorFeedback {
            let partition = Partition(parameterCount: config.parameterCount, deviceCount: snapshots.readers.count)
            let flat = try ErrorFeedbackFile(reading: path).flattened(over: partition, path: path)
            var residuals = try SafetensorsWriter(
                path: "\(out)/\(errorFeedbackFile)",
                tensors: named.map { SafetensorsTensor(name: $0.name + errorFeedbackSuffix, shape: $0.shape) },
                metadata: common.merging(["completed_steps": "\(flat.completedSteps)"]) { $1 })
            try flat.residual.withUnsafeBytes { try residuals.append($0) }
            try residuals.commit()
            names.append(errorFeedbackFile)
        }
        // A directory exported into before may hold residuals of another checkpoint.
        if snapshots.errorFeedback == nil { try? FileManager.default.removeItem(atPath: "\(out)/\(errorFeedbackFile)") }

        var state = snapshots.state
        state.snapshots = nil
        state.errorFeedback = nil
        try state.write(to: "\(out)/\(stateFile)")
        let files = (names + [stateFile]).map { "\(out)/\($0)" }
        let bytes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
        return Summary(step: step, devices: snapshots.readers.count, tensors: named.count * (names.count - 1 + stateNames.count),
                       files: files, bytes: bytes, errorFeedback: snapshots.errorFeedback != nil)
    }

    /// An exported checkpoint, read back: the trainer state, the model's shape, and the flat
    /// vectors p and each optimizer state (`parameterCount` elements each).
    public struct Contents {
        public var state: TrainerState
        public var config: GPTConfig
        public var vectors: [AlignedBuffer<Float>]
        /// The error-feedback residuals, when asked for.
        public var errorFeedback: ErrorFeedbackFile.Flat?
    }

    /// Reads an exported checkpoint for a run of `optimizer`: every tensor the model and the
    /// optimizer have (and with `errorFeedback`, every residual) must be there, fp32, in its
    /// shape, and nothing else.
    public static func read(from directory: String, optimizer: OptimizerConfig, errorFeedback: Bool = false) throws -> Contents {
        let statePath = "\(directory)/\(stateFile)"
        let state = try TrainerState.read(from: statePath)
        guard let saved = state.model else { throw TrainingError.badOption("--resume: \(statePath) does not give the model's shape") }
        let config = try saved.config(in: statePath)
        let named = config.parameterLayout.namedTensors(config)
        let parameters = try readVectors("\(directory)/\(modelFile)", named, suffixes: [""])
        let states = try readVectors("\(directory)/\(optimizerFile)", named, suffixes: optimizer.kind.stateNames.map { "/\($0)" })
        var contents = Contents(state: state, config: config, vectors: parameters + states)
        if errorFeedback {
            let path = "\(directory)/\(errorFeedbackFile)"
            let file = try SafetensorsFile(path: path)
            guard let steps = file.metadata["completed_steps"].flatMap({ Int($0) }), steps >= 0 else {
                throw TrainingError.badOption("--resume: \(path) does not say its residuals' completed_steps (a whole number in its metadata)")
            }
            let residual = try readVectors(file, named, suffixes: [errorFeedbackSuffix])[0]
            contents.errorFeedback = ErrorFeedbackFile.Flat(residual: residual.array, completedSteps: steps)
        }
        return contents
    }

    /// One flat vector per suffix, from the tensors `NAME + suffix` of the file at `path`.
    private static func readVectors(_ path: String, _ named: [NamedTensor], suffixes: [String]) throws -> [AlignedBuffer<Float>] {
        try readVectors(try SafetensorsFile(path: path), named, suffixes: suffixes)
    }

    private static func readVectors(_ file: SafetensorsFile, _ named: [NamedTensor], suffixes: [String]) throws -> [AlignedBuffer<Float>] {
        let path = file.path
        let expected = Set(suffixes.flatMap { suffix in named.map { $0.name + suffix } })
        let unexpected = file.tensors.keys.filter { !expected.contains($0) }.sorted()
        guard unexpected.isEmpty else { throw SafetensorsError.unexpectedTensor(path: path, names: unexpected) }
        let count = named.last?.range.upperBound ?? 0
        return try suffixes.map { suffix in
            let vector = AlignedBuffer<Float>(count: count)
            try vector.withUnsafeMutableBufferPointer { flat in
                for tensor in named {
                    try file.read(tensor.name + suffix, shape: tensor.shape,
                                  into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: flat[tensor.range])))
                }
            }
            return vector
        }
    }
}

/// Every device's snapshot of one checkpoint, and what the host kept with them. A run of R
/// ranks has R·N devices in rank order, rank r's in `rank-r` of the run's SSD directory; the
/// export reads them all, so it runs where every rank's SSD directory can be read.
struct DeviceSnapshots {
    let state: TrainerState
    let config: GPTConfig
    let optimizer: OptimizerConfig
    /// One per device, in device order.
    let readers: [SnapshotReader]
    /// The checkpoint's error-feedback residuals file, if it has one.
    let errorFeedback: String?

    init(_ source: String) throws {
        let statePath = "\(source)/\(PortableCheckpoint.stateFile)"
        let state: TrainerState
        var readers: [SnapshotReader]
        let errorFeedback: String?
        if FileManager.default.fileExists(atPath: statePath) {
            state = try TrainerState.read(from: statePath)
            guard let paths = state.snapshots else {
                throw TrainingError.badOption("\(statePath) names no device snapshots: the checkpoint was saved before devices kept them")
            }
            readers = try paths.map { try SnapshotReader(path: $0) }
            errorFeedback = state.errorFeedbackFile(in: source)
            // Rank 0 wrote the state and named its own devices' snapshots.
            if state.ranks ?? 1 > 1 {
                readers += try Self.otherRanks(of: state, run: try Self.runDirectory(ofRankZero: state.ssdDirectory, named: statePath))
            }
        } else if FileManager.default.fileExists(atPath: TrainingOptions.rankDirectory(0, of: source)) {
            // Rank 0's journal names the run's last checkpoint, whose residuals are every rank's.
            let rankZero = TrainingOptions.rankDirectory(0, of: source)
            (state, readers) = try Self.newestCommon(in: rankZero)
            errorFeedback = Self.lastCheckpointsResiduals(in: rankZero, snapshots: readers.map(\.path))
            readers += try Self.otherRanks(of: state, run: source)
        } else {
            (state, readers) = try Self.newestCommon(in: source)
            errorFeedback = Self.lastCheckpointsResiduals(in: source, snapshots: readers.map(\.path))
        }
        guard let saved = state.model else {
            throw TrainingError.badOption("\(source): the trainer state does not give the model's shape (saved before snapshots existed)")
        }
        config = try saved.config(in: source)
        let partition = Partition(parameterCount: config.parameterCount, deviceCount: readers.count)
        for reader in readers {
            let header = reader.header
            guard header.step == state.stepsDone, header.sliceElements == partition.sliceElements,
                  header.optimizer.name == state.optimizer else {
                throw TrainingError.badOption("snapshot \(reader.path) holds step \(header.step) of \(header.sliceElements) elements for "
                    + "\(header.optimizer.name); the checkpoint is at step \(state.stepsDone) of \(state.optimizer) with slices of "
                    + "\(partition.sliceElements) (\(config.parameterCount) parameters over \(readers.count) devices)")
            }
        }
        self.state = state
        self.readers = readers
        self.errorFeedback = errorFeedback
        optimizer = readers[0].header.optimizer
    }

    /// In an SSD directory: the residuals of the run's last checkpoint (its journal names it) if
    /// that checkpoint is the one of `snapshots` and has residuals. The snapshots' own note cannot
    /// name them: a device takes its snapshot before the host writes the residuals.
    private static func lastCheckpointsResiduals(in directory: String, snapshots: [String]) -> String? {
        guard TrainerJournal.exists(in: directory), let checkpoint = (try? TrainerJournal.newest(in: directory))?.checkpoint,
              let saved = try? TrainerState.read(from: "\(checkpoint)/\(PortableCheckpoint.stateFile)"),
              saved.snapshots == snapshots else { return nil }
        return saved.errorFeedbackFile(in: checkpoint)
    }

    /// In a directory of SSD files (`--ssd-dir`, or one rank's part of it): the newest snapshot
    /// of device 0 whose step every device has a snapshot of, with the trainer state kept in it.
    private static func newestCommon(in directory: String) throws -> (TrainerState, [SnapshotReader]) {
        let prefix = try filePrefix(in: directory)
        var refusals: [String] = []
        for candidate in SnapshotStore(ssdPath: "\(directory)/\(prefix)-0.ssd").entries().reversed() {
            do {
                let first = try SnapshotReader(path: candidate.path)
                let state = try TrainerState.decode(Data(first.header.note), from: candidate.path)
                let others = try (1..<max(state.devices, 1)).map { try snapshot(ofStep: state.stepsDone, device: $0, in: directory, prefix) }
                return (state, [first] + others)
            } catch {
                refusals.append("\(error)")
            }
        }
        throw TrainingError.badOption("\(directory): no checkpoint whose snapshots every device holds: " + refusals.joined(separator: "; "))
    }

    /// Whether the devices in `directory` are SmartSSDs (`device-i.ssd`) or base's drives
    /// (`base-i.ssd`): the one kind with snapshots.
    private static func filePrefix(in directory: String) throws -> String {
        let prefixes = ["device", "base"].filter { !SnapshotStore(ssdPath: "\(directory)/\($0)-0.ssd").entries().isEmpty }
        guard prefixes.count == 1, let prefix = prefixes.first else {
            throw TrainingError.badOption(prefixes.isEmpty
                ? "\(directory) is neither a checkpoint directory (no \(PortableCheckpoint.stateFile)) nor an SSD directory with device snapshots"
                : "\(directory) holds snapshots of both device-* and base-* SSD files; export from the checkpoint directory instead")
        }
        return prefix
    }

    /// Device `i`'s snapshot of `step` among the SSD files of `directory`.
    private static func snapshot(ofStep step: Int, device i: Int, in directory: String, _ prefix: String) throws -> SnapshotReader {
        let store = SnapshotStore(ssdPath: "\(directory)/\(prefix)-\(i).ssd")
        guard let entry = store.entries().last(where: { $0.step == step }) else {
            throw TrainingError.badOption("device \(i) has no snapshot of step \(step) in \(store.directory)")
        }
        return try SnapshotReader(path: entry.path)
    }

    /// Every device's snapshot of the state's step on ranks 1 … R − 1 of the run whose SSD
    /// directory is `run`, rank by rank.
    private static func otherRanks(of state: TrainerState, run: String) throws -> [SnapshotReader] {
        try (1..<max(state.ranks ?? 1, 1)).flatMap { rank in
            try snapshots(ofStep: state.stepsDone, devices: state.devices, in: TrainingOptions.rankDirectory(rank, of: run))
        }
    }

    /// The snapshots of `step` of devices 0 ..< `devices` among the SSD files of `directory`
    /// (one rank's directory of a run over ranks).
    static func snapshots(ofStep step: Int, devices: Int, in directory: String) throws -> [SnapshotReader] {
        let prefix = try filePrefix(in: directory)
        return try (0..<devices).map { try snapshot(ofStep: step, device: $0, in: directory, prefix) }
    }

    /// The run's SSD directory from rank 0's (`rank-0` of it), which a checkpoint's state names.
    private static func runDirectory(ofRankZero directory: String, named statePath: String) throws -> String {
        let url = URL(fileURLWithPath: directory)
        guard TrainingOptions.rankDirectory(0, of: url.deletingLastPathComponent().path) == url.path else {
            throw TrainingError.badOption("\(statePath): a run of several ranks whose ssd_dir \(directory) is not rank 0's directory (rank-0 of the run's --ssd-dir)")
        }
        return url.deletingLastPathComponent().path
    }

    /// Appends vector `v` (0 = p, 1… = the states) over all parameters, device after device,
    /// subgroup after subgroup, each checked against its checksum and decoded to fp32 (8-bit
    /// states); the last slice's padding is left out.
    func appendVector(_ v: Int, to writer: inout SafetensorsWriter) throws {
        var remaining = config.parameterCount
        var buffer = [Float](repeating: 0, count: readers.map(\.header.subgroupElements).max() ?? 0)
        for reader in readers {
            let header = reader.header
            for s in 0..<header.subgroupCount where remaining > 0 {
                let n = header.elements(ofSubgroup: s)
                try buffer.withUnsafeMutableBufferPointer { values in
                    try reader.readValues(subgroup: s, vector: v, into: UnsafeMutableBufferPointer(rebasing: values[0..<n]))
                    let kept = min(n, remaining)
                    try writer.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: values[0..<kept])))
                    remaining -= kept
                }
            }
        }
    }
}
