import ArgumentParser
import Benchmarking
import DurableWrite
import Foundation

/// The output options every `smartinf bench …` command shares: the table on a terminal, or one
/// JSON document (`--json`), and optionally that document saved to a file (`--save FILE`).
struct BenchOutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON document instead of the table.")
    var json = false

    @Option(help: "Also write the JSON document to this file.")
    var save: String?

    /// Progress lines go to standard error, and only when a person reads the table. They show
    /// how far the command has got, as part of its output (like `sweep`'s counter), not log
    /// records: `--json` turns them off, `--log-level` does not.
    var progress: (String) -> Void {
        json ? { _ in } : { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
    }

    func emit<Row: Encodable>(benchmark: String, rows: [Row], table: String) throws {
        let document = try BenchmarkJSON.document(benchmark: benchmark, rows: rows)
        print(json ? document : table)
        if let save {
            do throws(DurableFileError) {
                try DurableFile.write((document + "\n").utf8, to: save)
            } catch {
                throw ValidationError("--save '\(save)': cannot write the file (\(error.reason); \(error.outcome))")
            }
        }
    }

    /// Runs `body`, turning a failure into a message on standard error and exit status 1.
    func reportingFailure<T>(_ command: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("smartinf \(command): \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
