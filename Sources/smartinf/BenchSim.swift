import ArgumentParser
import Benchmarking
import HardwareModel

struct BenchSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Flow events per second of the max-min fair simulator on a synthetic SU+O step.")

    @Option(help: "Device counts, comma-separated.") var devices: String = "1,6,10"
    @Option(name: .customLong("subgroups"), help: "Subgroups per device.") var subgroups: Int = 400
    @Option(help: "Repetitions (the median is reported).") var repetitions: Int = 5
    @OptionGroup var output: BenchOutputOptions

    func run() throws {
        let counts = try CommaList.integers(devices, flag: "--devices", minimum: 1)
        guard subgroups >= 1, repetitions >= 1 else { throw ValidationError("--subgroups and --repetitions must be at least 1") }
        let rows = counts.map { SimulatorBenchmark.run(devices: $0, subgroupsPerDevice: subgroups, repetitions: repetitions) }
        var table = TextTable(["devices", "subgroups", "operations", "flow events", "simulate ms", "events/s"])
        for r in rows {
            table.append(["\(r.devices)", "\(r.subgroups)", "\(r.operations)", "\(r.flowEvents)",
                          Figures.fixed(r.simulateSeconds * 1e3, 1), Figures.count(r.eventsPerSecond)])
        }
        try output.emit(benchmark: "sim", rows: rows, table: table.rendered)
    }
}
