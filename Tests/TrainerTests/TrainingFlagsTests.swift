import DeepSpeedConfig
import Foundation
import OffloadVocabulary
import Optim
import Testing
import Trainer

/// `smartinf train`'s flags meeting a DeepSpeed-style config file, read from a real file: a flag
/// wins over the file, the file over the default, and a value no run can use is refused with a
/// typed error naming the flag (or, for the file, the key) and what it takes.
@Suite struct TrainingFlagsTests {
    let dir = RunDirectory()

    func file(_ json: String) throws -> TrainingConfigFile {
        let path = "\(dir.path)/ds.json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return try TrainingConfigFile.load(path: path)
    }

    func flags(_ edit: (inout TrainingFlags) -> Void = { _ in }) -> TrainingFlags {
        var f = TrainingFlags(trainData: "train.bin")
        f.initSpec = "gpt2:1,2,32,16,256"
        edit(&f)
        return f
    }

    @Test func withoutAFileEveryValueIsTheDefault() throws {
        let o = try TrainingOptions(flags: flags())
        #expect(o.model == .initialize(spec: "gpt2:1,2,32,16,256", seed: 1337))
        #expect(o.mode == .suO && o.devices == 1 && o.batchSize == 4 && o.sequenceLength == 64 && o.steps == 10)
        #expect(o.dramBytes == 1 << 30 && o.ssdDirectory == "/var/tmp/smartinf-ssd" && o.shuffleSeed == 42)
        #expect(o.precision == .fp32 && o.lossScaling == nil && o.gradientClip == nil)
        #expect(o.optimizer == .adamw(AdamWHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0)))
        #expect(o.schedule == .constant(3e-4))
        #expect(o.compression.ratio == 0.01 && !o.compression.errorFeedback)
        #expect(o.onDeviceFailure == .abort && o.clock.kind == .wall && o.clock.dilation == 1)
        #expect(o.statePrecision == .fp32)
    }

