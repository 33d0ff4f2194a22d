import CMPI

/// A few doubles from every rank to every rank, combined in rank order on each rank alone, so
/// that every rank gets the same bits and the order is fixed: MPI's own reductions may combine in
/// any order, and differently on different ranks.
extension World {
    /// Every rank's `values` (the same count on every rank), rank 0's first.
    public func allGather(_ values: [Double]) throws(CollectiveError) -> [Double] {
        guard size > 1 && !values.isEmpty else { return values }
        let count = values.count
        let bytes = count * MemoryLayout<Double>.size
        var gathered = [Double](repeating: 0, count: count * size)
        gathered.replaceSubrange((rank * count)..<((rank + 1) * count), with: values)
        let slices = RankSlices(counts: Array(repeating: count, count: size))
        try exchange(.scalars, sent: (size - 1) * bytes, received: (size - 1) * bytes) { () throws(CollectiveError) -> Int in
            try gathered.withUnsafeMutableBytes { buffer in
                Result { () throws(CollectiveError) in
                    try allGather(slices, of: cmpi_double(), elementBytes: MemoryLayout<Double>.size, in: buffer.baseAddress!, .scalars)
                }
            }.get()
        }
        return gathered
    }

    /// Element i of the result is Σ over ranks r of rank r's `values[i]`, added left to right in
    /// rank order.
    public func allReduceSum(_ values: [Double]) throws(CollectiveError) -> [Double] {
        let gathered = try allGather(values)
        return values.indices.map { i in (1..<size).reduce(gathered[i]) { sum, rank in sum + gathered[rank * values.count + i] } }
    }

    /// Whether `flag` is true on any rank (an overflow anywhere skips the step everywhere).
    public func anyRank(_ flag: Bool) throws(CollectiveError) -> Bool {
        try allGather([flag ? 1 : 0]).contains(1)
    }
}
