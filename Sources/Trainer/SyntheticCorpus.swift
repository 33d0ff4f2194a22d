import GPT
import SeededRandom

/// A small learnable corpus of our own: English-like sentences about storage-offloaded training
/// drawn from a fixed grammar, tokenised byte by byte (vocabulary 256). It has enough structure
/// (spelling, word order, punctuation) that a tiny GPT's loss falls quickly, needs no tokenizer
/// or third-party text, and is reproduced exactly from its seed.
public enum SyntheticCorpus {
    public static var vocabularySize: Int { 256 }

    static let subjects = ["the device", "the host", "a small model", "the optimizer", "every subgroup", "the shared link",
                           "each device", "the trainer", "the transfer handler", "the journal", "the compute copy",
                           "a large embedding", "the update kernel", "the second moment", "the loss scaler"]
    static let verbs = ["reads", "writes", "updates", "compresses", "sends", "checks", "keeps", "commits", "overlaps",
                        "waits for", "scatters", "clips", "stores", "returns", "skips"]
    static let objects = ["the gradients", "its parameters", "the first moment", "the states", "a payload", "the next step",
                          "the top values", "its slice", "the dense buffer", "the last commit", "every element",
                          "the scaled loss", "a fresh checkpoint", "the written slot", "the fp16 copy"]
    static let endings = ["", "", " before the next step", " in place", " without the host", " on its own ssd",
                          " while the host waits", " after the backward pass", " one subgroup at a time",
                          " with a single thread", " at full speed", " when nothing overflows"]

    /// `byteCount` bytes of text from `seed`, as tokens.
    public static func tokens(byteCount: Int, seed: UInt64) -> [UInt16] {
        var rng = SplitMix64(seed: seed)
        func pick(_ words: [String]) -> String { words[Int(rng.next() % UInt64(words.count))] }
        var text: [UInt8] = []
        text.reserveCapacity(byteCount + 200)
        var sentencesInParagraph = 0
        while text.count < byteCount {
            var sentence = "\(pick(subjects)) \(pick(verbs)) \(pick(objects))\(pick(endings))."
            sentence = sentence.prefix(1).uppercased() + sentence.dropFirst()
            sentencesInParagraph += 1
            let separator = sentencesInParagraph % 5 == 0 ? "\n" : " "
            text += Array((sentence + separator).utf8)
        }
        return text.prefix(byteCount).map { UInt16($0) }
    }

    /// Writes `train.bin` and `val.bin` (llm.c token files) into `directory`.
    public static func write(to directory: String, trainBytes: Int, validationBytes: Int, seed: UInt64) throws {
        try TokenFile.write(tokens(byteCount: trainBytes, seed: seed), to: "\(directory)/train.bin")
        try TokenFile.write(tokens(byteCount: validationBytes, seed: seed &+ 1), to: "\(directory)/val.bin")
    }
}
