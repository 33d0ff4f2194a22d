import Optim

/// One caller tensor registered with a session: where its storage is, how many elements, in
/// which precision, and which parameter group it belongs to. The only place raw caller memory
/// is held; every access is a bounded copy between it and the session's own buffers.
struct TensorBinding: @unchecked Sendable {
    // Safe to send: the caller owns the memory and promises (smartinf.h) it stays valid and
    // unmoved until the session is closed; the session touches it only inside its calls.
    let storage: UnsafeMutableRawPointer
    let count: Int
    let precision: Precision
    let group: Int
    /// Its first element in the flat parameter space.
    let offset: Int

    var byteCount: Int { count * precision.byteWidth }

    /// Copies the tensor's values into `flat` (same precision) at its offset.
    func copy(into flat: StreamBuffer) {
        flat.withUnsafeMutableRawPointer { ($0 + offset * precision.byteWidth).copyMemory(from: storage, byteCount: byteCount) }
    }

    /// Copies `count` elements of a caller gradient at `gradient` into `flat` at the offset,
    /// unless the gradient is already there (a view of the session's flat gradient).
    func copy(gradient: UnsafeRawPointer, into flat: StreamBuffer) {
        flat.withUnsafeMutableRawPointer { base in
            let place = base + offset * precision.byteWidth
            if UnsafeRawPointer(place) != gradient { place.copyMemory(from: gradient, byteCount: byteCount) }
        }
    }

    /// Zeros the tensor's range of `flat` (a parameter without a gradient).
    func zero(in flat: StreamBuffer) {
        _ = flat.withUnsafeMutableRawPointer { ($0 + offset * precision.byteWidth).initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
    }

    /// Writes the tensor's range of `flat` back into the caller's storage, unless the storage is
    /// that range (a view of the session's compute copy).
    func copy(from flat: StreamBuffer) {
        flat.withUnsafeMutableRawPointer { base in
            let place = base + offset * precision.byteWidth
            if place != storage { storage.copyMemory(from: place, byteCount: byteCount) }
        }
    }

    /// The same tensor at another address.
    func moved(to storage: UnsafeMutableRawPointer) -> TensorBinding {
        TensorBinding(storage: storage, count: count, precision: precision, group: group, offset: offset)
    }
}
