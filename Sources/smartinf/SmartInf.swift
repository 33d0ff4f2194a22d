import ArgumentParser

@main
struct SmartInf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smartinf",
        abstract: "Near-storage optimizer offloading (Smart-Infinity) on ordinary machines.",
        subcommands: [Train.self, Corpus.self, Bench.self, Synth.self, Replay.self, Sweep.self, Export.self, CheckpointCommand.self, ReportCommand.self, Validate.self, Calibrate.self, ModelCheck.self, SoakCommand.self, SoakHostCommand.self, CollectiveCheckCommand.self])
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a component against the hardware limit it runs into.",
        subcommands: [BenchOptim.self, BenchTopK.self, BenchIO.self, BenchDevice.self, BenchTrain.self, BenchSim.self, BenchClock.self, BenchCheckpoint.self, BenchCollective.self])
}
