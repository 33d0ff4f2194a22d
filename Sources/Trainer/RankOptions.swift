import Collective

extension TrainingOptions {
    /// These options as rank r of `world` runs them: its devices (or its part of `--attach`) and
    /// journal in `rank-r` of the SSD directory, the run's output files (metrics, trace) written
    /// by rank 0 alone. What a data-parallel run does not do yet is refused here, naming the flag.
    func forRank(of world: World) throws -> TrainingOptions {
        var options = self
        options.ranks = world.size
        if let rank = hostFault?.rank, rank != world.rank { options.hostFault = nil }
        // The modeled step is one host's: one forward and one backward pass, each rank one host.
        if clock.modeled && gradientAccumulationSteps != world.size {
            throw TrainingFlagError.badValue(option: "--grad-accum", found: "\(gradientAccumulationSteps)", expected: world.size == 1
                ? "1 under --clock virtual or paced or with --trace (the modeled step has one forward and one backward pass)"
                : "\(world.size), one micro-batch per rank, under --clock virtual or with --trace (the modeled step has one forward and one backward pass on each of the \(world.size) hosts the ranks are modeled as)")
        }
        guard world.size > 1 else { return options }
        let ranks = "a run of \(world.size) ranks"
        if clock.kind == .paced {
            throw TrainingError.badOption("--clock paced: \(ranks) does not pace its collectives, so its wall time would not follow the model; use --clock virtual or --trace")
        }
        // An exported checkpoint holds whole vectors, which every rank cuts its part from.
        let exported = resume.map(PortableCheckpoint.isExported) ?? false
        if let resume, resume != ssdDirectory, !exported {
            throw TrainingError.badOption("--resume \(resume): \(ranks) resumes from its own --ssd-dir (\(ssdDirectory)), where each rank journals in rank-r, or from an exported checkpoint on any number of ranks and devices (smartinf checkpoint export \(resume) --out DIR, then --resume DIR)")
        }
        // Devices someone else started: every rank's, in rank order as the partition orders
        // them, and each rank attaches to its own.
        if !attach.isEmpty {
            let all = world.size * devices
            guard attach.count == all else {
                throw TrainingError.badOption("--attach names \(attach.count) socket(s); \(ranks) of --devices \(devices) attaches to \(all), every rank's devices in rank order")
            }
            options.attach = Array(attach[(world.rank * devices)..<((world.rank + 1) * devices)])
        }
        options.ssdDirectory = Self.rankDirectory(world.rank, of: ssdDirectory)
        if resume != nil && !exported { options.resume = options.ssdDirectory }
        // Rank 0 writes the trace: the ranks are modeled as alike hosts, and one stands for all.
        if world.rank != 0 { options.metricsPath = nil; options.clock.tracePath = nil }
        return options
    }

    /// Where rank `rank` of a run keeps its devices and journal: `rank-r` of the run's SSD
    /// directory.
    static func rankDirectory(_ rank: Int, of run: String) -> String { "\(run)/rank-\(rank)" }
}
