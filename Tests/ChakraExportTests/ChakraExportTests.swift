import ChakraExport
import ChakraSchema
import Foundation
import HardwareModel
import OffloadVocabulary
import Plan
import SwiftProtobuf
import Testing
import Trace

/// The export's files read back from disk with the generated Chakra schema and SwiftProtobuf's
/// own length-delimited reader (not the exporter's framing), then checked against the trace:
/// every operation is there, the graphs are DAGs whose messages pair up, every dependency of
/// the trace is still a path in the graphs, and times and sizes are the trace's.
@Suite struct ChakraExportTests {
    /// One rank's file, decoded.
    struct Rank {
        var metadata: ChakraProtoMsg_GlobalMetadata
        var nodes: [ChakraProtoMsg_Node]
    }

    static func decode(_ path: String) throws -> Rank {
        let stream = try #require(InputStream(fileAtPath: path))
        stream.open()
        defer { stream.close() }
        let metadata = try BinaryDelimited.parse(messageType: ChakraProtoMsg_GlobalMetadata.self, from: stream)
        var nodes: [ChakraProtoMsg_Node] = []
        while true {
            do {
                nodes.append(try BinaryDelimited.parse(messageType: ChakraProtoMsg_Node.self, from: stream))
            } catch let error as SwiftProtobufError where error.code == .binaryStreamDecodingError {
                break   // the end of the file: no bytes where the next length would be
            }
        }
        return Rank(metadata: metadata, nodes: nodes)
    }

