import HardwareModel
import OffloadVocabulary

/// Plans a whole training iteration — forward, backward with the gradient offload, optimizer
/// step — for a mode, a device count and a machine. The live run's accounting, `replay` and
/// `synth` all plan through here, so a recorded workload replays the way it was run.
///
/// Device counts, subgroup sizes and profiles come from untrusted input (a trace's header,
/// `synth --devices/--subgroup`, `--set fpga.chunk=…`), so a plan is sized before it is built:
/// at most `maximumDevices` devices and `maximumOperations` operations, refused with a
/// `PlanError` that says which setting to change.
public enum IterationPlanner {
    /// The most storage devices a plan may model: 4096.
    ///
    /// The paper runs at most 10 SmartSSDs behind one host. A host addresses at most 256 PCIe
    /// buses per segment, and a SmartSSD takes about four (its port, its private switch's
    /// upstream and two downstream ports), so one segment holds some 64 of them; 4096 is 64
    /// times that and 400 times the paper, room for any "what if" study. Each device adds three
    /// to six resources and, per layer, a gradient write, so at 4096 devices the largest preset
    /// (`gpt2-33.0b`, 104 layers) plans in under a million operations. Without a bound, a trace
    /// with `config.devices` 10^12 made `replay` allocate resources for each until memory ran out.
    public static let maximumDevices = 4096

    /// The most operations a plan may have: 20 million.
    ///
    /// Planned and simulated, an operation costs about 350–400 bytes of memory and 1–5 µs
    /// (release build; `smartinf synth --preset gpt2-33.0b --devices 10 --mode su+o --subgroup
    /// 300000`: 4.5 million operations, 1.6 GB peak, 5 s; at 4096 devices the simulator's
    /// fair sharing spans more flows and takes 4.7 µs each). Saving the trace (`--save`) raises
    /// that to about 1.5 KB and 17 µs per operation, with 340 bytes of JSON written for each. So
    /// a plan at the limit needs about 7.5 GB and up to a minute and a half: the most a study
    /// should ask of a workstation, where 50 million (19 GB) would exhaust the 24 GB machine this
    /// was measured on.
    ///
    /// The bound still admits every configuration the other bounds allow at DeepSpeed's
    /// default subgroups (10^9 elements) and the shipped chunks (256 MB): a model of nearly 2^40
    /// parameters (`ModelShape.maximumElements`; 21 layers of hidden 65536) on 4096 devices is
    /// 17.9 million operations in su+o (84 s, 6.2 GB). The paper's cases are far below:
    /// `gpt2-33.0b` on 10 devices is 2,406 (base) to 8,973 (su+o) operations, and the 72 points
    /// of `smartinf sweep` 4,515 at most. A subgroup of one element of that model would make
    /// 1.6 × 10^11 (su+o), and a 64-byte `fpga.chunk` 2.5 × 10^10.
    public static let maximumOperations = 20_000_000

    /// The most hosts a plan may model: 65,536.
    ///
    /// A plan models one host and its share of the collectives (the hosts are alike), so its
    /// size does not grow with the hosts: the bound only keeps studies physical. Llama 3 405B
    /// was trained on up to 16,384 H100s (Llama Team, "The Llama 3 Herd of Models", 2024); a
    /// host here has one GPU, and 65,536 is four times that run.
    public static let maximumHosts = 65_536

    /// The size of the plan `plan` would build, counted without building it; refuses what `plan`
    /// refuses: no devices or more than `maximumDevices`, no hosts or more than `maximumHosts`,
    /// many hosts without a network, SmartUpdate without an FPGA, and more operations than
    /// `limit`. `devices` are each host's.
    public static func size(_ mode: OffloadMode, _ workload: IterationWorkload, devices: Int, hosts: Int = 1,
                            on setup: HardwareSetup, limit: Int = maximumOperations) throws(PlanError) -> PlanSize {
        guard devices > 0 else { throw .noDevices }
        guard devices <= maximumDevices else { throw .tooManyDevices(devices, maximum: maximumDevices) }
        guard hosts > 0 else { throw .noHosts(hosts) }
        guard hosts <= maximumHosts else { throw .tooManyHosts(hosts, maximum: maximumHosts) }
        if hosts > 1, setup.host.network == nil { throw .noNetwork(hosts: hosts, host: setup.host.profile.name) }
        if mode != .base, setup.device.fpga == nil {
            throw .noFPGA(mode: mode.rawValue, device: setup.device.profile.name)
        }
        let size = PlanSize(mode, workload, devices: devices, hosts: hosts, on: setup)
        guard size.operations <= limit else { throw .tooManyOperations(size, limit: limit) }
        return size
    }

