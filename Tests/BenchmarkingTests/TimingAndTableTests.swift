import Benchmarking
import Testing

@Suite struct TimingAndTableTests {
    @Test func medianOfOddAndEvenSampleCounts() {
        #expect(Timing.median([3, 1, 2]) == 2)
        #expect(Timing.median([4, 1, 3, 2]) == 2.5)
    }

    @Test func tableAlignsColumns() {
        var table = TextTable(["name", "value"])
        table.append(["a", "1.00"])
        table.append(["longer", "12.50"])
        #expect(table.rendered == "name    value\n------  -----\na        1.00\nlonger  12.50")
        #expect(Figures.fixed(1.005, 1) == "1.0")
        #expect(Figures.fixed(2, 2) == "2.00")
        #expect(Figures.count(64 * 1_048_576) == "67.11M")
    }
}
