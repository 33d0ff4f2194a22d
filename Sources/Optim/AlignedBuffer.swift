import Glibc

/// A fixed-size, aligned (64 bytes by default), zero-initialised buffer of trivial elements.
///
/// Kernels stream over these with unaligned-safe SIMD loads, but cache-line alignment keeps
/// every 16-lane fp32 vector inside one line; O_DIRECT I/O asks for page alignment instead. The
/// buffer never grows: a hot loop can hold it without allocation.
///
/// Buffers of `hugePageBytes` or more are placed on transparent huge pages (2 MiB aligned, and
/// `MADV_HUGEPAGE` before the first touch, since Debian's default THP mode is `madvise`). A direct
/// read into 4 KiB pages hands the disk one segment per page: on this machine's virtual disk a
/// device's 1 MiB loads into its DRAM pool ran at 1.4–1.6 GB/s on 4 KiB pages and 3.8–4.0 GB/s
/// on huge pages (`smartinf bench device`, naive handler), and long kernel sweeps take fewer TLB
/// misses.
public final class AlignedBuffer<Element: BitwiseCopyable>: @unchecked Sendable {
    // Safe to share the reference: the storage never moves or grows, and its users order who
    // writes which elements when (a step's gradient is not written until the step settles; a
    // DRAM buffer set belongs to one stage at a time; kernel threads take disjoint chunks).
    /// Cache-line alignment; also a multiple of every SIMD width we use.
    public static var defaultAlignment: Int { 64 }

    /// The x86-64 huge page size, and the size from which buffers ask for huge pages.
    public static var hugePageBytes: Int { 2 << 20 }

    public let count: Int
    /// The byte alignment of the first element (a power of two).
    public let alignment: Int
    @usableFromInline let base: UnsafeMutablePointer<Element>

    /// A buffer of `count` zero bytes' worth of elements, its start aligned to `alignment` bytes.
    public init(count: Int, alignment: Int = 64) {
        precondition(count >= 0, "AlignedBuffer count must be non-negative, got \(count)")
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.count = count
        self.alignment = alignment
        var bytes = max(count * MemoryLayout<Element>.stride, 1)
        let huge = bytes >= Self.hugePageBytes
        if huge { bytes = (bytes + Self.hugePageBytes - 1) / Self.hugePageBytes * Self.hugePageBytes }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: huge ? max(alignment, Self.hugePageBytes) : alignment)
        // Advice only: where THP is off the buffer still works, on small pages.
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        self.base = raw.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    /// A buffer holding a copy of `elements`.
    public convenience init(_ elements: some Collection<Element>) {
        self.init(count: elements.count)
        _ = UnsafeMutableBufferPointer(start: base, count: count).initialize(from: elements)
    }

    /// A buffer of `count` copies of `value`.
    public convenience init(repeating value: Element, count: Int) {
        self.init(count: count)
        base.update(repeating: value, count: count)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    @inlinable public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
            base[index] = newValue
        }
    }

    /// The elements as an array (for tests and small reports).
    public var array: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    @inlinable
    public func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Element>) throws -> R
    ) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// Sets every element to `value`.
    public func fill(with value: Element) { base.update(repeating: value, count: count) }
}
