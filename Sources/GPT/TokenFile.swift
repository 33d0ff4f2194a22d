import DurableWrite

/// Token streams in llm.c's format: a 256 × int32 header — [0] magic 20240520, [1] version 1,
/// [2] token count — followed by the tokens as little-endian uint16.
///
/// Users bring data tokenised by that ecosystem; we also write such files for tests and for the
/// corpus we ship.
public enum TokenFile {
    public static let magic: Int32 = 20_240_520
    public static let version: Int32 = 1

    /// Reads and validates a token file. With `vocabSize`, every token must be below it; the
    /// first one that is not is reported with its position.
    public static func read(from path: String, vocabSize: Int? = nil) throws(ModelFileError) -> [UInt16] {
        let file = try LLMCFileReader(path: path, format: .tokens)
        let header = try file.readHeader(magic: magic, version: version)
        let count = Int(header[2])
        guard count >= 0 else {
            throw file.failure(.badHeaderField(field: "token count", value: count, expected: "at least 0"))
        }
        let dataBytes = count * MemoryLayout<UInt16>.size
        try file.requireLength(LLMCHeader.byteCount + dataBytes)
        var tokens = [UInt16](repeating: 0, count: count)
        try tokens.withUnsafeMutableBytes { bytes in
            Result { () throws(ModelFileError) in
                guard let base = bytes.baseAddress else { return }
                try file.read(into: base, count: dataBytes, at: LLMCHeader.byteCount)
            }
        }.get()
        if let vocabSize, let position = tokens.firstIndex(where: { Int($0) >= vocabSize }) {
            throw file.failure(.tokenOutOfRange(position: position, token: Int(tokens[position]), vocabSize: vocabSize))
        }
        return tokens
    }

    /// Writes `tokens` durably (`DurableFile`).
    public static func write(_ tokens: [UInt16], to path: String) throws(ModelFileError) {
        guard tokens.count <= Int(Int32.max) else {
            throw ModelFileError(.tokens, path: path, .badHeaderField(
                field: "token count", value: tokens.count, expected: "at most \(Int32.max) (an int32 header field)"))
        }
        var header = [Int32](repeating: 0, count: LLMCHeader.fieldCount)
        header[0] = magic
        header[1] = version
        header[2] = Int32(tokens.count)
        do throws(DurableFileError) {
            let file = try DurableFile(creating: path)
            try file.appendHeader(header)
            try file.append(tokens)
            try file.commit()
        } catch {
            throw ModelFileError(.tokens, path: path, .cannotWrite(error))
        }
    }
}
