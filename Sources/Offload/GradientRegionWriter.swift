import BlockIO
import DeviceProtocol
import Optim

/// The host's path into one device's gradient region: the emulated peer-to-peer write (on real
/// hardware the host DMAs the payload into the device's NVMe namespace). A payload is encoded
/// into a direct-I/O staging buffer and written, padded to the 4 KiB direct-I/O granule, into
/// subgroup s's slot at `gradientOffset + s × gradientSlotBytes`.
public final class GradientRegionWriter {
    public let configured: Reply.Configured
    private let ssd: BlockFile
    private let ring: IORing
    private let staging: AlignedBuffer<UInt8>
    private let blockSize: Int

    public init(ssdPath: String, directIO: Bool, configured: Reply.Configured, queueDepth: Int = 8, blockSize: Int = 1 << 20) throws {
        self.configured = configured
        ssd = try BlockFile(path: ssdPath, mode: directIO ? .direct : .buffered)
        ring = try IORing(queueDepth: queueDepth)
        staging = AlignedBuffer(count: configured.gradientSlotBytes, alignment: BlockFile.directAlignment)
        self.blockSize = blockSize
    }

    /// File offset of subgroup `s`'s payload slot.
    public func slotOffset(_ s: Int) -> Int { configured.gradientOffset + s * configured.gradientSlotBytes }

    /// Lets `encode` write subgroup `s`'s payload into the staging buffer (it returns the byte
    /// count), writes it into the slot, and returns the byte count.
    @discardableResult
    public func write(subgroup s: Int, encode: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        try staging.withUnsafeMutableBufferPointer { b in
            let buffer = UnsafeMutableRawBufferPointer(b)
            let bytes = try encode(buffer)
            precondition(bytes > 0 && bytes <= buffer.count, "a payload of \(bytes) bytes does not fit the gradient slot")
            let padded = (bytes + BlockFile.directAlignment - 1) / BlockFile.directAlignment * BlockFile.directAlignment
            try ring.run([BlockTransfer(.write, file: ssd, fileOffset: slotOffset(s),
                                        memory: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<padded]))],
                         blockSize: blockSize)
            return bytes
        }
    }
}
