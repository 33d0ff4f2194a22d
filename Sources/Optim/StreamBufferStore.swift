extension StreamBuffer {
    /// Stores the fp32 `values` in this buffer's precision from element `start` on, each rounded
    /// once to nearest even: a data-parallel rank's summed gradient slice into the run's gradient
    /// precision, or its part of a vector every rank gathers.
    public func store(_ values: AlignedBuffer<Float>, at start: Int = 0) {
        precondition(start >= 0 && start + values.count <= count, "\(values.count) values from \(start) do not fit \(count) elements")
        let width = precision.byteWidth
        values.withUnsafeBufferPointer { source in
            withUnsafeMutableRawPointer { precision.narrow(source, into: $0 + start * width) }
        }
    }
}
