/// The k-th largest key of a selection, and how many keys are strictly larger than it.
///
/// Together they say exactly which elements are kept: every element whose key is above `key`,
/// then the lowest-index `k - countAbove` elements whose key equals it.
struct SelectionThreshold: Equatable {
    var key: UInt32
    var countAbove: Int
}