    /// Plans the iteration, once `size` has accepted it (`limit` is for tests: a small limit
    /// shows that a plan above it is refused before it is built).
    public static func plan(_ mode: OffloadMode, _ workload: IterationWorkload, devices: Int, hosts: Int = 1,
                            on setup: HardwareSetup, limit: Int = maximumOperations) throws(PlanError) -> PlannedIteration {
        _ = try size(mode, workload, devices: devices, hosts: hosts, on: setup, limit: limit)
        var plan = PlannedIteration()
        let engine: ModeledMachine.EngineChoice = switch mode {
        case .base: .none
        case .su, .suO: .update
        case .suOC: .decompressUpdate
        }
        let machine = ModeledMachine(setup, devices: devices, hosts: hosts, engine: engine, into: &plan)
        let offloaded = ComputePlanner(workload: workload, compressed: mode == .suOC, machine: machine).plan(into: &plan)
        UpdatePlanner(mode: mode, workload: workload, machine: machine).plan(after: offloaded, into: &plan)
        return plan
    }

    /// Plans and simulates.
    public static func timeline(_ mode: OffloadMode, _ workload: IterationWorkload, devices: Int, hosts: Int = 1,
                                on setup: HardwareSetup) throws(PlanError) -> IterationTimeline {
        IterationTimeline(try plan(mode, workload, devices: devices, hosts: hosts, on: setup))
    }
}

public enum PlanError: Error, Equatable, CustomStringConvertible {
    case noDevices
    /// More devices than `IterationPlanner.maximumDevices`.
    case tooManyDevices(Int, maximum: Int)
    case noFPGA(mode: String, device: String)
    /// A host count below 1.
    case noHosts(Int)
    /// More hosts than `IterationPlanner.maximumHosts`.
    case tooManyHosts(Int, maximum: Int)
    /// Many hosts on a host profile without the network that joins them.
    case noNetwork(hosts: Int, host: String)
    /// A plan of more operations than `limit` (`IterationPlanner.maximumOperations`).
    case tooManyOperations(PlanSize, limit: Int)

    public var description: String {
        switch self {
        case .noDevices: "--devices must be at least 1"
        case .tooManyDevices(let devices, let maximum):
            "--devices \(devices): expected at most \(maximum) storage devices (the paper models up to 10)"
        case .noHosts(let hosts): "--hosts \(hosts): expected at least 1 host"
        case .tooManyHosts(let hosts, let maximum):
            "--hosts \(hosts): expected at most \(maximum) hosts (four times the 16,384 GPUs Llama 3 405B was trained on)"
        case .noNetwork(let hosts, let host):
            "--hosts \(hosts): the hosts reduce gradients and gather parameters over their network, but host profile '\(host)' "
                + "has no net section; add one with net.bandwidth (usable per direction, e.g. 200Gb/s), or use --hosts 1"
        case .noFPGA(let mode, let device):
            "mode \(mode) updates on the device's FPGA, but device profile '\(device)' has no fpga section; use --device smartssd or --mode base"
        case .tooManyOperations(let size, let limit):
            "the \(size.mode.rawValue) plan would have \(size.operations) operations, more than the \(limit) a plan may "
                + "have: \(Self.advice(size, limit: limit)). It would be \(size.summary)."
        }
    }

    /// Which setting to change for a plan that is too large, and how.
    static func advice(_ size: PlanSize, limit: Int) -> String {
        let subgroup = "raise the subgroup size (now \(PlanSize.elements(size.subgroupElements)): synth's --subgroup, a trace's "
            + "workload.subgroupElements; DeepSpeed's default is 1000000000)"
        func chunk(_ bound: PlanSize.ChunkBound) -> String {
            let now = size.chunkSettingBytes.map { "now \($0) B, " } ?? ""
            return switch bound {
            case .chunk: "raise the chunk size (\(now)--set fpga.chunk=SIZE; the shipped smartssd has 256MB)"
            case .dram: "raise the FPGA DRAM, which must hold three chunks (one share in su) (\(now)--set fpga.dram=SIZE; the shipped smartssd has 4GiB)"
            }
        }
        return switch size.culprit(limit: limit) {
        case .devices:
            "the forward and backward alone have \(size.computeOperations) (a gradient write per layer per device): use fewer --devices"
        case .subgroupSize: subgroup
        case .chunkSize(let bound): chunk(bound)
        case .subgroupAndChunkSize(let bound): subgroup + ", and " + chunk(bound)
        }
    }
}
