import HardwareModel
import Testing

@Suite struct QuantityTests {
    @Test(arguments: [("16GB/s", 16e9), ("3.2 GB/s", 3.2e9), ("800MB/s", 8e8), ("1.5GiB/s", 1.5 * 0x1p30), ("8e9B/s", 8e9)]
          as [(String, Double)])
    func parsesBandwidths(text: String, bytesPerSecond: Double) {
        #expect(Quantity.bandwidth(text) == bytesPerSecond)
    }

    @Test(arguments: ["16GB", "fast/s", "-1GB/s", "0GB/s", "GB/s", "1XB/s"])
    func refusesWhatIsNotABandwidth(text: String) {
        #expect(Quantity.bandwidth(text) == nil)
    }
}
