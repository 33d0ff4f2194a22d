import CPosix
import DeviceProtocol
import Foundation
import OffloadVocabulary
import Plan

/// The paced clock's shared state: one reservation word per modeled resource and the routes of
/// every operation kind, in a file every process of the run maps (the host creates it, each
/// device opens it). Resources are token buckets in the GCRA form: a word holds the instant
/// (`ContinuousClock` system nanoseconds) until which the resource is taken; an operation reserves each resource
/// of its route from max(its start, that instant) for amount × seconds-per-unit × dilation, with
/// a compare-and-swap, then sleeps until the last of its reservations ends. Concurrent users of
/// a resource thus queue for it, across processes, and a flow crossing several resources is held
/// to the slowest.
///
/// Layout (little-endian): a 64-byte header (magic "SIPACER1", version, resources, devices,
/// dilation), one 64-byte line per resource (the word first), then routes of 256 bytes: for each
/// device its five operation kinds, then forward, backward, and the gradient offload to each
/// device. A route holds amount-per-byte, amount-per-element, a hop count and up to 8 hops of
/// (resource, seconds per unit).
public final class PacerTable: Sendable {
    static let magic: UInt64 = 0x3152_4543_4150_4953  // "SIPACER1"
    static let version: UInt32 = 1
    static let headerBytes = 64
    static let lineBytes = 64
    static let routeBytes = 256
    static let maximumHops = 8

    public let path: String
    public let resourceCount: Int
    public let deviceCount: Int
    public let dilation: Double
    private let mapping: SharedMemoryMapping

    /// Creates the table for `routes` at `path` (the host's side).
    public init(creating path: String, routes: LiveRoutes, dilation: Double) throws {
        guard dilation > 0, dilation.isFinite else { throw PacerError.badDilation(dilation) }
        let resources = routes.machinePlan.graph.resources.count
        let routeCount = routes.devices * OperationRecord.Kind.allCases.count + 2 + routes.devices
        let bytes = Self.headerBytes + resources * Self.lineBytes + routeCount * Self.routeBytes
        mapping = try SharedMemoryMapping.create(path: path, bytes: bytes)
        self.path = path
        resourceCount = resources
        deviceCount = routes.devices
        self.dilation = dilation
        let base = mapping.base
        base.storeBytes(of: Self.magic, toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: Self.version, toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: UInt32(resources), toByteOffset: 12, as: UInt32.self)
        base.storeBytes(of: UInt32(routes.devices), toByteOffset: 16, as: UInt32.self)
        base.storeBytes(of: dilation, toByteOffset: 24, as: Double.self)
        var all: [LiveRoute] = []
        for d in 0..<routes.devices {
            for kind in OperationRecord.Kind.allCases { all.append(routes.device(d, kind)) }
        }
        all.append(routes.forward)
        all.append(routes.backward)
        for d in 0..<routes.devices { all.append(routes.offload(to: d)) }
        for (i, route) in all.enumerated() {
            let hops = routes.secondsPerUnit(route)
            precondition(hops.count <= Self.maximumHops, "a route of \(hops.count) hops")
            let at = routeOffset(i)
            base.storeBytes(of: route.amountPerByte, toByteOffset: at, as: Double.self)
            base.storeBytes(of: route.amountPerElement, toByteOffset: at + 8, as: Double.self)
            base.storeBytes(of: UInt32(hops.count), toByteOffset: at + 16, as: UInt32.self)
            for (h, hop) in hops.enumerated() {
                base.storeBytes(of: UInt64(hop.resource), toByteOffset: at + 24 + 16 * h, as: UInt64.self)
                base.storeBytes(of: hop.seconds, toByteOffset: at + 32 + 16 * h, as: Double.self)
            }
        }
    }

    /// Opens a table another process created (a device's side); checks it is one.
    public init(opening path: String) throws {
        mapping = try SharedMemoryMapping.open(path: path, minimumBytes: Self.headerBytes)
        let base = mapping.base
        guard base.load(fromByteOffset: 0, as: UInt64.self) == Self.magic else { throw PacerError.notATable(path) }
        let version = base.load(fromByteOffset: 8, as: UInt32.self)
        guard version == Self.version else { throw PacerError.version(path, Int(version)) }
        self.path = path
        resourceCount = Int(base.load(fromByteOffset: 12, as: UInt32.self))
        deviceCount = Int(base.load(fromByteOffset: 16, as: UInt32.self))
        dilation = base.load(fromByteOffset: 24, as: Double.self)
        let routeCount = deviceCount * OperationRecord.Kind.allCases.count + 2 + deviceCount
        let needed = Self.headerBytes + resourceCount * Self.lineBytes + routeCount * Self.routeBytes
        guard mapping.bytes >= needed, dilation > 0, dilation.isFinite else { throw PacerError.notATable(path) }
    }

