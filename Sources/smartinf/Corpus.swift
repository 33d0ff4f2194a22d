import ArgumentParser
import Foundation
import Trainer

struct Corpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the shipped synthetic corpus (train.bin, val.bin; llm.c token files, byte vocabulary of 256).")

    @Option(help: "Directory to write into.")
    var out: String

    @Option(name: .customLong("train-bytes"), help: "Training tokens (bytes of text).")
    var trainBytes: Int = 400_000

    @Option(name: .customLong("val-bytes"), help: "Validation tokens.")
    var valBytes: Int = 40_000

    @Option(help: "Seed of the sentence generator.")
    var seed: UInt64 = 1

    func run() throws {
        guard trainBytes >= 1024, valBytes >= 1024 else { throw ValidationError("--train-bytes and --val-bytes must be at least 1024") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try SyntheticCorpus.write(to: out, trainBytes: trainBytes, validationBytes: valBytes, seed: seed)
        print("wrote \(out)/train.bin (\(trainBytes) tokens) and \(out)/val.bin (\(valBytes) tokens), vocabulary \(SyntheticCorpus.vocabularySize)")
    }
}
