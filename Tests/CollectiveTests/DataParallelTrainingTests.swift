import Foundation
import Offload
import Testing

/// `mpirun -np R smartinf train`: R real ranks, each with its own devices, against one process
/// alone with all the devices and the same micro-batches (docs/SCALE-OUT.md, "The canonical
/// order of a gradient sum"). Tiny models and few steps: the ranks share this machine's cores.
@Suite(.serialized) struct DataParallelTrainingTests {
    /// A directory for one test's runs, removed after it.
    final class Scratch {
        let path = "/var/tmp/smartinf-dp-\(getpid())-\(UUID().uuidString.prefix(8))"
        init() throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let corpus = try MPIJob.run(ranks: nil, ["corpus", "--out", path, "--train-bytes", "40000", "--val-bytes", "4000"])
            #expect(corpus.status == 0, "\(corpus.output)")
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Four micro-batches (unless said otherwise) of 2 sequences per step over 4 devices in all,
    /// whatever the ranks.
    static func train(_ scratch: Scratch, name: String, ranks: Int?, steps: Int = 3, microBatches: Int = 4, extra: [String] = [],
                      mca: [String: String] = [:], placement: MPIJob.Placement = MPIJob.Placement()) throws -> MPIJob {
        let devices = 4 / (ranks ?? 1)
        return try MPIJob.run(ranks: ranks, [
            "train", "--init", "gpt2:1,2,32,16,256", "--train-data", "\(scratch.path)/train.bin", "--batch", "2", "--seq", "16",
            "--grad-accum", "\(microBatches)", "--steps", "\(steps)", "--devices", "\(devices)", "--dram", "16MiB", "--lr", "1e-3",
            "--weight-decay", "0.01", "--grad-clip", "1", "--ssd-dir", "\(scratch.path)/\(name)-ssd",
            "--save-checkpoint", "\(scratch.path)/\(name)", "--metrics", "\(scratch.path)/\(name).jsonl",
        ] + extra, mca: mca, placement: placement)
    }

    /// What a run leaves to compare: its final fp32 parameters (llm.c file), every step's
    /// metrics line (loss, norm, …) without its timings, and its final checkpoint's
    /// error-feedback residuals if it kept them (over ranks, one file of every rank's devices).
    struct Outcome: Equatable {
        var model: Data
        var steps: [[String: String]]
        var residuals: Data?

        init(_ scratch: Scratch, _ name: String) throws {
            let checkpoint = "\(scratch.path)/\(name)"
            model = try #require(FileManager.default.contents(atPath: "\(checkpoint)/model.bin"), "\(name): no model.bin")
            let files = try FileManager.default.contentsOfDirectory(atPath: checkpoint).filter { $0.hasPrefix("error-feedback-") }
            #expect(files.count <= 1, "\(name): residuals of more than one step: \(files)")
            residuals = files.first.flatMap { FileManager.default.contents(atPath: "\(checkpoint)/\($0)") }
            let lines = try String(contentsOfFile: "\(scratch.path)/\(name).jsonl", encoding: .utf8).split(separator: "\n")
            steps = try lines.map { line in
                let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return record.filter { ["step", "loss", "grad_norm", "lr", "skipped"].contains($0.key) }.mapValues { "\($0)" }
            }
        }
    }