    private func routeOffset(_ route: Int) -> Int {
        Self.headerBytes + resourceCount * Self.lineBytes + route * Self.routeBytes
    }

    /// Route numbers.
    func deviceRoute(_ d: Int, _ kind: OperationRecord.Kind) -> Int { d * OperationRecord.Kind.allCases.count + Int(kind.rawValue) }
    var forwardRoute: Int { deviceCount * OperationRecord.Kind.allCases.count }
    var backwardRoute: Int { forwardRoute + 1 }
    func offloadRoute(_ d: Int) -> Int { forwardRoute + 2 + d }

    /// Reserves route `route` for an operation of `bytes` and `elements` that started at
    /// `startedAt`, then sleeps until the reservation ends. Returns the end (ns).
    @discardableResult
    func pace(route: Int, bytes: Int, elements: Double, startedAt: UInt64) -> UInt64 {
        let base = mapping.base
        let at = routeOffset(route)
        let amount = Double(bytes) * base.load(fromByteOffset: at, as: Double.self)
            + elements * base.load(fromByteOffset: at + 8, as: Double.self)
        let hops = Int(base.load(fromByteOffset: at + 16, as: UInt32.self))
        var end = startedAt
        guard amount > 0 else { return end }
        for h in 0..<min(hops, Self.maximumHops) {
            let resource = Int(base.load(fromByteOffset: at + 24 + 16 * h, as: UInt64.self))
            let seconds = base.load(fromByteOffset: at + 32 + 16 * h, as: Double.self)
            guard resource < resourceCount else { continue }
            let duration = UInt64(max(0, (amount * seconds * dilation * 1e9).rounded()))
            let word = (base + Self.headerBytes + resource * Self.lineBytes).assumingMemoryBound(to: UInt64.self)
            while true {
                let taken = si_atomic_load_u64(word)
                let start = max(startedAt, taken)
                if si_atomic_cas_u64(word, taken, start + duration) != 0 {
                    end = max(end, start + duration)
                    break
                }
            }
        }
        ContinuousClock.sleepThread(until: ContinuousClock.Instant(systemNanoseconds: end))
        return end
    }

    /// Paces an operation of device `d` and returns the end of its reservation (ns). An
    /// operation whose reservation ends in the past returns at once.
    @discardableResult
    public func paceDevice(_ d: Int, _ kind: OperationRecord.Kind, bytes: Int, elements: Double = 0, startedAt: UInt64) -> UInt64 {
        pace(route: deviceRoute(d, kind), bytes: bytes, elements: elements, startedAt: startedAt)
    }

    /// Paces the host's forward or backward pass.
    public func paceCompute(backward: Bool, flops: Double, startedAt: UInt64) {
        pace(route: backward ? backwardRoute : forwardRoute, bytes: 0, elements: flops, startedAt: startedAt)
    }

    /// Paces the host's gradient writes to device `d`.
    public func paceOffload(to d: Int, bytes: Int, startedAt: UInt64) {
        pace(route: offloadRoute(d), bytes: bytes, elements: 0, startedAt: startedAt)
    }

    /// The pacer device `d` hands its engine.
    public func pacer(forDevice d: Int) throws -> OperationPacerHandle {
        guard (0..<deviceCount).contains(d) else { throw PacerError.noSuchDevice(path, d, deviceCount) }
        return OperationPacerHandle(table: self, device: d)
    }
}

/// A device's view of the table.
public struct OperationPacerHandle: Sendable {
    let table: PacerTable
    let device: Int

    public func pace(_ kind: OperationRecord.Kind, bytes: Int, elements: Int, startedAt: UInt64) {
        table.paceDevice(device, kind, bytes: bytes, elements: Double(elements), startedAt: startedAt)
    }
}

public enum PacerError: Error, Equatable, CustomStringConvertible {
    case badDilation(Double)
    case notATable(String)
    case version(String, Int)
    case noSuchDevice(String, Int, Int)
    /// A device was handed a run's shared table (`--pacer`) without the paced clock.
    case tableNeedsPacedClock(String)

    public var description: String {
        switch self {
        case .badDilation(let k): "--dilation \(k): expected a positive number (wall seconds per modeled second)"
        case .notATable(let path): "\(path) is not a pacer table written by smartinf train --clock paced"
        case .version(let path, let v): "\(path) is a pacer table of version \(v); this build reads version \(PacerTable.version)"
        case .noSuchDevice(let path, let d, let n): "device \(d) is not in the pacer table \(path), which holds \(n) devices"
        case .tableNeedsPacedClock(let path): "--pacer \(path) is the paced clock's table: it needs --clock paced"
        }
    }
}

extension OperationPacerHandle: OperationPacer {}
