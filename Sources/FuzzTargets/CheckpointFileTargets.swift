import DeviceProtocol
import Optim
import Safetensors

/// A device snapshot (`SnapshotReader`, what `restore-snapshot`, an export and a resume read):
/// a header with the geometry and a note, the vectors, their checksum table. An accepted file
/// is exactly as long as its header says, and every vector of it reads (and checks) in full.
public final class SnapshotTarget: FuzzTarget {
    public let name = "snapshot"
    private let scratch: ScratchDirectory

    public init() throws {
        scratch = try ScratchDirectory("snapshot")
    }

    public func seeds() throws -> [[UInt8]] {
        let headers = [
            SnapshotHeader(sequence: 3, step: 40, sliceElements: 7, subgroupElements: 3, optimizer: .adamw(AdamWHyperparameters()),
                           note: Array("{\"steps_done\":40}".utf8)),
            SnapshotHeader(sequence: 1, step: 0, sliceElements: 5, subgroupElements: 8,
                           optimizer: .sgd(SGDHyperparameters(momentum: 0.9), .torch), note: []),
        ]
        return try headers.map { header in
            let path = scratch.write([], to: "seed.snap")
            var writer = try SnapshotWriter(path: path, header: header)
            for s in 0..<header.subgroupCount {
                for v in 0..<header.vectorsPerSubgroup {
                    let values = (0..<header.elements(ofSubgroup: s)).map { Float(s * 10 + v) + Float($0) / 8 }
                    try values.withUnsafeBytes { try writer.append($0) }
                }
            }
            try writer.commit()
            return scratch.read("seed.snap")
        }
    }

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let path = scratch.write(input, to: "input.snap")
        do {
            let reader = try SnapshotReader(path: path)
            let header = reader.header
            guard input.count == header.fileBytes else {
                throw FuzzViolation(name, "accepted a \(input.count)-byte file whose header describes \(header.fileBytes)")
            }
            for s in 0..<header.subgroupCount {
                var values = [Float](repeating: 0, count: header.elements(ofSubgroup: s))
                for v in 0..<header.vectorsPerSubgroup {
                    try values.withUnsafeMutableBytes { try reader.read(subgroup: s, vector: v, into: $0) }
                }
            }
            return "ok"
        } catch let error as SnapshotError {
            return try rejection(name, error)
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation(name, "SnapshotReader threw \(type(of: error)): \(error)")
        }
    }
}

/// The safetensors reader (`SafetensorsFile`, what `--resume` of an exported checkpoint reads):
/// an accepted file's every fp32 tensor reads in full, within the file.
public final class SafetensorsTarget: FuzzTarget {
    public let name = "safetensors"
    private let scratch: ScratchDirectory

    public init() throws {
        scratch = try ScratchDirectory("safetensors")
    }

    public var isText: Bool { true }

    public func seeds() throws -> [[UInt8]] {
        let files: [[SafetensorsTensor]] = [
            [SafetensorsTensor(name: "wte.weight", shape: [4, 2]), SafetensorsTensor(name: "h.0.ln_1.bias", shape: [2])],
            [SafetensorsTensor(name: "ln_f.weight/exp_avg_sq", shape: [3]), SafetensorsTensor(name: "empty", shape: [0, 5])],
        ]
        return try files.map { tensors in
            let path = scratch.write([], to: "seed.safetensors")
            var writer = try SafetensorsWriter(path: path, tensors: tensors, metadata: ["format": "pt", "step": "3"])
            let values = (0..<tensors.map(\.elementCount).reduce(0, +)).map { Float($0) - 2.5 }
            try values.withUnsafeBytes { try writer.append($0) }
            try writer.commit()
            return scratch.read("seed.safetensors")
        }
    }

    public func execute(_ input: [UInt8]) throws(FuzzViolation) -> String {
        let path = scratch.write(input, to: "input.safetensors")
        do {
            let file = try SafetensorsFile(path: path)
            for (name, entry) in file.tensors.sorted(by: { $0.key < $1.key }) where entry.dtype == "F32" {
                guard entry.byteRange.upperBound <= input.count else {
                    throw FuzzViolation(self.name, "accepted tensor '\(name)' reaching byte \(entry.byteRange.upperBound) of a \(input.count)-byte file")
                }
                var values = [Float](repeating: 0, count: entry.byteRange.count / 4)
                try values.withUnsafeMutableBytes { try file.read(name, shape: entry.shape, into: $0) }
            }
            return "ok"
        } catch let error as SafetensorsError {
            return try rejection(name, error)
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation(name, "SafetensorsFile threw \(type(of: error)): \(error)")
        }
    }
}
