import CMPI
import Collective
import Foundation
import Testing

/// The real `smartinf` as R ranks under Open MPI's mpirun, or alone.
struct MPIJob {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double

    /// Everything the job and mpirun printed.
    var output: String { stdout + stderr }

    static var smartinf: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("smartinf").path
    }

    /// mpirun from PATH; CI has it once `make deps` has run.
    static func mpirun() throws -> String {
        guard let found = executable("mpirun") else { throw MPIMissing() }
        return found
    }

    /// The path of the executable `name` on PATH, or in the system directories root's PATH has
    /// (`ip` lives in /usr/sbin); nil if there is none.
    static func executable(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first(where: FileManager.default.isExecutableFile)
    }

    struct MPIMissing: Error, CustomStringConvertible {
        var description: String {
            "mpirun is not on PATH: the multi-rank tests need Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev; `make deps` installs both)"
        }
    }

    /// Where mpirun runs and where it puts the ranks: by default here, all on this machine, more
    /// ranks than cores allowed.
    struct Placement {
        /// The command mpirun runs under (`ip netns exec NS`).
        var wrapper: [String] = []
        var options = ["--oversubscribe"]
    }

    /// Runs `smartinf arguments…` on `ranks` ranks (nil: one process without mpirun), with Open
    /// MPI's `mca` parameters, stopped after a minute whatever happens.
    static func run(ranks: Int?, _ arguments: [String], mca: [String: String] = [:], placement: Placement = Placement()) throws -> MPIJob {
        var command = ["--kill-after=5", "60"]
        if let ranks {
            command += placement.wrapper + [try mpirun(), "--allow-run-as-root"] + placement.options + ["-np", "\(ranks)"]
            for (key, value) in mca.sorted(by: { $0.key < $1.key }) { command += ["--mca", key, value] }
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = command + [smartinf] + arguments
        // Standard error to a file, so that neither pipe can fill while the other is read.
        let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("mpi-job-\(UUID().uuidString).err").path
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        let start = Date()
        try process.run()
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let stderr = String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self)
        return MPIJob(status: process.terminationStatus, stdout: stdout, stderr: stderr, seconds: Date().timeIntervalSince(start))
    }
}

/// `smartinf collective-check` on R ranks, and the reports the ranks wrote.
struct CheckRun {
    var job: MPIJob
    var reports: [CollectiveCheck.Report]

    var status: Int32 { job.status }
    var output: String { job.output }

    static func run(ranks: Int?, _ arguments: [String], mca: [String: String] = [:]) throws -> CheckRun {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("collective-check-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let job = try MPIJob.run(ranks: ranks, ["collective-check", "--out", directory] + arguments, mca: mca)
        let reports = try (0..<(ranks ?? 1)).compactMap { rank -> CollectiveCheck.Report? in
            guard let data = FileManager.default.contents(atPath: "\(directory)/rank-\(rank).json") else { return nil }
            return try JSONDecoder().decode(CollectiveCheck.Report.self, from: data)
        }
        return CheckRun(job: job, reports: reports)
    }
}

@Suite(.serialized) struct MultiRankTests {
    static let elements = 4099
    static let microBatches = 8
    static let seed: UInt64 = 17
    static let gradients = (0..<microBatches).map { CollectiveCheck.microBatchGradient($0, elements: elements, seed: seed) }

    /// The messages a run of `elements` goes as, in messages of at most `maximumCount` (nil: the
    /// world's default, which none of these runs reach).
    static func messages(_ elements: Int, _ maximumCount: Int?) -> Int {
        guard let maximumCount else { return elements > 0 ? 1 : 0 }
        return (elements + maximumCount - 1) / maximumCount
    }

