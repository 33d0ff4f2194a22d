import Foundation
import Trainer

/// The DeepSpeed-style training config reader (`TrainingConfigFile.load(path:)`, what
/// `smartinf train --config FILE` runs). Every refusal must be a `TrainingConfigFile.ConfigError`
/// naming the file and the key.
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
          "gradient_clipping": 1.0,
          "optimizer": {"type": "AdamW", "params": {"lr": 0.0003, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}},
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
         "fp16": {"enabled": true, "loss_scale": 128}, "zero_optimization": {"stage": 2}}
        """,
        "{}",
    ]

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let path = scratch.write(input, to: "config.json")
        do {
            _ = try TrainingConfigFile.load(path: path)
            return "ok"
        } catch let error as TrainingConfigFile.ConfigError {
            return try rejection(name, error)
        } catch {
            throw FuzzViolation(name, "TrainingConfigFile.load threw \(type(of: error)), not a ConfigError: \(error)")
        }
    }
}
