import Foundation

/// Paths that arrive in protocol messages (the host buffer to map, a parameter file to load)
/// must lie inside the device's own directory — the directory of its SSD file — or be one of
/// the run's shared-memory buffers (`/dev/shm/smartinf-…`). A peer that may talk to the socket
/// (same uid) still cannot make the device open or map anything else.
struct PathConfinement {
    /// The device's directory, symlinks resolved.
    let directory: String

    init(ssdPath: String) {
        directory = Self.resolved(URL(fileURLWithPath: ssdPath).deletingLastPathComponent().path)
    }

    static let sharedMemoryRoot = "/dev/shm"
    static let sharedMemoryPrefix = "smartinf-"

    /// `path` (relative paths are the device's working directory's) with symlinks and `..`
    /// resolved, or throws naming what was refused.
    func check(_ path: String, for what: String) throws(DeviceError) -> String {
        let real = Self.resolved(path)
        let inDirectory = real.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
        let parent = URL(fileURLWithPath: real).deletingLastPathComponent().path
        let isSharedMemory = parent == Self.sharedMemoryRoot
            && URL(fileURLWithPath: real).lastPathComponent.hasPrefix(Self.sharedMemoryPrefix)
        guard inDirectory || isSharedMemory else {
            throw .outOfRange("\(what): path '\(path)' is outside the device's directory \(directory) and is not a \(Self.sharedMemoryRoot)/\(Self.sharedMemoryPrefix)* buffer; refused")
        }
        return real
    }

    /// The path with symlinks resolved as far as it exists (a file not created yet resolves
    /// through its directory).
    static func resolved(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if let real = realpath(url.path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let parent = url.deletingLastPathComponent()
        guard parent.path != url.path else { return url.path }
        return URL(fileURLWithPath: resolved(parent.path)).appendingPathComponent(url.lastPathComponent).path
    }
}
