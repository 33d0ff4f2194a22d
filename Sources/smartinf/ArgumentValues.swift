import ArgumentParser
import Benchmarking
import DeviceProtocol
import LiveClock
import OffloadStep
import OffloadVocabulary
import Optim
import Plan
import Trainer

// The library's vocabularies as argument values: a word that is none of a type's values is
// refused by the argument parser, naming the option and listing the values it takes. The
// conformances live here so that the libraries do not depend on the argument parser.

/// Case-insensitive, as the study commands have always read it (`SU+O`).
extension OffloadMode: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ClockKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension DeviceFailurePolicy.Kind: ExpressibleByArgument {}
extension UpdateKernel.Path: ExpressibleByArgument {}
extension ModelShape.Family: ExpressibleByArgument {}
extension LowRankAdapters.Projection: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}

/// By name (`fp16`, also `half`, …), not by the wire code that is its raw value (nor described
/// by it in the help).
extension Precision: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { description }
    public static var allValueStrings: [String] { allCases.map(\.description) }
    public static var allValueDescriptions: [String: String] { [:] }
}

extension HandlerMode: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
    public static var allValueDescriptions: [String: String] { [:] }
}

/// An optimizer with its default hyperparameters, by name (`adamw`, `sgd:torch`, …).
extension OptimizerConfig: ExpressibleByArgument {
    public init?(argument: String) {
        guard let config = try? OptimizerConfig(name: argument) else { return nil }
        self = config
    }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { names }
}

extension OptimBenchmark.CopyOut: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { all.map(\.name) }
}