    /// R = 1, 2 and 4: the same final parameters to the bit, the same loss and gradient norm at
    /// every step; and rank 0 alone prints the step lines. In su+o; with every collective in
    /// messages of at most 1000 elements (`--mpi-max-count`: each slice in several, the last one
    /// shorter), which rank 0's summary counts; and in su+o+c with error feedback, where each
    /// rank keeps the residuals of its slice and the final checkpoint holds every rank's: the
    /// file the one-rank run writes, byte for byte.
    @Test(arguments: [[], ["--mpi-max-count", "1000"], Self.errorFeedback])
    func ranksGiveTheOneRankRunsBits(flags: [String]) throws {
        let scratch = try Scratch()
        var outcomes: [Int: Outcome] = [:]
        var jobs: [Int: MPIJob] = [:]
        for ranks in [1, 2, 4] {
            let job = try Self.train(scratch, name: "r\(ranks)", ranks: ranks == 1 ? nil : ranks, extra: flags)
            #expect(job.status == 0, "R = \(ranks): \(job.output)")
            #expect(job.stdout.components(separatedBy: "step    1/3").count == 2, "R = \(ranks): \(job.stdout)")
            outcomes[ranks] = try Outcome(scratch, "r\(ranks)")
            jobs[ranks] = job
        }
        let reference = try #require(outcomes[1])
        #expect(reference.steps.count == 3 && reference.steps.allSatisfy { $0.keys.contains("grad_norm") })
        for ranks in [2, 4] {
            #expect(outcomes[ranks]?.steps == reference.steps, "R = \(ranks), \(flags)")
            #expect(outcomes[ranks]?.model == reference.model, "R = \(ranks), \(flags): the final parameters differ")
            #expect(outcomes[ranks]?.residuals == reference.residuals, "R = \(ranks), \(flags): the residuals differ")
        }
        #expect(try Outcome(scratch, "r2").model != Data(), "no parameters written")
        #expect((reference.residuals != nil) == flags.contains("--error-feedback"), "\(flags): residuals kept or not")

        guard let limit = flags.firstIndex(of: "--mpi-max-count").map({ Int(flags[$0 + 1])! }) else { return }
        // Rank 0's messages per step: the other ranks' slices of its gradient (the slices of
        // s elements of 4 devices, the last one shorter), its own slice to each other rank.
        let parameters = (reference.model.count - 1024) / 4
        let s = ((parameters + 3) / 4 + 63) / 64 * 64
        let messages = { (elements: Int) in (elements + limit - 1) / limit }
        let expected = [2: (messages(parameters - 2 * s), messages(2 * s)),
                        4: (2 * messages(s) + messages(parameters - 3 * s), 3 * messages(s))]
        for (ranks, (reduceScatter, allGather)) in expected {
            let line = "reduce-scatter \\S+ sent in \(reduceScatter) message\\(s\\), \\S+ received; all-gather \\S+ sent in \(allGather) message\\(s\\)"
            let pattern = try Regex(line)
            #expect(reduceScatter > 5 && jobs[ranks]?.stdout.contains(pattern) == true, "R = \(ranks): \(line) in \(jobs[ranks]?.stdout ?? "")")
        }
    }

    /// su+o+c in bf16 (top-k on each rank's reduced slice, the sum rounded once into bf16), base,
    /// and 8-bit optimizer states (blocks per device slice): two ranks give the one-rank run's bits.
    @Test(arguments: [["--mode", "su+o+c", "--topk-ratio", "0.1", "--precision", "bf16"], ["--mode", "base"],
                      ["--state-precision", "8bit"]])
    func otherModesGiveTheOneRankRunsBits(mode: [String]) throws {
        let scratch = try Scratch()
        let one = try Self.train(scratch, name: "one", ranks: nil, extra: mode)
        let two = try Self.train(scratch, name: "two", ranks: 2, extra: mode)
        #expect(one.status == 0 && two.status == 0, "\(one.output)\n\(two.output)")
        #expect(try Outcome(scratch, "two") == Outcome(scratch, "one"), "\(mode)")
    }

