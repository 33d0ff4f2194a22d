import Foundation
import Offload
import OffloadStep
import Optim

// The C entry points of libsmartinf (include/smartinf.h). Each one catches every Swift error and
// returns its code (0: success); the message is kept for the calling thread
// (`smartinf_last_error`). Pointers from the caller are turned into safe values here and in
// `TensorBinding`, nowhere else.

/// The message of the calling thread's last failed call.
private let lastErrorKey = "smartinf.last-error"

private func fail(_ error: SessionError) -> Int32 {
    let dictionary = Thread.current.threadDictionary
    if let old = dictionary[lastErrorKey] as? LastError { old.release() }
    dictionary[lastErrorKey] = LastError(error.description)
    return error.code
}

/// A C string owned by its thread's dictionary until the thread's next failure replaces it.
private final class LastError: NSObject {
    private var pointer: UnsafeMutablePointer<CChar>?
    init(_ message: String) { pointer = strdup(message) }
    var cString: UnsafePointer<CChar>? { pointer.map { UnsafePointer($0) } }
    func release() {
        free(pointer)
        pointer = nil
    }
}

/// Runs `body` on the session behind `handle`, turning what it throws into a code.
private func withSession(_ handle: OpaquePointer?, _ body: (OffloadSession) throws(SessionError) -> Void) -> Int32 {
    guard let handle else { return fail(.badArgument("the optimizer handle is NULL")) }
    let session = Unmanaged<OffloadSession>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    do {
        try body(session)
        return 0
    } catch {
        return fail(error)
    }
}

@_cdecl("smartinf_last_error")
public func smartinf_last_error() -> UnsafePointer<CChar>? {
    (Thread.current.threadDictionary[lastErrorKey] as? LastError)?.cString
}

@_cdecl("smartinf_create")
public func smartinf_create(_ json: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let json, let out else { return fail(.badArgument("smartinf_create needs a configuration string and an output pointer")) }
    do {
        let session = OffloadSession(try SessionConfiguration(json: String(cString: json)))
        out.pointee = OpaquePointer(Unmanaged.passRetained(session).toOpaque())
        return 0
    } catch {
        return fail(error)
    }
}

@_cdecl("smartinf_register")
public func smartinf_register(_ handle: OpaquePointer?, _ data: UnsafeMutableRawPointer?, _ count: Int64, _ dtype: Int32,
                              _ group: Int32) -> Int32 {
    withSession(handle) { session throws(SessionError) in try session.register(data, count: Int(count), dtype: dtype, group: Int(group)) }
}

@_cdecl("smartinf_set_group")
public func smartinf_set_group(_ handle: OpaquePointer?, _ group: Int32, _ lr: Double, _ weightDecay: Double) -> Int32 {
    withSession(handle) { session throws(SessionError) in try session.setGroup(Int(group), learningRate: lr, weightDecay: weightDecay) }
}

@_cdecl("smartinf_start")
public func smartinf_start(_ handle: OpaquePointer?) -> Int32 {
    withSession(handle) { session throws(SessionError) in try session.start() }
}

@_cdecl("smartinf_flat_buffers")
public func smartinf_flat_buffers(_ handle: OpaquePointer?, _ parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                  _ gradients: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        let buffers = try session.flatBuffers()
        parameters?.pointee = buffers.parameters
        gradients?.pointee = buffers.gradients
    }
}

@_cdecl("smartinf_move_tensor")
public func smartinf_move_tensor(_ handle: OpaquePointer?, _ index: Int64, _ data: UnsafeMutableRawPointer?) -> Int32 {
    withSession(handle) { session throws(SessionError) in try session.move(Int(index), to: data) }
}

