import Checksum
import Compression
import DurableWrite
import Foundation
import Optim

/// The error-feedback residuals of a fleet, as a checkpoint saves them, so that a resumed
/// su+o+c run with `--error-feedback` carries exactly what top-k dropped before the stop.
///
/// Format (little-endian): magic "SIEF", version u32, device count u32; per device a subgroup
/// count u32, then per subgroup completed steps u64, element count u64 and the fp32 residual;
/// then the CRC32C of everything before it. Written durably (`DurableFile`).
public struct ErrorFeedbackFile: Sendable, Equatable {
    public struct Subgroup: Sendable, Equatable {
        public var completedSteps: Int
        public var residual: [Float]
    }

    /// Per device, per subgroup.
    public var devices: [[Subgroup]]

    static let magic: UInt32 = 0x4645_4953  // "SIEF"
    static let version: UInt32 = 1

    public init(devices: [[Subgroup]]) { self.devices = devices }

    public func write(to path: String) throws(DurableFileError) {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        put(Self.magic); put(Self.version); put(UInt32(devices.count))
        for device in devices {
            put(UInt32(device.count))
            for s in device {
                put(UInt64(s.completedSteps)); put(UInt64(s.residual.count))
                s.residual.withUnsafeBytes { bytes.append(contentsOf: $0) }
            }
        }
        put(CRC32C.checksum(of: bytes))
        try DurableFile.write(bytes, to: path)
    }

    public init(reading path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FleetError.checkpoint(path: path, detail: "missing: the checkpoint was saved by a run without --error-feedback")
        }
        let bytes = [UInt8](data)
        func fail(_ detail: String) -> FleetError { .checkpoint(path: path, detail: detail) }
        guard bytes.count >= 16 else { throw fail("\(bytes.count) bytes is too short for an error-feedback file") }
        var at = 0
        func take<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
            guard at + MemoryLayout<T>.size <= bytes.count - 4 else { throw fail("cut short at \(field) (byte \(at))") }
            let v = bytes[at..<(at + MemoryLayout<T>.size)].withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
            at += MemoryLayout<T>.size
            return v
        }
        let stored = bytes[(bytes.count - 4)...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32C.checksum(of: Array(bytes[..<(bytes.count - 4)])) == stored else { throw fail("its checksum does not match: the file is damaged") }
        guard try take(UInt32.self, "magic") == Self.magic else { throw fail("not an error-feedback file (bad magic)") }
        let version = try take(UInt32.self, "version")
        guard version == Self.version else { throw fail("version \(version); this build reads version \(Self.version)") }
        let deviceCount = Int(try take(UInt32.self, "device count"))
        var devices: [[Subgroup]] = []
        for d in 0..<deviceCount {
            let count = Int(try take(UInt32.self, "device \(d) subgroup count"))
            var subgroups: [Subgroup] = []
            for s in 0..<count {
                let steps = try take(UInt64.self, "device \(d) subgroup \(s) steps")
                let n = try take(UInt64.self, "device \(d) subgroup \(s) count")
                guard n <= UInt64(bytes.count - 4 - at) / 4 else { throw fail("device \(d) subgroup \(s) claims \(n) values past the end") }
                let values = bytes[at..<(at + Int(n) * 4)].withUnsafeBytes { raw in
                    (0..<Int(n)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                }
                at += Int(n) * 4
                subgroups.append(Subgroup(completedSteps: Int(steps), residual: values))
            }
            devices.append(subgroups)
        }
        guard at == bytes.count - 4 else { throw fail("\(bytes.count - 4 - at) bytes left over after the last device") }
        self.devices = devices
    }
}

extension ErrorFeedbackFile {
    /// The residuals of a whole fleet as one vector over the flat parameters, in their order,
    /// without the slices' padding (whose residual is always zero: its gradient is): what an
    /// exported checkpoint and a Python state dict keep, under the model's tensor names, so that
    /// any other device count or subgroup size can take them back.
    public struct Flat: Sendable, Equatable {
        public var residual: [Float]
        /// Steps every subgroup compressed with its residual (a flat vector has one count).
        public var completedSteps: Int

        public init(residual: [Float], completedSteps: Int) {
            self.residual = residual
            self.completedSteps = completedSteps
        }
    }

    /// The residuals over the flat parameters of `partition`, whose geometry they must have (its
    /// device count, each device's subgroups covering its slice); `path` names them in errors.
    public func flattened(over partition: Partition, path: String) throws(FleetError) -> Flat {
        guard devices.count == partition.deviceCount else {
            throw .checkpoint(path: path, detail: "holds \(devices.count) devices' residuals; the checkpoint has \(partition.deviceCount) devices")
        }
        let steps = Set(devices.joined().map(\.completedSteps))
        guard steps.count == 1, let completedSteps = steps.first else {
            throw .checkpoint(path: path, detail: "its subgroups compressed different numbers of steps (\(steps.sorted())); one count is expected")
        }
        var residual: [Float] = []
        residual.reserveCapacity(partition.parameterCount)
        for (d, device) in devices.enumerated() {
            let elements = device.reduce(0) { $0 + $1.residual.count }
            guard elements == partition.sliceElements else {
                throw .checkpoint(path: path, detail: "device \(d) holds \(elements) residuals; its slice has \(partition.sliceElements) elements")
            }
            residual += device.map(\.residual).joined().prefix(partition.parameters(ofDevice: d).count)
        }
        return Flat(residual: residual, completedSteps: completedSteps)
    }

    /// `flat` laid out over the devices of `partition` in subgroups of `subgroupElements`, the
    /// slices' padding at zero.
    public init(_ flat: Flat, partition: Partition, subgroupElements: Int) {
        precondition(flat.residual.count == partition.parameterCount && subgroupElements > 0)
        let slice = partition.sliceElements
        devices = (0..<partition.deviceCount).map { d in
            stride(from: 0, to: slice, by: subgroupElements).map { start in
                var residual = [Float](repeating: 0, count: min(subgroupElements, slice - start))
                let first = d * slice + start
                let real = min(first + residual.count, partition.parameterCount) - first
                if real > 0 { residual.replaceSubrange(0..<real, with: flat.residual[first..<(first + real)]) }
                return Subgroup(completedSteps: flat.completedSteps, residual: residual)
            }
        }
    }
}
