import OffloadVocabulary
import HardwareModel

/// Where each operation of a *live* run goes on the modeled machine: the resources it crosses,
/// what it costs each, and how its amount follows from what the live code measured (bytes moved,
/// elements updated, FLOPs computed). The virtual clock charges a step's recorded operations
/// along these routes; the paced clock's shared table is written from the same routes, so both
/// clocks model one machine.
public struct LiveRoute: Sendable, Equatable {
    /// amount = bytes × amountPerByte + elements × amountPerElement (elements are FLOPs for compute).
    public var amountPerByte: Double
    public var amountPerElement: Double
    public var path: [ResourceID]
    /// Units of each path resource per unit of amount (1 where absent).
    public var costs: [ResourceID: Double]
    public var phase: OperationTag.Phase
    public var kind: OperationTag.Kind
    public var unit: String

    public func amount(bytes: Int, elements: Double) -> Double {
        Double(bytes) * amountPerByte + elements * amountPerElement
    }
}

/// The routes of one live configuration, with the plan whose resources they name.
///
/// A data-parallel run of R ranks is modeled as R hosts (`IterationPlanner`'s many hosts), each
/// rank one of them: its machine has the network the hosts' collectives cross.
public struct LiveRoutes: Sendable {
    public let mode: OffloadMode
    public let devices: Int
    public let hosts: Int
    /// A plan holding only the modeled machine's resources; live steps are planned on copies.
    public let machinePlan: PlannedIteration
    let machine: ModeledMachine

    public init(setup: HardwareSetup, devices: Int, hosts: Int = 1, mode: OffloadMode) throws(PlanError) {
        guard devices > 0 else { throw .noDevices }
        guard devices <= IterationPlanner.maximumDevices else {
            throw .tooManyDevices(devices, maximum: IterationPlanner.maximumDevices)
        }
        guard hosts > 0 else { throw .noHosts(hosts) }
        guard hosts <= IterationPlanner.maximumHosts else { throw .tooManyHosts(hosts, maximum: IterationPlanner.maximumHosts) }
        if hosts > 1, setup.host.network == nil { throw .noNetwork(hosts: hosts, host: setup.host.profile.name) }
        if mode != .base, setup.device.fpga == nil { throw .noFPGA(mode: mode.rawValue, device: setup.device.profile.name) }
        var plan = PlannedIteration()
        let engine: ModeledMachine.EngineChoice = switch mode {
        case .base: .none
        case .su, .suO: .update
        case .suOC: .decompressUpdate
        }
        machine = ModeledMachine(setup, devices: devices, hosts: hosts, engine: engine, into: &plan)
        machinePlan = plan
        self.mode = mode
        self.devices = devices
        self.hosts = hosts
    }

    /// The whole forward pass (FLOPs as elements) on the GPU.
    public var forward: LiveRoute {
        LiveRoute(amountPerByte: 0, amountPerElement: 1, path: [machine.gpu],
                  costs: [machine.gpu: 1 / machine.setup.gpu.forwardFLOPRate], phase: .forward, kind: .compute, unit: "FLOP")
    }

    /// The whole backward pass (FLOPs as elements) on the GPU.
    public var backward: LiveRoute {
        LiveRoute(amountPerByte: 0, amountPerElement: 1, path: [machine.gpu],
                  costs: [machine.gpu: 1 / machine.setup.gpu.backwardFLOPRate], phase: .backward, kind: .compute, unit: "FLOP")
    }

    /// The gradient payloads the host writes to device `d`'s flash.
    public func offload(to d: Int) -> LiveRoute {
        let device = machine.devices[d]
        return LiveRoute(amountPerByte: 1, amountPerElement: 0, path: [machine.sharedDown, device.portDown, device.flash],
                         costs: [device.flash: machine.writeCost], phase: .gradientOffload, kind: .transfer, unit: "B")
    }

