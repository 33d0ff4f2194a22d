import ArgumentParser
import Benchmarking
import Foundation
import GPT
import HardwareModel
import Plan

/// Profiles of this machine, from its own measurements, for `smartinf model-check`: a host whose
/// "shared link" is the memory bus (host and emulated devices exchange data through memory and
/// one disk), a drive with the disk's rates, shared by every emulated device, and a "GPU" that is
/// the CPU running the GPT-2 trainer with OpenBLAS.
struct ThisMachine {
    let readRate: Double
    let writeRate: Double
    let commandCost: Double
    let updateRate: Double
    let memoryCopy: Double
    let forwardRate: Double
    let backwardRate: Double
    let dram: Int
    let sources: (io: String, optim: String, train: String)

    init(io: [IOBenchmark.Row], optim: [OptimBenchmark.Row], train: [TrainingBenchmark.Row], model: GPTConfig, shape: ModelShape,
         dram: Int) throws {
        func row(_ operation: String, depth: Int) throws -> IOBenchmark.Row {
            guard let row = io.filter({ $0.operation == operation && $0.queueDepth == depth }).first else {
                throw ValidationError("--io: no \(operation) row at queue depth \(depth) (run bench io with --queue-depths 1,16)")
            }
            return row
        }
        let read16 = try row("read", depth: 16), write16 = try row("write", depth: 16), read1 = try row("read", depth: 1)
        readRate = read16.gigabytesPerSecond.median * 1e9
        writeRate = write16.gigabytesPerSecond.median * 1e9
        // One command at depth 1 pays its fixed cost and its transfer; depth 16 hides the cost.
        let block = Double(read1.blockSize)
        commandCost = max(0, block / (read1.gigabytesPerSecond.median * 1e9) - block / readRate)
        guard let adam = optim.filter({ $0.optimizer == "adamw" && $0.states == "fp32" && $0.threads == 1 }).first else {
            throw ValidationError("--optim: no adamw row at 1 thread (run bench optim --optimizer adamw --threads 1)")
        }
        // Our accounting: 16 B of fp32 optimizer input (gradient, p, m, v) per parameter. An
        // engine's CPU work per parameter (a device's, and base's in-process ones) is more than
        // the kernel: it checks the loaded p-and-states slot against its commit and checksums the
        // written one for the next, two CRC32C passes over 12 B. Those run on the loader and the
        // writer as the slot moves, beside the update; but here N device processes, their stage
        // threads and the trainer share two cores, and the model has no CPU sharing, so the
        // device's whole CPU work is charged to its compute stage. Charging the kernel alone
        // under-predicted the live runs by up to 26% (docs/MODEL.md).
        guard let checksumRate = adam.checksumGigabytesPerSecond, checksumRate > 0 else {
            throw ValidationError("--optim: the adamw row has no checksumGigabytesPerSecond (written by an older smartinf): run bench optim again")
        }
        updateRate = 16 / (1 / adam.parametersPerSecond + 2 * 12 / (checksumRate * 1e9))
        memoryCopy = adam.memoryCopyGigabytesPerSecond * 1e9
        guard let step = train.filter({ $0.model == model.initSpec && $0.batchSize == shape.batch && $0.sequenceLength == shape.sequence })
            .min(by: { $0.secondsPerStep < $1.secondsPerStep }) else {
            throw ValidationError("--train: no row for \(model.initSpec) at batch \(shape.batch), seq \(shape.sequence)")
        }
        let flops = shape.forwardFLOPs
        forwardRate = flops / step.forwardSeconds
        // The planner recomputes each block's forward in the backward (activation checkpointing),
        // the CPU trainer does not: the backward rate is the one for which recompute + backward
        // (2× the forward FLOPs) takes the measured backward.
        let recompute = flops / forwardRate
        guard step.backwardSeconds > recompute * 1.01 else {
            throw ValidationError("--train: the backward (\(step.backwardSeconds) s) is not longer than a forward; cannot derive its rate")
        }
        backwardRate = 2 * flops / (step.backwardSeconds - recompute)
        self.dram = dram
        sources = ("smartinf bench io on this machine's disk", "smartinf bench optim (adamw, 1 thread) on this machine",
                   "smartinf bench train \(model.initSpec) batch \(shape.batch) seq \(shape.sequence) on this machine")
    }