    /// What every rank of a run over `slices` must have seen, computed here from the micro-batch
    /// gradients: their sum in the canonical order (one rank summing all of them), its fp16
    /// copy, the scalars folded in rank order, and the bytes and messages each collective must
    /// move (with `--mpi-max-count maximumCount`).
    func expectReports(_ run: CheckRun, slices: [Int], sum: [Float], label: String, maximumCount: Int? = nil) {
        let ranks = slices.count
        #expect(run.status == 0, "\(label): exit status \(run.status)\n\(run.output)")
        #expect(run.reports.count == ranks, "\(label): \(run.reports.count) of \(ranks) ranks wrote their report")
        let offsets = slices.indices.map { slices[..<$0].reduce(0, +) }
        for report in run.reports {
            let r = report.rank
            #expect(report.size == ranks)
            #expect(report.firstMicroBatch == r * Self.microBatches / ranks && report.microBatchCount == Self.microBatches / ranks)
            #expect(report.sum == sum.map(\.bitPattern), "\(label): rank \(r)'s gathered sum")
            #expect(report.copy == sum.map { Float16($0).bitPattern }, "\(label): rank \(r)'s gathered fp16 copy")
            let contributions = (0..<ranks).map { q in
                CollectiveCheck.checkScalars(rank: q, seed: Self.seed)
                    + [sum[offsets[q]..<(offsets[q] + slices[q])].reduce(0.0) { $0 + Double($1) * Double($1) }]
            }
            let folded = (0..<4).map { i in contributions.dropFirst().reduce(contributions[0][i]) { $0 + $1[i] } }
            #expect(report.scalarSums == folded, "\(label): rank \(r)'s scalars")
            #expect(report.anyRaised && !report.anyQuiet)
            // Payload across ranks: the others' parts of my partial out, my slice from each other
            // rank in; my new slice out to each other rank (fp32 then fp16), the others' in. Each
            // run to a peer goes as messages of at most maximumCount elements; the scalars are 4,
            // 1 and 1 values.
            let own = slices[r]
            let others = Self.elements - own
            let peers = (0..<ranks).filter { $0 != r }
            let reduceScatter = CollectiveTraffic(calls: 1, bytesSent: others * 4, bytesReceived: (ranks - 1) * own * 4,
                                                  messagesSent: peers.reduce(0) { $0 + Self.messages(slices[$1], maximumCount) })
            let allGather = CollectiveTraffic(calls: 2, bytesSent: (ranks - 1) * own * 6, bytesReceived: others * 6,
                                              messagesSent: 2 * (ranks - 1) * Self.messages(own, maximumCount))
            let scalars = CollectiveTraffic(calls: 3, bytesSent: (ranks - 1) * 6 * 8, bytesReceived: (ranks - 1) * 6 * 8,
                                            messagesSent: (ranks - 1) * (Self.messages(4, maximumCount) + 2))
            if ranks > 1 {
                #expect(report.traffic["reduce-scatter"] == reduceScatter, "\(label): rank \(r)")
                #expect(report.traffic["all-gather"] == allGather, "\(label): rank \(r)")
                #expect(report.traffic["scalars"] == scalars, "\(label): rank \(r)")
            } else {
                #expect(report.traffic.values.allSatisfy { $0.bytesSent == 0 && $0.bytesReceived == 0 }, "\(label): one rank moves nothing")
            }
        }
    }

    static let oneRankSum = midpointSum(gradients, 0..<microBatches)

    @Test func aProcessAloneIsAWorldOfOneWithTheCanonicalSum() throws {
        let run = try CheckRun.run(ranks: nil, ["--elements", "\(Self.elements)", "--micro-batches", "\(Self.microBatches)",
                                               "--seed", "\(Self.seed)"])
        expectReports(run, slices: [Self.elements], sum: Self.oneRankSum, label: "alone")
        #expect(run.reports.first?.launcher == nil)
    }