    /// A device operation of device `d`. SmartUpdate keeps state traffic inside the device and
    /// sends only the compute copy up; base (the host's in-process engines) moves every byte over
    /// the shared link and updates on the host CPU. An update is charged the bytes the device
    /// says it streamed (the dense gradient, p and the states as stored: 8 + 4 × states bytes an
    /// element in fp32, 8 + (1 + 4/B) × states with 8-bit states), so the model follows the
    /// live states' precision.
    public func device(_ d: Int, _ kind: OperationRecord.Kind) -> LiveRoute {
        let device = machine.devices[d]
        func transfer(_ phase: OperationTag.Phase, _ path: [ResourceID], _ costs: [ResourceID: Double]) -> LiveRoute {
            LiveRoute(amountPerByte: 1, amountPerElement: 0, path: path, costs: costs, phase: phase, kind: .transfer, unit: "B")
        }
        switch (mode, kind) {
        case (.base, .load):
            return transfer(.stateLoad, [device.flash, device.portUp, machine.sharedUp], [device.flash: machine.readCost])
        case (.base, .update):
            return LiveRoute(amountPerByte: 1, amountPerElement: 0, path: [machine.hostCPU], costs: [:],
                             phase: .update, kind: .compute, unit: "B")
        case (.base, .upload):
            // The host's own memory: nothing modeled.
            return LiveRoute(amountPerByte: 0, amountPerElement: 0, path: [], costs: [:], phase: .parameterUpload, kind: .transfer, unit: "B")
        case (.base, .writeParameters), (.base, .writeStates):
            return transfer(.stateWriteBack, [machine.sharedDown, device.portDown, device.flash], [device.flash: machine.writeCost])
        case (_, .load):
            return transfer(.stateLoad, [device.flash, device.fpgaIn!], [device.flash: machine.readCost])
        case (_, .update):
            return LiveRoute(amountPerByte: 1, amountPerElement: 0, path: [device.fpga!], costs: [:],
                             phase: .update, kind: .compute, unit: "B")
        case (_, .upload):
            return transfer(.parameterUpload, [device.fpgaOut!, device.portUp, machine.sharedUp], [:])
        case (_, .writeParameters), (_, .writeStates):
            return transfer(.stateWriteBack, [device.fpgaOut!, device.flash], [device.flash: machine.peerToPeerWriteCost])
        }
    }

    /// A collective of this rank with the others over the network: the bytes it sent are the
    /// amount (what a many-host plan's collective counts), and its receiving side is charged the
    /// bytes it received, which differ when the ranks' slices do.
    public func collective(_ collective: LiveCollective) -> LiveRoute {
        guard let network = machine.network else { preconditionFailure("a collective on a machine of one host") }
        precondition(collective.sent > 0, "a rank that holds parameters sends in every collective")
        return LiveRoute(amountPerByte: 1, amountPerElement: 0, path: [network.send, network.receive],
                         costs: [network.receive: Double(collective.received) / Double(collective.sent)],
                         phase: collective.phase, kind: .transfer, unit: "B")
    }

    /// Seconds of one resource per unit of amount along a route, for the paced clock's table.
    public func secondsPerUnit(_ route: LiveRoute) -> [(resource: Int, seconds: Double)] {
        route.path.map { r in (r.index, (route.costs[r] ?? 1) / machinePlan.graph.resources[r.index].capacity) }
    }
}

/// A collective this rank ran with the others in a live step: a reduce-scatter of the gradient
/// (`gradientReduceScatter`) or an all-gather of the compute copy (`parameterAllGather`).
public struct LiveCollective: Sendable, Equatable {
    public var phase: OperationTag.Phase
    /// Payload bytes this rank sent to the others and received from them.
    public var sent: Int
    public var received: Int
    /// `ContinuousClock` system nanoseconds.
    public var wall: ClosedRange<UInt64>

    public init(phase: OperationTag.Phase, sent: Int, received: Int, wall: ClosedRange<UInt64>) {
        self.phase = phase
        self.sent = sent
        self.received = received
        self.wall = wall
    }
}

/// What the host recorded of one live step, with each device's report.
public struct LiveStepRecord: Sendable {
    public var forwardFLOPs: Double
    public var backwardFLOPs: Double
    /// `ContinuousClock` system nanoseconds.
    public var forwardWall: ClosedRange<UInt64>
    public var backwardWall: ClosedRange<UInt64>
    /// Per device: payload bytes written and when.
    public var offloads: [(bytes: Int, wall: ClosedRange<UInt64>)]
    public var devices: [[OperationRecord]]
    /// A rank's reduce-scatter before the offload and all-gather after the devices' step, when
    /// it ran them (none alone, no all-gather in a skipped step).
    public var collectives: [LiveCollective]