    /// Two ranks stopped after 2 steps and resumed from their SSD directory (each rank from its
    /// own journal in rank-r) end where an uninterrupted run ends; so do two ranks killed in
    /// step 2 once their devices committed it, their journals at step 1 (a checkpoint there).
    /// With error feedback, whose residuals only checkpoints keep, each rank goes back to the
    /// run's last checkpoint: its own devices' snapshots (the killed run's devices are a step
    /// past it) and its part of the checkpoint's residuals.
    @Test(arguments: [[], Self.errorFeedback])
    func twoRanksResumeFromTheirDevices(flags: [String]) throws {
        let scratch = try Scratch()
        let whole = try Self.train(scratch, name: "whole", ranks: 2, extra: flags)
        let first = try Self.train(scratch, name: "parts", ranks: 2, steps: 2, extra: flags)
        let rest = try Self.train(scratch, name: "parts", ranks: 2, extra: flags + ["--resume", "\(scratch.path)/parts-ssd"])
        for job in [whole, first, rest] { #expect(job.status == 0, "\(job.output)") }
        #expect(FileManager.default.fileExists(atPath: "\(scratch.path)/parts-ssd/rank-1/trainer-state.journal"))
        #expect(try Outcome(scratch, "parts") == Outcome(scratch, "whole"), "\(flags)")

        let killed = try Self.train(scratch, name: "killed", ranks: 2,
                                    extra: flags + ["--checkpoint-every", "1", "--host-fault", "crash@step=2,phase=committed"])
        #expect(killed.status != 0 && killed.output.contains("signal 9"), "\(killed.output)")
        let resumed = try Self.train(scratch, name: "killed", ranks: 2, extra: flags + ["--resume", "\(scratch.path)/killed-ssd"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try Outcome(scratch, "killed") == Outcome(scratch, "whole"), "killed: \(flags)")
        for job in [rest, resumed] where !flags.isEmpty {
            #expect(job.output.contains("going back to the last checkpoint"), "\(job.output)")
        }
    }

    /// A job killed as a whole stops its ranks at slightly different instants: here rank 1's
    /// devices committed step 3 but its journal still says step 2 (its step-2 journal put back
    /// after a run to step 3), while rank 0's says 3. The resume brings rank 0 back to step 2
    /// (its journal's other slot; its devices roll back), redoes step 3 on both, and ends where
    /// the uninterrupted run ends, to the bit. Journals two steps apart are refused by rank.
    @Test func ranksOneStepApartResumeFromTheStepBothHold() throws {
        let scratch = try Scratch()
        let whole = try Self.train(scratch, name: "whole", ranks: 2, steps: 4)
        let first = try Self.train(scratch, name: "parts", ranks: 2, steps: 2)
        let journal = "\(scratch.path)/parts-ssd/rank-1/trainer-state.journal"
        let atStepTwo = try #require(FileManager.default.contents(atPath: journal))
        let second = try Self.train(scratch, name: "parts", ranks: 2, steps: 3, extra: ["--resume", "\(scratch.path)/parts-ssd"])
        try atStepTwo.write(to: URL(fileURLWithPath: journal))
        let rest = try Self.train(scratch, name: "parts", ranks: 2, steps: 4, extra: ["--resume", "\(scratch.path)/parts-ssd"])
        for job in [whole, first, second, rest] { #expect(job.status == 0, "\(job.output)") }
        #expect(rest.output.contains("the ranks' journals stand at steps [3, 2] (rank by rank); this rank goes back to step 2"), "\(rest.output)")
        #expect(try Outcome(scratch, "parts") == Outcome(scratch, "whole"))

        // Rank 1 back at step 2 again while rank 0 stands at 4: no crash leaves that.
        try atStepTwo.write(to: URL(fileURLWithPath: journal))
        let refused = try Self.train(scratch, name: "parts", ranks: 2, steps: 5, extra: ["--resume", "\(scratch.path)/parts-ssd"])
        #expect(refused.status != 0 && refused.output.contains("the ranks' journals stand at steps [4, 2] (rank by rank)"), "\(refused.output)")
    }

    /// su+o+c with error feedback, top 10 %.
    static let errorFeedback = ["--mode", "su+o+c", "--topk-ratio", "0.1", "--error-feedback"]

    /// Resharding over ranks: two ranks of 2 devices stopped after 2 steps, their checkpoint
    /// exported (from the checkpoint directory, and from the SSD directory, every rank's devices
    /// in rank order: the same files), go on from the export on 4 ranks of 1 device and on 1
    /// process with 4, and both end where the uninterrupted one-rank run ends, to the bit. The
    /// run's own checkpoint directory is refused over ranks, saying to export it. With error
    /// feedback the export holds the residuals of every rank's devices, which each rank of the
    /// resumed run cuts its part from.
    @Test(arguments: [[], Self.errorFeedback])
    func anExportedCheckpointResumesOnOtherRanks(flags: [String]) throws {
        let scratch = try Scratch()
        let whole = try Self.train(scratch, name: "whole", ranks: nil, extra: flags)
        let first = try Self.train(scratch, name: "parts", ranks: 2, steps: 2, extra: flags)
        for job in [whole, first] { #expect(job.status == 0, "\(job.output)") }
        let exported = ["from-checkpoint": "\(scratch.path)/parts", "from-ssd": "\(scratch.path)/parts-ssd"]
        let residuals = flags.isEmpty ? ":" : ", with the error-feedback residuals:"
        for (name, source) in exported {
            let export = try MPIJob.run(ranks: nil, ["checkpoint", "export", source, "--out", "\(scratch.path)/\(name)"])
            #expect(export.status == 0 && export.stdout.contains("exported step 2 from 4 device(s)\(residuals)"), "\(export.output)")
        }
        let files = ["model.safetensors", "optimizer.safetensors", "trainer-state.json"] + (flags.isEmpty ? [] : ["error-feedback.safetensors"])
        for file in files {
            let a = FileManager.default.contents(atPath: "\(scratch.path)/from-checkpoint/\(file)")
            #expect(a != nil && a == FileManager.default.contents(atPath: "\(scratch.path)/from-ssd/\(file)"), "\(file)")
        }
        let refused = try Self.train(scratch, name: "parts", ranks: 4, extra: flags + ["--resume", "\(scratch.path)/parts"])
        #expect(refused.status != 0 && refused.output.contains("or from an exported checkpoint on any number of ranks and devices"),
                "\(refused.output)")

        let four = try Self.train(scratch, name: "parts", ranks: 4, extra: flags + ["--resume", "\(scratch.path)/from-checkpoint"])
        let one = try Self.train(scratch, name: "one", ranks: nil, extra: flags + ["--resume", "\(scratch.path)/from-ssd"])
        for job in [four, one] { #expect(job.status == 0, "\(job.output)") }
        let reference = try Outcome(scratch, "whole")
        #expect(try Outcome(scratch, "parts") == reference, "2 ranks, then 4: \(flags)")
        let alone = try Outcome(scratch, "one")
        #expect(alone.model == reference.model && alone.steps == [reference.steps[2]] && alone.residuals == reference.residuals,
                "2 ranks, then 1: \(flags)")
    }

    /// `--attach` over ranks: four devices started beforehand and named in rank order, two
    /// ranks of two attach to their own and end with the bits of one process that starts its own
    /// four; a list of another length is refused, naming the flag.
    @Test func ranksAttachToTheirPartOfTheDevices() throws {
        let scratch = try Scratch()
        let devices = try DeviceProcesses(DeviceProcesses.Options(count: 4, directory: "\(scratch.path)/devices", dram: "16MiB"))
        defer { devices.terminate() }
        let refused = try Self.train(scratch, name: "refused", ranks: 2, extra: ["--attach"] + devices.socketPaths.prefix(3))
        #expect(refused.status != 0 && refused.output.contains("--attach names 3 socket(s); a run of 2 ranks of --devices 2 attaches to 4"),
                "\(refused.output)")
        let attached = try Self.train(scratch, name: "attached", ranks: 2, extra: ["--attach"] + devices.socketPaths)
        let alone = try Self.train(scratch, name: "alone", ranks: nil)
        #expect(attached.status == 0 && alone.status == 0, "\(attached.output)\n\(alone.output)")
        // The ranks started no devices of their own: rank 0's checkpoint names the snapshots
        // of the first two devices started beforehand.
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/attached-ssd/rank-1/device-0.ssd"))
        let state = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: "\(scratch.path)/attached/trainer-state.json")))
        let snapshots = try #require((state as? [String: Any])?["snapshots"] as? [String])
        #expect(snapshots.count == 2 && zip(snapshots, 0...).allSatisfy { $0.hasPrefix("\(scratch.path)/devices/device-\($1).") }, "\(snapshots)")
        #expect(try Outcome(scratch, "attached") == Outcome(scratch, "alone"))
    }

