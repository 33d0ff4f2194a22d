import Collective

extension TrainingOptions {
    /// These options as rank r of `world` runs them: its devices and journal in `rank-r` of the
    /// SSD directory, the run's output files (metrics) written by rank 0 alone. What a
    /// data-parallel run does not do yet is refused here, naming the flag.
    func forRank(of world: World) throws -> TrainingOptions {
        var options = self
        options.ranks = world.size
        if let rank = hostFault?.rank, rank != world.rank { options.hostFault = nil }
        guard world.size > 1 else { return options }
        let ranks = "a run of \(world.size) ranks"
        if let resume, resume != ssdDirectory {
            throw TrainingError.badOption("--resume \(resume): \(ranks) resumes from its own --ssd-dir (\(ssdDirectory)), where each rank journals in rank-r; not from a checkpoint yet")
        }
        if !attach.isEmpty { throw TrainingError.badOption("--attach: \(ranks) starts its own devices, each rank N of them") }
        if compression.errorFeedback && mode.compresses {
            throw TrainingError.badOption("--error-feedback: \(ranks) does not keep each rank's residuals in checkpoints yet; run su+o+c without it")
        }
        options.ssdDirectory = "\(ssdDirectory)/rank-\(world.rank)"
        if resume != nil { options.resume = options.ssdDirectory }
        if world.rank != 0 { options.metricsPath = nil }
        return options
    }
}
