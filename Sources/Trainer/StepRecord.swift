import Foundation

/// One line of `--metrics`: what happened in a step and where its time went.
public struct StepRecord: Codable, Sendable, Equatable {
    public var step: Int
    public var loss: Double
    public var valLoss: Double?
    public var lr: Double
    public var lossScale: Double
    public var skipped: Bool
    public var gradNorm: Double
    public var tokensPerSecond: Double
    /// Seconds per phase: forward, backward, gradient check and clipping, update on the devices
    /// (including the gradient offload and the parameter upload).
    public var seconds: PhaseSeconds
    /// The step on the modeled machine (virtual and paced clocks), nil under the wall clock.
    public var modeled: ModeledSeconds?

    enum CodingKeys: String, CodingKey {
        case step, loss, lr, skipped, seconds, modeled
        case valLoss = "val_loss"
        case lossScale = "loss_scale"
        case gradNorm = "grad_norm"
        case tokensPerSecond = "tokens_per_s"
    }
}

/// Wall seconds per training phase.
public struct PhaseSeconds: Codable, Sendable, Equatable {
    public var forward: Double = 0
    public var backward: Double = 0
    public var gradientCheck: Double = 0
    public var update: Double = 0

    public init() {}

    public var total: Double { forward + backward + gradientCheck + update }

    public mutating func add(_ other: PhaseSeconds) {
        forward += other.forward
        backward += other.backward
        gradientCheck += other.gradientCheck
        update += other.update
    }

    enum CodingKeys: String, CodingKey {
        case forward = "fw", backward = "bw", gradientCheck = "grad_check", update
    }
}

/// Appends one JSON object per line, flushed per step, so a killed run keeps what it logged.
/// A diverged run's non-finite numbers (a NaN loss, an infinite gradient norm) are written as
/// the strings "nan", "inf" and "-inf", as the benchmarks' JSON does: JSON has no such numbers,
/// and the line of the step where a run diverges is the one its user most needs.
final class MetricsWriter {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    /// A new metrics file at `path`; for a resumed run (`keepingStepsThrough`), the existing
    /// file's records of the steps the run keeps, and none of the steps it runs again.
    init(path: String, keepingStepsThrough step: Int?) throws {
        struct Numbered: Decodable { var step: Int }
        let kept = step.flatMap { last in
            (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").filter { line in
                (try? JSONDecoder().decode(Numbered.self, from: Data(line.utf8))).map { $0.step <= last } ?? false
            }
        } ?? []
        let contents = kept.isEmpty ? nil : Data(kept.map { $0 + "\n" }.joined().utf8)
        guard FileManager.default.createFile(atPath: path, contents: contents) else {
            throw TrainingError.output(path: path, detail: "cannot create the metrics file")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    func append(_ record: StepRecord) throws {
        handle.write(try encoder.encode(record) + Data("\n".utf8))
    }

    deinit { try? handle.close() }
}
