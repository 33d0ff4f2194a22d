import DeepSpeedConfig
import Foundation
import Optim

/// A DeepSpeed-style config read by the reader `smartinf train --config` uses, told back in
/// `smartinf_create`'s keys (`smartinf_read_config`), and DeepSpeed's schedulers evaluated
/// (`smartinf_learning_rate`): a front end such as the Python package's `initialize` takes exactly
/// the keys, types and checks the command takes, and keeps no key list of its own.
enum ConfigTranslation {
    /// The config `json` (named `source` in errors) as a JSON object: the optimizer and offload
    /// settings under `smartinf_create`'s key names (only those the config gives), and
    /// `train_micro_batch_size_per_gpu`, `gradient_accumulation_steps`, `scheduler` (its type),
    /// `ignored_keys` (top-level keys not read).
    static func resolved(json: String, source: String) throws(SessionError) -> String {
        let c = try read(json, source)
        var out: [String: Any] = ["ignored_keys": c.ignoredKeys]
        if let optimizer = c.optimizer {
            out["optimizer"] = optimizer.kind.rawValue
            out["flavour"] = optimizer.flavor.rawValue
        }
        let values: [(String, Any?)] = [
            ("lr", c.learningRate), ("betas", c.betas), ("eps", c.eps), ("weight_decay", c.weightDecay), ("momentum", c.momentum),
            ("max_grad_norm", c.gradientClip.flatMap { $0 > 0 ? $0 : nil }),
            ("precision", c.fp16Enabled == true ? "fp16" : c.bf16Enabled == true ? "bf16" : nil),
            ("devices", c.devices), ("mode", c.mode?.rawValue), ("topk_ratio", c.topkRatio), ("error_feedback", c.errorFeedback),
            ("dram", c.dramBytes.map { "\($0)" }), ("ssd_dir", c.ssdDirectory ?? c.nvmePath), ("subgroup_elements", c.subGroupSize),
            ("queue_depth", c.queueDepth), ("block_size", c.blockSize),
            ("train_micro_batch_size_per_gpu", c.batchSize), ("gradient_accumulation_steps", c.gradientAccumulationSteps),
            ("scheduler", c.scheduler.map(\.typeName)),
        ]
        for case let (key, value?) in values { out[key] = value }
        if let scaling = c.lossScaling {
            let fixed = scaling == DynamicLossScaler.fixed(scaling.initialScale)
            out["loss_scaling"] = ["initial_scale": scaling.initialScale, "dynamic": !fixed, "window": fixed ? 1 : scaling.window,
                                   "hysteresis": fixed ? 1 : scaling.hysteresis, "min_scale": scaling.minimumScale] as [String: Any]
        }
        do {
            return String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self)
        } catch {
            throw .failed("the resolved config cannot be written as JSON: \(error)")
        }
    }

    /// The learning rate of the update after `appliedSteps` applied ones under the config's
    /// `scheduler`; `learningRate` is the optimizer's (WarmupCosineLR's base; the others have
    /// their own `warmup_max_lr`).
    static func learningRate(json: String, learningRate: Double, appliedSteps: Int) throws(SessionError) -> Double {
        guard let schedule = try read(json, "scheduler").scheduler else {
            throw .badArgument("the config has no scheduler section")
        }
        guard appliedSteps >= 0 else { throw .badArgument("applied steps must be ≥ 0, got \(appliedSteps)") }
        return (schedule.scalesTheOptimizersRate ? schedule.peaking(at: learningRate) : schedule).learningRate(appliedSteps: appliedSteps)
    }

    private static func read(_ json: String, _ source: String) throws(SessionError) -> TrainingConfigFile {
        do {
            return try TrainingConfigFile(json: Data(json.utf8), source: source)
        } catch {
            throw .badArgument("\(error)")
        }
    }
}
