import Offload

/// What a C ABI call reports: a code the caller decides on (`SMARTINF_E_*` in smartinf.h) and a
/// message for people.
enum SessionError: Error, CustomStringConvertible {
    /// A value the caller passed is wrong (names it and what was expected).
    case badArgument(String)
    /// The call is not possible now (before `start`, after `close`, registering after `start`).
    case badState(String)
    /// A device failed and was not recovered.
    case device(FleetError)
    /// Anything else that went wrong (files, memory).
    case failed(String)

    /// The code smartinf.h gives the case.
    var code: Int32 {
        switch self {
        case .badArgument: 1
        case .badState: 2
        case .device: 3
        case .failed: 4
        }
    }

    var description: String {
        switch self {
        case .badArgument(let m), .badState(let m), .failed(let m): m
        case .device(let e): "\(e)"
        }
    }

    /// Whatever a Swift call threw, as the ABI reports it.
    init(_ error: any Error) {
        switch error {
        case let e as SessionError: self = e
        case let e as FleetError: self = .device(e)
        default: self = .failed("\(error)")
        }
    }
}
