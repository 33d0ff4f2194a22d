import HardwareModel
import Testing

@Suite struct QuantityTests {
    @Test(arguments: [("16GB/s", 16e9), ("3.2 GB/s", 3.2e9), ("800MB/s", 8e8), ("1.5GiB/s", 1.5 * 0x1p30), ("8e9B/s", 8e9)]
          as [(String, Double)])
    func parsesBandwidths(text: String, bytesPerSecond: Double) {
        #expect(Quantity.bandwidth(text) == bytesPerSecond)
    }

    /// Network links are rated in bits per second (a lower-case b): eight of them to a byte.
    @Test(arguments: [("200Gb/s", 25e9), ("400 Gb/s", 50e9), ("100Mb/s", 12.5e6), ("1.6Tb/s", 200e9), ("8b/s", 1)]
          as [(String, Double)])
    func parsesBitRates(text: String, bytesPerSecond: Double) {
        #expect(Quantity.bandwidth(text) == bytesPerSecond)
    }

    @Test(arguments: ["16GB", "fast/s", "-1GB/s", "0GB/s", "GB/s", "1XB/s", "0Gb/s", "1Gib/s"])
    func refusesWhatIsNotABandwidth(text: String) {
        #expect(Quantity.bandwidth(text) == nil)
    }

    @Test func parsesSizesRatesAndDurations() {
        #expect(Quantity.size("4GiB") == 4 * 0x1p30)
        #expect(Quantity.size("2B") == 2)
        #expect(Quantity.size("24GB") == 24e9)
        #expect(Quantity.flopRate("27.8TFLOP/s") == 27.8e12)
        #expect(Quantity.bandwidth("8.2GB/s") == 8.2e9)
        #expect(Quantity.bandwidth("1.5e3MB/s") == 1.5e9)
        #expect(Quantity.size("3.84TB") == 3.84e12)
        #expect(Quantity.flopRate("312 TFLOP/s") == 312e12)
        #expect(Quantity.duration("10us") == 10e-6)
        #expect(Quantity.duration("80µs") == 80e-6)
        #expect(Quantity.duration("1.5ms") == 1.5e-3)
        #expect(Quantity.duration("2s") == 2)
        #expect(Quantity.duration("0us") == 0)
        #expect(Quantity.size("0B") == nil)
        #expect(Quantity.flopRate("27.8TFLOPS") == nil)
    }

    @Test func explainsWhyTextIsNotAQuantity() {
        func problem(_ text: String, _ dimension: Quantity.Dimension) -> String {
            do {
                _ = try Quantity.parse(text, as: dimension)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(problem("fast", .bandwidth) == #""fast" does not start with a number"#)
        #expect(problem("3.2", .bandwidth) == #""3.2" has no unit"#)
        #expect(problem("-1GB/s", .bandwidth) == #""-1GB/s" is negative"#)
        #expect(problem("0GB/s", .bandwidth) == #""0GB/s" is zero"#)
        #expect(problem("1e999GB/s", .bandwidth) == #""1e999GB/s" is not finite"#)
        #expect(problem("infGB/s", .bandwidth) == #""infGB/s" does not start with a number"#)
        #expect(problem("10us", .size) == #""10us" has an unknown unit "us" (size units: KiB, MiB, GiB, TiB, B, kB, KB, MB, GB, TB, PB)"#)
        #expect(problem("1Gbps", .bandwidth).hasPrefix(#""1Gbps" has an unknown unit "Gbps" (bandwidth units: KiB/s, MiB/s"#))
        #expect(problem("1Gbps", .bandwidth).hasSuffix(#"Tb/s, Pb/s)"#))
    }
}
