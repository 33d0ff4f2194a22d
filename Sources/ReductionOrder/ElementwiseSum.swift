import Optim

/// The buffer work of a sum, over Optim's kernels: fp32 additions each rounded on its own
/// (`Precision.accumulate`) and exact widening into fp32 (`Precision.widen`).
enum ElementwiseSum {
    /// sum[i] += right[i] for the elements of `right`; past its end `sum` is left as it is, which
    /// is adding +0 to the +0 every buffer of the sum holds there.
    static func add(_ right: StreamBuffer, into sum: AlignedBuffer<Float>) {
        precondition(right.count <= sum.count, "a leaf of \(right.count) elements is longer than the sum's \(sum.count)")
        sum.withUnsafeMutableBufferPointer { s in
            right.withUnsafeMutableRawPointer { r in
                right.precision.accumulate(UnsafeRawPointer(r), into: UnsafeMutableBufferPointer(rebasing: s[..<right.count]))
            }
        }
    }

    /// buffer[left..<left+count] += buffer[right..<right+count], two chunks of one buffer.
    static func add(chunkAt right: Int, intoChunkAt left: Int, count: Int, of buffer: AlignedBuffer<Float>) {
        precondition(max(left, right) + count <= buffer.count, "a chunk of \(count) elements runs past its buffer")
        buffer.withUnsafeMutableBufferPointer { b in
            Precision.fp32.accumulate(UnsafeRawPointer(b.baseAddress! + right),
                                      into: UnsafeMutableBufferPointer(rebasing: b[left..<(left + count)]))
        }
    }

    /// output = `leaf` widened exactly to fp32, zeros past its end.
    static func widen(_ leaf: StreamBuffer, into output: AlignedBuffer<Float>) {
        precondition(leaf.count <= output.count, "a leaf of \(leaf.count) elements is longer than its buffer")
        output.withUnsafeMutableBufferPointer { o in
            leaf.withUnsafeMutableRawPointer { r in
                leaf.precision.widen(UnsafeRawPointer(r), into: UnsafeMutableBufferPointer(rebasing: o[..<leaf.count]))
            }
            (o.baseAddress! + leaf.count).update(repeating: 0, count: output.count - leaf.count)
        }
    }

    /// output[0..<count] = buffer[start..<start+count].
    static func copy(_ buffer: AlignedBuffer<Float>, from start: Int, count: Int, into output: AlignedBuffer<Float>) {
        precondition(start + count <= buffer.count && count <= output.count, "a copy of \(count) elements runs past its buffer")
        buffer.withUnsafeBufferPointer { b in
            output.withUnsafeMutableBufferPointer { o in
                o.baseAddress!.update(from: b.baseAddress! + start, count: count)
            }
        }
    }
}
