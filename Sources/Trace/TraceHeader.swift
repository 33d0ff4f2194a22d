import Foundation
import OffloadVocabulary
import Plan

/// Line 1 of a trace: what was run, under which clock, on which modeled machine, and the
/// resources the operations' paths refer to.
///
/// The header carries the *logical workload* (`IterationWorkload`), not just the timed
/// operations, so that `replay` can re-plan the same work for another device count, mode or
/// profile instead of being stuck with the timeline that was recorded.
public struct TraceHeader: Sendable, Equatable, Codable {
    /// The `schema` every trace names, so that another JSON Lines file is recognised as such.
    public static let schema = "smartinfinity.trace"
    /// The format version this build writes and reads. A reader refuses newer versions rather
    /// than misreading fields whose meaning may have changed.
    public static let version = 1

    /// Which program produced the trace.
    public enum Source: String, Sendable, Codable, CaseIterable {
        /// `smartinf synth`: a workload built from a model shape, never run.
        case synth
        /// `smartinf train`: a live run's operations.
        case train
        /// `smartinf replay`: another trace re-planned.
        case replay
    }

    /// How the trace's times were obtained (docs/ARCHITECTURE.md, "Clocks").
    public enum Clock: String, Sendable, Codable, CaseIterable {
        /// Modeled seconds only; deterministic.
        case virtual
        /// The model enforced in real time, `dilation` times slower.
        case paced
        /// This machine's real time, no model.
        case wall
    }

    /// When the trace was made, ISO 8601 in UTC (`2026-11-28T03:00:00Z`). Kept as text so that a
    /// trace reads back exactly as written.
    public var created: String
    public var source: Source
    public var clock: Clock
    /// Wall seconds per modeled second under the paced clock; 1 otherwise.
    public var dilation: Double
    /// The work of one iteration, machine-independent.
    public var workload: IterationWorkload
    public var config: TraceConfig
    public var profile: TraceProfile
    /// Every resource an operation's `path` may name; `resources[i].id == i`.
    public var resources: [TraceResource]

    public init(created: String = TraceHeader.timestamp(), source: Source, clock: Clock = .virtual,
                dilation: Double = 1, workload: IterationWorkload, config: TraceConfig,
                profile: TraceProfile, resources: [TraceResource]) {
        self.created = created
        self.source = source
        self.clock = clock
        self.dilation = dilation
        self.workload = workload
        self.config = config
        self.profile = profile
        self.resources = resources
    }

    /// `date` as the header's `created` text: ISO 8601, UTC, whole seconds.
    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    enum Keys: String, CodingKey {
        case record, schema, version, created, source, clock, dilation, workload, config, profile, resources
    }

    /// Reads the header, checking first that it is one: `record`, then `schema`, then `version`,
    /// so that a newer trace is refused for its version rather than for a field it renamed.
    public init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        let record = try r.value(.record, String.self, expected: "\"header\"")
        guard record == "header" else { throw r.fail(.record, .notAHeader(found: quoted(record))) }
        let schema = try r.value(.schema, String.self, expected: "\"\(Self.schema)\"")
        guard schema == Self.schema else { throw r.fail(.schema, .wrongSchema(found: quoted(schema))) }
        let version = try r.integer(.version, atLeast: 1, expected: "a format version (this smartinf reads \(Self.version))")
        guard version <= Self.version else { throw r.fail(.version, .unsupportedVersion(version)) }

