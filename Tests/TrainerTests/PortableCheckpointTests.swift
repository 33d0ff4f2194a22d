import DeviceProtocol
import Foundation
import Offload
import OffloadVocabulary
import Optim
import Testing
import Trainer

/// `smartinf checkpoint export` and `--resume` of what it wrote: a run saved on N devices
/// continues on M devices, in another mode, bit-identical.
@Suite(.serialized) struct PortableCheckpointTests {
    /// A run of `steps` steps that saves a checkpoint at its end and keeps its states.
    struct SavedRun {
        let checkpoint: String
        let ssdDirectory: String
        let records: [StepRecord]
        /// p, m, v over all parameters, as the devices held them at the end.
        let states: [[UInt32]]
    }

    static func save(_ dir: RunDirectory, _ data: (train: String, val: String), mode: OffloadMode, devices: Int, steps: Int,
                     name: String, compression: GradientCompressionSettings = GradientCompressionSettings(ratio: 0.1)) throws -> SavedRun {
        var o = options(dir, data: data, mode: mode, steps: steps, compression: compression)
        o.devices = devices
        o.ssdDirectory = "\(dir.path)/ssd-\(name)"
        o.saveCheckpoint = "\(dir.path)/checkpoint-\(name)"
        let run = try TrainingRun(o)
        try run.run()
        defer { run.finish() }
        return SavedRun(checkpoint: o.saveCheckpoint!, ssdDirectory: o.ssdDirectory, records: run.records,
                        states: try [StateVector.parameters, .state1, .state2].map { try run.fleet.readState($0).map(\.bitPattern) })
    }

    /// Resumes `exported` on `devices` devices in `mode` up to `steps`: the states the devices
    /// hold right after the start, and the run.
    static func resume(_ dir: RunDirectory, _ data: (train: String, val: String), exported: String, mode: OffloadMode, devices: Int,
                       steps: Int, name: String, compression: GradientCompressionSettings = GradientCompressionSettings())
        throws -> (states: [[UInt32]], run: TrainingRun) {
        var o = options(dir, data: data, mode: mode, steps: steps, compression: compression)
        o.devices = devices
        o.ssdDirectory = "\(dir.path)/ssd-\(name)"
        o.resume = exported
        let run = try TrainingRun(o)
        let states = try [StateVector.parameters, .state1, .state2].map { try run.fleet.readState($0).map(\.bitPattern) }
        try run.run()
        return (states, run)
    }

    static func lossBits(_ records: [StepRecord]) -> [UInt32] { records.map { Float($0.loss).bitPattern } }

    struct Reshard: Sendable, CustomTestStringConvertible {
        var from: OffloadMode
        var fromDevices: Int
        var to: OffloadMode
        var toDevices: Int
        var testDescription: String { "\(from.rawValue) on \(fromDevices) → \(to.rawValue) on \(toDevices)" }
    }

    /// Saved on N devices, exported, resumed on M (and in another mode): the devices hold the
    /// saved p, m and v exactly, and the run goes on as it would have without the move — as an
    /// uninterrupted run where the mode stays lossless, and as the same export resumed on the
    /// saving run's own device count where the compressed mode gives way to su+o.
    @Test(arguments: [
        Reshard(from: .suO, fromDevices: 4, to: .suO, toDevices: 3),
        Reshard(from: .suO, fromDevices: 2, to: .suO, toDevices: 5),
        Reshard(from: .suO, fromDevices: 3, to: .suO, toDevices: 1),
        Reshard(from: .suO, fromDevices: 2, to: .base, toDevices: 2),
        Reshard(from: .suOC, fromDevices: 3, to: .suO, toDevices: 2),
    ])
    func aRunSavedOnNDevicesContinuesOnM(_ move: Reshard) throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let saved = try Self.save(dir, data, mode: move.from, devices: move.fromDevices, steps: 3, name: "saved")
        let exported = "\(dir.path)/exported"
        let summary = try PortableCheckpoint.export(from: saved.checkpoint, to: exported)
        #expect(summary.step == 3 && summary.devices == move.fromDevices)

