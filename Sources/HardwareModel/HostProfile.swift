/// The host side of a topology: the one PCIe link that all devices' host traffic shares, the
/// host CPU that runs the baseline's optimizer update, the fixed cost of a command, and the
/// network that joins one host to the others in a many-host study.
///
/// The shared link is the reason Smart-Infinity exists: its ceiling does not grow with the
/// number of devices. The model times traffic with the measured ceiling; the nominal rate is
/// kept beside it for reports.
public struct HostProfile: Sendable, Equatable {
    public let profile: Profile
    /// Usable bandwidth of the shared host link in each direction (bytes/s), the measured ceiling.
    public let sharedLink: Double
    /// Nominal bandwidth of the shared host link in each direction (bytes/s); not used for timing.
    public let sharedLinkNominal: Double
    /// Host CPU optimizer update throughput for the baseline, in bytes/s of fp32 optimizer input
    /// (gradient, parameter and states read: 16 B per parameter for Adam).
    public let cpuUpdate: Double
    /// Fixed cost of one host→device command, from submission to seen completion (seconds).
    public let commandLatency: Double
    /// All devices keep their flash on one physical drive (emulated devices whose SSD files share
    /// this machine's disk): the model gives them one flash resource instead of one each. From
    /// the optional `storage.sharedDrive`; false when absent (the paper's one drive per device).
    public let sharedDrive: Bool
    /// Usable bandwidth of the host's network interface in each direction (bytes/s), what a
    /// ring collective between hosts moves at; nil when the profile has no optional `net`
    /// section, which only a study of one host can do without.
    public let network: Double?

    public init(_ profile: Profile) throws(ProfileError) {
        try profile.require(.host)
        self.profile = profile
        sharedLink = profile.quantity("link.shared")
        sharedLinkNominal = profile.quantity("link.sharedNominal")
        cpuUpdate = profile.quantity("cpu.update")
        commandLatency = profile.quantity("latency.command")
        sharedDrive = profile.has(section: "storage") && profile.flag("storage.sharedDrive")
        network = profile.has(section: "net") ? profile.quantity("net.bandwidth") : nil
    }

    static let schema = ProfileSchema(sections: [
        .init("link", [("shared", .quantity(.bandwidth)), ("sharedNominal", .quantity(.bandwidth))]),
        .init("cpu", [("update", .quantity(.bandwidth))]),
        .init("latency", [("command", .quantity(.duration))]),
        .init("storage", optional: true, [("sharedDrive", .flag)]),
        .init("net", optional: true, [("bandwidth", .quantity(.bandwidth))]),
    ])
}