        created = try r.value(.created, expected: "an ISO 8601 time such as \"2026-11-28T03:00:00Z\"")
        source = try r.choice(.source, Source.self)
        clock = try r.choice(.clock, Clock.self)
        dilation = try r.value(.dilation, expected: "a positive number")
        do {
            workload = try r.container.decode(IterationWorkload.self, forKey: .workload)
        } catch let error as ShapeError {
            // The model's sizes are checked as they are decoded (bounded, so nothing that counts
            // with them overflows); name the field inside workload.model.
            throw Self.modelFieldError(error)
        } catch let error as DecodingError {
            // Linux's JSONDecoder reports a fraction where an Int belongs as "not valid JSON" at
            // no field; the line did parse, so it is a value of the workload that does not fit.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw r.fail(.workload, .invalid(found: "a number that does not fit its field",
                                                 expected: "whole numbers for the model's sizes and subgroupElements"))
            }
            throw error.fieldError
        }
        config = try r.value(.config, expected: "an object {\"mode\", \"devices\", \"hosts\"?}")
        profile = try r.value(.profile, expected: "an object {\"host\", \"device\", \"gpu\", \"overrides\"}")
        resources = try r.value(.resources, expected: "an array of resources")
        try check()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode("header", forKey: .record)
        try c.encode(Self.schema, forKey: .schema)
        try c.encode(Self.version, forKey: .version)
        try c.encode(created, forKey: .created)
        try c.encode(source, forKey: .source)
        try c.encode(clock, forKey: .clock)
        try c.encode(dilation, forKey: .dilation)
        try c.encode(workload, forKey: .workload)
        try c.encode(config, forKey: .config)
        try c.encode(profile, forKey: .profile)
        try c.encode(resources, forKey: .resources)
    }

    /// The checks a header must pass both when read and before it is written, so that
    /// smartinf never writes a trace it would refuse to read.
    func check() throws(FieldError) {
        if Self.parseTimestamp(created) == nil {
            throw FieldError("created", .invalid(found: quoted(created), expected: "an ISO 8601 time such as \"2026-11-28T03:00:00Z\""))
        }
        guard dilation > 0, dilation.isFinite else {
            throw FieldError("dilation", .invalid(found: formatNumber(dilation), expected: "a positive number"))
        }
        do {
            let m = workload.model
            _ = try IterationWorkload(
                model: ModelShape(family: m.family, layers: m.layers, hidden: m.hidden, heads: m.heads,
                                  sequence: m.sequence, batch: m.batch, vocabulary: m.vocabulary, positions: m.positions,
                                  kvHeads: m.kvHeads, ffn: m.ffn, experts: m.experts, activeExperts: m.activeExperts),
                optimizer: workload.optimizer, subgroupElements: workload.subgroupElements,
                topkRatio: workload.topkRatio, compressedFraction: workload.compressedFraction, adapters: workload.adapters,
                quantizedStates: workload.quantizedStates, overlapsBackward: workload.overlapsBackward,
                hostUpdateShare: workload.hostUpdateShare, activationsOnStorage: workload.activationsOnStorage)
        } catch let error as ShapeError {
            throw Self.modelFieldError(error)
        } catch {
            throw FieldError("workload", .other("\(error)"))
        }
        do throws(FieldError) { try config.check() } catch { throw error.prefixed("config") }
        do throws(FieldError) { try profile.check() } catch { throw error.prefixed("profile") }
        for (i, resource) in resources.enumerated() {
            guard resource.id == i else {
                throw FieldError("resources[\(i)].id", .invalid(found: "\(resource.id)", expected: "\(i) (resource ids run 0, 1, 2… in order)"))
            }
            do throws(FieldError) { try resource.check() } catch { throw error.prefixed("resources[\(i)]") }
        }
    }

    /// A `ShapeError` as a trace names it: the field inside `workload.model`, found and expected.
    static func modelFieldError(_ error: ShapeError) -> FieldError {
        guard let (field, value, expected) = error.fieldProblem else { return FieldError("workload.model", .other("\(error)")) }
        return FieldError("workload.model.\(field)", .invalid(found: "\(value)", expected: expected))
    }

    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}

/// The configuration that was run: the offload mode, the number of devices (each host's), at
/// most `IterationPlanner.maximumDevices` (a replay builds a modeled device for each), and the
/// hosts training together, at most `IterationPlanner.maximumHosts`.
///
/// `hosts` is written only when it is more than one, so a one-host trace is the same bytes as
/// before many hosts existed, and a trace without it (every older one) is of one host.
public struct TraceConfig: Sendable, Equatable, Codable {
    public var mode: OffloadMode
    public var devices: Int
    public var hosts: Int

    public init(mode: OffloadMode, devices: Int, hosts: Int = 1) {
        self.mode = mode
        self.devices = devices
        self.hosts = hosts
    }

    enum Keys: String, CodingKey { case mode, devices, hosts }

    public init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        mode = try r.choice(.mode, OffloadMode.self)
        devices = try r.integer(.devices, atLeast: 1, expected: Self.expectedDevices)
        guard devices <= IterationPlanner.maximumDevices else {
            throw r.fail(.devices, .invalid(found: "\(devices)", expected: Self.expectedDevices))
        }
        hosts = try r.optionalInteger(.hosts, atLeast: 1, expected: Self.expectedHosts) ?? 1
        guard hosts <= IterationPlanner.maximumHosts else {
            throw r.fail(.hosts, .invalid(found: "\(hosts)", expected: Self.expectedHosts))
        }
    }

    static let expectedDevices = "a whole number of devices from 1 to \(IterationPlanner.maximumDevices)"
    static let expectedHosts = "a whole number of hosts from 1 to \(IterationPlanner.maximumHosts), or no hosts key for one"

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(mode.rawValue, forKey: .mode)
        try c.encode(devices, forKey: .devices)
        if hosts != 1 { try c.encode(hosts, forKey: .hosts) }
    }

    func check() throws(FieldError) {
        guard (1...IterationPlanner.maximumDevices).contains(devices) else {
            throw FieldError("devices", .invalid(found: "\(devices)", expected: Self.expectedDevices))
        }
        guard (1...IterationPlanner.maximumHosts).contains(hosts) else {
            throw FieldError("hosts", .invalid(found: "\(hosts)", expected: Self.expectedHosts))
        }
    }
}

