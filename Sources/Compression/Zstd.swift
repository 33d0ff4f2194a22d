import CZstd

/// A reusable zstd compression context, so that compressing an index stream every step does not
/// allocate zstd's tables every time.
final class ZstdCompressor {
    private let context: OpaquePointer

    init() {
        guard let context = ZSTD_createCCtx() else { fatalError("zstd could not allocate a compression context") }
        self.context = context
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `count` bytes into at most `capacity` bytes at `destination` and returns the
    /// compressed length, or nil if the result does not fit (then the stream is not worth
    /// compressing and the caller stores it raw).
    func compress(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer,
                  capacity: Int, level: Int) -> Int? {
        let result = ZSTD_compressCCtx(context, destination, capacity, source, count, Int32(level))
        return ZSTD_isError(result) != 0 ? nil : result
    }
}

/// A reusable zstd decompression context.
final class ZstdDecompressor {
    private let context: OpaquePointer

    init() {
        guard let context = ZSTD_createDCtx() else { fatalError("zstd could not allocate a decompression context") }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses `count` bytes into exactly `expected` bytes at `destination`.
    func decompress(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer,
                    expected: Int) throws(PayloadError) {
        let result = ZSTD_decompressDCtx(context, destination, expected, source, count)
        if ZSTD_isError(result) != 0 {
            throw .decompressionFailed("\(String(cString: ZSTD_getErrorName(result))) (expected \(expected) raw bytes)")
        }
        guard result == expected else {
            throw .decompressionFailed("restored \(result) bytes, expected \(expected) as the header records")
        }
    }
}
