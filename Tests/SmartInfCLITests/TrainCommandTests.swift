import Foundation
import Testing

/// Bad input to `smartinf train`: each gets a clear message naming what was wrong, a failing exit
/// status, and leaves no partial output (no metrics file, no checkpoint).
@Suite(.serialized) struct TrainCommandTests {
    let dir = "/var/tmp/smartinf-cli-\(getpid())-\(UUID().uuidString.prefix(6))"

    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let corpus = try SmartInfProcess.run(["corpus", "--out", dir, "--train-bytes", "20000", "--val-bytes", "4000"])
        #expect(corpus.status == 0, "\(corpus.stderr)")
    }

    func train(_ extra: [String], data: String? = nil) throws -> SmartInfProcess.Result {
        try SmartInfProcess.run(["train", "--train-data", data ?? "\(dir)/train.bin", "--steps", "2", "--batch", "2", "--seq", "16",
                                 "--ssd-dir", "\(dir)/ssd", "--dram", "16MiB", "--metrics", "\(dir)/metrics.jsonl",
                                 "--save-checkpoint", "\(dir)/checkpoint"] + extra)
    }

    func expectNoOutputs() {
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/metrics.jsonl"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/checkpoint"))
    }

    /// `--clock virtual --trace`: modeled seconds in the log and the metrics, and a trace that
    /// `replay` and `export` read.
    @Test func virtualClockAndTrace() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try train(["--init", "gpt2:1,2,32,16,256", "--mode", "su+o", "--devices", "2", "--clock", "virtual",
                                "--trace", "\(dir)/run.trace"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("modeled"))
        let first = try JSONSerialization.jsonObject(with: Data(try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n")[0].utf8)) as? [String: Any]
        let modeled = try #require(first?["modeled"] as? [String: Double])
        #expect(Set(modeled.keys) == ["fw", "bw_grad_offload", "update", "iteration_s", "fleet_step"])
        let replay = try SmartInfProcess.run(["replay", "\(dir)/run.trace", "--devices", "4"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let unchanged = try SmartInfProcess.run(["replay", "\(dir)/run.trace", "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(unchanged.stdout.utf8)) as? [String: Any]
        #expect(document?["reproduces_recorded_timeline"] as? Bool == true, "\(unchanged.stdout)")
        let export = try SmartInfProcess.run(["export", "\(dir)/run.trace", "--perfetto", "\(dir)/run.json"])
        #expect(export.status == 0, "\(export.stderr)")
        let bad = try train(["--init", "gpt2:1,2,32,16,256", "--clock", "sundial"])
        #expect(bad.status != 0
                && bad.stderr.contains("The value 'sundial' is invalid for '--clock <clock>'. Please provide one of 'wall', 'virtual' or 'paced'."))
        let dilation = try train(["--init", "gpt2:1,2,32,16,256", "--clock", "paced", "--dilation", "0"])
        #expect(dilation.status != 0 && dilation.stderr.contains("--dilation"))
    }

    /// `--log-level`: by default the run's log lines on standard error read as they always have;
    /// `warning` leaves only trouble (none here); `debug` gives every line its level and metadata,
    /// and reaches the devices the run starts. The output on standard output is the same at
    /// every level.
    @Test func theLogLevelChoosesTheLogLinesOfTheRunAndItsDevices() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ extra: [String]) throws -> SmartInfProcess.Result {
            let result = try train(["--init", "gpt2:1,2,32,16,256", "--mode", "su+o", "--devices", "2"] + extra)
            if !extra.contains("loud") {
                #expect(result.status == 0, "\(extra): \(result.stderr)")
                #expect(result.stdout.contains("step    2/2  loss") && result.stdout.contains("su+o on 2 device(s): loss"), "\(result.stdout)")
            }
            return result
        }
        let plain = try run([]).stderr.split(separator: "\n")
        #expect(plain.first?.hasPrefix("model: GPT-2 L1 H2 C32 T16 V256") == true, "\(plain)")
        #expect(plain.contains("fleet: su+o on 2 device(s), starting"), "\(plain)")
        #expect(!plain.contains { $0.contains("debug") }, "\(plain)")

        let quiet = try run(["--log-level", "warning"])
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")

        let debug = try run(["--log-level", "debug"]).stderr.split(separator: "\n")
        #expect(debug.contains("info: fleet: su+o on 2 device(s), starting"), "\(debug)")
        for device in 0..<2 {
            #expect(debug.contains { $0.hasPrefix("smartssd[device-\(device)]: debug: step 2: ") && $0.hasSuffix("[device=\(device) step=2]") },
                    "\(debug)")
        }

        let bad = try run(["--log-level", "loud"])
        #expect(bad.status != 0 && bad.stderr.contains("The value 'loud' is invalid for '--log-level <log-level>'"), "\(bad.stderr)")
        for level in ["trace", "debug", "info", "notice", "warning", "error", "critical"] {
            #expect(bad.stderr.contains("- \(level)"), "\(bad.stderr)")
        }
        for command in [["soak"], ["bench", "device"], ["bench", "clock"]] {
            #expect(try SmartInfProcess.run(command + ["--help"]).stdout.contains("--log-level <log-level>"), "\(command)")
        }
    }

    @Test func aShortRunTrainsAndSavesItsOutputs() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try train(["--init", "gpt2:1,2,32,16,256", "--mode", "su+o", "--devices", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("su+o on 2 device(s): loss"))
        let lines = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        for key in ["step", "loss", "lr", "loss_scale", "skipped", "grad_norm", "tokens_per_s", "seconds"] {
            #expect(first?[key] != nil, "metrics record lacks \(key)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(dir)/checkpoint/model.bin"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/checkpoint/trainer-state.json"))
    }

    /// A run that diverges (a learning rate of 1e30 overflows the parameters, the loss becomes
    /// NaN) still writes a metrics line per step, its non-finite numbers as strings.
    @Test func aDivergedRunKeepsLoggingItsMetrics() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try train(["--init", "gpt2:1,2,32,16,256", "--mode", "base", "--devices", "1", "--lr", "1e30", "--steps", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let losses = try lines.map { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"]
        }
        #expect(losses.first is NSNumber, "\(losses)")
        #expect(losses.contains { ($0 as? String) == "nan" }, "\(losses)")
    }

    /// `--state-precision 8bit`: the devices' SSD files shrink (per subgroup of 8192: a gradient
    /// slot of 36 KiB and two slots of p, m, v of 32 + 12 + 12 KiB instead of 3 × 32: 65%), the
    /// run trains; a word it does not know is refused naming the flag.
    @Test func eightBitStatesShrinkTheDevicesSSDFiles() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var sizes: [Int] = []
        for precision in [[], ["--state-precision", "8bit", "--state-block", "1024"]] {
            let result = try train(["--init", "gpt2:2,2,64,16,256", "--mode", "su+o", "--devices", "2", "--sub-group-size", "8192"] + precision)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("su+o on 2 device(s): loss"))
            sizes.append(try #require(FileManager.default.attributesOfItem(atPath: "\(dir)/ssd/device-0.ssd")[.size] as? Int))
        }
        #expect(Double(sizes[1]) < 0.66 * Double(sizes[0]), "\(sizes)")
        let bad = try train(["--init", "gpt2:1,2,32,16,256", "--state-precision", "int8"])
        #expect(bad.status != 0 && bad.stderr.contains("--state-precision 'int8': expected fp32 or 8bit"), "\(bad.stderr)")
    }

    /// A DeepSpeed-style config drives the run; flags override it.
    @Test func aDeepSpeedConfigIsReadAndFlagsOverrideIt() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = "\(dir)/ds.json"
        try Data("""
        {"train_micro_batch_size_per_gpu": 2, "gradient_clipping": 1.0, "steps_per_print": 10,
         "optimizer": {"type": "AdamW", "params": {"lr": 0.002, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}},
         "fp16": {"enabled": true, "loss_scale": 0, "initial_scale_power": 12, "loss_scale_window": 100, "hysteresis": 2},
         "zero_optimization": {"stage": 3, "sub_group_size": 2048, "offload_optimizer": {"device": "nvme", "nvme_path": "/unused"}},
         "aio": {"block_size": 262144, "queue_depth": 8},
         "smartinf": {"devices": 3, "mode": "su", "dram": "16MiB"}}
        """.utf8).write(to: URL(fileURLWithPath: config))
        let result = try train(["--init", "gpt2:1,2,32,16,256", "--config", config, "--devices", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("su on 2 device(s)"))   // mode from the file, devices from the flag
        #expect(result.stdout.contains("scale 4096"))           // fp16 with 2^12 from the file
        #expect(result.stderr.contains("ignoring steps_per_print"))
    }

    /// A ZeRO-Infinity config's scheduler and gradient accumulation are honoured, not ignored:
    /// WarmupCosineLR runs the first update at 0 and the second at warmup_min_ratio × lr.
    @Test func aConfigsSchedulerAndAccumulationAreHonoured() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = "\(dir)/ds.json"
        try Data("""
        {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2, "steps_per_print": 10,
         "optimizer": {"type": "AdamW", "params": {"lr": 0.002}},
         "scheduler": {"type": "WarmupCosineLR", "params": {"total_num_steps": 10, "warmup_num_steps": 4, "warmup_min_ratio": 0.5}}}
        """.utf8).write(to: URL(fileURLWithPath: config))
        let result = try train(["--init", "gpt2:1,2,32,16,256", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("step    1/2  loss") && result.stdout.contains("lr 0.00e+00"))
        #expect(result.stdout.contains("lr 1.00e-03"))
        #expect(result.stderr.contains("ignoring steps_per_print"))
        #expect(!result.stderr.contains("scheduler") && !result.stderr.contains("gradient_accumulation_steps"))
    }

    @Test func aConfigKeyOfTheWrongTypeOrUnknownIsNamed() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (json, message) in [
            (#"{"fp16": {"enabled": true, "loss_scale": "dynamic"}}"#, "key 'fp16.loss_scale' must be a number, found the string \"dynamic\""),
            (#"{"smartinf": {"devcies": 2}}"#, "key 'smartinf.devcies' is not known"),
            (#"{"train_micro_batch_size_per_gpu": 2.5}"#, "must be a whole number"),
            (#"{"bf16": {"enabled": 1}}"#, "key 'bf16.enabled' must be true or false"),
            (#"{"smartinf": {"mode": "turbo"}}"#, "key 'smartinf.mode' must be one of base, su, su+o, su+o+c, found the string \"turbo\""),
            (#"{"smartinf": {"dram": "lots"}}"#, "key 'smartinf.dram' must be a size of at least 1MiB"),
            (#"{"optimizer": {"type": "Lamb"}}"#, "key 'optimizer.type' must be one of Adam, AdamW, CPUAdam, DeepSpeedCPUAdam, SGD, Adagrad"),
            (#"[1, 2]"#, "must be a JSON object"),
        ] {
            let config = "\(dir)/bad.json"
            try Data(json.utf8).write(to: URL(fileURLWithPath: config))
            let result = try train(["--init", "gpt2:1,2,32,16,256", "--config", config])
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(json): \(result.stderr)")
            expectNoOutputs()
        }
    }

    @Test func badInputsAreRefusedClearlyWithoutPartialOutputs() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A checkpoint with the wrong magic.
        let badCheckpoint = "\(dir)/bad.bin"
        try Data(repeating: 7, count: 2048).write(to: URL(fileURLWithPath: badCheckpoint))
        // A truncated token file.
        let tokens = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/train.bin"))
        let truncated = "\(dir)/truncated.bin"
        try tokens.prefix(1024 + 100).write(to: URL(fileURLWithPath: truncated))
        let cases: [([String], String?, String)] = [
            (["--checkpoint", badCheckpoint], nil, "magic"),
            (["--init", "gpt2:1,2,32,16,256"], truncated, "truncated"),
            (["--init", "gpt2:1,2,32,8,256"], nil, "sequence"),           // T 16 > maxT 8
            (["--init", "gpt2:1,2,32,16,100"], nil, "token"),              // token ≥ V 100
            (["--init", "gpt2:1,2,32,16,256", "--checkpoint", badCheckpoint], nil, "exclude each other"),
            (["--init", "gpt2:1,2,32,16,256", "--mode", "su+o", "--error-feedback"], nil, "--error-feedback needs --mode su+o+c"),
            (["--init", "gpt2:1,2,32,16,256", "--mode", "turbo"], nil,
             "The value 'turbo' is invalid for '--mode <mode>'. Please provide one of 'base', 'su', 'su+o' or 'su+o+c'."),
            (["--init", "gpt2:1,2,32,16,256", "--attach", "\(dir)/nobody.sock"], nil, "device 0 (\(dir)/nobody.sock) failed: cannot connect"),
            (["--init", "gpt2:1,2,32,16,256", "--mpi-max-count", "0"], nil, "--mpi-max-count must be in 1...2147483647 (an MPI count), got 0"),
            (["--init", "gpt2:1,2,32,16,256", "--precision", "fp8"], nil,
             "The value 'fp8' is invalid for '--precision <precision>'. Please provide one of 'fp32', 'fp16' or 'bf16'."),
            (["--init", "gpt2:1,2,32,16,256", "--lr-schedule", "linear"], nil,
             "The value 'linear' is invalid for '--lr-schedule <lr-schedule>'. Please provide one of 'constant' and 'cosine'."),
            (["--init", "gpt2:1,2,32,16,256", "--on-device-failure", "ignore"], nil,
             "The value 'ignore' is invalid for '--on-device-failure <on-device-failure>'. Please provide one of 'abort' and 'retry'."),
            (["--init", "gpt2:1,2,32,16,256", "--optimizer", "lion"], nil,
             "The value 'lion' is invalid for '--optimizer <optimizer>'. Please provide one of the following:\n  - adamw\n  - adamw:torch\n  - sgd\n  - sgd:torch\n  - adagrad\n  - adagrad:torch"),
        ]
        for (flags, data, message) in cases {
            let result = try train(flags, data: data)
            #expect(result.status != 0, "\(flags) should fail")
            #expect(result.stderr.localizedCaseInsensitiveContains(message), "\(flags): stderr was \(result.stderr)")
            expectNoOutputs()
        }
    }
}
