import Optim
import Testing

@Suite("OptimizerConfig and Precision names")
struct OptimizerConfigTests {
    @Test("known names parse to the optimizer and flavour with default hyperparameters", arguments: [
        ("adamw", OptimizerConfig.adamw(AdamWHyperparameters())),
        ("adam", .adamw(AdamWHyperparameters())),
        ("AdamW", .adamw(AdamWHyperparameters())),
        ("adamw:reference", .adamw(AdamWHyperparameters())),
        ("sgd", .sgd(SGDHyperparameters(), .reference)),
        ("sgd:reference", .sgd(SGDHyperparameters(), .reference)),
        ("sgd:torch", .sgd(SGDHyperparameters(), .torch)),
        ("SGD:Torch", .sgd(SGDHyperparameters(), .torch)),
        ("adagrad", .adagrad(AdagradHyperparameters(), .reference)),
        ("adagrad:torch", .adagrad(AdagradHyperparameters(), .torch)),
    ])
    func parse(name: String, expected: OptimizerConfig) throws {
        #expect(try OptimizerConfig(name: name) == expected)
    }

    @Test("the documented defaults")
    func defaults() {
        let a = AdamWHyperparameters()
        #expect(a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8 && a.weightDecay == 0.01)
        let s = SGDHyperparameters()
        #expect(s.momentum == 0.9 && s.dampening == 0 && !s.nesterov && s.weightDecay == 0)
        let g = AdagradHyperparameters()
        #expect(g.lrDecay == 0 && g.initialAccumulatorValue == 0 && g.eps == 1e-10 && g.weightDecay == 0)
    }

    @Test("name round-trips, state counts and initial state values")
    func names() throws {
        for name in ["adamw", "sgd", "sgd:torch", "adagrad", "adagrad:torch"] {
            let c = try OptimizerConfig(name: name)
            #expect(c.name == name)
            #expect(c.stateCount == (name == "adamw" ? 2 : 1))
            #expect(c.prepare(step: 1, learningRate: 1e-3, combinedUnscale: 1).stateCount == c.stateCount)
            #expect(c.prepare(step: 3, learningRate: 1e-3, combinedUnscale: 0.25).combinedUnscale == 0.25)
        }
        #expect(OptimizerConfig.adagrad(AdagradHyperparameters(initialAccumulatorValue: 0.1), .torch).initialStateValue == 0.1)
        #expect(OptimizerConfig.adamw(AdamWHyperparameters()).initialStateValue == 0)
        #expect(OptimizerConfig.sgd(SGDHyperparameters(), .torch).initialStateValue == 0)
    }

    @Test("every name a command line offers parses back to itself, of the optimizer it names")
    func offeredNames() throws {
        #expect(OptimizerConfig.names == ["adamw", "adamw:torch", "sgd", "sgd:torch", "adagrad", "adagrad:torch"])
        for name in OptimizerConfig.names {
            let c = try OptimizerConfig(name: name)
            #expect(c.name == name)
            #expect(c.kind.rawValue == String(name.prefix { $0 != ":" }))
        }
    }

    @Test("unknown optimizers are rejected with the list of valid names", arguments: [
        "lamb", "", "LAMB", "adam-w", "sgdm", "lamb:torch", ":torch",
    ])
    func unknownOptimizer(name: String) {
        #expect(throws: OptimizerConfigError.unknownOptimizer(name)) { try OptimizerConfig(name: name) }
        let message = OptimizerConfigError.unknownOptimizer(name).description
        #expect(message == "unknown optimizer '\(name)': expected adamw, adamw:torch, sgd, sgd:torch, adagrad or adagrad:torch")
    }

    @Test("unknown flavours are rejected", arguments: [
        ("sgd:pytorch", "pytorch"), ("adamw:pytorch", "pytorch"), ("sgd:torch:x", "torch:x"),
        ("SGD:PyTorch", "pytorch"),
    ])
    func unknownFlavour(name: String, flavour: String) {
        #expect(throws: OptimizerConfigError.unknownFlavor(flavour)) { try OptimizerConfig(name: name) }
        let message = OptimizerConfigError.unknownFlavor(flavour).description
        #expect(message.contains("'\(flavour)'"))
        #expect(message.contains("'torch' or 'reference'"))
    }

    @Test("adamw has both flavours: torch's rule by name, the reference one by default")
    func adamwFlavours() throws {
        #expect(try OptimizerConfig(name: "adamw:torch") == .adamw(AdamWHyperparameters(), .torch))
        #expect(try OptimizerConfig(name: "adamw") == .adamw(AdamWHyperparameters(), .reference))
        #expect(try OptimizerConfig(name: "ADAMW:reference") == .adamw(AdamWHyperparameters(), .reference))
    }

    @Test("Precision names and widths")
    func precisionNames() {
        for (name, p) in [("fp32", Precision.fp32), ("float32", .fp32), ("f32", .fp32), ("float", .fp32),
                          ("FP16", .fp16), ("half", .fp16), ("float16", .fp16), ("f16", .fp16),
                          ("bf16", .bf16), ("bfloat16", .bf16)] {
            #expect(Precision(name: name) == p, "\(name)")
        }
        #expect(Precision(name: "fp8") == nil)
        #expect(Precision(name: "") == nil)
        #expect(Precision.allCases.map(\.byteWidth) == [4, 2, 2])
        #expect(Precision.allCases.map(\.description) == ["fp32", "fp16", "bf16"])
    }
}

@Suite struct OptimizerNameEdgeTests {
    @Test(arguments: ["adagrad:", "sgd:", ":torch", ""])
    func emptyPartsAreRefused(name: String) {
        #expect(throws: OptimizerConfigError.self) { _ = try OptimizerConfig(name: name) }
    }
}
