/// A storage device: its SSD (reads and writes are separate resources because flash writes are
/// about half as fast as reads), its upstream PCIe port toward the shared host link, and, for a
/// computational storage device, the FPGA behind its private PCIe switch.
///
/// A plain NVMe drive (the baseline's storage) is the same profile without the `fpga` section.
public struct DeviceProfile: Sendable, Equatable {
    /// The near-storage processor of a computational storage device.
    public struct FPGA: Sendable, Equatable {
        /// Peer-to-peer bandwidth between the SSD and the FPGA through the device's private
        /// switch, per direction (bytes/s). This traffic never touches the shared host link.
        public let peerToPeer: Double
        /// How fast the SSD writes what it pulls from FPGA DRAM (bytes/s): a peer-to-peer write is
        /// the SSD's DMA engine *reading* the FPGA's memory window through the private switch
        /// (non-posted reads, a round trip per request), not the host pushing data the way a
        /// block-device write does, so it is slower than `ssdWrite`. Charged to the flash in
        /// place of `ssdWrite` for every write-back a SmartUpdate makes.
        public let peerToPeerWrite: Double
        /// Optimizer update throughput, in bytes/s of fp32 optimizer input (16 B per Adam parameter).
        public let update: Double
        /// Throughput of decompress-then-update on a compressed gradient, same accounting as `update`.
        public let decompressUpdate: Double
        /// FPGA DRAM (bytes): bounds the subgroup size times the number of buffer sets.
        public let dram: Int
        /// Largest load (gradient, p and states) the transfer handler moves as one pipelined chunk
        /// (bytes); smaller chunks overlap better, DRAM bounds them from above.
        public let chunk: Int
        /// Fixed cost of starting one FPGA kernel and seeing it finish (seconds).
        public let launchLatency: Double
    }

    public let profile: Profile
    /// Sequential SSD read bandwidth for the host's large direct reads (bytes/s); peer-to-peer
    /// loads into FPGA DRAM read at this rate too, capped by `FPGA.peerToPeer`.
    public let ssdRead: Double
    /// Sequential SSD write bandwidth for data the host pushes (block-device writes: the
    /// baseline's state write-back, every gradient offload), in bytes/s.
    public let ssdWrite: Double
    public let ssdCapacity: Int
    /// Fixed cost of one SSD command before data flows (seconds).
    public let ssdAccessLatency: Double
    /// The device's upstream PCIe port toward the shared host link, per direction (bytes/s).
    public let port: Double
    /// Present for computational storage, nil for a plain SSD.
    public let fpga: FPGA?
    /// What one device costs (US dollars), from the optional `device.price`: a price its source
    /// publishes (a list or street price), so that a study can weigh time against money; nil
    /// where none is published (most enterprise drives are sold on quotes) and none was set.
    public let price: Double?

    public init(_ profile: Profile) throws(ProfileError) {
        try profile.require(.device)
        self.profile = profile
        ssdRead = profile.quantity("ssd.read")
        ssdWrite = profile.quantity("ssd.write")
        ssdCapacity = profile.bytes("ssd.capacity")
        ssdAccessLatency = profile.quantity("ssd.accessLatency")
        port = profile.quantity("pcie.port")
        fpga = profile.has(section: "fpga")
            ? FPGA(peerToPeer: profile.quantity("fpga.peerToPeer"),
                   peerToPeerWrite: profile.quantity("fpga.peerToPeerWrite"), update: profile.quantity("fpga.update"),
                   decompressUpdate: profile.quantity("fpga.decompressUpdate"), dram: profile.bytes("fpga.dram"),
                   chunk: profile.bytes("fpga.chunk"),
                   launchLatency: profile.quantity("fpga.launchLatency"))
            : nil
        price = profile.has(section: "device") ? profile.quantity("device.price") : nil
    }

    static let schema = ProfileSchema(sections: [
        .init("ssd", [("read", .quantity(.bandwidth)), ("write", .quantity(.bandwidth)), ("capacity", .quantity(.size)),
                      ("accessLatency", .quantity(.duration))]),
        .init("pcie", [("port", .quantity(.bandwidth))]),
        .init("fpga", optional: true,
              [("peerToPeer", .quantity(.bandwidth)), ("peerToPeerWrite", .quantity(.bandwidth)), ("update", .quantity(.bandwidth)),
               ("decompressUpdate", .quantity(.bandwidth)), ("dram", .quantity(.size)), ("chunk", .quantity(.size)),
               ("launchLatency", .quantity(.duration))]),
        .init("device", optional: true, [("price", .quantity(.price))]),
    ])
}