    public init(forwardFLOPs: Double, backwardFLOPs: Double, forwardWall: ClosedRange<UInt64>, backwardWall: ClosedRange<UInt64>,
                offloads: [(bytes: Int, wall: ClosedRange<UInt64>)], devices: [[OperationRecord]], collectives: [LiveCollective] = []) {
        self.forwardFLOPs = forwardFLOPs
        self.backwardFLOPs = backwardFLOPs
        self.forwardWall = forwardWall
        self.backwardWall = backwardWall
        self.offloads = offloads
        self.devices = devices
        self.collectives = collectives
    }
}

extension LiveRoutes {
    /// The step's recorded operations as a plan on the modeled machine: forward, backward, the
    /// reduce-scatter, each device's gradient offload, then each device's operations with the
    /// dependencies they were recorded with, then the all-gather once they are all done. Also
    /// returns each operation's wall interval (ns), in plan order.
    public func plan(_ step: LiveStepRecord) -> (plan: PlannedIteration, wall: [ClosedRange<UInt64>]) {
        var plan = machinePlan
        var wall: [ClosedRange<UInt64>] = []
        func add(_ route: LiveRoute, bytes: Int, elements: Double, name: String, actor: String, device: Int?, subgroup: Int?,
                 after: [OperationID], interval: ClosedRange<UInt64>) -> OperationID {
            wall.append(interval)
            let amount = route.amount(bytes: bytes, elements: elements)
            let tag = OperationTag(actor: actor, phase: route.phase, kind: route.kind, name: name, layer: nil, subgroup: subgroup,
                                   device: device, unit: route.unit)
            return plan.operation(tag, amount: route.path.isEmpty ? 0 : amount, path: route.path, after: after, costs: route.costs)
        }
        let forward = add(self.forward, bytes: 0, elements: step.forwardFLOPs, name: "forward", actor: "gpu", device: nil,
                          subgroup: nil, after: [], interval: step.forwardWall)
        let backward = add(self.backward, bytes: 0, elements: step.backwardFLOPs, name: "backward", actor: "gpu", device: nil,
                           subgroup: nil, after: [forward], interval: step.backwardWall)
        func addCollective(_ collective: LiveCollective, after: [OperationID]) -> OperationID {
            let name = collective.phase == .gradientReduceScatter ? "reduce-scatter" : "all-gather"
            return add(self.collective(collective), bytes: collective.sent, elements: 0, name: name, actor: "network", device: nil,
                       subgroup: nil, after: after, interval: collective.wall)
        }
        let gradient = step.collectives.first { $0.phase == .gradientReduceScatter }.map { addCollective($0, after: [backward]) } ?? backward
        let offloads = step.offloads.enumerated().map { d, o in
            add(offload(to: d), bytes: o.bytes, elements: 0, name: "gradient to device \(d)", actor: "host", device: d,
                subgroup: nil, after: [gradient], interval: o.wall)
        }
        var deviceOperations: [OperationID] = []
        for (d, records) in step.devices.enumerated() {
            deviceOperations += addDevice(d, records, after: offloads[d], to: &plan, wall: &wall)
        }
        if let gather = step.collectives.first(where: { $0.phase == .parameterAllGather }) {
            _ = addCollective(gather, after: offloads + deviceOperations)
        }
        return (plan, wall)
    }

    /// One device's operations alone (a device's own view of its step, `smartssd --clock`).
    public func plan(device d: Int, _ records: [OperationRecord]) -> PlannedIteration {
        var plan = machinePlan
        var wall: [ClosedRange<UInt64>] = []
        addDevice(d, records, after: nil, to: &plan, wall: &wall)
        return plan
    }

    /// Adds device `d`'s operations; returns them.
    @discardableResult
    private func addDevice(_ d: Int, _ records: [OperationRecord], after start: OperationID?, to plan: inout PlannedIteration,
                           wall: inout [ClosedRange<UInt64>]) -> [OperationID] {
        var ids: [OperationID] = []
        for r in records {
            let route = device(d, r.kind)
            let after = r.after.isEmpty ? (start.map { [$0] } ?? []) : r.after.map { ids[$0] }
            let tag = OperationTag(actor: "device \(d)", phase: route.phase, kind: route.kind, name: "\(r.kind) subgroup \(r.subgroup)",
                                   layer: nil, subgroup: r.subgroup, device: d, unit: route.unit)
            wall.append(r.wallStart...r.wallEnd)
            ids.append(plan.operation(tag, amount: route.path.isEmpty ? 0 : route.amount(bytes: r.bytes, elements: Double(r.elements)),
                                      path: route.path, after: after, costs: route.costs))
        }
        return ids
    }
}
