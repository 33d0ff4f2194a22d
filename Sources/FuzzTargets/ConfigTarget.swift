import DeepSpeedConfig
import Foundation
import GPT
import SeededRandom
import Trainer

/// The DeepSpeed-style training config reader (`TrainingConfigFile.load(path:)`, what
/// `smartinf train --config FILE` runs). Every refusal must be a `TrainingConfigFile.ConfigError`
/// naming the file and the key. A config's micro-batch size then meets a model in `BatchShape`
/// (GPT-2 small at its full 1024 positions, as `train` would make it): it must make a batch whose
/// token count and activations are counted without overflow, or be refused as a `BatchError`.
public final class ConfigTarget: FuzzTarget {
    public let name = "config"
    public var isText: Bool { true }
    private let scratch: ScratchDirectory

    public init() throws {
        scratch = try ScratchDirectory("config")
    }

    public func seeds() throws -> [[UInt8]] {
        Self.documents.map { Array($0.utf8) }
    }

    static let documents = [
        // Every key the reader knows.
        """
        {
          "train_micro_batch_size_per_gpu": 8,
          "gradient_accumulation_steps": 4,
          "train_batch_size": 32,
          "gradient_clipping": 1.0,
          "optimizer": {"type": "AdamW", "params": {"lr": 0.0003, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}},
          "scheduler": {"type": "WarmupDecayLR", "params": {"warmup_min_lr": 0, "warmup_max_lr": 0.0003, "warmup_num_steps": 100,
                                                            "warmup_type": "linear", "total_num_steps": 1000}},
          "fp16": {"enabled": true, "loss_scale": 0, "initial_scale_power": 16, "loss_scale_window": 1000, "hysteresis": 2,
                   "min_loss_scale": 1},
          "bf16": {"enabled": false},
          "zero_optimization": {"stage": 3, "sub_group_size": 1000000000,
                                "offload_optimizer": {"device": "nvme", "nvme_path": "/local_nvme", "pin_memory": true}},
          "aio": {"block_size": 1048576, "queue_depth": 16, "single_submit": false},
          "smartinf": {"devices": 4, "mode": "su+o+c", "topk_ratio": 0.01, "error_feedback": true, "dram": "4GiB",
                       "ssd_dir": "/var/tmp/smartinf-ssd"},
          "steps_per_print": 10,
          "wall_clock_breakdown": false
        }
        """,
        // SGD with momentum, static loss scale, DeepSpeed keys this reader ignores.
        """
        {"train_batch_size": 32, "optimizer": {"type": "SGD", "params": {"lr": 0.1, "momentum": 0.9}},
         "scheduler": {"type": "WarmupCosineLR", "params": {"total_num_steps": 500, "warmup_num_steps": 50, "warmup_min_ratio": 0.1,
                                                            "cos_min_ratio": 0.01}},
         "fp16": {"enabled": true, "loss_scale": 128}, "zero_optimization": {"stage": 2}}
        """,
        "{}",
    ]

    /// Sets the micro-batch size to an edge value: zero, negative, at the activation bound for
    /// GPT-2 small, and beyond Int once multiplied by the sequence length.
    public func mutate(_ input: inout [UInt8], _ random: inout SplitMix64) -> Bool {
        guard var config = (try? JSONSerialization.jsonObject(with: Data(input))) as? [String: Any] else { return false }
        config["train_micro_batch_size_per_gpu"] = pick([0, -1, 1, 1 << 10, 1 << 14, 1 << 20, 1 << 30, 1 << 53, 1 << 62,
                                                         Int.max, Int.min], &random)
        guard let data = try? JSONSerialization.data(withJSONObject: config) else { return false }
        input = [UInt8](data)
        return true
    }

    static let gpt2Small = GPTConfig(maxSeqLen: 1024, vocabSize: 50257, layers: 12, heads: 12, channels: 768)

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let path = scratch.write(input, to: "config.json")
        do {
            let config = try TrainingConfigFile.load(path: path)
            if let batchSize = config.batchSize {
                let shape: BatchShape
                do throws(BatchError) {
                    shape = try BatchShape(batchSize: batchSize, sequenceLength: 1024, config: Self.gpt2Small)
                } catch {
                    return try rejection(name, error)
                }
                guard shape.tokenCount == batchSize * 1024 else { throw FuzzViolation(name, "\(shape) miscounts its tokens") }
            }
            return "ok"
        } catch let violation as FuzzViolation {
            throw violation
        } catch let error as TrainingConfigFile.ConfigError {
            return try rejection(name, error)
        } catch {
            throw FuzzViolation(name, "TrainingConfigFile.load threw \(type(of: error)), not a ConfigError: \(error)")
        }
    }
}
