import GPT
import Testing

@Suite struct GPTConfigTests {
    /// GPT-2 small (124M): the published parameter count with Vp = 50304, as llm.c pads it.
    @Test func gpt2SmallHasItsPublishedSize() throws {
        let config = try GPTConfig(initSpec: "gpt2:12,12,768,1024,50257")
        #expect(config.paddedVocabSize == 50304)
        #expect(config.parameterCount == 124_475_904)
    }

    @Test func initSpecRoundTrips() throws {
        let config = try GPTConfig(initSpec: "gpt2:2,4,128,64,50257")
        #expect(config.initSpec == "gpt2:2,4,128,64,50257")
        #expect(try GPTConfig(initSpec: config.initSpec) == config)
    }

    @Test(arguments: ["gpt2:12,12,768,1024", "gpt3:1,1,8,8,8", "gpt2:1,3,8,8,8", "gpt2:1,1,8,0,8", "gpt2:a,1,8,8,8"])
    func badSpecsAreRefused(spec: String) {
        #expect(throws: GPTConfigError.self) { _ = try GPTConfig(initSpec: spec) }
    }
}