@_cdecl("smartinf_step")
public func smartinf_step(_ handle: OpaquePointer?, _ gradients: UnsafePointer<UnsafeRawPointer?>?, _ count: Int64,
                          _ skipped: UnsafeMutablePointer<Int32>?, _ gradNorm: UnsafeMutablePointer<Double>?,
                          _ lossScale: UnsafeMutablePointer<Double>?) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        let check = try session.step(gradients: try gradientList(gradients, count))
        skipped?.pointee = check.skip ? 1 : 0
        gradNorm?.pointee = check.gradientNorm
        lossScale?.pointee = session.optimizer?.lossScale ?? 1
    }
}

@_cdecl("smartinf_step_scaled")
public func smartinf_step_scaled(_ handle: OpaquePointer?, _ gradients: UnsafePointer<UnsafeRawPointer?>?, _ count: Int64,
                                 _ lossScale: Double, _ overflowFound: Int32, _ skipped: UnsafeMutablePointer<Int32>?,
                                 _ gradNorm: UnsafeMutablePointer<Double>?) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        let check = try session.step(gradients: try gradientList(gradients, count),
                                     external: ExternalLossScale(scale: lossScale, overflowFound: overflowFound != 0))
        skipped?.pointee = check.skip ? 1 : 0
        gradNorm?.pointee = check.gradientNorm
    }
}

/// The caller's array of `count` gradient pointers.
private func gradientList(_ gradients: UnsafePointer<UnsafeRawPointer?>?, _ count: Int64) throws(SessionError) -> [UnsafeRawPointer?] {
    guard count >= 0, count == 0 || gradients != nil else { throw .badArgument("the gradient pointer array is NULL") }
    return count == 0 ? [] : Array(UnsafeBufferPointer(start: gradients, count: Int(count)))
}

@_cdecl("smartinf_parameter_count")
public func smartinf_parameter_count(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    withSession(handle) { out?.pointee = Int64($0.parameterCount) }
}

@_cdecl("smartinf_applied_steps")
public func smartinf_applied_steps(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    withSession(handle) { out?.pointee = Int64($0.optimizer?.appliedSteps ?? 0) }
}

@_cdecl("smartinf_steps_taken")
public func smartinf_steps_taken(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    withSession(handle) { out?.pointee = Int64($0.fleetSteps) }
}

@_cdecl("smartinf_recoveries")
public func smartinf_recoveries(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    withSession(handle) { out?.pointee = Int64($0.optimizer?.recoveries ?? 0) }
}

@_cdecl("smartinf_read_state")
public func smartinf_read_state(_ handle: OpaquePointer?, _ vector: Int32, _ out: UnsafeMutablePointer<Float>?, _ count: Int64) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        guard let out, count == Int64(session.parameterCount) else {
            throw .badArgument("smartinf_read_state needs a buffer of \(session.parameterCount) floats, got \(count)")
        }
        let values = try session.readState(Int(vector))
        values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: values.count) }
    }
}

@_cdecl("smartinf_load_state")
public func smartinf_load_state(_ handle: OpaquePointer?, _ parameters: UnsafePointer<Float>?, _ state1: UnsafePointer<Float>?,
                                _ state2: UnsafePointer<Float>?, _ count: Int64, _ appliedSteps: Int64) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        guard let parameters, count == Int64(session.parameterCount) else {
            throw .badArgument("smartinf_load_state needs \(session.parameterCount) parameters, got \(count)")
        }
        let n = Int(count)
        let states = [state1, state2].compactMap { $0 }.map { Array(UnsafeBufferPointer(start: $0, count: n)) }
        try session.loadState(parameters: Array(UnsafeBufferPointer(start: parameters, count: n)), states: states,
                              appliedSteps: Int(appliedSteps))
    }
}

@_cdecl("smartinf_device_pid")
public func smartinf_device_pid(_ handle: OpaquePointer?, _ device: Int32, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    withSession(handle) { session throws(SessionError) in out?.pointee = try session.devicePID(Int(device)) }
}

@_cdecl("smartinf_loss_scale")
public func smartinf_loss_scale(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Double>?) -> Int32 {
    withSession(handle) { out?.pointee = $0.optimizer?.lossScale ?? $0.configuration.lossScaling?.initialScale ?? 1 }
}