/// The hardware profiles the modeled times come from (names in `Emulator/`), with the `--set`
/// overrides that were applied, so a replay can rebuild the same machine.
public struct TraceProfile: Sendable, Equatable, Codable {
    public var host: String
    public var device: String
    public var gpu: String
    /// Overrides as given on the command line: `link.shared=12GB/s`.
    public var overrides: [String]

    public init(host: String, device: String, gpu: String, overrides: [String] = []) {
        self.host = host
        self.device = device
        self.gpu = gpu
        self.overrides = overrides
    }

    enum Keys: String, CodingKey { case host, device, gpu, overrides }

    public init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        host = try r.value(.host, expected: "a host profile name")
        device = try r.value(.device, expected: "a device profile name")
        gpu = try r.value(.gpu, expected: "a GPU profile name")
        overrides = try r.value(.overrides, expected: "an array of override strings such as \"link.shared=12GB/s\"")
        try check()
    }

    func check() throws(FieldError) {
        for (key, name) in [("host", host), ("device", device), ("gpu", gpu)] where name.isEmpty {
            throw FieldError(key, .invalid(found: "an empty string", expected: "a profile name"))
        }
    }
}

/// A resource of the modeled machine — a link direction, an SSD's read or write side, an FPGA,
/// the GPU — as operations' paths refer to it.
public struct TraceResource: Sendable, Equatable, Codable {
    /// Its index in the header's `resources`.
    public var id: Int
    /// `shared link ↑`, `device 3 SSD read`.
    public var name: String
    /// Units per second (bytes/s for links, FLOP/s for compute), > 0.
    public var capacity: Double
    /// Where it sits, so that bytes can be summed per place and Perfetto tracks grouped.
    public var place: ResourcePlace

    public init(id: Int, name: String, capacity: Double, place: ResourcePlace) {
        self.id = id
        self.name = name
        self.capacity = capacity
        self.place = place
    }

    enum Keys: String, CodingKey { case id, name, capacity, place, device }

    enum PlaceName: String, CaseIterable { case shared, gpu, host, device, network }

    public init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        id = try r.integer(.id, atLeast: 0, expected: "a resource id (0, 1, 2… in order)")
        name = try r.value(.name, expected: "a resource name")
        capacity = try r.value(.capacity, expected: "a positive capacity (units per second)")
        let device = try r.optionalInteger(.device, expected: "null or a device index")
        let placeName = try r.choice(.place, PlaceName.self)
        if placeName != .device, let device {
            throw r.fail(.device, .invalid(found: "\(device)", expected: "null: only place \"device\" names a device"))
        }
        switch placeName {
        case .shared: place = .sharedLink
        case .gpu: place = .gpu
        case .host: place = .host
        case .network: place = .network
        case .device:
            guard let device else { throw r.fail(.device, .missing(expected: "the device index (place is \"device\")")) }
            place = .device(device)
        }
        do throws(FieldError) { try check() } catch { throw error.prefixed(fieldName(decoder.codingPath)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(capacity, forKey: .capacity)
        switch place {
        case .sharedLink: try c.encode("shared", forKey: .place); try c.encodeNil(forKey: .device)
        case .gpu: try c.encode("gpu", forKey: .place); try c.encodeNil(forKey: .device)
        case .host: try c.encode("host", forKey: .place); try c.encodeNil(forKey: .device)
        case .network: try c.encode("network", forKey: .place); try c.encodeNil(forKey: .device)
        case .device(let i): try c.encode("device", forKey: .place); try c.encode(i, forKey: .device)
        }
    }

    func check() throws(FieldError) {
        guard capacity > 0, capacity.isFinite else {
            throw FieldError("capacity", .invalid(found: formatNumber(capacity), expected: "a positive capacity (units per second)"))
        }
        if case .device(let i) = place, i < 0 {
            throw FieldError("device", .invalid(found: "\(i)", expected: "a device index ≥ 0"))
        }
    }
}