    /// A device that crashes on every rank in step 2 (device 0 of each, `--device-fault`) is
    /// recovered inside its rank under `--on-device-failure retry`; the others wait in the
    /// all-gather, and the run ends with the undisturbed one-rank run's bits.
    @Test func aDeviceFailureOnTheRanksIsRecoveredWithoutDiverging() throws {
        let scratch = try Scratch()
        let reference = try Self.train(scratch, name: "reference", ranks: nil)
        let disturbed = try Self.train(scratch, name: "disturbed", ranks: 2,
                                       extra: ["--device-fault", "0:crash@step=2,phase=write_m", "--on-device-failure", "retry"])
        #expect(reference.status == 0 && disturbed.status == 0, "\(reference.output)\n\(disturbed.output)")
        #expect(disturbed.output.contains("recovering device 0"), "\(disturbed.output)")
        #expect(try Outcome(scratch, "disturbed") == Outcome(scratch, "reference"))
    }

    /// A rank that dies (SIGKILL in step 2's backward pass, rank 1 only) stops the job: mpirun
    /// names the rank, and the others do not wait for it in a collective.
    @Test func aDeadRankStopsTheJobNamingIt() throws {
        let scratch = try Scratch()
        let job = try Self.train(scratch, name: "dead", ranks: 2, extra: ["--host-fault", "crash@step=2,phase=backward,rank=1"])
        #expect(job.status != 0)
        #expect(job.output.contains("process rank 1") && job.output.contains("signal 9"), "\(job.output)")
        #expect(job.seconds < 30, "the job took \(job.seconds) s to stop")
    }

