import Foundation
import HardwareModel

/// The hardware profile reader (`Profile(json:name:origin:)`, what `Profile.load(file:)` and
/// `ProfileLibrary.load` run on a file's bytes), followed by the typed view a `HardwareSetup`
/// builds from it (`HostProfile`, `DeviceProfile` or `GPUProfile`).
///
/// A profile that validates must give its typed view (the schema is supposed to have checked
/// everything the view reads), and each of its values, given back as a `--set` override in the
/// text it was written as, must read as the same value: the file and the command line share
/// one value reader.
public final class ProfileTarget: FuzzTarget {
    public let name = "profile"
    public var isText: Bool { true }

    public init() {}

    public func seeds() throws -> [[UInt8]] {
        var documents: [[UInt8]] = Self.compact.map { Array($0.utf8) }
        if let library = try? ProfileLibrary.locate() {
            for name in library.names {
                let url = library.directory.appendingPathComponent(name + ".json")
                documents.append([UInt8](try Data(contentsOf: url)))
            }
        }
        return documents
    }

    /// One profile of each kind with one-word sources: the same structure as the shipped files
    /// in a fraction of the bytes, so that mutations land on structure rather than prose.
    static let compact = [
        #"{"schema":1,"kind":"host","description":"h","link":{"shared":{"value":"8GB/s","source":"s"},"#
            + #""sharedNominal":{"value":"16 GB/s","source":"s"}},"cpu":{"update":{"value":"3.2e10B/s","source":"s"}},"#
            + #""latency":{"command":{"value":"10us","source":"s"}}}"#,
        #"{"schema":1,"kind":"device","description":"d","ssd":{"read":{"value":"3.0GB/s","source":"s"},"#
            + #""write":{"value":"1.5GiB/s","source":"s"},"capacity":{"value":"3.84TB","source":"s"},"#
            + #""accessLatency":{"value":"80µs","source":"s"}},"pcie":{"port":{"value":"3.2GB/s","source":"s"}},"#
            + #""fpga":{"peerToPeer":{"value":"3.2GB/s","source":"s"},"peerToPeerWrite":{"value":"1.5GB/s","source":"s","#
            + #""range":["1.5GB/s","1.7GB/s"]},"update":{"value":"8.2GB/s","source":"s"},"#
            + #""decompressUpdate":{"value":"2.9GB/s","source":"s"},"dram":{"value":"4GiB","source":"s"},"#
            + #""chunk":{"value":"256MB","source":"s"},"launchLatency":{"value":"0.02ms","source":"s"}}}"#,
        #"{"schema":1,"kind":"gpu","description":"g","compute":{"peak":{"value":"27.8TFLOP/s","source":"s"},"#
            + #""forwardEfficiency":{"value":0.5,"source":"s"},"backwardEfficiency":{"value":1,"source":"s"},"#
            + #""launchLatency":{"value":"5us","source":"s"},"topkScan":{"value":"300GB/s","source":"s"}},"#
            + #""memory":{"capacity":{"value":"24GiB","source":"s"}},"hostTraffic":{"link":{"value":"12GB/s","source":"s"},"#
            + #""parameterBytes":{"value":"2B","source":"s"},"parameterFetches":{"value":2,"source":"s"},"#
            + #""gradientBytes":{"value":"2B","source":"s"},"activationBytes":{"value":"0.5kB","source":"s"},"#
            + #""offloadActivationCheckpoints":{"value":false,"source":"s"}}}"#,
    ]

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let profile: Profile
        do {
            profile = try Profile(json: Data(input), name: "fuzz", origin: "fuzz.json")
        } catch {
            return try rejection(name, error)
        }
        do {
            switch profile.kind {
            case .host: _ = try HostProfile(profile)
            case .device: _ = try DeviceProfile(profile)
            case .gpu: _ = try GPUProfile(profile)
            }
        } catch {
            throw FuzzViolation(name, "the \(profile.kind.rawValue) view refuses a profile that validated: \(error)")
        }
        for entry in profile.entries {
            let argument = "\(entry.keyPath)=\(entry.text)"
            do {
                let applied = try profile.applying([try ProfileOverride(parsing: argument)])
                guard applied[entry.keyPath]?.value == entry.value else {
                    throw FuzzViolation(name, "--set \(argument) reads as \(String(describing: applied[entry.keyPath]?.value)), "
                                        + "the file as \(entry.value)")
                }
            } catch let violation as FuzzViolation {
                throw violation
            } catch {
                throw FuzzViolation(name, "--set \(argument), a value the file accepts, is refused: \(error)")
            }
        }
        return "ok \(profile.kind.rawValue)"
    }
}
