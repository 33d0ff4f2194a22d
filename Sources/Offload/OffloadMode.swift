import DeviceProtocol
import OffloadVocabulary

extension OffloadMode {
    /// The transfer handler the update engines run: su is SmartUpdate without the handler's
    /// overlap, every other mode overlaps.
    public var handler: HandlerMode { self == .su ? .naive : .overlap }
}
