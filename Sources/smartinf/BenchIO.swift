import ArgumentParser
import Benchmarking
import BlockIO
import Foundation
import SizeNotation

struct BenchIO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Sequential io_uring read/write bandwidth on a file, beside fio's when fio is installed.")

    @Option(help: "The file to test (created if missing; its contents are overwritten).")
    var file: String

    @Option(help: "Bytes to write and read, e.g. 2GiB.")
    var size: String = "2GiB"

    @Option(help: "Bytes per request, e.g. 1MiB.")
    var block: String = "1MiB"

    @Option(name: .customLong("queue-depths"), help: "Queue depths to measure, comma-separated.")
    var queueDepths: String = "1,4,16,32"

    @Flag(help: "Use the page cache instead of O_DIRECT (for filesystems that refuse direct I/O).")
    var buffered = false

    @Flag(name: .customLong("no-fio"), help: "Skip the fio comparison even if fio is installed.")
    var noFio = false

    @Option(help: "Timed repetitions (the median is reported).")
    var repetitions: Int = 3

    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        guard let bytes = SizeArgument.parse(size) else {
            throw ValidationError("--size '\(size)' is not a size (examples: 2GiB, 512MiB)")
        }
        guard let blockBytes = SizeArgument.parse(block) else {
            throw ValidationError("--block '\(block)' is not a size (examples: 1MiB, 128KiB)")
        }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        let depths = try CommaList.integers(queueDepths, flag: "--queue-depths", minimum: 1)
        let options: IOBenchmark.Options
        do {
            options = try IOBenchmark.validate(IOBenchmark.Options(
                file: file, size: bytes, blockSize: blockBytes, queueDepths: depths,
                mode: buffered ? .buffered : .direct, repetitions: repetitions, useFio: !noFio))
        } catch { throw ValidationError("\(error)") }
        let rows = try output.reportingFailure("bench io") { try IOBenchmark(options).run(progress: output.progress) }
        try output.emit(benchmark: "io", rows: rows, table: IOBenchmark.table(rows))
    }
}
