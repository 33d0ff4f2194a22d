import Foundation
import Testing

/// Two hosts as far as the network can tell, on one machine: two network namespaces joined by a
/// veth pair, an address each in 10.231.0.0/30. Open MPI's `mpirun` runs in the first; it starts
/// its daemon (`orted`) on the second "host" through `agent`, which it calls where it would call
/// ssh, and which runs the daemon inside that host's namespace; the ranks then talk over TCP on
/// the veth (docs/SCALE-OUT.md, "Across hosts").
///
/// The names carry this process's id, so concurrent test runs do not collide; the addresses may
/// repeat across runs since every pair lives in its own namespaces. Everything is removed by
/// `remove()`, and when setting up fails halfway.
final class VethHosts {
    static let addresses = ["10.231.0.1", "10.231.0.2"]
    static let subnet = "10.231.0.0/30"
    let namespaces: [String]
    /// Each namespace's end of the veth pair (at most 15 characters, Linux's limit).
    let interfaces: [String]
    /// The hostfile and the agent.
    let directory: String
    var hostfile: String { "\(directory)/hosts" }
    var agent: String { "\(directory)/agent" }

    init(ip: String) throws {
        let id = getpid()
        namespaces = ["smartinf-\(id)-a", "smartinf-\(id)-b"]
        interfaces = ["si\(id)a", "si\(id)b"]
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("veth-hosts-\(id)-\(UUID().uuidString.prefix(8))").path
        self.ip = ip
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for namespace in namespaces { try run(ip, "netns", "add", namespace) }
            try run(ip, "link", "add", interfaces[0], "type", "veth", "peer", "name", interfaces[1])
            for (namespace, (interface, address)) in zip(namespaces, zip(interfaces, Self.addresses)) {
                try run(ip, "link", "set", interface, "netns", namespace)
                try run(ip, "-n", namespace, "addr", "add", "\(address)/30", "dev", interface)
                try run(ip, "-n", namespace, "link", "set", interface, "up")
                try run(ip, "-n", namespace, "link", "set", "lo", "up")
            }
            // One slot per host, so rank 0 runs on the first and rank 1 on the second.
            try Self.addresses.map { "\($0) slots=1\n" }.joined().write(toFile: hostfile, atomically: true, encoding: .utf8)
            // mpirun calls it as ssh: `agent HOST COMMAND…`, the command one string for a shell.
            // Both hosts are named, though mpirun starts the first host's ranks itself.
            let cases = zip(Self.addresses, namespaces).map { "  \($0)) namespace=\($1) ;;\n" }.joined()
            try """
            #!/bin/sh
            case "$1" in
            \(cases)  *) echo "agent: no namespace for host $1" >&2; exit 1 ;;
            esac
            shift
            exec \(ip) netns exec "$namespace" /bin/sh -c "$*"

            """.write(toFile: agent, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: agent)
        } catch {
            remove()
            throw error
        }
    }

    private let ip: String

    /// Ends whatever still runs in the namespaces (this test's daemons and ranks, if a job was
    /// stopped), deletes them, which deletes the veth pair with them, and the files.
    func remove() {
        for namespace in namespaces {
            let pids = (try? run(ip, "netns", "pids", namespace)) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
            _ = try? run(ip, "netns", "delete", namespace)
        }
        // A pair that never left this namespace (setup failed before the move).
        _ = try? run(ip, "link", "delete", interfaces[0])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// How mpirun is started for a job across the two hosts: in the first namespace, the hosts
    /// from the hostfile, the daemon on the second started through the agent, MPI's messages
    /// (`btl tcp`) and its runtime's (`oob`) over the veth's subnet only.
    var placement: MPIJob.Placement {
        MPIJob.Placement(wrapper: [ip, "netns", "exec", namespaces[0]], options: [
            "--hostfile", hostfile, "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
            "--mca", "btl_tcp_if_include", Self.subnet, "--mca", "oob_tcp_if_include", Self.subnet,
        ])
    }

    /// Bytes host `h`'s end of the veth has sent and received so far (the kernel's counters,
    /// read inside its namespace).
    func counters(_ h: Int) throws -> (sent: Int, received: Int) {
        func read(_ counter: String) throws -> Int {
            let text = try run(ip, "netns", "exec", namespaces[h], "cat", "/sys/class/net/\(interfaces[h])/statistics/\(counter)")
            return try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), "\(counter): '\(text)'")
        }
        return (try read("tx_bytes"), try read("rx_bytes"))
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var command: [String]
        var output: String
        var description: String { "\(command.joined(separator: " ")) failed: \(output)" }
    }

    /// Runs a command to its end; its output, or `CommandFailed` with it.
    @discardableResult
    private func run(_ command: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CommandFailed(command: command, output: text) }
        return text
    }
}

@Suite(.serialized) struct CrossHostTests {
    static let ip = MPIJob.executable("ip")
    static let mpirun = MPIJob.executable("mpirun")

    /// Two ranks, one per namespace, train the small model of `DataParallelTrainingTests` (2
    /// devices each, 4 micro-batches per step): the final parameters and every step's loss and
    /// norm are the one-rank run's, and each host's end of the veth carried at least what the
    /// collectives must move, each way.
    @Test(.enabled(if: getuid() == 0, "not root: creating network namespaces and a veth pair takes CAP_SYS_ADMIN and CAP_NET_ADMIN"),
          .enabled(if: ip != nil, "no ip on PATH (Debian: apt-get install iproute2)"),
          .enabled(if: mpirun != nil, "no mpirun on PATH (Debian: apt-get install openmpi-bin libopenmpi-dev; `make deps` installs both)"))
    func twoHostsOverAVethGiveTheOneRankRunsBits() throws {
        let scratch = try DataParallelTrainingTests.Scratch()
        let hosts = try VethHosts(ip: try #require(Self.ip))
        defer { hosts.remove() }
        let steps = 3
        let reference = try DataParallelTrainingTests.train(scratch, name: "one", ranks: nil, steps: steps)
        #expect(reference.status == 0, "\(reference.output)")
        let before = try (0..<2).map(hosts.counters)
        let job = try DataParallelTrainingTests.train(scratch, name: "hosts", ranks: 2, steps: steps, placement: hosts.placement)
        let after = try (0..<2).map(hosts.counters)
        #expect(job.status == 0, "\(job.output)")
        let outcome = try DataParallelTrainingTests.Outcome(scratch, "hosts")
        #expect(outcome == (try DataParallelTrainingTests.Outcome(scratch, "one")), "two hosts: not the one-rank run's bits")
        // llm.c's model file: a 1024-byte header, then the fp32 parameters.
        let parameters = (outcome.model.count - 1024) / 4
        // Per step each rank sends the others' part of its partial sum and its new part of the
        // fp32 copy, and receives the converse: 4 bytes per parameter each way at two ranks,
        // whatever the slices (docs/SCALE-OUT.md, "What a collective moves").
        let collectives = steps * parameters * 4
        for h in 0..<2 {
            let sent = after[h].sent - before[h].sent
            let received = after[h].received - before[h].received
            #expect(sent >= collectives && received >= collectives,
                    "host \(h)'s veth \(hosts.interfaces[h]): \(sent) B sent and \(received) B received, the collectives alone move \(collectives) B each way")
        }
    }
}
