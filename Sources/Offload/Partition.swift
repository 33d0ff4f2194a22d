/// How the flattened parameter vector is split across devices: N equal contiguous slices, each
/// padded to a multiple of 64 elements. Tensors are split freely, so one huge embedding never
/// overflows a device; padding elements hold zero parameters and zero gradients.
public struct Partition: Sendable, Equatable {
    public static var sliceAlignment: Int { 64 }

    public let parameterCount: Int
    public let deviceCount: Int
    public let sliceElements: Int

    public init(parameterCount: Int, deviceCount: Int) {
        precondition(parameterCount > 0 && deviceCount > 0, "a partition needs parameters and devices")
        self.parameterCount = parameterCount
        self.deviceCount = deviceCount
        let perDevice = (parameterCount + deviceCount - 1) / deviceCount
        sliceElements = (perDevice + Self.sliceAlignment - 1) / Self.sliceAlignment * Self.sliceAlignment
    }

    private init(parameterCount: Int, deviceCount: Int, sliceElements: Int) {
        self.parameterCount = parameterCount
        self.deviceCount = deviceCount
        self.sliceElements = sliceElements
    }

    /// Devices `devices` of this partition as a fleet of their own sees them: the same slices,
    /// over the real parameters among their elements, counted from the first one's start. A
    /// data-parallel rank's fleet is its devices of the partition over every rank's devices, so
    /// each device holds the slice it would hold in a one-rank run with all of them.
    public func devices(_ devices: Range<Int>) -> Partition {
        precondition(devices.lowerBound >= 0 && devices.upperBound <= deviceCount && !devices.isEmpty,
                     "devices \(devices) of a partition over \(deviceCount)")
        return Partition(parameterCount: parameters(ofDevices: devices).count, deviceCount: devices.count,
                         sliceElements: sliceElements)
    }

    /// The real parameters (not padding) among devices `devices`' elements.
    public func parameters(ofDevices devices: Range<Int>) -> Range<Int> {
        let start = devices.lowerBound * sliceElements
        return min(start, parameterCount)..<min(devices.upperBound * sliceElements, parameterCount)
    }

    /// The padded length of the flat vector: every slice full.
    public var paddedElements: Int { sliceElements * deviceCount }

    /// Device `i`'s elements of the padded flat vector.
    public func slice(_ i: Int) -> Range<Int> { (i * sliceElements)..<((i + 1) * sliceElements) }

    /// Device `i`'s elements that are real parameters (not padding).
    public func parameters(ofDevice i: Int) -> Range<Int> {
        let s = slice(i)
        return min(s.lowerBound, parameterCount)..<min(s.upperBound, parameterCount)
    }

    /// A human-readable plan (`--explain`): which parameters and tensors each device holds.
    public func explain(tensors: [(name: String, elements: Int)] = [], subgroupElements: Int? = nil) -> String {
        var lines = ["\(parameterCount) parameters over \(deviceCount) device(s): slices of \(sliceElements) elements"
            + " (\(paddedElements - parameterCount) padding)"]
        var tensorStarts: [(name: String, range: Range<Int>)] = []
        var offset = 0
        for t in tensors {
            tensorStarts.append((t.name, offset..<(offset + t.elements)))
            offset += t.elements
        }
        for i in 0..<deviceCount {
            let own = parameters(ofDevice: i)
            var line = "  device \(i): elements \(slice(i).lowerBound)..<\(slice(i).upperBound)"
            if let d = subgroupElements { line += ", \((sliceElements + d - 1) / d) subgroup(s) of ≤ \(d)" }
            let held = tensorStarts.filter { $0.range.overlaps(own) }.map { t -> String in
                let part = t.range.clamped(to: own)
                return part.count == t.range.count ? t.name : "\(t.name)[\(part.lowerBound - t.range.lowerBound)..<\(part.upperBound - t.range.lowerBound)]"
            }
            if !held.isEmpty { line += ": " + held.joined(separator: ", ") }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