    /// `--state-precision` and `--state-block`, or `smartinf.state_precision` and
    /// `smartinf.state_block` in the file: the flag wins; a bad word, a block that is no power of
    /// two in 64...65536, a block without 8-bit states, a subgroup that holds no whole blocks are
    /// refused naming the flag.
    @Test func statePrecisionComesFromTheFlagsOrTheFile() throws {
        #expect(try TrainingOptions(flags: flags { $0.statePrecision = "8bit" }).statePrecision == .blockwise8(blockSize: 2048))
        #expect(try TrainingOptions(flags: flags { $0.statePrecision = "8bit"; $0.stateBlock = 256 }).statePrecision == .blockwise8(blockSize: 256))
        let config = try file(#"{"smartinf": {"state_precision": "8bit", "state_block": 4096}}"#)
        #expect(try TrainingOptions(flags: flags(), file: config).statePrecision == .blockwise8(blockSize: 4096))
        #expect(try TrainingOptions(flags: flags { $0.statePrecision = "fp32"; $0.stateBlock = nil }, file: try file(#"{"smartinf": {"state_precision": "8bit"}}"#)).statePrecision == .fp32)
        let cases: [(TrainingFlags, TrainingFlagError)] = [
            (flags { $0.statePrecision = "int8" }, .badValue(option: "--state-precision", found: "'int8'", expected: "fp32 or 8bit")),
            (flags { $0.statePrecision = "8bit"; $0.stateBlock = 1000 },
             .badValue(option: "--state-block", found: "1000", expected: "a power of two from 64 to 65536 (default 2048)")),
            (flags { $0.stateBlock = 1024 }, .needs(option: "--state-block", requirement: "--state-precision 8bit")),
            (flags { $0.statePrecision = "8bit"; $0.subgroupElements = 3000 },
             .badValue(option: "--sub-group-size", found: "3000", expected: "a multiple of the 8-bit states' block (--state-block 2048), or 0 (the devices choose)")),
        ]
        for (f, error) in cases {
            #expect(throws: error) { try TrainingOptions(flags: f) }
        }
    }

    /// `--resume` of a run's SSD directory (it holds the trainer journal) is where the devices
    /// are: `--ssd-dir` need not be given again; a checkpoint directory is not.
    @Test func resumingARunsSSDDirectoryTakesItAsTheSSDDirectory() throws {
        let dir = RunDirectory()
        try FileManager.default.createDirectory(atPath: "\(dir.path)/ssd", withIntermediateDirectories: true)
        _ = try TrainerJournal(directory: "\(dir.path)/ssd", state: TrainerState.decode(Data("""
            {"steps_done": 3, "applied_steps": 3, "mode": "su+o", "optimizer": "adamw", "devices": 1, "ssd_dir": "\(dir.path)/ssd",
             "subgroup_elements": 0}
            """.utf8), from: "test"))
        #expect(try TrainingOptions(flags: flags { $0.resume = "\(dir.path)/ssd" }).ssdDirectory == "\(dir.path)/ssd")
        #expect(try TrainingOptions(flags: flags { $0.resume = dir.path }).ssdDirectory == "/var/tmp/smartinf-ssd")
        #expect(try TrainingOptions(flags: flags { $0.resume = "\(dir.path)/ssd"; $0.ssdDirectory = "/elsewhere" }).ssdDirectory == "/elsewhere")
    }

    @Test func flagsWinOverTheFileAndTheFileOverTheDefaults() throws {
        let config = try file("""
        {"train_micro_batch_size_per_gpu": 2, "gradient_clipping": 1.0,
         "optimizer": {"type": "CPUAdam", "params": {"lr": 0.002, "betas": [0.8, 0.95], "eps": 1e-6, "weight_decay": 0.1}},
         "fp16": {"enabled": true, "loss_scale": 0, "initial_scale_power": 12, "loss_scale_window": 100},
         "zero_optimization": {"sub_group_size": 2048, "offload_optimizer": {"device": "nvme", "nvme_path": "/nvme"}},
         "aio": {"block_size": 262144, "queue_depth": 8},
         "smartinf": {"devices": 3, "mode": "su+o+c", "topk_ratio": 0.05, "error_feedback": true, "dram": "16MiB"}}
        """)
        let o = try TrainingOptions(flags: flags {
            $0.devices = 2
            $0.beta1 = 0.7
            $0.dram = "32MiB"
        }, file: config)
        #expect(o.devices == 2 && o.dramBytes == 32 << 20)
        #expect(o.mode == .suOC && o.batchSize == 2 && o.subgroupElements == 2048 && o.ssdDirectory == "/nvme")
        #expect(o.queueDepth == 8 && o.blockSize == 262_144 && o.gradientClip == 1)
        #expect(o.compression.ratio == 0.05 && o.compression.errorFeedback)
        #expect(o.optimizer == .adamw(AdamWHyperparameters(beta1: Float(0.7 as Double), beta2: Float(0.95 as Double),
                                                          eps: Float(1e-6 as Double), weightDecay: Float(0.1 as Double))))
        #expect(o.schedule == .constant(0.002))
        #expect(o.precision == .fp16)
        #expect(o.lossScaling?.initialScale == 4096 && o.lossScaling?.window == 100)

        let flagged = try TrainingOptions(flags: flags {
            $0.mode = .su
            $0.precision = .bf16
            $0.optimizer = .sgd(SGDHyperparameters(), .torch)
            $0.errorFeedback = false
        }, file: try file(#"{"smartinf": {"mode": "su+o+c", "dram": "64MiB"}, "optimizer": {"params": {"momentum": 0.5}}}"#))
        #expect(flagged.mode == .su && flagged.precision == .bf16 && flagged.dramBytes == 64 << 20)
        #expect(flagged.optimizer == .sgd(SGDHyperparameters(momentum: 0.5), .torch))
    }

    @Test func deepSpeedAndOurOptimizerNamesAreRead() throws {
        for (type, expected) in [("Adam", OptimizerKind.adamw), ("DeepSpeedCPUAdam", .adamw), ("SGD", .sgd), ("Adagrad", .adagrad),
                                 ("adagrad:torch", .adagrad)] {
            #expect(try file(#"{"optimizer": {"type": "\#(type)"}}"#).optimizer?.kind == expected, "\(type)")
        }
    }

    @Test func theCosineScheduleEndsAtTheLastStep() throws {
        let o = try TrainingOptions(flags: flags {
            $0.schedule = .cosine
            $0.learningRate = 1e-3
            $0.minimumLearningRate = 1e-4
            $0.warmupSteps = 3
            $0.steps = 20
        })
        #expect(o.schedule == .warmupCosine(peak: 1e-3, minimum: 1e-4, warmupSteps: 3, totalSteps: 20))
        let retry = try TrainingOptions(flags: flags { $0.onDeviceFailure = .retry; $0.maxRetries = 2 })
        #expect(retry.onDeviceFailure == .retry(maxRetries: 2))
    }

    /// The config's `scheduler` is DeepSpeed's; `--lr-schedule` replaces it, `--lr` is its peak
    /// (WarmupLR's maximum, WarmupCosineLR's base, which is otherwise the optimizer's lr).
    @Test func theConfigsSchedulerIsDeepSpeedsAndFlagsOverrideIt() throws {
        let warmup = try file("""
        {"scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": 1e-5, "warmup_max_lr": 2e-3, "warmup_num_steps": 30,
                                                      "warmup_type": "linear"}}}
        """)
        let expected = DeepSpeedSchedule(.warmup(minimum: 1e-5, maximum: 2e-3), warmupSteps: 30, warmupType: .linear)
        #expect(warmup.ignoredKeys.isEmpty)
        #expect(try TrainingOptions(flags: flags(), file: warmup).schedule == .deepSpeed(expected))
        #expect(try TrainingOptions(flags: flags { $0.learningRate = 5e-3 }, file: warmup).schedule
                == .deepSpeed(expected.peaking(at: 5e-3)))
        #expect(try TrainingOptions(flags: flags { $0.schedule = .constant; $0.learningRate = 1e-3 }, file: warmup).schedule
                == .constant(1e-3))

        let cosine = try file("""
        {"optimizer": {"type": "AdamW", "params": {"lr": 6e-4}},
         "scheduler": {"type": "WarmupCosineLR", "params": {"total_num_steps": 100, "warmup_num_steps": 10}}}
        """)
        let cosineSchedule = DeepSpeedSchedule(.warmupCosine(base: 6e-4, warmupMinimumRatio: 0, cosineMinimumRatio: 1e-4, totalSteps: 100),
                                               warmupSteps: 10)
        #expect(try TrainingOptions(flags: flags(), file: cosine).schedule == .deepSpeed(cosineSchedule))
        #expect(try TrainingOptions(flags: flags { $0.learningRate = 1e-3 }, file: cosine).schedule
                == .deepSpeed(cosineSchedule.peaking(at: 1e-3)))
        let decay = try file(#"{"scheduler": {"type": "WarmupDecayLR", "params": {"total_num_steps": 50}}}"#)
        #expect(decay.scheduler == DeepSpeedSchedule(.warmupDecay(minimum: 0, maximum: 0.001, totalSteps: 50), warmupSteps: 1000))
    }

    /// DeepSpeed's three batch keys resolve as DeepSpeed resolves them on one rank; `--batch`
    /// and `--grad-accum` win.
    @Test func batchKeysResolveAsDeepSpeedsAndFlagsWin() throws {
        for (json, micro, steps) in [
            (#"{"train_batch_size": 32, "train_micro_batch_size_per_gpu": 8}"#, 8, 4),
            (#"{"train_batch_size": 32, "gradient_accumulation_steps": 2}"#, 16, 2),
            (#"{"train_batch_size": 12}"#, 12, 1),
            (#"{"train_micro_batch_size_per_gpu": 3, "gradient_accumulation_steps": 5}"#, 3, 5),
            (#"{"train_batch_size": 15, "train_micro_batch_size_per_gpu": 3, "gradient_accumulation_steps": 5}"#, 3, 5),
        ] {
            let o = try TrainingOptions(flags: flags(), file: try file(json))
            #expect(o.batchSize == micro && o.gradientAccumulationSteps == steps, "\(json)")
        }
        let o = try TrainingOptions(flags: flags { $0.batchSize = 2; $0.gradientAccumulationSteps = 3 },
                                    file: try file(#"{"train_micro_batch_size_per_gpu": 8, "gradient_accumulation_steps": 4}"#))
        #expect(o.batchSize == 2 && o.gradientAccumulationSteps == 3)
        #expect(try TrainingOptions(flags: flags()).gradientAccumulationSteps == 1)
    }

    @Test func unusableFlagsAreRefusedNamingThem() throws {
        let cases: [(TrainingFlags, TrainingFlagError)] = [
            (flags { $0.initSpec = nil }, .noModel),
            (flags { $0.checkpoint = "model.bin" }, .twoModels),
            (flags { $0.errorFeedback = true }, .needs(option: "--error-feedback", requirement: "--mode su+o+c")),
            (flags { $0.checkpointEvery = 5 }, .needs(option: "--checkpoint-every", requirement: "--save-checkpoint DIR")),
            (flags { $0.saveCheckpoint = "run"; $0.checkpointModelFile = true },
             .needs(option: "--checkpoint-model-file", requirement: "--checkpoint-every N (the final checkpoint always writes model.bin)")),
            (flags { $0.dram = "512KiB" }, .badValue(option: "--dram", found: "'512KiB'", expected: "a size of at least 1MiB (example: 1GiB)")),
            (flags { $0.steps = 0 }, .badValue(option: "--steps", found: "0", expected: "at least 1")),
            (flags { $0.topkRatio = 1.5 }, .badValue(option: "--topk-ratio", found: "1.5", expected: "a fraction in (0, 1]")),
            (flags { $0.onDeviceFailure = .retry; $0.maxRetries = 0 },
             .badValue(option: "--max-retries", found: "0", expected: "at least 1")),
            (flags { $0.deviceFaults = ["1:crash@step=2"] },
             .badValue(option: "--device-fault", found: "'1:crash@step=2'", expected: "I:SPEC with a device index 0..<1")),
            (flags { $0.dilation = 0 }, .badValue(option: "--dilation", found: "0.0", expected: "a positive number")),
            (flags { $0.gradientAccumulationSteps = 0 }, .badValue(option: "--grad-accum", found: "0", expected: "at least 1")),
        ]
        for (f, error) in cases {
            #expect(throws: error) { try TrainingOptions(flags: f) }
        }
        // The modeled step's one forward and backward pass per rank: refused once the ranks are
        // known, as the run starts (here a world of one).
        let accumulated = try TrainingOptions(flags: flags { $0.gradientAccumulationSteps = 2; $0.clock = .virtual })
        #expect(throws: TrainingFlagError.badValue(
            option: "--grad-accum", found: "2",
            expected: "1 under --clock virtual or paced or with --trace (the modeled step has one forward and one backward pass)")) {
            try TrainingRun(accumulated)
        }
        #expect(TrainingFlagError.needs(option: "--error-feedback", requirement: "--mode su+o+c").description
                == "--error-feedback needs --mode su+o+c")
        // With a resume directory the model comes from it.
        #expect(try TrainingOptions(flags: flags { $0.initSpec = nil; $0.resume = "run" }).model == .checkpoint("run/model.bin"))
        // Error feedback in the file needs su+o+c too, whichever source the mode comes from.
        #expect(throws: TrainingFlagError.needs(option: "--error-feedback", requirement: "--mode su+o+c")) {
            try TrainingOptions(flags: flags { $0.mode = .suO }, file: try file(#"{"smartinf": {"mode": "su+o+c", "error_feedback": true}}"#))
        }
    }

    @Test(arguments: [
        (#"{"smartinf": {"mode": "turbo"}}"#, "smartinf.mode", "must be one of base, su, su+o, su+o+c, found the string \"turbo\""),
        (#"{"smartinf": {"dram": "lots"}}"#, "smartinf.dram", "must be a size of at least 1MiB such as \"1GiB\", found the string \"lots\""),
        (#"{"smartinf": {"dram": "512KiB"}}"#, "smartinf.dram", "must be a size of at least 1MiB such as \"1GiB\", found the string \"512KiB\""),
        (#"{"optimizer": {"type": "Lamb"}}"#, "optimizer.type",
         "must be one of Adam, AdamW, CPUAdam, DeepSpeedCPUAdam, SGD, Adagrad or adamw, adamw:torch, sgd, sgd:torch, adagrad, adagrad:torch, found the string \"Lamb\""),
        (#"{"scheduler": {"type": "OneCycle"}}"#, "scheduler.type",
         "must be one of WarmupLR, WarmupDecayLR, WarmupCosineLR, found the string \"OneCycle\""),
        (#"{"scheduler": {"params": {}}}"#, "scheduler.type", "is missing; expected one of WarmupLR, WarmupDecayLR, WarmupCosineLR"),
        (#"{"scheduler": {"type": "WarmupDecayLR"}}"#, "scheduler.params.total_num_steps",
         "is missing; WarmupDecayLR needs the run's total steps"),
        (#"{"scheduler": {"type": "WarmupCosineLR", "params": {"total_num_steps": 10, "warmup_num_steps": 10}}}"#,
         "scheduler.params.total_num_steps", "must exceed warmup_num_steps (10), found 10"),
        (#"{"scheduler": {"type": "WarmupLR", "params": {"warmup_type": "exp"}}}"#, "scheduler.params.warmup_type",
         "must be log or linear, found the string \"exp\""),
        (#"{"scheduler": {"type": "WarmupLR", "params": {"total_num_steps": 10}}}"#, "scheduler.params.total_num_steps",
         "is not known; expected one of warmup_max_lr, warmup_min_lr, warmup_num_steps, warmup_type"),
        (#"{"scheduler": {"type": "WarmupLR", "params": {"warmup_max_lr": "1e-3"}}}"#, "scheduler.params.warmup_max_lr",
         "must be a number, found the string \"1e-3\""),
        (#"{"train_batch_size": 10, "train_micro_batch_size_per_gpu": 4}"#, "train_batch_size",
         "must equal train_micro_batch_size_per_gpu × gradient_accumulation_steps (one rank), found 10 ≠ 4 × 2"),
        (#"{"train_batch_size": 8, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 3}"#, "train_batch_size",
         "must equal train_micro_batch_size_per_gpu × gradient_accumulation_steps (one rank), found 8 ≠ 2 × 3"),
        (#"{"train_batch_size": 4, "gradient_accumulation_steps": 8}"#, "train_batch_size",
         "must equal train_micro_batch_size_per_gpu × gradient_accumulation_steps (one rank), found 4 ≠ 0 × 8"),
        (#"{"gradient_accumulation_steps": 0}"#, "gradient_accumulation_steps", "must be a number ≥ 1.0, found 0.0"),
    ])
    func badConfigWordsAreRefusedNamingTheKeyAndTheValues(json: String, key: String, problem: String) throws {
        do {
            _ = try file(json)
            Issue.record("\(json) was read")
        } catch let error as TrainingConfigFile.ConfigError {
            #expect(error.key == key)
            #expect(error.problem == problem)
        }
    }
}