    /// Exports `trace` under a fresh prefix and reads every file back.
    static func exportAndDecode(_ trace: TraceFile) throws -> (ChakraExport, [Rank]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chakra-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let export = try ChakraExport(trace)
        let paths = try export.write(prefix: "\(directory)/run")
        let groups = export.hosts > 1 ? ["\(directory)/run.comm_group.json"] : []
        #expect(paths == (0..<export.rankCount).map { "\(directory)/run.\($0).et" } + groups)
        if export.hosts > 1 {
            // ASTRA-sim's communicator groups: the trainers, one per host.
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: groups[0]))) as? [String: [Int]]
            #expect(json == ["1": (0..<export.hosts).map { $0 * export.ranksPerHost }])
        }
        return (export, try paths.dropLast(groups.count).map(decode))
    }

    static func plannedTrace(_ mode: OffloadMode, devices: Int, hosts: Int = 1) throws -> TraceFile {
        let setup = try HardwareSetup(host: "hpca24-host", device: "smartssd", gpu: "a5000", from: ProfileLibrary.locate())
        let model = try ModelShape(family: .gpt2, layers: 4, hidden: 256, heads: 4, sequence: 128, batch: 2, vocabulary: 1024)
        let workload = try IterationWorkload(model: model, subgroupElements: 500_000, topkRatio: 0.01)
        let timeline = try IterationPlanner.timeline(mode, workload, devices: devices, hosts: hosts, on: setup)
        return TraceFile(timeline, workload: workload, mode: mode, devices: devices, hosts: hosts,
                         profile: TraceProfile(host: "hpca24-host", device: "smartssd", gpu: "a5000"), source: .synth)
    }

    /// A small trace by hand, one operation of each kind the mapping distinguishes, with times
    /// chosen so that every duration is a whole number of microseconds.
    static func handTrace() throws -> TraceFile {
        let model = try ModelShape(family: .gpt2, layers: 2, hidden: 64, heads: 4, sequence: 32, batch: 1, vocabulary: 256)
        let header = TraceHeader(
            created: "2026-11-28T03:00:00Z", source: .synth, workload: try IterationWorkload(model: model, subgroupElements: 1000),
            config: TraceConfig(mode: .suO, devices: 1),
            profile: TraceProfile(host: "hpca24-host", device: "smartssd", gpu: "a5000"),
            resources: [
                TraceResource(id: 0, name: "GPU", capacity: 1, place: .gpu),
                TraceResource(id: 1, name: "GPU link ↓", capacity: 25e9, place: .gpu),
                TraceResource(id: 2, name: "shared link ↓", capacity: 7e9, place: .sharedLink),
                TraceResource(id: 3, name: "shared link ↑", capacity: 7e9, place: .sharedLink),
                TraceResource(id: 4, name: "device 0 flash", capacity: 1, place: .device(0)),
                TraceResource(id: 5, name: "device 0 port ↓", capacity: 3.2e9, place: .device(0)),
                TraceResource(id: 6, name: "device 0 port ↑", capacity: 3.2e9, place: .device(0)),
                TraceResource(id: 7, name: "device 0 FPGA link ↓", capacity: 3.2e9, place: .device(0)),
                TraceResource(id: 8, name: "device 0 FPGA link ↑", capacity: 3.2e9, place: .device(0)),
                TraceResource(id: 9, name: "device 0 FPGA", capacity: 8e9, place: .device(0)),
                TraceResource(id: 10, name: "host CPU", capacity: 6.4e10, place: .host),
            ])
        func op(_ id: Int, _ actor: String, _ phase: OperationTag.Phase, _ kind: OperationTag.Kind, _ unit: String, _ amount: Double,
                _ path: [Int], after: [Int], _ start: Double, _ end: Double) -> TraceOperation {
            TraceOperation(id: id, actor: actor, phase: phase, kind: kind, name: "op \(id)", unit: unit, amount: amount, path: path,
                           after: after, device: actor.hasPrefix("device") ? 0 : nil, modeled: TraceInterval(start: start, end: end))
        }
        return TraceFile(header: header, operations: [
            op(0, "host", .forward, .transfer, "B", 4e6, [1], after: [], 0, 0.001),                       // COMP on 0 (a transfer)
            op(1, "gpu", .forward, .compute, "FLOP", 1.2e12, [0], after: [0], 0.001, 0.011),               // COMP on 0
            op(2, "gpu", .backward, .compute, "FLOP", 2.4e12, [0], after: [1], 0.011, 0.031),              // COMP on 0
            op(3, "host", .gradientOffload, .transfer, "B", 4e8, [2, 5, 4], after: [2], 0.031, 0.156),      // 0 → 1
            op(4, "device 0", .stateLoad, .transfer, "B", 9e8, [4, 7], after: [3], 0.156, 0.456),           // COMP on 1 (a transfer)
            op(5, "device 0", .update, .compute, "B", 1.2e9, [9], after: [4], 0.456, 0.606),                // COMP on 1
            op(6, "device 0", .stateWriteBack, .transfer, "B", 8e8, [8, 4], after: [5], 0.606, 0.856),      // COMP on 1 (a transfer)
            op(7, "device 0", .parameterUpload, .transfer, "B", 1e8, [8, 6, 3], after: [5], 0.606, 0.637),  // 1 → 0
            op(8, "host cpu", .update, .compute, "B", 6.4e8, [10], after: [6, 7], 0.856, 0.866),            // CPU on 0, waits for 6 on 1
            op(9, "device 0", .update, .compute, "B", 0, [], after: [8, 8], 0.866, 0.866),                   // join on 1, waits for 8
        ])
    }

    @Test func aHandTraceMapsAsDocumented() throws {
        let trace = try Self.handTrace()
        let (export, ranks) = try Self.exportAndDecode(trace)
        #expect(ranks.count == 2)
        for (i, rank) in ranks.enumerated() {
            #expect(rank.metadata.version == "1.0.0")
            #expect(rank.metadata.attr.first { $0.name == "smartinf_rank" }?.int64Val == Int64(i))
            #expect(rank.nodes.map(\.id) == (0..<UInt64(rank.nodes.count)).map { $0 })
        }
        let trainer = ranks[0].nodes, device = ranks[1].nodes
        func named(_ nodes: [ChakraProtoMsg_Node], _ op: Int) -> [ChakraProtoMsg_Node] {
            nodes.filter { $0.attribute("smartinf_op")?.int64Val == Int64(op) }
        }
        // Rank 0: host→GPU transfer, forward, backward, the offload's send, the upload's receive,
        // the CPU update, and (for op 8 waiting on op 6) the receive of a dependency message;
        // then op 9's dependency message from rank 0 to rank 1 sends from here.
        // Transfers inside a rank are compute nodes ASTRA-sim replays; their kind says what they were.
        #expect(named(trainer, 0).map(\.type) == [.compNode])
        #expect(named(trainer, 0)[0].attribute("smartinf_kind")?.stringVal == "transfer")
        #expect(named(trainer, 1).map(\.type) == [.compNode] && named(trainer, 2).map(\.type) == [.compNode])
        #expect(named(trainer, 3).map(\.type) == [.commSendNode] && named(device, 3).map(\.type) == [.commRecvNode])
        #expect(named(device, 4).map(\.type) == [.compNode])
        #expect(named(device, 5).map(\.type) == [.compNode])
        #expect(named(device, 6).map(\.type) == [.compNode] && named(device, 6)[0].attribute("tensor_size")?.uint64Val == 800_000_000)
        #expect(named(device, 7).map(\.type) == [.commSendNode] && named(trainer, 7).map(\.type) == [.commRecvNode])
        #expect(named(trainer, 8).map(\.type) == [.compNode] && named(device, 9).map(\.type) == [.compNode])
        #expect(export.dependencyMessages == 2)
        #expect(trainer.count == 8 && device.count == 8)
        #expect(export.nodeCounts == [8, 8])

        // Times in microseconds, sizes and FLOPs as whole numbers.
        let forward = named(trainer, 1)[0]
        #expect(forward.startTimeMicros == 1000 && forward.durationMicros == 10_000)
        #expect(forward.attribute("num_ops")?.int64Val == 1_200_000_000_000)
        #expect(forward.attribute("is_cpu_op")?.boolVal == false)
        // The host CPU's update runs on the trainer's compute (ASTRA-sim aborts on a CPU node);
        // its actor says whose it was.
        #expect(named(trainer, 8)[0].attribute("is_cpu_op")?.boolVal == false)
        #expect(named(trainer, 8)[0].attribute("smartinf_actor")?.stringVal == "host cpu")
        #expect(forward.attribute("smartinf_actor")?.stringVal == "gpu" && forward.attribute("smartinf_kind")?.stringVal == "compute")
        #expect(named(device, 5)[0].attribute("tensor_size")?.uint64Val == 1_200_000_000)
        #expect(named(device, 4)[0].attribute("tensor_size")?.uint64Val == 900_000_000)
        let send = named(trainer, 3)[0], receive = named(device, 3)[0]
        for node in [send, receive] {
            #expect(node.attribute("comm_src")?.int32Val == 0 && node.attribute("comm_dst")?.int32Val == 1)
            #expect(node.attribute("comm_size")?.int64Val == 400_000_000 && node.attribute("tensor_size")?.uint64Val == 400_000_000)
            #expect(node.durationMicros == 125_000 && node.startTimeMicros == 31_000)
        }
        #expect(send.attribute("comm_tag")?.int32Val == receive.attribute("comm_tag")?.int32Val)
        // Dependencies: the send waits for the backward pass; the receive waits for nothing;
        // the state load waits for the receive.
        #expect(send.dataDeps == [named(trainer, 2)[0].id])
        #expect(receive.dataDeps.isEmpty)
        #expect(named(device, 4)[0].dataDeps == [receive.id])
        // Op 8 waits for op 7's receive on rank 0 and for op 6 through a one-byte message.
        let cpu = named(trainer, 8)[0]
        #expect(Set(cpu.dataDeps).contains(named(trainer, 7)[0].id))
        let arrival = try #require(trainer.first { $0.type == .commRecvNode && $0.attribute("smartinf_after_op")?.int64Val == 6 })
        #expect(Set(cpu.dataDeps) == [named(trainer, 7)[0].id, arrival.id])
        #expect(arrival.attribute("comm_size")?.int64Val == 1 && arrival.startTimeMicros == 856_000 && arrival.durationMicros == 0)
        let departure = try #require(device.first { $0.type == .commSendNode && $0.attribute("smartinf_after_op")?.int64Val == 6 })
        #expect(departure.dataDeps == [named(device, 6)[0].id])
        // The join point waits once for op 8, listed twice in the trace.
        #expect(named(device, 9)[0].dataDeps.count == 1)
        try Self.checkGraphs(ranks, against: trace)
    }

    /// A transfer between ranks with nothing to carry still sends one byte: ASTRA-sim's analytical
    /// network asserts that a message is not empty.
    @Test func anEmptyTransferBetweenRanksCarriesOneByte() throws {
        var trace = try Self.handTrace()
        trace.operations[3].amount = 0   // host → device 0's flash
        let (_, ranks) = try Self.exportAndDecode(trace)
        let send = try #require(ranks[0].nodes.first { $0.attribute("smartinf_op")?.int64Val == 3 })
        let receive = try #require(ranks[1].nodes.first { $0.attribute("smartinf_op")?.int64Val == 3 })
        #expect(send.type == .commSendNode && receive.type == .commRecvNode)
        for node in [send, receive] {
            #expect(node.attribute("comm_size")?.int64Val == 1 && node.attribute("tensor_size")?.uint64Val == 1)
        }
        try Self.checkGraphs(ranks, against: trace)
    }

    /// A planned and simulated iteration of every mode on two devices: the whole trace checked.
    @Test(arguments: OffloadMode.allCases)
    func aPlannedIterationSurvivesTheExport(mode: OffloadMode) throws {
        let trace = try Self.plannedTrace(mode, devices: 2)
        let (export, ranks) = try Self.exportAndDecode(trace)
        #expect(ranks.count == 3)
        #expect(ranks.map(\.nodes.count) == export.nodeCounts)
        #expect(ranks[0].metadata.attr.first { $0.name == "smartinf_mode" }?.stringVal == mode.rawValue)
        try Self.checkGraphs(ranks, against: trace)
    }

    /// Three hosts of two devices: nine files, each host's the first host's with its own ranks
    /// in its messages, the collectives among the trainers with the whole buffer as their size.
    @Test func manyHostsRepeatTheHostWithCollectivesAmongTheTrainers() throws {
        let trace = try Self.plannedTrace(.suO, devices: 2, hosts: 3)
        let (export, ranks) = try Self.exportAndDecode(trace)
        #expect(export.hosts == 3 && export.ranksPerHost == 3 && ranks.count == 9)
        try Self.checkGraphs(Array(ranks[0..<3]), against: trace)
        let collectives = ranks[0].nodes.filter { $0.type == .commCollNode }
        #expect(collectives.count == trace.operations.filter { $0.actor == "network" }.count && !collectives.isEmpty)
        #expect(ranks[1].nodes.allSatisfy { $0.type != .commCollNode } && ranks[2].nodes.allSatisfy { $0.type != .commCollNode })
        for (r, rank) in ranks.enumerated() {
            let host = r / 3
            #expect(rank.metadata.attr.first { $0.name == "smartinf_rank" }?.int64Val == Int64(r))
            #expect(rank.metadata.attr.first { $0.name == "smartinf_hosts" }?.int64Val == 3)
            var expected = ranks[r % 3].nodes
            for n in expected.indices {
                for a in expected[n].attr.indices where ["comm_src", "comm_dst"].contains(expected[n].attr[a].name) {
                    expected[n].attr[a].int32Val += Int32(host * 3)
                }
            }
            #expect(rank.nodes == expected, "rank \(r) is not host 0's rank \(r % 3) moved to host \(host)")
        }
    }

    /// The checks that hold for any trace:
    /// - node ids are 0…n−1 in file order and `data_deps` name earlier nodes of the same file;
    /// - each send has one receive on its destination with the same source, tag and size;
    /// - every operation is one node, or for a transfer between ranks a send and a receive, and
    ///   the other nodes are one-byte dependency messages: nodes = operations + messages + 2 ×
    ///   dependency messages;
    /// - every node is of a type ASTRA-sim runs to the end: compute off the CPU, or communication;
    /// - all files together, with each send → receive as an edge, form a DAG in which every
    ///   `after` of the trace is still a path;
    /// - durations are the modeled ones to the microsecond; bytes and FLOPs are the amounts.
    static func checkGraphs(_ ranks: [Rank], against trace: TraceFile) throws {
        struct Key: Hashable { let rank: Int, node: UInt64 }
        var successors: [Key: [Key]] = [:]
        var receives: [[Int32]: Key] = [:]
        var sends: [[Int32]: (Key, Int64?)] = [:]
        var byOperation: [Int: [(Key, ChakraProtoMsg_Node)]] = [:]
        var dependencyNodes = 0
        for (r, rank) in ranks.enumerated() {
            for (i, node) in rank.nodes.enumerated() {
                #expect(node.id == UInt64(i))
                let key = Key(rank: r, node: node.id)
                #expect([.compNode, .commSendNode, .commRecvNode, .commCollNode].contains(node.type), "rank \(r) node \(node.id) is a \(node.type)")
                #expect(node.attribute("is_cpu_op")?.boolVal == false, "ASTRA-sim's statistics abort on a CPU node")
                successors[key, default: []] += []
                for dependency in node.dataDeps {
                    #expect(dependency < node.id, "rank \(r) node \(node.id) depends on a later or missing node \(dependency)")
                    successors[Key(rank: r, node: dependency), default: []].append(key)
                }
                if node.type == .commSendNode || node.type == .commRecvNode {
                    let triple = try [#require(node.attribute("comm_src")?.int32Val), #require(node.attribute("comm_dst")?.int32Val),
                                      #require(node.attribute("comm_tag")?.int32Val)]
                    #expect(triple[node.type == .commSendNode ? 0 : 1] == Int32(r), "a message's own end is its file's rank")
                    #expect(node.attribute("is_cpu_op")?.boolVal == false, "ASTRA-sim refuses communication on the CPU")
                    if node.type == .commSendNode {
                        #expect(sends[triple] == nil)
                        sends[triple] = (key, node.attribute("comm_size")?.int64Val)
                    } else {
                        #expect(receives[triple] == nil)
                        receives[triple] = key
                    }
                }
                if let op = node.attribute("smartinf_op")?.int64Val {
                    byOperation[Int(op), default: []].append((key, node))
                } else {
                    #expect(node.attribute("smartinf_after_op") != nil && node.attribute("comm_size")?.int64Val == 1)
                    dependencyNodes += 1
                }
            }
        }
        #expect(Set(sends.keys) == Set(receives.keys))
        for (triple, (send, _)) in sends {
            if let receive = receives[triple] { successors[send]!.append(receive) }
        }

        // Every operation, as its nodes; its first and last node for the dependency check.
        var first: [Key] = [], last: [Key] = []
        var messages = 0
        for operation in trace.operations {
            // A message's send first, wherever the ranks put it.
            let nodes = (byOperation[operation.id] ?? []).sorted { $0.1.type == .commSendNode && $1.1.type != .commSendNode }
            let expectedMicros = operation.modeled.duration * 1e6
            for (_, node) in nodes {
                #expect(abs(Double(node.durationMicros) - expectedMicros) <= 0.5, "op \(operation.id)")
                #expect(abs(Double(node.startTimeMicros) - operation.modeled.start * 1e6) <= 0.5, "op \(operation.id)")
                #expect(node.attribute("smartinf_phase")?.stringVal == operation.phase.rawValue)
                #expect(node.attribute("smartinf_actor")?.stringVal == operation.actor)
                #expect(node.attribute("smartinf_kind")?.stringVal == operation.kind.rawValue)
            }
            let whole = UInt64(operation.amount.rounded())
            switch nodes.map(\.1.type) {
            case [.commSendNode, .commRecvNode] where operation.kind == .transfer:
                messages += 1
                #expect(nodes[0].0.rank != nodes[1].0.rank)
                // At least one byte: ASTRA-sim's network refuses an empty message.
                let size = max(whole, 1)
                for (_, node) in nodes {
                    #expect(node.attribute("comm_size")?.int64Val == Int64(size) && node.attribute("tensor_size")?.uint64Val == size)
                }
            case [.commCollNode]:
                let node = nodes[0].1
                let hosts = Double(trace.header.config.hosts)
                #expect(operation.actor == "network" && nodes[0].0.rank == 0)
                #expect(node.attribute("comm_type")?.int64Val == Int64(operation.phase == .gradientReduceScatter
                    ? ChakraProtoMsg_CollectiveCommType.reduceScatter.rawValue : ChakraProtoMsg_CollectiveCommType.allGather.rawValue))
                // The trace counts what one host sends, (N − 1)/N of the buffer.
                let buffer = try #require(node.attribute("comm_size")?.int64Val)
                #expect(abs(Double(buffer) * (hosts - 1) / hosts - operation.amount) <= 1, "op \(operation.id)")
                #expect(node.attribute("pg_name")?.stringVal == "1" && node.attribute("is_cpu_op")?.boolVal == false)
            case [.compNode]:
                // A compute operation, or a transfer whose ends are on one rank (the same device's,
                // or both away from the devices).
                if operation.kind == .transfer {
                    let ends = try [#require(operation.path.first), #require(operation.path.last)].map { resource -> Int in
                        if case .device(let i) = trace.header.resources[resource].place { return i }
                        return -1
                    }
                    #expect(ends[0] == ends[1], "op \(operation.id) crosses ranks but became one compute node")
                }
                if operation.unit == "FLOP" { #expect(nodes[0].1.attribute("num_ops")?.int64Val == Int64(whole)) }
                if operation.unit == "B" { #expect(nodes[0].1.attribute("tensor_size")?.uint64Val == whole) }
            default:
                Issue.record("op \(operation.id) (\(operation.kind), \(operation.name)) became \(nodes.map(\.1.type))")
                return
            }
            first.append(nodes[0].0)
            last.append(nodes[nodes.count - 1].0)
        }
        let total = ranks.map(\.nodes.count).reduce(0, +)
        #expect(total == trace.operations.count + messages + dependencyNodes)
        #expect(dependencyNodes % 2 == 0)

        // A DAG: Kahn's algorithm consumes every node.
        var indegree: [Key: Int] = successors.mapValues { _ in 0 }
        for targets in successors.values { for target in targets { indegree[target, default: 0] += 1 } }
        var ready = indegree.filter { $0.value == 0 }.map(\.key)
        var order: [Key: Int] = [:]
        while let key = ready.popLast() {
            order[key] = order.count
            for target in successors[key]! {
                indegree[target]! -= 1
                if indegree[target] == 0 { ready.append(target) }
            }
        }
        #expect(order.count == total, "the graphs have a cycle")

        // Every dependency of the trace is a path from the predecessor's last node to the
        // operation's first node.
        var predecessors: [Key: [Key]] = [:]
        for (source, targets) in successors { for target in targets { predecessors[target, default: []].append(source) } }
        for operation in trace.operations where !operation.after.isEmpty {
            var reached: Set<Key> = [first[operation.id]]
            var stack = [first[operation.id]]
            while let key = stack.popLast() {
                for source in predecessors[key] ?? [] where reached.insert(source).inserted { stack.append(source) }
            }
            for predecessor in operation.after {
                #expect(reached.contains(last[predecessor]), "op \(operation.id) no longer waits for op \(predecessor)")
            }
        }
    }

    @Test func anUnwritablePrefixIsRefusedNamingIt() throws {
        let export = try ChakraExport(try Self.handTrace())
        #expect(export.communicatorGroups == nil)
        let missing = "/nonexistent-\(UUID().uuidString)/run"
        let error = try #require(throws: TraceError.self) { try export.write(prefix: missing) }
        #expect(error.file == "\(missing).0.et")
        guard case .cannotWrite = error.problem else { Issue.record("\(error)"); return }
        #expect(error.description.contains(missing))

        let directory = FileManager.default.temporaryDirectory.path
        let refused = try #require(throws: TraceError.self) { try export.write(prefix: directory) }
        #expect(refused.file == directory && refused.description.contains("is a directory"))
    }

    @Test func moreRanksThanTheMaximumAreRefusedNamingTheHosts() throws {
        let hosts = ChakraExport.maximumRanks / 3 + 1
        let error = try #require(throws: TraceError.self) { try ChakraExport(try Self.plannedTrace(.suO, devices: 2, hosts: hosts)) }
        #expect(error.line == 1 && error.field == "config.hosts" && error.description.contains("\(hosts) hosts of 3 ranks"))
    }

    @Test func anAmountBeyondChakrasIntegersIsRefusedNamingTheLine() throws {
        var trace = try Self.handTrace()
        trace.operations[5].amount = 1e30
        let error = try #require(throws: TraceError.self) { try ChakraExport(trace, file: "big.jsonl") }
        #expect(error.file == "big.jsonl" && error.line == 7 && error.field == "amount")
    }
}

extension ChakraProtoMsg_Node {
    /// The attribute named `name`, which must appear at most once.
    func attribute(_ name: String) -> ChakraProtoMsg_AttributeProto? {
        let matches = attr.filter { $0.name == name }
        #expect(matches.count <= 1, "node \(id) has \(matches.count) attributes \(name)")
        return matches.first
    }
}
