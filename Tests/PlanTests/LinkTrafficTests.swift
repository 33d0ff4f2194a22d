import Plan
import Testing

@Suite struct LinkTrafficTests {
    /// The paper's accounting (§I, §IV): BASE moves 32 B per parameter over the shared link,
    /// SmartUpdate 8 B, SmartUpdate with compression 4 + 4c B (c = 0.02 for top-1% value+index).
    @Test func paperAccountingReproducesThePublishedBytesPerParameter() {
        let c = 0.02
        #expect(LinkTraffic.perParameter(.base, accounting: .paper(compressedFraction: c)).shared == 32)
        #expect(LinkTraffic.perParameter(.su, accounting: .paper(compressedFraction: c)).shared == 8)
        #expect(LinkTraffic.perParameter(.suO, accounting: .paper(compressedFraction: c)).shared == 8)
        #expect(LinkTraffic.perParameter(.suOC, accounting: .paper(compressedFraction: c)).shared == 4 + 4 * c)
        // Inside a device: read gradient, p, m, v; write p, m, v.
        #expect(LinkTraffic.perParameter(.su, accounting: .paper(compressedFraction: c)).deviceInternal == 28)
        #expect(LinkTraffic.perParameter(.base, accounting: .paper(compressedFraction: c)).deviceInternal == 0)
    }

    @Test func dtypeAwareAccountingCountsTheFormatsActuallySent() {
        // bf16 gradients and copy, Adam: 2 B down, 2 B up.
        let su = LinkTraffic.perParameter(.suO, accounting: .dtypeAware(gradientBytes: 2, copyBytes: 2, compressedFraction: 1))
        #expect(su.sharedDown == 2 && su.sharedUp == 2)
        // Top-1% with fp16 values and ~10-bit indices: ≈ 0.8% of dense fp32.
        let c = LinkTraffic.perParameter(.suOC, accounting: .dtypeAware(gradientBytes: 2, copyBytes: 2, compressedFraction: 0.0082))
        #expect(abs(c.sharedDown - 0.0328) < 1e-12)
        // SGD or AdaGrad (one state): 4 B less each way inside the device.
        let sgd = LinkTraffic.perParameter(.su, accounting: .paper(compressedFraction: 0.02), stateCount: 1)
        #expect(sgd.deviceInternal == 20)
        #expect(LinkTraffic.perParameter(.base, accounting: .paper(compressedFraction: 0.02), stateCount: 1).shared == 24)
    }
}
