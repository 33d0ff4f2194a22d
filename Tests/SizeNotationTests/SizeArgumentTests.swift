import SizeNotation
import Testing

@Suite struct SizeArgumentTests {
    @Test(arguments: [
        ("1000003", 1_000_003), ("64M", 64 << 20), ("64Mi", 64 << 20), ("2GiB", 2 << 30), ("512KB", 512_000),
        ("1.5G", 3 << 29), ("1e6", 1_000_000), ("4k", 4096), ("16_777_216", 16_777_216), ("8B", 8), (" 3 ", 3),
    ] as [(String, Int)])
    func parsesCountsAndSizes(text: String, expected: Int) {
        #expect(SizeArgument.parse(text) == expected)
    }

    @Test(arguments: ["", "abc", "-1", "1.5", "12XB", "1e30", "M", "nan", "inf"])
    func rejectsWhatIsNotAWholeNonNegativeSize(text: String) {
        #expect(SizeArgument.parse(text) == nil)
    }
}
