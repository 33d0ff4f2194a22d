/// 8-bit optimizer states (Dettmers et al., "8-bit Optimizers via Block-wise Quantization",
/// ICLR 2022; bitsandbytes' 8-bit Adam): each state is stored as one byte per element with an
/// fp32 scale per block of `blockSize` elements, 1 + 4/blockSize bytes per state element
/// instead of fp32's 4. The parameters (the fp32 master copy) and the gradient stay as they
/// are. Where the states live on storage, this cuts what every optimizer step moves: in base,
/// 16 + 4s bytes per parameter on the shared link (s bytes per state, Adam's two states), 32 in
/// fp32 and 20.008 at 8 bits; in SmartUpdate the same 12 + 4s inside each device.
public struct StateQuantization: Sendable, Equatable, Codable {
    /// Elements per block sharing one fp32 scale (bitsandbytes: 2048).
    public let blockSize: Int

    /// bitsandbytes' block-wise 8-bit quantization.
    public static let blockwise8Bit = try! StateQuantization(blockSize: 2048)

    public init(blockSize: Int) throws(WorkloadError) {
        guard blockSize > 0 else { throw .notPositive(field: "state quantization block size", value: Double(blockSize)) }
        self.blockSize = blockSize
    }

    enum CodingKeys: String, CodingKey { case blockSize }

    /// Decodes and checks as `init` does.
    public init(from decoder: any Decoder) throws {
        try self.init(blockSize: decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .blockSize))
    }

    /// Bytes per element of one state: one byte plus its share of the block's fp32 scale.
    public var bytesPerState: Double { 1 + 4 / Double(blockSize) }
}
