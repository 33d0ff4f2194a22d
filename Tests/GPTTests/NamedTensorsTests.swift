import GPT
import Testing

@Suite struct NamedTensorsTests {
    /// The named tensors tile the flat vector in order, each's shape holding exactly its
    /// elements, under unique names; GPT-2 124M's c_attn is [2304, 768].
    @Test(arguments: ["gpt2:2,4,64,32,256", "gpt2:12,12,768,1024,50257"])
    func namedTensorsTileTheFlatVector(spec: String) throws {
        let config = try GPTConfig(initSpec: spec)
        let named = config.parameterLayout.namedTensors(config)
        #expect(named.count == 4 + 12 * config.layers)
        #expect(Set(named.map(\.name)).count == named.count)
        var next = 0
        for tensor in named {
            #expect(tensor.range.lowerBound == next, "\(tensor.name)")
            #expect(tensor.shape.reduce(1, *) == tensor.range.count, "\(tensor.name)")
            next = tensor.range.upperBound
        }
        #expect(next == config.parameterCount)
        if config.channels == 768 {
            #expect(named.first { $0.name == "h.3.attn.c_attn.weight" }?.shape == [2304, 768])
            #expect(named.first { $0.name == "wte.weight" }?.shape == [50304, 768])
        }
    }
}