@_cdecl("smartinf_loss_scaler_position")
public func smartinf_loss_scaler_position(_ handle: OpaquePointer?, _ scale: UnsafeMutablePointer<Double>?,
                                          _ remainingHysteresis: UnsafeMutablePointer<Int64>?, _ iteration: UnsafeMutablePointer<Int64>?,
                                          _ lastOverflowIteration: UnsafeMutablePointer<Int64>?) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        let position = try session.lossScalerPosition()
        scale?.pointee = position.scale
        remainingHysteresis?.pointee = Int64(position.remainingHysteresis)
        iteration?.pointee = Int64(position.iteration)
        lastOverflowIteration?.pointee = Int64(position.lastOverflowIteration)
    }
}

@_cdecl("smartinf_set_loss_scaler_position")
public func smartinf_set_loss_scaler_position(_ handle: OpaquePointer?, _ scale: Double, _ remainingHysteresis: Int64, _ iteration: Int64,
                                              _ lastOverflowIteration: Int64) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        try session.moveLossScaler(to: DynamicLossScaler.Position(
            scale: scale, remainingHysteresis: Int(remainingHysteresis), iteration: Int(iteration),
            lastOverflowIteration: Int(lastOverflowIteration)))
    }
}

@_cdecl("smartinf_read_error_feedback")
public func smartinf_read_error_feedback(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, _ count: Int64,
                                         _ completedSteps: UnsafeMutablePointer<Int64>?) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        guard let out, count == Int64(session.parameterCount) else {
            throw .badArgument("smartinf_read_error_feedback needs a buffer of \(session.parameterCount) floats, got \(count)")
        }
        let flat = try session.errorFeedback()
        flat.residual.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: flat.residual.count) }
        completedSteps?.pointee = Int64(flat.completedSteps)
    }
}

@_cdecl("smartinf_load_error_feedback")
public func smartinf_load_error_feedback(_ handle: OpaquePointer?, _ residual: UnsafePointer<Float>?, _ count: Int64,
                                         _ completedSteps: Int64) -> Int32 {
    withSession(handle) { session throws(SessionError) in
        guard let residual, count == Int64(session.parameterCount) else {
            throw .badArgument("smartinf_load_error_feedback needs \(session.parameterCount) residuals, got \(count)")
        }
        try session.loadErrorFeedback(ErrorFeedbackFile.Flat(residual: Array(UnsafeBufferPointer(start: residual, count: Int(count))),
                                                             completedSteps: Int(completedSteps)))
    }
}

@_cdecl("smartinf_read_config")
public func smartinf_read_config(_ json: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<CChar>?,
                                 _ capacity: Int64, _ length: UnsafeMutablePointer<Int64>?) -> Int32 {
    guard let json, let length else { return fail(.badArgument("smartinf_read_config needs a configuration string and a length pointer")) }
    do {
        let resolved = Array(try ConfigTranslation.resolved(json: String(cString: json), source: source.map { String(cString: $0) } ?? "")
            .utf8CString)
        length.pointee = Int64(resolved.count)
        if let out, capacity >= Int64(resolved.count) {
            resolved.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: resolved.count) }
        }
        return 0
    } catch {
        return fail(error)
    }
}

@_cdecl("smartinf_learning_rate")
public func smartinf_learning_rate(_ json: UnsafePointer<CChar>?, _ lr: Double, _ appliedSteps: Int64,
                                   _ out: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let json, let out else { return fail(.badArgument("smartinf_learning_rate needs a configuration string and an output pointer")) }
    do {
        out.pointee = try ConfigTranslation.learningRate(json: String(cString: json), learningRate: lr, appliedSteps: Int(appliedSteps))
        return 0
    } catch {
        return fail(error)
    }
}

@_cdecl("smartinf_close")
public func smartinf_close(_ handle: OpaquePointer?) -> Int32 {
    guard let handle else { return 0 }
    let session = Unmanaged<OffloadSession>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
    session.close()
    return 0
}
