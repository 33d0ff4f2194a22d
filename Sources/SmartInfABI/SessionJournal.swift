import DurableWrite
import Foundation
import Optim

/// The library's part of every step, made durable as the step returns, so that a process that
/// died (killed, crashed) is resumed from its devices (`"resume": true`): the fleet steps taken,
/// the steps applied (the optimizer's t) and the loss scaler, with what the devices were set up
/// for, in `SSD_DIR/session-state.journal` (the two-slot record the trainer's journal also uses).
/// The devices hold the fp32 masters and the optimizer states of every committed step; the
/// caller's own position (its data, its schedule) is the caller's to keep.
struct SessionState: Codable, Equatable {
    var fleetSteps: Int
    var appliedSteps: Int
    var parameterCount: Int
    var mode: String
    var devices: Int
    var optimizer: String
    var precision: String
    var lossScaler: DynamicLossScaler.Position?

    enum CodingKeys: String, CodingKey {
        case fleetSteps = "fleet_steps", appliedSteps = "applied_steps", parameterCount = "parameter_count", mode, devices,
             optimizer, precision, lossScaler = "loss_scaler"
    }

    static let fileName = "session-state.journal"

    static func path(in directory: String) -> String { "\(directory)/\(fileName)" }

    /// The newest state in `directory`'s journal; nil if there is none.
    static func newest(in directory: String) throws(SessionError) -> SessionState? {
        let path = path(in: directory)
        let bytes: [UInt8]?
        do { bytes = try AlternatingRecord.read(from: path) } catch { throw .badState("cannot resume: \(error)") }
        guard let bytes else { return nil }
        do { return try JSONDecoder().decode(SessionState.self, from: Data(bytes)) } catch {
            throw .badState("cannot resume: \(path) is not a session state: \(error)")
        }
    }

    /// Refuses to resume devices set up for something else, naming the setting.
    func check(against current: SessionState, in directory: String) throws(SessionError) {
        let fields: [(String, String, String)] = [
            ("parameter count", "\(parameterCount)", "\(current.parameterCount)"), ("mode", mode, current.mode),
            ("devices", "\(devices)", "\(current.devices)"), ("optimizer", optimizer, current.optimizer),
            ("precision", precision, current.precision),
        ]
        if let (field, saved, given) = fields.first(where: { $0.1 != $0.2 }) {
            throw .badArgument("cannot resume from \(directory): its devices hold a run whose \(field) is \(saved); this optimizer's is \(given)")
        }
    }

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
}