    /// Writes the three profiles into `directory`; returns their paths.
    func write(to directory: String) throws -> (host: String, device: String, gpu: String) {
        func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name + ".json").path }
        func rate(_ bytes: Double) -> String { String(format: "%.6gB/s", bytes) }
        func leaf(_ value: String, _ source: String) -> String { "{\"value\": \(value), \"source\": \(JSONValue.quoted(source))}" }
        func q(_ text: String) -> String { JSONValue.quoted(text) }
        let memory = "measured memory copy rate, " + sources.optim
        let host = """
            {
              "schema": 1, "kind": "host",
              "description": "This machine as the host of emulated devices: host and devices exchange data through memory, and every device's SSD file is on this machine's one disk.",
              "link": {"shared": \(leaf(q(rate(memoryCopy)), memory)), "sharedNominal": \(leaf(q(rate(memoryCopy)), memory))},
              "cpu": {"update": \(leaf(q(rate(updateRate)), "measured AdamW kernel plus two CRC32C passes over p, m and v (an engine's CPU work per parameter on these shared cores), × 16 B of fp32 input per parameter, " + sources.optim))},
              "latency": {"command": \(leaf(q("10us"), "assumption: a local socket round trip between processes"))},
              "storage": {"sharedDrive": \(leaf("true", "every emulated device keeps its SSD file in one directory on this machine's disk"))}
            }

            """
        let device = """
            {
              "schema": 1, "kind": "device",
              "description": "An emulated device on this machine: its SSD is a file on this machine's disk (shared by all devices), its FPGA one core running the optimizer kernel.",
              "ssd": {
                "read": \(leaf(q(rate(readRate)), "measured sequential O_DIRECT read at queue depth 16, " + sources.io)),
                "write": \(leaf(q(rate(writeRate)), "measured sequential O_DIRECT write at queue depth 16, " + sources.io)),
                "capacity": \(leaf(q("1TB"), "not used by the plans")),
                "accessLatency": \(leaf(q(String(format: "%.6gs", commandCost)), "measured: a read at queue depth 1 minus its transfer at the depth-16 rate, " + sources.io))
              },
              "pcie": {"port": \(leaf(q(rate(memoryCopy)), memory))},
              "fpga": {
                "peerToPeer": \(leaf(q(rate(memoryCopy)), "the device process reads its file into its own memory: " + memory)),
                "peerToPeerWrite": \(leaf(q(rate(writeRate)), "the device process writes its own file like any writer: the measured write, " + sources.io)),
                "update": \(leaf(q(rate(updateRate)), "the device's CPU work per parameter on this machine's shared cores: the AdamW kernel and the two CRC32C sums of the slot: " + sources.optim)),
                "decompressUpdate": \(leaf(q(rate(updateRate)), "as update (model-check runs no su+o+c)")),
                "dram": \(leaf(q("\(dram)B"), "smartinf train --dram")),
                "chunk": \(leaf(q("\(max(1, dram / 3))B"), "a third of the DRAM: three buffer sets")),
                "launchLatency": \(leaf(q("10us"), "assumption: a function call and a wake-up of the update thread"))
              }
            }

            """
        let peak = max(forwardRate, backwardRate)
        let gpu = """
            {
              "schema": 1, "kind": "gpu",
              "description": "This machine's CPU running the GPT-2 trainer (OpenBLAS), in the place of the GPU.",
              "compute": {
                "peak": \(leaf(q(String(format: "%.6gFLOP/s", peak)), "the faster of the measured forward and backward rates, " + sources.train)),
                "forwardEfficiency": \(leaf(String(format: "%.6g", forwardRate / peak), "measured forward FLOP rate ÷ peak, " + sources.train)),
                "backwardEfficiency": \(leaf(String(format: "%.6g", backwardRate / peak), "measured backward rate (net of the planner's recompute) ÷ peak, " + sources.train)),
                "topkScan": \(leaf(q(rate(memoryCopy)), memory)),
                "launchLatency": \(leaf(q("0s"), "no kernel launches on a CPU"))
              },
              "memory": {"capacity": \(leaf(q("1TB"), "not used by the plans"))},
              "hostTraffic": {
                "link": \(leaf(q(rate(memoryCopy)), memory)),
                "parameterBytes": \(leaf(q("4B"), "the CPU trainer computes on the fp32 parameters in place")),
                "parameterFetches": \(leaf("1", "counted once; over the memory bus it costs almost nothing")),
                "gradientBytes": \(leaf(q("4B"), "fp32 gradients")),
                "activationBytes": \(leaf(q("4B"), "fp32 activations")),
                "offloadActivationCheckpoints": \(leaf("false", "activations stay in memory"))
              }
            }

            """
        let paths = (path("this-host"), path("this-drive"), path("this-cpu"))
        try StudyOutput.write(host, to: paths.0)
        try StudyOutput.write(device, to: paths.1)
        try StudyOutput.write(gpu, to: paths.2)
        return paths
    }
}