    /// A two-rank run's trace (`--trace`, written by rank 0, one micro-batch per rank) is a trace
    /// of 2 hosts: `replay` times it again as recorded, on the many-hosts machine, and its
    /// network carries per step exactly the theory's 2(R − 1)/R × 4 B per parameter (fp32
    /// gradient out, fp32 copy in, R = 2), which is also what Open MPI's monitoring says rank 0
    /// sent, less the statistics' scalars; `--hosts 4` re-plans it for four.
    @Test func aTwoRankTraceReplaysOnTwoHosts() throws {
        let scratch = try Scratch()
        let trace = "\(scratch.path)/run.trace"
        let steps = 2
        let job = try Self.train(scratch, name: "traced", ranks: 2, steps: steps, microBatches: 2, extra: ["--trace", trace],
                                 mca: ["pml_monitoring_enable": "1", "pml_monitoring_enable_output": "1"])
        #expect(job.status == 0, "\(job.output)")
        #expect(job.stdout.contains("modeled on 2 hosts, each hpca24-host + 2 × smartssd"), "\(job.stdout)")
        let parameters = (try Outcome(scratch, "traced").model.count - 1024) / 4
        let perStep = parameters * 4

        func replay(_ arguments: [String]) throws -> [String: Any] {
            let run = try MPIJob.run(ranks: nil, ["replay", trace, "--json"] + arguments)
            #expect(run.status == 0, "\(run.output)")
            return try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.output)")
        }
        let replayed = try replay([])
        let result = try #require(replayed["result"] as? [String: Any])
        #expect(result["hosts"] as? Int == 2 && replayed["reproduces_recorded_timeline"] as? Bool == true, "\(replayed)")
        let bytes = try #require(result["bytes"] as? [String: Any])
        #expect(bytes["network"] as? Double == Double(perStep), "network \(bytes["network"] ?? "none") B, theory \(perStep) B")
        #expect((result["network_busy_s"] as? Double ?? 0) > 0)

        // Rank 0's line of Open MPI's monitoring: all it sent, the collectives and per step one
        // loss and two devices' Σg² and finiteness flags (5 doubles) to the other rank.
        let sent = job.stdout.matches(of: /(?m)^[EI]\t0\t1\t(\d+) bytes/).reduce(0) { $0 + Int($1.output.1)! }
        #expect(sent == steps * (perStep + 5 * 8), "Open MPI counted \(sent) B sent by rank 0")

        let four = try replay(["--hosts", "4"])
        #expect((four["result"] as? [String: Any])?["hosts"] as? Int == 4 && four["replanned"] as? Bool == true)
    }

    /// Over ranks the modeled step is one host's, one micro-batch per rank; more are refused
    /// naming the flag, as is the paced clock, whose collectives would not follow the model.
    @Test func aModeledRunHasOneMicroBatchPerRank() throws {
        let scratch = try Scratch()
        let four = try Self.train(scratch, name: "four", ranks: 2, extra: ["--clock", "virtual"])
        #expect(four.status != 0)
        #expect(four.output.contains("--grad-accum 4: expected 2, one micro-batch per rank, under --clock virtual or with --trace"), "\(four.output)")
        let paced = try Self.train(scratch, name: "paced", ranks: 2, microBatches: 2, extra: ["--clock", "paced"])
        #expect(paced.status != 0)
        #expect(paced.output.contains("--clock paced: a run of 2 ranks does not pace its collectives"), "\(paced.output)")
    }

    /// Micro-batches that do not split evenly over the ranks are refused, naming the flag and the
    /// rank, and the job stops.
    @Test func microBatchesMustBeAMultipleOfTheRanks() throws {
        let scratch = try Scratch()
        let job = try Self.train(scratch, name: "uneven", ranks: 3)
        #expect(job.status != 0)
        #expect(job.output.contains("--grad-accum 4 must be a multiple of the 3 ranks"), "\(job.output)")
        // Every rank refuses; whichever's message mpirun shows first ends the job (the others may
        // be gone before they print), so the message names some rank.
        #expect((0..<3).contains { job.output.contains("rank \($0) of 3: smartinf train:") }, "\(job.output)")
    }
}
