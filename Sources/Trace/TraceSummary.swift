import Plan

/// The optional last line: the iteration summarised as the paper reports it (Fig. 9's three
/// phases) and the traffic that decides it (shared-link bytes vs bytes inside each device).
///
/// It is redundant with the operations, and stored anyway so that `report` and a person with
/// `tail -1` can read the result without re-deriving it, and so that a replay can be compared
/// with the run it replays.
public struct TraceSummary: Sendable, Equatable, Codable {
    /// Seconds of each breakdown phase; every phase is present.
    public var phases: [BreakdownPhase: Double]
    /// Seconds of the whole iteration.
    public var iteration: Double
    /// Bytes that crossed the shared host link, both directions.
    public var sharedLinkBytes: Double
    /// Bytes that crossed each device's resources, indexed by device.
    public var deviceBytes: [Double]

    public init(phases: [BreakdownPhase: Double], iteration: Double, sharedLinkBytes: Double, deviceBytes: [Double]) {
        self.phases = phases
        self.iteration = iteration
        self.sharedLinkBytes = sharedLinkBytes
        self.deviceBytes = deviceBytes
    }

    enum Keys: String, CodingKey { case record, phases, iteration, sharedLinkBytes, deviceBytes }

    static let phasesExpected = "an object with the seconds of "
        + BreakdownPhase.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")

    public init(from decoder: any Decoder) throws {
        let r = try FieldReader(decoder, Keys.self)
        let raw: [String: Double] = try r.value(.phases, expected: Self.phasesExpected)
        var phases: [BreakdownPhase: Double] = [:]
        for (key, seconds) in raw {
            guard let phase = BreakdownPhase(rawValue: key) else {
                throw FieldError(r.name(.phases) + ".\(key)", .invalid(found: "an unknown phase", expected: Self.phasesExpected))
            }
            phases[phase] = seconds
        }
        self.phases = phases
        iteration = try r.value(.iteration, expected: "the iteration's seconds")
        sharedLinkBytes = try r.value(.sharedLinkBytes, expected: "the bytes over the shared link")
        deviceBytes = try r.value(.deviceBytes, expected: "an array of bytes per device")
        try check()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode("summary", forKey: .record)
        try c.encode(Dictionary(uniqueKeysWithValues: phases.map { ($0.key.rawValue, $0.value) }), forKey: .phases)
        try c.encode(iteration, forKey: .iteration)
        try c.encode(sharedLinkBytes, forKey: .sharedLinkBytes)
        try c.encode(deviceBytes, forKey: .deviceBytes)
    }

    func check() throws(FieldError) {
        func nonNegative(_ value: Double, _ field: String, _ expected: String) throws(FieldError) {
            guard value >= 0, value.isFinite else { throw FieldError(field, .invalid(found: formatNumber(value), expected: expected)) }
        }
        for phase in BreakdownPhase.allCases {
            guard let seconds = phases[phase] else { throw FieldError("phases.\(phase.rawValue)", .missing(expected: "the phase's seconds")) }
            try nonNegative(seconds, "phases.\(phase.rawValue)", "non-negative seconds")
        }
        try nonNegative(iteration, "iteration", "non-negative seconds")
        try nonNegative(sharedLinkBytes, "sharedLinkBytes", "a non-negative byte count")
        for (i, bytes) in deviceBytes.enumerated() {
            try nonNegative(bytes, "deviceBytes[\(i)]", "a non-negative byte count")
        }
    }
}
