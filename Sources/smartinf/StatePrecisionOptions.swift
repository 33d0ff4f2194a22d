import ArgumentParser
import Optim

/// `--state-precision` and `--state-block` of the benchmarks that run the update kernel on
/// stored states (`bench device`, `bench optim`).
struct StatePrecisionOptions: ParsableArguments {
    @Option(name: .customLong("state-precision"),
            help: "How the optimizer states are stored: fp32 or 8bit (bench optim: a comma-separated list, e.g. fp32,8bit).")
    var statePrecision: String = "fp32"

    @Option(name: .customLong("state-block"), help: "Elements per scale of 8-bit states (a power of two, 64...65536).")
    var stateBlock: Int = StatePrecision.defaultBlockSize

    /// Every precision the flag lists, in its order.
    func precisions() throws -> [StatePrecision] {
        try CommaList.strings(statePrecision, flag: "--state-precision").map { name in
            do { return try StatePrecision(name: name, blockSize: stateBlock) } catch {
                throw ValidationError("--state-precision \(name) --state-block \(stateBlock): \(error)")
            }
        }
    }

    /// The one precision the flag names.
    func precision() throws -> StatePrecision {
        let all = try precisions()
        guard all.count == 1 else { throw ValidationError("--state-precision '\(statePrecision)': expected one of fp32 or 8bit") }
        return all[0]
    }
}
