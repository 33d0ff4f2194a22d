/// Checks indices handed to the encoder: strictly increasing and below n.
///
/// Both index encodings rely on it (a delta must be positive, a block offset must belong to its
/// block), and a payload built from bad indices would only be rejected on the device, far from
/// the bug. One pass over k indices is cheap next to the selection that produced them.
enum IndexOrderCheck {
    static func validate(_ indices: UnsafeBufferPointer<UInt32>, elementCount n: Int) throws(CompressionError) {
        var previous: UInt32 = 0
        for (position, index) in indices.enumerated() {
            guard Int(index) < n else {
                throw .indexOutOfRange(position: position, index: index, elementCount: n)
            }
            guard position == 0 || index > previous else {
                throw .indicesNotIncreasing(position: position, index: index, previous: previous)
            }
            previous = index
        }
    }
}
