import Foundation
import HardwareModel
import Plan
import Testing

/// Model sizes from untrusted input (a trace, `smartinf synth --layers/--hidden/…`) are bounded
/// when a shape is built or decoded, so that its counts — parameters, activations, FLOPs, what
/// the planners multiply by bytes — never overflow (an overflow traps the process).
@Suite struct ModelShapeBoundsTests {
    struct Case: Sendable, CustomStringConvertible {
        var layers = 2, hidden = 64, heads = 4, sequence = 32, batch = 1
        var vocabulary: Int? = 256, positions: Int? = nil
        var family = ModelShape.Family.gpt2
        var field: String
        var description: String { "\(field) (L\(layers) h\(hidden) s\(sequence) b\(batch))" }
    }

    /// Each of these traps in `parameters` or `checkpointElements` without the bounds: a product
    /// beyond Int, or beyond 2^40.
    static let hostile: [Case] = [
        Case(hidden: 1 << 62, heads: 1, field: "hidden"),
        Case(hidden: 1 << 20, heads: 1, field: "hidden"),               // 12·2^40 per block
        Case(layers: 1 << 17, field: "layers"),                          // above 2^16 blocks
        Case(layers: 1 << 16, hidden: 4096, heads: 32, field: "layers"),   // 2^16 · 2.0e8 > 2^40
        Case(vocabulary: Int.max, field: "vocabulary"),
        Case(vocabulary: Int.max / 64 + 1, family: .bert, field: "vocabulary"),
        Case(positions: 1 << 40, field: "positions"),
        Case(sequence: 1 << 40, positions: nil, field: "sequence"),       // positions follow --seq
        Case(batch: Int.max, field: "batch"),
        Case(sequence: 1024, batch: 1 << 30, field: "batch"),              // 2^30 · 1024 · 64 activations
    ]

    @Test(arguments: hostile)
    func hugeDimensionsAreRefusedNamingTheField(_ c: Case) throws {
        let error = try #require(throws: ShapeError.self) {
            try ModelShape(family: c.family, layers: c.layers, hidden: c.hidden, heads: c.heads, sequence: c.sequence,
                           batch: c.batch, vocabulary: c.vocabulary, positions: c.positions)
        }
        let problem = try #require(error.fieldProblem)
        #expect(problem.field == c.field)
        let flag = c.field == "sequence" ? "--seq" : "--\(c.field)"
        #expect(error.description.hasPrefix(flag + " "), "\(error)")
        #expect(error.description.contains(c.field == "layers" && c.layers > 1 << 16 ? "at most 65536" : "1099511627776 (2^40)"),
                "\(error)")
    }

    /// The bounds are far above the paper's models: a shape of ~830 billion parameters, 25 times
    /// the largest preset, is accepted, and its counts are exact; twice its depth is refused.
    @Test func shapesNearTheBoundAreAcceptedAndCountedExactly() throws {
        let big = try ModelShape(family: .gpt2, layers: 16, hidden: 65536, heads: 512, sequence: 1024, batch: 4)
        let h = 65536
        #expect(big.parameters == 16 * (12 * h * h + 13 * h) + (50304 + 1024) * h + 2 * h)
        #expect(big.parameters <= ModelShape.maximumElements)
        #expect(big.checkpointElements == 4 * 1024 * h)
        #expect(big.forwardFLOPs.isFinite && big.forwardFLOPs > 0)
        #expect(throws: ShapeError.self) {
            try ModelShape(family: .gpt2, layers: 32, hidden: 65536, heads: 512, sequence: 1024, batch: 4)
        }
        #expect(try ModelPreset.named("gpt2-33.0b").shape().parameters < ModelShape.maximumElements / 32)
        #expect(try ModelShape(family: .gpt2, layers: ModelShape.maximumLayers, hidden: 8, heads: 1, sequence: 8, batch: 1)
            .layers == 65536)
    }

    /// A shape decoded from JSON (a trace's `workload.model`) is checked like one that is built.
    @Test func aDecodedShapeIsChecked() throws {
        let fine = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 32, batch: 1, vocabulary: 256)
        var object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(fine)) as! [String: Any]
        #expect(try JSONDecoder().decode(ModelShape.self, from: try JSONSerialization.data(withJSONObject: object)) == fine)
        object["hidden"] = 1 << 62
        object["heads"] = 1
        let error = try #require(throws: ShapeError.self) {
            try JSONDecoder().decode(ModelShape.self, from: try JSONSerialization.data(withJSONObject: object))
        }
        #expect(error.fieldProblem?.field == "hidden" && error.fieldProblem?.value == 1 << 62)
    }

    /// Profile sizes (`--set hostTraffic.parameterBytes=…`) may be anything below 2^63 bytes; the
    /// compute planner multiplies them by counts in floating point, not in Int.
    @Test func hugeProfileSizesDoNotOverflowThePlan() throws {
        let setup = try IterationPlannerTests.setup(["hostTraffic.parameterBytes=8000PB", "hostTraffic.activationBytes=8000PB",
                                                     "hostTraffic.parameterFetches=3"])
        let model = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 32, batch: 1, vocabulary: 256)
        let plan = try IterationPlanner.plan(.suO, try IterationWorkload(model: model), devices: 2, on: setup)
        let amounts = (0..<plan.graph.operationCount).map { plan.graph.amount(of: OperationID(index: $0)) }
        #expect(amounts.contains { $0 == 8e18 * Double(model.blockParameters) })
        #expect(amounts.allSatisfy { $0.isFinite })
    }
}
