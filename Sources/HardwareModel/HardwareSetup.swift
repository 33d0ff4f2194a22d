/// The hardware a study runs on: a host topology, the kind of storage device (all N devices
/// alike), and a GPU. Overrides given without saying which profile they edit (`--set
/// link.shared=12GB/s`, `--set ssd.read=3.5GB/s`) go to the profile whose schema owns the key's
/// section; section names are unique across kinds, so this is never ambiguous.
public struct HardwareSetup: Sendable, Equatable {
    public let host: HostProfile
    public let device: DeviceProfile
    public let gpu: GPUProfile

    public init(host: HostProfile, device: DeviceProfile, gpu: GPUProfile) {
        self.host = host
        self.device = device
        self.gpu = gpu
    }

    /// Loads three profiles by name or path from `library` and applies `overrides`.
    public init(host: String, device: String, gpu: String, from library: ProfileLibrary,
                overrides: [ProfileOverride] = []) throws(ProfileError) {
        let loaded = HardwareSetup(host: try HostProfile(library.load(host)), device: try DeviceProfile(library.load(device)),
                                   gpu: try GPUProfile(library.load(gpu)))
        self = try loaded.applying(overrides)
    }

    /// This setup with each override applied, in order, to the profile that owns its key.
    public func applying(_ overrides: [ProfileOverride]) throws(ProfileError) -> HardwareSetup {
        var (hostProfile, deviceProfile, gpuProfile) = (host.profile, device.profile, gpu.profile)
        for override in overrides {
            switch ProfileKind.owning(section: String(override.section)) {
            case .host: hostProfile = try hostProfile.applying([override])
            case .device: deviceProfile = try deviceProfile.applying([override])
            case .gpu: gpuProfile = try gpuProfile.applying([override])
            case nil:
                throw .unknownOverrideKey(argument: override.description, key: override.keyPath,
                                          target: "the host, device and gpu profiles",
                                          known: ProfileKind.allCases.flatMap(\.keyPaths))
            }
        }
        return HardwareSetup(host: try HostProfile(hostProfile), device: try DeviceProfile(deviceProfile),
                             gpu: try GPUProfile(gpuProfile))
    }
}
