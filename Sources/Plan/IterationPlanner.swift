import HardwareModel

/// Plans a whole training iteration — forward, backward with the gradient offload, optimizer
/// step — for a mode, a device count and a machine. The live run's accounting, `replay` and
/// `synth` all plan through here, so a recorded workload replays the way it was run.
public enum IterationPlanner {
    public static func plan(_ mode: PlannedMode, _ workload: IterationWorkload, devices: Int,
                            on setup: HardwareSetup) throws(PlanError) -> PlannedIteration {
        guard devices > 0 else { throw .noDevices }
        if mode != .base, setup.device.fpga == nil {
            throw .noFPGA(mode: mode.rawValue, device: setup.device.profile.name)
        }
        var plan = PlannedIteration()
        let engine: ModeledMachine.EngineChoice = switch mode {
        case .base: .none
        case .su, .suO: .update
        case .suOC: .decompressUpdate
        }
        let machine = ModeledMachine(setup, devices: devices, engine: engine, into: &plan)
        let offloaded = ComputePlanner(workload: workload, compressed: mode == .suOC, machine: machine).plan(into: &plan)
        UpdatePlanner(mode: mode, workload: workload, machine: machine).plan(after: offloaded, into: &plan)
        return plan
    }

    /// Plans and simulates.
    public static func timeline(_ mode: PlannedMode, _ workload: IterationWorkload, devices: Int,
                                on setup: HardwareSetup) throws(PlanError) -> IterationTimeline {
        IterationTimeline(try plan(mode, workload, devices: devices, on: setup))
    }
}

public enum PlanError: Error, Equatable, CustomStringConvertible {
    case noDevices
    case noFPGA(mode: String, device: String)

    public var description: String {
        switch self {
        case .noDevices: "--devices must be at least 1"
        case .noFPGA(let mode, let device):
            "mode \(mode) updates on the device's FPGA, but device profile '\(device)' has no fpga section; use --device smartssd or --mode base"
        }
    }
}