    /// R = 1, 2 and 4 real ranks, even and uneven slices (one empty): every rank ends with the
    /// bits of one rank summing all eight micro-batches.
    @Test(arguments: [[Self.elements], [2050, 2049], [1000, 0, 2099, 1000], [1025, 1025, 1025, 1024]])
    func ranksGetTheBitsOfOneRank(slices: [Int]) throws {
        let run = try CheckRun.run(ranks: slices.count, ["--elements", "\(Self.elements)", "--micro-batches", "\(Self.microBatches)",
                                                        "--seed", "\(Self.seed)", "--slices", slices.map(String.init).joined(separator: ",")])
        expectReports(run, slices: slices, sum: Self.oneRankSum, label: "R = \(slices.count), slices \(slices)")
        #expect(run.reports.allSatisfy { $0.launcher != nil })
    }

    /// Slices far over the message limit (`--mpi-max-count`: 97 elements, which divides no
    /// slice, and 3, which also cuts the 4 scalars in two): each run goes as many messages, and
    /// every rank still ends with the bits of one rank summing all eight micro-batches, which
    /// are those of the same slices in one message each (`ranksGetTheBitsOfOneRank`).
    @Test(arguments: [([2050, 2049], 97), ([1000, 0, 2099, 1000], 97), ([1025, 1025, 1025, 1024], 3)])
    func slicesOverTheMessageLimitGoAsManyMessagesWithTheSameBits(slices: [Int], maximumCount: Int) throws {
        let run = try CheckRun.run(ranks: slices.count, ["--elements", "\(Self.elements)", "--micro-batches", "\(Self.microBatches)",
                                                        "--seed", "\(Self.seed)", "--slices", slices.map(String.init).joined(separator: ","),
                                                        "--mpi-max-count", "\(maximumCount)"])
        expectReports(run, slices: slices, sum: Self.oneRankSum, label: "R = \(slices.count), slices \(slices), messages of \(maximumCount)",
                      maximumCount: maximumCount)
        #expect(run.reports.allSatisfy { ($0.traffic["reduce-scatter"]?.messagesSent ?? 0) > 10 }, "a slice in few messages")
    }

