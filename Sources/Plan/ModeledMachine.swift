import HardwareModel

/// The resources of the modeled machine, created once per plan: a GPU and its host link, the
/// shared host link the N storage devices sit behind, the host CPU, and per device its flash,
/// its upstream port and, for a SmartSSD, the FPGA with its own link into the device's private
/// PCIe switch. With more than one host, also the host's network interface to the others.
///
/// Flash is one resource for reads and writes (capacity 1: seconds of flash time per second),
/// which a read charges 1/read-bandwidth per byte and a write 1/write-bandwidth: an SSD cannot
/// read at full speed while it writes at full speed. A write the SSD pulls from FPGA DRAM
/// (peer-to-peer) is charged 1/`fpga.peerToPeerWrite`, a write the host pushes 1/`ssd.write`. The GPU is likewise one engine charged in
/// seconds per FLOP (forward and backward run at different efficiencies) or per byte scanned.
///
/// Many hosts (data parallel, optimizer states partitioned ZeRO-style) are modeled by one of
/// them: the hosts are alike and run the same plan on their own slices at the same time, so
/// each sends and receives as much as any other, and what one host's resources do in a ring
/// collective is what all of them do.
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
    /// Hosts training together (1: the paper's single host).
    let hosts: Int
    /// This host's network interface, sending and receiving; nil for one host, which has no
    /// collective to run.
    let network: (send: ResourceID, receive: ResourceID)?

    /// `hosts` > 1 needs `setup.host.network` (`IterationPlanner` checks it).
    init(_ setup: HardwareSetup, devices count: Int, hosts: Int, engine: EngineChoice, into plan: inout PlannedIteration) {
        self.setup = setup
        self.hosts = hosts
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
        if hosts > 1, let bandwidth = setup.host.network {
            network = (plan.resource("network ↑", capacity: bandwidth, at: .network),
                       plan.resource("network ↓", capacity: bandwidth, at: .network))
        } else {
            network = nil
        }
    }

    /// This host's slice of a tensor of `elements` (`IterationWorkload.slice`).
    func slice(_ elements: Int) -> Int { IterationWorkload.slice(elements, over: hosts) }

    /// A ring collective over the hosts of `sliceElements` per host at `bytesPerElement`: each
    /// host sends the N − 1 slices it passes on in its N − 1 steps and receives as many, at
    /// once (a reduce-scatter ends with each host holding its slice summed, an all-gather with
    /// every host holding all of them). Returns the operation, on this host's send and receive.
    func ringCollective(_ tag: OperationTag, sliceElements: Int, bytesPerElement: Int, after: [OperationID],
                        into plan: inout PlannedIteration) -> OperationID? {
        guard let network else { return nil }
        return plan.operation(tag, amount: Double(hosts - 1) * Double(sliceElements) * Double(bytesPerElement),
                              path: [network.send, network.receive], after: after)
    }

    /// Which FPGA kernel the plan's update runs.
    enum EngineChoice { case none, update, decompressUpdate }

    var readCost: Double { 1 / setup.device.ssdRead }
    var writeCost: Double { 1 / setup.device.ssdWrite }
    /// Flash seconds per byte the SSD writes from FPGA DRAM (a SmartUpdate write-back).
    var peerToPeerWriteCost: Double { 1 / (setup.device.fpga?.peerToPeerWrite ?? setup.device.ssdWrite) }
}
