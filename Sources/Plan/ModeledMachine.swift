import HardwareModel

/// The resources of the modeled machine, created once per plan: a GPU and its host link, the
/// shared host link the N storage devices sit behind, the host CPU, and per device its flash,
/// its upstream port and, for a SmartSSD, the FPGA with its own link into the device's private
/// PCIe switch.
///
/// Flash is one resource for reads and writes (capacity 1: seconds of flash time per second),
/// which a read charges 1/read-bandwidth per byte and a write 1/write-bandwidth: an SSD cannot
/// read at full speed while it writes at full speed. A write the SSD pulls from FPGA DRAM
/// (peer-to-peer) is charged 1/`fpga.peerToPeerWrite`, a write the host pushes 1/`ssd.write`. The GPU is likewise one engine charged in
/// seconds per FLOP (forward and backward run at different efficiencies) or per byte scanned.
struct ModeledMachine {
    struct Device {
        let index: Int
        let flash: ResourceID
        let portDown: ResourceID
        let portUp: ResourceID
        /// The FPGA's link into the device switch, towards the FPGA (SSD loads) and away from it
        /// (write-backs and uploads); nil for a plain SSD.
        let fpgaIn: ResourceID?
        let fpgaOut: ResourceID?
        let fpga: ResourceID?
    }

    let setup: HardwareSetup
    let gpu: ResourceID
    let gpuLinkDown: ResourceID
    let gpuLinkUp: ResourceID
    let sharedDown: ResourceID
    let sharedUp: ResourceID
    let hostCPU: ResourceID
    let devices: [Device]

    init(_ setup: HardwareSetup, devices count: Int, engine: EngineChoice, into plan: inout PlannedIteration) {
        self.setup = setup
        gpu = plan.resource("GPU", capacity: 1, at: .gpu)
        gpuLinkDown = plan.resource("GPU link ↓", capacity: setup.gpu.hostLink, at: .gpu)
        gpuLinkUp = plan.resource("GPU link ↑", capacity: setup.gpu.hostLink, at: .gpu)
        sharedDown = plan.resource("shared link ↓", capacity: setup.host.sharedLink, at: .sharedLink)
        sharedUp = plan.resource("shared link ↑", capacity: setup.host.sharedLink, at: .sharedLink)
        hostCPU = plan.resource("host CPU", capacity: setup.host.cpuUpdate, at: .host)
        // One drive for all (emulated devices on this machine's disk) or one per device.
        let sharedFlash = setup.host.sharedDrive ? plan.resource("shared drive flash", capacity: 1, at: .host) : nil
        devices = (0..<count).map { i in
            let flash = sharedFlash ?? plan.resource("device \(i) flash", capacity: 1, at: .device(i))
            let down = plan.resource("device \(i) port ↓", capacity: setup.device.port, at: .device(i))
            let up = plan.resource("device \(i) port ↑", capacity: setup.device.port, at: .device(i))
            guard let fpga = setup.device.fpga, engine != .none else {
                return Device(index: i, flash: flash, portDown: down, portUp: up, fpgaIn: nil, fpgaOut: nil, fpga: nil)
            }
            let rate = engine == .decompressUpdate ? fpga.decompressUpdate : fpga.update
            return Device(index: i, flash: flash, portDown: down, portUp: up,
                          fpgaIn: plan.resource("device \(i) FPGA link ↓", capacity: fpga.peerToPeer, at: .device(i)),
                          fpgaOut: plan.resource("device \(i) FPGA link ↑", capacity: fpga.peerToPeer, at: .device(i)),
                          fpga: plan.resource("device \(i) FPGA", capacity: rate, at: .device(i)))
        }
    }

    /// Which FPGA kernel the plan's update runs.
    enum EngineChoice { case none, update, decompressUpdate }

    var readCost: Double { 1 / setup.device.ssdRead }
    var writeCost: Double { 1 / setup.device.ssdWrite }
    /// Flash seconds per byte the SSD writes from FPGA DRAM (a SmartUpdate write-back).
    var peerToPeerWriteCost: Double { 1 / (setup.device.fpga?.peerToPeerWrite ?? setup.device.ssdWrite) }
}
