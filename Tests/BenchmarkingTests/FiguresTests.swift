import Benchmarking
import Testing

/// The table figures at every magnitude, against the spelled-out decimal they must print.
@Suite struct FiguresTests {
    @Test(arguments: [
        (0.0, 2, "0.00"),
        (1, 2, "1.00"),
        (2.5, 2, "2.50"),
        (-2.5, 2, "-2.50"),
        (-1234.567, 2, "-1234.57"),
        (3.14159, 3, "3.142"),
        (999.999, 2, "1000.00"),
        (1e-9, 2, "0.00"),
        (1e-9, 12, "0.000000001000"),
        (0.25, 1, "0.2"),  // 0.25 is exact in binary: half to even
        (12.7, 0, "13"),
        (2.5e16, 2, "25000000000000000.00"),
        (1e20, 2, "100000000000000000000.00"),
        (-1e20, 1, "-100000000000000000000.0"),
        (0x1p70, 0, "1180591620717411303424"),  // 2^70, every digit exact
    ] as [(Double, Int, String)])
    func fixedPrintsEveryDigitAtAnyMagnitude(value: Double, digits: Int, expected: String) {
        #expect(Figures.fixed(value, digits) == expected)
    }

    @Test func valuesThatAreNotFiniteAreADash() {
        #expect(Figures.fixed(.infinity) == "-")
        #expect(Figures.fixed(-.infinity) == "-")
        #expect(Figures.fixed(.nan) == "-")
    }

    @Test func countsTakeAnSISuffix() {
        #expect(Figures.count(0) == "0")
        #expect(Figures.count(999) == "999")
        #expect(Figures.count(1536) == "1.54k")
        #expect(Figures.count(256 * 1_048_576) == "268.44M")
        #expect(Figures.count(2.5e16) == "25000.00T")
        #expect(Figures.count(1e20) == "100000000.00T")
        #expect(Figures.count(-3e9) == "-3.00G")
    }
}
