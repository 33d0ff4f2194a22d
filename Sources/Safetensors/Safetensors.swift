import DurableWrite
import Foundation
import Glibc

/// The safetensors format (Hugging Face's): an 8-byte little-endian header length n, a JSON
/// header of n bytes — `{"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape":
/// [...], "data_offsets": [begin, end]}, …}`, offsets relative to the data that follows,
/// padded with spaces to a multiple of 8 — then the tensors' raw little-endian bytes, back to
/// back, covering the data exactly. Only fp32 is written and read here: checkpoints keep fp32.
public struct SafetensorsTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]

    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * 4 }
}

/// A safetensors file that cannot be used, naming the file and what is wrong.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, detail: String)
    case malformed(path: String, detail: String)
    case missingTensor(path: String, name: String)
    case unexpectedTensor(path: String, names: [String])
    case wrongTensor(path: String, name: String, found: String, expected: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let detail): "\(path): cannot read it (\(detail))"
        case .malformed(let path, let detail): "\(path) is not a valid safetensors file: \(detail)"
        case .missingTensor(let path, let name): "\(path) has no tensor '\(name)'"
        case .unexpectedTensor(let path, let names):
            "\(path) holds tensors this model does not have: \(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", …" : "")"
        case .wrongTensor(let path, let name, let found, let expected): "\(path): tensor '\(name)' is \(found), expected \(expected)"
        }
    }
}

/// Writes a safetensors file durably (`DurableFile`): the header from the tensor list, then
/// the tensors' bytes appended in the list's order, in as many pieces as the caller likes.
public struct SafetensorsWriter: ~Copyable {
    private let file: DurableFile
    private let expectedBytes: Int
    private var writtenBytes = 0

    public init(path: String, tensors: [SafetensorsTensor], metadata: [String: String]) throws(DurableFileError) {
        let file = try DurableFile(creating: path)
        var offset = 0
        var entries = ["\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { "\(Self.quoted($0.key)):\(Self.quoted($0.value))" }
            .joined(separator: ",") + "}"]
        for tensor in tensors {
            entries.append("\(Self.quoted(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(offset + tensor.byteCount)]}")
            offset += tensor.byteCount
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var length = UInt64(header.count).littleEndian
        try file.append(withUnsafeBytes(of: &length) { Array($0) } + header)
        self.file = file
        expectedBytes = offset
    }

    /// The next bytes of the tensors' data.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(DurableFileError) {
        precondition(writtenBytes + bytes.count <= expectedBytes, "more data than the header's tensors hold")
        try file.append(bytes)
        writtenBytes += bytes.count
    }

    /// Puts the file in place once every tensor's bytes are written.
    public consuming func commit() throws(DurableFileError) {
        precondition(writtenBytes == expectedBytes, "the data must cover the header's tensors exactly")
        try file.commit()
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Reads a safetensors file: the header on opening (checked: its length, its JSON, every
/// tensor's dtype, shape and offsets inside the data), the tensors on demand.
public final class SafetensorsFile {
    public struct Entry: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        /// Bytes within the data section.
        public var byteRange: Range<Int>
    }

    /// The longest header accepted (the format's own readers take 100 MB).
    public static var maximumHeaderBytes: Int { 100_000_000 }

    public let path: String
    public let tensors: [String: Entry]
    public let metadata: [String: String]
    private let handle: FileHandle
    private let dataOffset: Int

    public init(path: String) throws(SafetensorsError) {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .unreadable(path: path, detail: "no such file, or not readable") }
        self.handle = handle
        func malformed(_ detail: String) -> SafetensorsError { .malformed(path: path, detail: detail) }
        let size: Int
        let prefix: Data
        do {
            size = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
            prefix = try handle.read(upToCount: 8) ?? Data()
        } catch {
            throw .unreadable(path: path, detail: "\(error)")
        }
        guard prefix.count == 8 else { throw malformed("\(size) bytes is too short for the header length") }
        let headerBytes = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerBytes <= UInt64(min(Self.maximumHeaderBytes, size - 8)) else {
            throw malformed("its header claims \(headerBytes) bytes, the file has \(size - 8) after the length")
        }
        dataOffset = 8 + Int(headerBytes)
        let json: Any
        do {
            let header = try handle.read(upToCount: Int(headerBytes)) ?? Data()
            json = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw malformed("its header is not JSON (\(error))")
        }
        guard let object = json as? [String: Any] else { throw malformed("its header is not a JSON object") }
        var tensors: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        let dataBytes = size - dataOffset
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else { throw malformed("__metadata__ is not a map of strings to strings") }
                metadata = map
                continue
            }
            // Numbers as JSON gives them (any magnitude), kept only when they are exact integers.
            func integers(_ field: String) -> [Int]? {
                guard let numbers = fields(field) as? [NSNumber] else { return nil }
                let values = numbers.compactMap { Int(exactly: $0.doubleValue) }
                return values.count == numbers.count ? values : nil
            }
            func fields(_ field: String) -> Any? { (value as? [String: Any])?[field] }
            guard let dtype = fields("dtype") as? String, let shape = integers("shape"), let offsets = integers("data_offsets"),
                  offsets.count == 2 else {
                throw malformed("tensor '\(name)' lacks a dtype, a shape or two data_offsets")
            }
            guard shape.allSatisfy({ $0 >= 0 }), 0 <= offsets[0], offsets[0] <= offsets[1], offsets[1] <= dataBytes else {
                throw malformed("tensor '\(name)' has shape \(shape) and data_offsets \(offsets) (the data holds \(dataBytes) bytes)")
            }
            let width = dtype == "F32" ? 4 : 1
            let bytes = shape.reduce(Optional(width)) { product, n in
                product.flatMap { p in let (r, overflow) = p.multipliedReportingOverflow(by: n); return overflow ? nil : r }
            }
            guard dtype != "F32" || bytes == offsets[1] - offsets[0] else {
                throw malformed("tensor '\(name)' of shape \(shape) needs \(bytes.map { "\($0)" } ?? "more than 2^63") bytes, its data_offsets give \(offsets[1] - offsets[0])")
            }
            tensors[name] = Entry(dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1])
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    deinit { try? handle.close() }

    /// Reads fp32 tensor `name`, which must have `shape`, into `destination` (its bytes).
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutableRawBufferPointer) throws(SafetensorsError) {
        guard let entry = tensors[name] else { throw .missingTensor(path: path, name: name) }
        guard entry.dtype == "F32" else { throw .wrongTensor(path: path, name: name, found: "of dtype \(entry.dtype)", expected: "F32") }
        guard entry.shape == shape else { throw .wrongTensor(path: path, name: name, found: "of shape \(entry.shape)", expected: "\(shape)") }
        guard entry.byteRange.count == shape.reduce(4, *), destination.count == entry.byteRange.count else {
            throw .wrongTensor(path: path, name: name, found: "\(entry.byteRange.count) bytes", expected: "\(shape.reduce(4, *)) for its shape")
        }
        var done = 0
        while done < destination.count {
            let n = pread(handle.fileDescriptor, destination.baseAddress! + done, destination.count - done,
                          off_t(dataOffset + entry.byteRange.lowerBound + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .unreadable(path: path, detail: n == 0 ? "it ends inside tensor '\(name)'" : String(cString: strerror(errno))) }
            done += n
        }
    }
}
