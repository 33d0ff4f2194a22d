import Foundation
import Safetensors
import Testing

@Suite struct SafetensorsTests {
    let dir = "/var/tmp/smartinf-safetensors-\(getpid())-\(UUID().uuidString.prefix(6))"

    func write(_ tensors: [SafetensorsTensor], values: [Float], metadata: [String: String] = [:]) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/t.safetensors"
        var writer = try SafetensorsWriter(path: path, tensors: tensors, metadata: metadata)
        try values.withUnsafeBytes { try writer.append($0) }
        try writer.commit()
        return path
    }

    /// What is written reads back: names, shapes, values and metadata (with characters JSON
    /// must escape); the header is padded to a multiple of 8 and the data follows it exactly.
    @Test func aWrittenFileReadsBack() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = (0..<10).map { Float($0) * 0.5 }
        let path = try write([SafetensorsTensor(name: "a.weight", shape: [2, 3]), SafetensorsTensor(name: "b/exp_avg", shape: [4])],
                             values: values, metadata: ["note": "quote \" slash \\ tab \t"])
        let bytes = try #require(FileManager.default.contents(atPath: path))
        let n = Int(bytes.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        #expect(n % 8 == 0 && bytes.count == 8 + n + 40)
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["note": "quote \" slash \\ tab \t"])
        let entry = try #require(file.tensors["b/exp_avg"])
        #expect(entry.dtype == "F32" && entry.shape == [4] && entry.byteRange == 24..<40)
        #expect(file.tensors["a.weight"]?.shape == [2, 3])
        var b = [Float](repeating: 0, count: 4)
        try b.withUnsafeMutableBytes { try file.read("b/exp_avg", shape: [4], into: $0) }
        #expect(b == Array(values[6...]))
    }

    /// A missing tensor, one of another shape, and a file cut short are refused by name.
    @Test func whatDoesNotFitIsRefusedByName() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write([SafetensorsTensor(name: "a", shape: [2, 2])], values: [1, 2, 3, 4])
        let file = try SafetensorsFile(path: path)
        var four = [Float](repeating: 0, count: 4)
        #expect(throws: SafetensorsError.missingTensor(path: path, name: "b")) {
            try four.withUnsafeMutableBytes { try file.read("b", shape: [4], into: $0) }
        }
        #expect(throws: SafetensorsError.wrongTensor(path: path, name: "a", found: "of shape [2, 2]", expected: "[4]")) {
            try four.withUnsafeMutableBytes { try file.read("a", shape: [4], into: $0) }
        }
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: 20)
        try handle.close()
        #expect { _ = try SafetensorsFile(path: path) } throws: {
            "\($0)".contains("\(path) is not a valid safetensors file: its header claims")
        }
    }
}