    /// Three ranks of two micro-batches: not the one-rank bits (`ranksReproduceOneRank` is
    /// false), but their own fixed order, the tree over the ranks' partial sums.
    @Test func threeRanksSumInTheirOwnFixedOrder() throws {
        let six = Array(Self.gradients.prefix(6))
        let partials = (0..<3).map { midpointSum(six, (2 * $0)..<(2 * $0 + 2)) }
        let threeRanks = midpointSum(partials, 0..<3)
        #expect(threeRanks.map(\.bitPattern) != midpointSum(six, 0..<6).map(\.bitPattern))
        let run = try CheckRun.run(ranks: 3, ["--elements", "\(Self.elements)", "--micro-batches", "6", "--seed", "\(Self.seed)"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.reports.count == 3)
        for report in run.reports { #expect(report.sum == threeRanks.map(\.bitPattern), "rank \(report.rank)") }
    }

    /// The bytes and messages counted against what Open MPI's point-to-point layer says it sent
    /// (its monitoring component, `E` lines for the messages the collectives send, `I` for MPI's
    /// own inside its collectives, here the barrier's). No MPI algorithm forwards another rank's
    /// data (the collectives' messages go straight to their peer), so the two must agree
    /// exactly, uneven slices or not, at 2 ranks and 4, in one message per run or many.
    @Test(arguments: [([3000, 1099], nil), ([3000, 1099], 97), ([1000, 0, 2099, 1000], 97)] as [([Int], Int?)])
    func bytesCountedAreWhatMPISent(slices: [Int], maximumCount: Int?) throws {
        let label = "R = \(slices.count) monitored, slices \(slices), messages of \(maximumCount.map(String.init) ?? "any size")"
        let run = try CheckRun.run(ranks: slices.count, ["--elements", "\(Self.elements)", "--micro-batches", "\(Self.microBatches)",
                                                        "--seed", "\(Self.seed)", "--slices", slices.map(String.init).joined(separator: ",")]
                                       + (maximumCount.map { ["--mpi-max-count", "\($0)"] } ?? []),
                                   mca: ["pml_monitoring_enable": "2", "pml_monitoring_enable_output": "1"])
        expectReports(run, slices: slices, sum: Self.oneRankSum, label: label, maximumCount: maximumCount)
        // Lines "E<tab>from<tab>to<tab>N bytes<tab>M msgs sent…", one per pair of ranks and kind.
        var measured: [String: [Int: (bytes: Int, messages: Int)]] = [:]
        for match in run.job.stdout.matches(of: /(?m)^([EI])\t(\d+)\t(\d+)\t(\d+) bytes\t(\d+) msgs sent/) {
            let (kind, rank) = (String(match.output.1), Int(match.output.2)!)
            let sofar = measured[kind, default: [:]][rank] ?? (0, 0)
            measured[kind, default: [:]][rank] = (sofar.bytes + Int(match.output.4)!, sofar.messages + Int(match.output.5)!)
        }
        #expect(measured["E"]?.count == slices.count, "\(label): no monitoring lines from Open MPI's pml monitoring in:\n\(run.output)")
        for report in run.reports {
            let counted = report.traffic.values.reduce(0) { $0 + $1.bytesSent }
            let messages = report.traffic.values.reduce(0) { $0 + $1.messagesSent }
            let sent = measured["E"]?[report.rank]
            #expect(sent?.bytes == counted, "\(label), rank \(report.rank): MPI sent \(sent?.bytes ?? -1) bytes, counted \(counted)")
            #expect(sent?.messages == messages, "\(label), rank \(report.rank): MPI sent \(sent?.messages ?? -1) messages, counted \(messages)")
            #expect(measured["I"]?[report.rank]?.bytes ?? 0 == 0, "\(label), rank \(report.rank): MPI's own collectives moved data")
        }
    }

    @Test func aDeadRankStopsTheJobNamingIt() throws {
        let run = try CheckRun.run(ranks: 4, ["--elements", "\(Self.elements)", "--micro-batches", "\(Self.microBatches)", "--kill-rank", "2"])
        #expect(run.status != 0)
        #expect(run.output.contains("process rank 2") && run.output.contains("signal 9"), "\(run.output)")
        #expect(run.job.seconds < 30, "the job took \(run.job.seconds) s to stop")
    }

    @Test func ranksThatDisagreeOnTheSlicesGetAnErrorNamingTheirRank() throws {
        let run = try CheckRun.run(ranks: 2, ["--elements", "\(Self.elements)", "--micro-batches", "\(Self.microBatches)", "--disagree-on-slices"])
        #expect(run.status != 0)
        #expect(run.reports.isEmpty)
        // MPI returned MPI_ERR_TRUNCATE (a message longer than its receive) to a rank instead of
        // aborting, and that rank said so.
        let named = (0..<2).filter {
            run.output.contains("rank \($0) of 2: reduce-scatter failed in MPI_Waitall (MPI error class \(MPI_ERR_TRUNCATE)")
        }
        #expect(!named.isEmpty, "\(run.output)")
    }

    /// The benchmark's rows, from rank 0 for both ranks: each rank's bytes per step are the
    /// theory's (R − 1)/R × (4 + 2) bytes per element.
    @Test func theBenchmarkCountsTheTheorysBytesPerRank() throws {
        let job = try MPIJob.run(ranks: 2, ["bench", "collective", "--elements", "4096", "--repetitions", "2", "--json"])
        #expect(job.status == 0, "\(job.output)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(job.stdout.utf8)) as? [String: Any], "\(job.output)")
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(rows.map { $0["rank"] as? Int } == [0, 1])
        for row in rows {
            #expect(row["bytesSent"] as? Int == 2048 * 6 && row["bytesReceived"] as? Int == 2048 * 6)
            #expect(row["theoryBytes"] as? Double == Double(2048 * 6))
            #expect((row["reduceScatterSeconds"] as? Double ?? 0) > 0 && (row["allGatherSeconds"] as? Double ?? 0) > 0)
        }
    }
}
