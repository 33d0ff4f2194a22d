import Foundation

/// The folder of shipped hardware profiles (`Emulator/` at the top of the package), one JSON file
/// per profile, named by its file name: `smartssd`, `nvme`, `a5000`, `hpca24-host`…
public struct ProfileLibrary: Sendable {
    public let directory: URL

    /// The profiles in `directory`, as given (no search).
    public init(directory: URL) { self.directory = directory }

    /// Finds `Emulator/` by walking up from each start in turn. By default it starts from the
    /// current directory (a checkout), then from the executable's directory (a built binary run
    /// from elsewhere: its build folder sits inside the package), and last from this source
    /// file's folder at build time (the package the binary was built from, if still there).
    public static func locate(searchingUpwardFrom starts: [URL] = defaultSearchStarts) throws(ProfileError) -> ProfileLibrary {
        for start in starts {
            var folder = start.standardizedFileURL
            while true {
                let candidate = folder.appendingPathComponent("Emulator", isDirectory: true)
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
                    return ProfileLibrary(directory: candidate)
                }
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
        }
        throw .emulatorDirectoryNotFound(searched: starts.map(\.path))
    }

    public static var defaultSearchStarts: [URL] {
        [URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)]
            + [Bundle.main.executableURL?.deletingLastPathComponent()].compactMap { $0 }
            + [URL(fileURLWithPath: #filePath).deletingLastPathComponent()]
    }

    /// The names of the shipped profiles, sorted.
    public var names: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// A shipped profile by name (`smartssd`), or any profile file by path: a reference that
    /// contains `/` or ends in `.json` is a path.
    public func load(_ reference: String) throws(ProfileError) -> Profile {
        if reference.contains("/") || reference.hasSuffix(".json") { return try Profile.load(file: reference) }
        guard names.contains(reference) else {
            throw .unknownProfile(name: reference, directory: directory.path, available: names)
        }
        return try Profile.load(file: directory.appendingPathComponent(reference + ".json").path)
    }
}