        let (states, moved) = try Self.resume(dir, data, exported: exported, mode: move.to, devices: move.toDevices, steps: 6, name: "moved")
        defer { moved.finish() }
        #expect(states == saved.states)
        #expect(moved.records.map(\.step) == [4, 5, 6])
        let reference: [UInt32]
        let referenceParameters: [UInt32]
        if move.from.compresses {
            let (_, same) = try Self.resume(dir, data, exported: exported, mode: move.to, devices: move.fromDevices, steps: 6, name: "same")
            reference = Self.lossBits(same.records)
            referenceParameters = same.model.parameters.array.map(\.bitPattern)
            same.finish()
        } else {
            var o = options(dir, data: data, mode: move.from, steps: 6)
            o.devices = move.fromDevices
            o.ssdDirectory = "\(dir.path)/ssd-whole"
            let whole = try TrainingRun(o)
            try whole.run()
            whole.finish()
            #expect(Self.lossBits(saved.records + moved.records) == Self.lossBits(whole.records))
            reference = Self.lossBits(Array(whole.records.suffix(3)))
            referenceParameters = whole.model.parameters.array.map(\.bitPattern)
        }
        #expect(Self.lossBits(moved.records) == reference)
        #expect(moved.model.parameters.array.map(\.bitPattern) == referenceParameters)
    }

    /// The export of a checkpoint directory and of the SSD directory agree; the files load in
    /// Python (an independent reader of the format, and the `safetensors` package when
    /// installed) under GPT-2's names and shapes, with the values of the llm.c model file and
    /// of the devices' states; a run resumed from them on the same devices matches an
    /// uninterrupted one.
    @Test func exportedFilesLoadInPythonAndResumeBitIdentically() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let saved = try Self.save(dir, data, mode: .suO, devices: 2, steps: 3, name: "saved")
        let fromCheckpoint = "\(dir.path)/from-checkpoint"
        let fromSSD = "\(dir.path)/from-ssd"
        _ = try PortableCheckpoint.export(from: saved.checkpoint, to: fromCheckpoint)
        _ = try PortableCheckpoint.export(from: saved.ssdDirectory, to: fromSSD)
        for file in [PortableCheckpoint.modelFile, PortableCheckpoint.optimizerFile, PortableCheckpoint.stateFile] {
            #expect(FileManager.default.contents(atPath: "\(fromCheckpoint)/\(file)") == FileManager.default.contents(atPath: "\(fromSSD)/\(file)"))
        }
        let state = try TrainerState.read(from: "\(fromCheckpoint)/\(PortableCheckpoint.stateFile)")
        #expect(state.stepsDone == 3 && state.snapshots == nil && state.model?.channels == 64)

        let output = try Self.checkInPython(fromCheckpoint, saved: saved, in: dir)
        #expect(output == "ok: 28 tensors\n", "\(output)")

        var whole = options(dir, data: data, mode: .suO, steps: 6)
        whole.ssdDirectory = "\(dir.path)/ssd-whole"
        let uninterrupted = try TrainingRun(whole)
        try uninterrupted.run()
        uninterrupted.finish()
        let (_, resumed) = try Self.resume(dir, data, exported: fromSSD, mode: .suO, devices: 2, steps: 6, name: "resumed")
        defer { resumed.finish() }
        #expect(Self.lossBits(saved.records + resumed.records) == Self.lossBits(uninterrupted.records))
        #expect(resumed.model.parameters.array.map(\.bitPattern) == uninterrupted.model.parameters.array.map(\.bitPattern))
    }

    /// su+o+c with error feedback: the export carries the residuals under the model's tensor
    /// names (read back in Python against the checkpoint's own residuals file), from the
    /// checkpoint directory and from the SSD directory alike; resumed from it with
    /// `--error-feedback` on the same devices, the run is bit-identical to one that never
    /// stopped, residuals included. An export without residuals is refused by such a resume.
    @Test func errorFeedbackResidualsRoundTripThroughAnExport() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let feedback = GradientCompressionSettings(ratio: 0.1, errorFeedback: true)
        let saved = try Self.save(dir, data, mode: .suOC, devices: 2, steps: 3, name: "saved", compression: feedback)
        let fromCheckpoint = "\(dir.path)/from-checkpoint"
        let fromSSD = "\(dir.path)/from-ssd"
        let summary = try PortableCheckpoint.export(from: saved.checkpoint, to: fromCheckpoint)
        #expect(summary.errorFeedback && summary.tensors == 4 * 28)
        #expect(summary.files.contains("\(fromCheckpoint)/\(PortableCheckpoint.errorFeedbackFile)"))
        #expect(try PortableCheckpoint.export(from: saved.ssdDirectory, to: fromSSD).errorFeedback)
        for file in [PortableCheckpoint.modelFile, PortableCheckpoint.optimizerFile, PortableCheckpoint.errorFeedbackFile,
                     PortableCheckpoint.stateFile] {
            #expect(FileManager.default.contents(atPath: "\(fromCheckpoint)/\(file)") == FileManager.default.contents(atPath: "\(fromSSD)/\(file)"))
        }
        let state = try TrainerState.read(from: "\(saved.checkpoint)/\(PortableCheckpoint.stateFile)")
        let own = "\(saved.checkpoint)/\(try #require(state.errorFeedback))"
        let residuals = try ErrorFeedbackFile(reading: own)
            .flattened(over: Partition(parameterCount: saved.states[0].count, deviceCount: 2), path: own)
        #expect(residuals.completedSteps == 3 && residuals.residual.contains { $0 != 0 })
        let output = try Self.checkInPython(fromCheckpoint, saved: saved, residuals: residuals.residual, in: dir)
        #expect(output == "ok: 28 tensors\nok: 28 residuals after 3 steps\n", "\(output)")

        var whole = options(dir, data: data, mode: .suOC, steps: 6, compression: feedback)
        whole.ssdDirectory = "\(dir.path)/ssd-whole"
        let uninterrupted = try TrainingRun(whole)
        try uninterrupted.run()
        let expectedResiduals = uninterrupted.fleet.errorFeedback
        uninterrupted.finish()
        let (_, resumed) = try Self.resume(dir, data, exported: fromSSD, mode: .suOC, devices: 2, steps: 6, name: "resumed",
                                           compression: feedback)
        defer { resumed.finish() }
        #expect(Self.lossBits(saved.records + resumed.records) == Self.lossBits(uninterrupted.records))
        #expect(resumed.model.parameters.array.map(\.bitPattern) == uninterrupted.model.parameters.array.map(\.bitPattern))
        #expect(resumed.fleet.errorFeedback == expectedResiduals)

        let plain = try Self.save(dir, data, mode: .suOC, devices: 2, steps: 3, name: "plain")
        let exportedPlain = "\(dir.path)/exported-plain"
        #expect(try PortableCheckpoint.export(from: plain.checkpoint, to: exportedPlain).errorFeedback == false)
        #expect(!FileManager.default.fileExists(atPath: "\(exportedPlain)/\(PortableCheckpoint.errorFeedbackFile)"))
        #expect { _ = try Self.resume(dir, data, exported: exportedPlain, mode: .suOC, devices: 2, steps: 6, name: "refused",
                                      compression: feedback) } throws: { error in
            guard case TrainingError.badOption(let message) = error else { return false }
            return message.contains("--error-feedback needs the residuals, and this export holds none (no error-feedback.safetensors")
        }
    }

    /// Writes the devices' m and v as files and runs `pythonCheck` on `exported` (with the
    /// residuals, when given, as a file too); its output.
    static func checkInPython(_ exported: String, saved: SavedRun, residuals: [Float]? = nil, in dir: RunDirectory) throws -> String {
        func write(_ bits: [UInt32], _ name: String) throws -> String {
            let path = "\(dir.path)/\(name).f32"
            try Data(bits.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }).write(to: URL(fileURLWithPath: path))
            return path
        }
        let files = [try write(saved.states[1], "m"), try write(saved.states[2], "v")]
            + (try residuals.map { [try write($0.map(\.bitPattern), "residuals")] } ?? [])
        return try runPython(["-c", pythonCheck, exported, "\(saved.checkpoint)/model.bin"] + files)
    }

    /// A snapshot damaged after it was written is refused by name, by the export and by a
    /// resume that would restore it.
    @Test func aDamagedSnapshotIsRefusedByName() throws {
        let dir = RunDirectory()
        let data = try corpus(in: dir)
        let saved = try Self.save(dir, data, mode: .suO, devices: 2, steps: 2, name: "saved")
        let state = try TrainerState.read(from: "\(saved.checkpoint)/trainer-state.json")
        let damaged = try #require(state.snapshots?[1])
        let handle = try #require(FileHandle(forUpdatingAtPath: damaged))
        try handle.seek(toOffset: 20_000)
        let byte = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: 20_000)
        try handle.write(contentsOf: Data([byte[0] ^ 1]))
        try handle.close()
        #expect { _ = try PortableCheckpoint.export(from: saved.checkpoint, to: "\(dir.path)/exported") } throws: { error in
            error is SnapshotError && "\(error)".contains("snapshot \(damaged) is damaged")
        }
        // Resumed from the checkpoint with the devices moved on, device 1's restore is refused.
        var onward = options(dir, data: data, mode: .suO, steps: 4)
        onward.ssdDirectory = saved.ssdDirectory
        onward.resume = saved.checkpoint
        let ahead = try TrainingRun(onward)
        try ahead.run()
        ahead.finish()
        #expect { _ = try TrainingRun(onward) } throws: { error in
            (error as? FleetError)?.failure == .refused(.integrity) && "\(error)".contains(damaged)
        }
    }

    /// Reads both files with a 20-line reader of the format (and the `safetensors` package when
    /// it is installed), checks GPT-2's names and shapes from the llm.c header, and compares
    /// the values with the llm.c model file and the devices' m and v; given a fifth argument,
    /// the residuals file too (`NAME/error_feedback` in each tensor's shape, against it).
    static let pythonCheck = #"""
    import json, struct, sys
    import numpy as np
    def load(path):
        data = open(path, "rb").read()
        n = struct.unpack("<Q", data[:8])[0]
        assert n % 8 == 0
        header = json.loads(data[8:8 + n])
        meta = header.pop("__metadata__")
        body = data[8 + n:]
        ends = sorted(t["data_offsets"] for t in header.values())
        assert ends[0][0] == 0 and ends[-1][1] == len(body) and all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
        out = {}
        for name, t in header.items():
            assert t["dtype"] == "F32"
            b, e = t["data_offsets"]
            out[name] = np.frombuffer(body[b:e], dtype="<f4").reshape(t["shape"])
        return out, meta
    out, model_bin, m_path, v_path = sys.argv[1:5]
    model, meta = load(out + "/model.safetensors")
    optim, _ = load(out + "/optimizer.safetensors")
    checked = [(out + "/model.safetensors", model), (out + "/optimizer.safetensors", optim)]
    if len(sys.argv) > 5:
        residuals, residual_meta = load(out + "/error-feedback.safetensors")
        checked.append((out + "/error-feedback.safetensors", residuals))
    try:
        from safetensors.numpy import load_file
        for path, mine in checked:
            theirs = load_file(path)
            assert theirs.keys() == mine.keys() and all(np.array_equal(theirs[k], mine[k]) for k in mine)
    except ImportError:
        pass
    raw = open(model_bin, "rb").read()
    h = struct.unpack("<256i", raw[:1024])
    T, V, L, NH, C, Vp = h[2], h[3], h[4], h[5], h[6], h[7]
    layer = [("ln_1.weight", (C,)), ("ln_1.bias", (C,)), ("attn.c_attn.weight", (3 * C, C)), ("attn.c_attn.bias", (3 * C,)),
             ("attn.c_proj.weight", (C, C)), ("attn.c_proj.bias", (C,)), ("ln_2.weight", (C,)), ("ln_2.bias", (C,)),
             ("mlp.c_fc.weight", (4 * C, C)), ("mlp.c_fc.bias", (4 * C,)), ("mlp.c_proj.weight", (C, 4 * C)), ("mlp.c_proj.bias", (C,))]
    order = [("wte.weight", (Vp, C)), ("wpe.weight", (T, C))]
    order += [("h.%d.%s" % (l, name), shape) for name, shape in layer for l in range(L)]
    order += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
    assert sorted(model) == sorted(n for n, _ in order), sorted(set(model) ^ set(n for n, _ in order))
    assert all(model[n].shape == s for n, s in order)
    flat = np.concatenate([model[n].ravel() for n, _ in order])
    assert np.array_equal(flat, np.frombuffer(raw[1024:], dtype="<f4"))
    for state, path in (("exp_avg", m_path), ("exp_avg_sq", v_path)):
        flat = np.concatenate([optim[n + "/" + state].ravel() for n, _ in order])
        assert np.array_equal(flat, np.fromfile(path, dtype="<f4")), state
    assert len(optim) == 2 * len(order) and meta["step"] == "3"
    print("ok: %d tensors" % len(order))
    if len(sys.argv) > 5:
        assert sorted(residuals) == sorted(n + "/error_feedback" for n, _ in order)
        assert all(residuals[n + "/error_feedback"].shape == s for n, s in order)
        flat = np.concatenate([residuals[n + "/error_feedback"].ravel() for n, _ in order])
        assert np.array_equal(flat, np.fromfile(sys.argv[5], dtype="<f4")) and np.any(flat != 0)
        print("ok: %d residuals after %s steps" % (len(order), residual_meta["completed_steps"]))
    """#
}

/// Runs python3 with `arguments`; its standard output, or a failure with its standard error.
func runPython(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw PythonFailed(detail: "python3 exited with status \(process.terminationStatus): \(String(decoding: err, as: UTF8.self))")
    }
    return String(decoding: out, as: UTF8.self)
}

struct PythonFailed: Error, CustomStringConvertible {
    var detail: String
    var description: String { detail }
}
