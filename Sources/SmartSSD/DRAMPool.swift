import BlockIO
import Optim

/// The emulated FPGA DRAM: one allocation made at start-up, touched so that it is resident, and
/// carved into buffer sets at configure time. Nothing is allocated per step.
public final class DRAMPool: Sendable {
    public let bytes: Int
    let memory: AlignedBuffer<UInt8>

    public init(bytes: Int) {
        self.bytes = bytes
        memory = AlignedBuffer(count: bytes, alignment: DeviceLayout.alignment)
    }

    /// One subgroup's working memory: its slot image (p then the states, as on the SSD), the
    /// dense fp32 gradient, and the staged payload.
    struct BufferSet: @unchecked Sendable {
        // Safe to hand between the stages: the `Pipeline` gives each set to one stage at a time.
        var slot: UnsafeMutableRawBufferPointer
        var gradient: UnsafeMutableBufferPointer<Float>
        var payload: UnsafeMutableRawBufferPointer

        /// All of the set's memory (slot, gradient and payload lie back to back), as scratch for
        /// commands that run between steps.
        var whole: UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(start: slot.baseAddress!, count: payload.baseAddress! + payload.count - slot.baseAddress!)
        }
    }

    /// Bytes one buffer set takes for `layout`.
    static func bufferSetBytes(_ layout: DeviceLayout) -> Int {
        layout.slotBytes + layout.vectorBytes + layout.gradientSlotBytes
    }

    /// The subgroup size (a multiple of 1024 elements, and of the 8-bit states' block, at most
    /// the slice) for which `sets` buffer sets fit in `dramBytes`, or nil if not even one such
    /// step fits. The slice is split into as few subgroups as fit and they are balanced: every
    /// subgroup moves a whole slot image to and from the SSD, so a short last subgroup would cost
    /// a full subgroup's I/O for a sliver of the parameters (256M parameters at 1 GiB split
    /// 15 × 17.9M + 1 × 0.06M moved 7% more bytes).
    static func subgroupSize(sliceElements: Int, stateCount: Int, slots: Int, statePrecision: StatePrecision, sets: Int,
                             dramBytes: Int) -> Int? {
        let step = subgroupStep(statePrecision)
        let perElement = 4 + Int(Double(stateCount) * statePrecision.bytesPerState) + 4 + 4
        var d = min(sliceElements.roundedUp(to: step), max(dramBytes / sets / perElement, step)).roundedDown(to: step)
        while d >= step {
            let layout = DeviceLayout(sliceElements: sliceElements, subgroupElements: d, stateCount: stateCount, slots: slots,
                                      statePrecision: statePrecision)
            if bufferSetBytes(layout) * sets <= dramBytes {
                // The fewest subgroups that fit, each as near the same size as the steps allow.
                return ((sliceElements + layout.subgroupCount - 1) / layout.subgroupCount).roundedUp(to: step)
            }
            d -= step
        }
        return nil
    }

    /// Subgroup sizes a device chooses are multiples of this: 1024 elements, or the 8-bit
    /// states' block when it is larger (blocks never straddle two subgroups).
    static func subgroupStep(_ statePrecision: StatePrecision) -> Int { max(1024, statePrecision.blockSize ?? 1) }

    /// Carves `count` buffer sets for `layout`; the caller has checked they fit.
    func carve(_ count: Int, for layout: DeviceLayout) -> [BufferSet] {
        let base = memory.withUnsafeMutableBufferPointer { UnsafeMutableRawPointer($0.baseAddress!) }
        let size = Self.bufferSetBytes(layout)
        precondition(size * count <= bytes, "buffer sets do not fit the DRAM pool")
        let sets = (0..<count).map { i in
            let start = base + i * size
            let gradient = start + layout.slotBytes
            return BufferSet(
                slot: UnsafeMutableRawBufferPointer(start: start, count: layout.slotBytes),
                gradient: UnsafeMutableBufferPointer(start: gradient.bindMemory(to: Float.self, capacity: layout.subgroupElements),
                                                     count: layout.subgroupElements),
                payload: UnsafeMutableRawBufferPointer(start: gradient + layout.vectorBytes, count: layout.gradientSlotBytes))
        }
        // Every buffer of every set lies in the pool and overlaps no other: the stages of the
        // overlapping handler work on different sets at once, and the I/O into one set must
        // never land in another's.
        let regions = sets.flatMap { set in
            [(set.slot.baseAddress!, set.slot.count),
             (UnsafeMutableRawPointer(set.gradient.baseAddress!), set.gradient.count * MemoryLayout<Float>.size),
             (set.payload.baseAddress!, set.payload.count)]
        }.sorted { $0.0 < $1.0 }
        precondition(regions.first.map { $0.0 >= base } ?? true && regions.last.map { $0.0 + $0.1 <= base + bytes } ?? true,
                     "a buffer set reaches outside the DRAM pool")
        for (a, b) in zip(regions, regions.dropFirst()) {
            precondition(a.0 + a.1 <= b.0, "buffer sets overlap in the DRAM pool")
        }
        return sets
    }

    /// The whole pool, for io_uring buffer registration.
    var registrationChunks: [UnsafeMutableRawBufferPointer] {
        let all = memory.withUnsafeMutableBufferPointer { UnsafeMutableRawBufferPointer($0) }
        let chunk = IORing.maximumRegisteredBufferBytes
        return stride(from: 0, to: all.count, by: chunk).map {
            UnsafeMutableRawBufferPointer(rebasing: all[$0..<min($0 + chunk, all.count)])
        }
    }
}

extension Int {
    func roundedUp(to multiple: Int) -> Int { (self + multiple - 1) / multiple * multiple }
    func roundedDown(to multiple: Int) -> Int { self / multiple * multiple }
}
