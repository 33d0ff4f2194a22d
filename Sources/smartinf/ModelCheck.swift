import SizeNotation
import OffloadVocabulary
import ArgumentParser
import Benchmarking
import Foundation
import GPT
import HardwareModel
import Plan

/// `smartinf model-check` (run by `make model-check`): the model against this machine, not
/// against itself. This machine's profiles are built from its own measurements (`bench io`,
/// `bench optim`, `bench train` documents), the planner predicts each configuration's
/// iteration from them, and live `smartinf train --clock wall` runs of the same configurations
/// are measured and compared with the predictions.
struct ModelCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-check",
        abstract: "Predict live training runs on this machine from its measured rates, run them, and compare.",
        discussion: """
        Profiles of this machine are written to --out (this-host.json, this-drive.json, \
        this-cpu.json): the disk's read and write rates at queue depth 16 and its per-command cost \
        (bench io at depths 1 and 16), the optimizer kernel's throughput per thread and the memory \
        copy rate (bench optim), and the CPU's forward and backward FLOP rates (bench train, on the \
        model checked). All emulated devices keep their SSD files on this one disk, so the host \
        profile says storage.sharedDrive. Each mode × device count is then predicted by the same \
        planner as synth, run live with --clock wall, and compared per phase: the forward, the rest \
        of the step (backward, gradient offload and update: the live trainer offloads after the \
        backward, the modeled DeepSpeed during it, so only their sum is comparable), and the \
        iteration. The measured reference is saved as a reference set (model-check-reference.json).
        """)

    @Option(help: "bench io --json document (depths 1 and 16).") var io: String
    @Option(help: "bench optim --json document (adamw).") var optim: String
    @Option(help: "bench train --json document for the same --init, --batch and --seq.") var train: String
    @Option(name: .customLong("init"), help: "Model checked, gpt2:L,H,C,T,V.") var modelSpec: String
    @Option(help: "Batch size.") var batch: Int = 4
    @Option(help: "Sequence length.") var seq: Int = 64
    @Option(help: "Training steps per run; the first is a warm-up, the median of the rest is compared.") var steps: Int = 3
    @Option(help: "Modes, comma-separated.") var modes: String = "base,su,su+o"
    @Option(help: "Device counts, comma-separated.") var devices: String = "1,2,4"
    @Option(name: .customLong("sub-group-size"), help: "Elements per subgroup, planned and run.") var subGroupSize: Int = 4_194_304
    @Option(help: "DRAM per device.") var dram: String = "256MiB"
    @Option(name: .customLong("ssd-dir"), help: "Directory for the devices' SSD files.") var ssdDir: String
    @Option(name: .customLong("train-data"), help: "llm.c token file to train on.") var trainData: String
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads (as in bench train).") var blasThreads: Int = 1
    @Option(help: "Directory for the profiles, the runs' metrics and the reference set.") var out: String
    @OptionGroup var output: JSONFlag

    /// A bench document: `{"benchmark": …, "rows": [...]}`.
    struct BenchDocument<Row: Decodable>: Decodable {
        var benchmark: String
        var rows: [Row]
    }

    func run() throws {
        let config: GPTConfig
        do { config = try GPTConfig(initSpec: modelSpec) } catch { throw ValidationError("--init: \(error)") }
        let shape = try ModelShape(family: .gpt2, layers: config.layers, hidden: config.channels, heads: config.heads, sequence: seq,
                                   batch: batch, vocabulary: config.paddedVocabSize, positions: config.maxSeqLen)
        let modeList = try CommaList.strings(modes, flag: "--modes").map { name in
            guard let mode = OffloadMode(rawValue: name), mode != .suOC else {
                throw ValidationError("--modes: '\(name)' is not base, su or su+o")
            }
            return mode
        }
        let deviceList = try CommaList.integers(devices, flag: "--devices", minimum: 1, maximum: 64)
        guard steps >= 2 else { throw ValidationError("--steps must be at least 2 (the first is a warm-up)") }
        let dramBytes = try SizeFlags.dram(dram)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let machine = try ThisMachine(io: read(io, as: IOBenchmark.Row.self, benchmark: "io"),
                                      optim: read(optim, as: OptimBenchmark.Row.self, benchmark: "optim"),
                                      train: read(train, as: TrainingBenchmark.Row.self, benchmark: "train"),
                                      model: config, shape: shape, dram: dramBytes)
        let paths = try machine.write(to: out)
        let library = try ProfileLibrary.locate()
        let setup = try HardwareSetup(host: paths.host, device: paths.device, gpu: paths.gpu, from: library)
        let workload = try IterationWorkload(model: shape, subgroupElements: subGroupSize)

        var rows: [Row] = []
        for mode in modeList {
            for n in deviceList {
                let predicted = try StudyResult.run(mode, workload, devices: n, on: setup)
                let measured = try live(mode: mode, devices: n)
                rows.append(Row(mode: mode, devices: n, predicted: predicted, measured: measured))
                if !output.json {
                    FileHandle.standardError.write(Data("  \(mode.rawValue) × \(n): measured \(String(format: "%.3f", measured.total)) s, "
                        .utf8) + Data("predicted \(String(format: "%.3f", predicted.iterationSeconds)) s\n".utf8))
                }
            }
        }
        let referencePath = URL(fileURLWithPath: out).appendingPathComponent("model-check-reference.json").path
        try StudyOutput.write(reference(rows, config: config), to: referencePath)
        let worst = rows.flatMap(\.errors).map(abs).max() ?? 0
        if output.json {
            try StudyOutput.printJSON([
                "model": modelSpec, "parameters": shape.parameters, "batch": batch, "seq": seq,
                "profiles": [paths.host, paths.device, paths.gpu], "reference": referencePath,
                "rows": rows.map { r in
                    ["mode": r.mode.rawValue, "devices": r.devices,
                     "predicted": ["fw": r.predicted.seconds(.forward), "rest": r.predictedRest, "iteration_s": r.predicted.iterationSeconds],
                     "measured": ["fw": r.measured.forward, "rest": r.measured.rest, "iteration_s": r.measured.total],
                     "errors": ["fw": r.errors[0], "rest": r.errors[1], "iteration_s": r.errors[2]]] as [String: Any]
                },
                "worst_error": worst, "goal": 0.15,
            ] as [String: Any])
            return
        }
        print("The model vs live --clock wall runs on this machine: \(config.initSpec) (\(Figures.count(Double(shape.parameters))) "
              + "parameters), batch \(batch), seq \(seq), subgroups of \(subGroupSize); profiles \(paths.host), \(paths.device), \(paths.gpu)")
        var table = TextTable(["mode", "dev", "fw pred", "fw meas", "err", "bw+offload+update pred", "meas", "err",
                               "iteration pred", "meas", "err"])
        for r in rows {
            table.append([r.mode.rawValue, "\(r.devices)", StudyOutput.seconds(r.predicted.seconds(.forward)), StudyOutput.seconds(r.measured.forward),
                          percent(r.errors[0]), StudyOutput.seconds(r.predictedRest), StudyOutput.seconds(r.measured.rest), percent(r.errors[1]),
                          StudyOutput.seconds(r.predicted.iterationSeconds), StudyOutput.seconds(r.measured.total), percent(r.errors[2])])
        }
        print(table.rendered)
        print(String(format: "worst error %.1f%% (goal ±15%%); measured steps: median of steps 2..%d; reference set saved to %@",
                     worst * 100, steps, referencePath))
    }

    struct Measured {
        var forward: Double
        var rest: Double
        var total: Double { forward + rest }
    }

    struct Row {
        let mode: OffloadMode
        let devices: Int
        let predicted: StudyResult
        let measured: Measured

        var predictedRest: Double { predicted.iterationSeconds - predicted.seconds(.forward) }
        /// fw, rest, iteration: predicted ÷ measured − 1.
        var errors: [Double] {
            [predicted.seconds(.forward) / measured.forward - 1, predictedRest / measured.rest - 1,
             predicted.iterationSeconds / measured.total - 1]
        }
    }

    private func read<Row: Decodable>(_ path: String, as: Row.Type, benchmark: String) throws -> [Row] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        let document: BenchDocument<Row>
        do { document = try JSONDecoder().decode(BenchDocument<Row>.self, from: data) } catch {
            throw ValidationError("\(path): not a `smartinf bench \(benchmark) --json` document")
        }
        guard document.benchmark == benchmark, !document.rows.isEmpty else {
            throw ValidationError("\(path): expected the rows of `smartinf bench \(benchmark) --json`, found benchmark '\(document.benchmark)'")
        }
        return document.rows
    }

    /// Runs `smartinf train --clock wall` and returns the median of its steps after the first.
    private func live(mode: OffloadMode, devices n: Int) throws -> Measured {
        let metrics = URL(fileURLWithPath: out).appendingPathComponent("metrics-\(mode.rawValue)-\(n).jsonl").path
        let directory = URL(fileURLWithPath: ssdDir).appendingPathComponent("\(mode.rawValue)-\(n)").path
        let arguments = ["train", "--init", modelSpec, "--train-data", trainData, "--batch", "\(batch)", "--seq", "\(seq)",
                         "--steps", "\(steps)", "--mode", mode.rawValue, "--devices", "\(n)", "--dram", dram,
                         "--sub-group-size", "\(subGroupSize)", "--ssd-dir", directory, "--blas-threads", "\(blasThreads)",
                         "--clock", "wall", "--metrics", metrics]
        let process = Process()
        process.executableURL = Bundle.main.executableURL
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
        guard process.terminationStatus == 0 else {
            throw ValidationError("smartinf \(arguments.joined(separator: " ")) failed: \(String(decoding: stderr, as: UTF8.self))")
        }
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        let seconds = records.dropFirst().compactMap { $0["seconds"] as? [String: Double] }
        guard !seconds.isEmpty else { throw ValidationError("\(metrics): no step after the warm-up") }
        func median(_ values: [Double]) -> Double { Timing.median(values) }
        let forward = median(seconds.map { $0["fw"] ?? 0 })
        let rest = median(seconds.map { ($0["bw"] ?? 0) + ($0["grad_check"] ?? 0) + ($0["update"] ?? 0) })
        return Measured(forward: forward, rest: rest)
    }

    /// The live measurements as a reference set (docs/REFERENCE-SETS.md).
    private func reference(_ rows: [Row], config: GPTConfig) -> String {
        let model = "{\"family\": \"gpt2\", \"layers\": \(config.layers), \"hidden\": \(config.channels), \"heads\": \(config.heads), "
            + "\"seq\": \(seq), \"batch\": \(batch), \"vocabulary\": \(config.paddedVocabSize)}"
        let points = rows.map { r in
            "    {\"model\": \(model), \"devices\": \(r.devices), \"mode\": \"\(r.mode.rawValue)\", "
                + "\"iteration_s\": \(r.measured.total), \"subgroup_elements\": \(subGroupSize)}"
        }
        return "{\n  \"format\": \"smartinf-reference\",\n  \"version\": 1,\n"
            + "  \"source\": \"smartinf model-check: live --clock wall runs of \(modelSpec) on this machine, median of steps 2..\(steps)\",\n"
            + "  \"setup\": {\"host\": \"this-host\", \"device\": \"this-drive\", \"gpu\": \"this-cpu\"},\n"
            + "  \"points\": [\n" + points.joined(separator: ",\n") + "\n  ]\n}\n"
    }
}
