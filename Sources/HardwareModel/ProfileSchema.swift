/// The three kinds of hardware profile. Section names are unique across kinds, so a `--set` key
/// such as `link.shared` or `ssd.read` says by itself which profile of a setup it edits.
public enum ProfileKind: String, Sendable, CaseIterable {
    case host, device, gpu

    var schema: ProfileSchema {
        switch self {
        case .host: HostProfile.schema
        case .device: DeviceProfile.schema
        case .gpu: GPUProfile.schema
        }
    }

    /// Every key a profile of this kind can hold, as `section.name`, in schema order.
    public var keyPaths: [String] { schema.keyPaths }

    /// The kind whose schema has a section called `section`.
    static func owning(section: String) -> ProfileKind? {
        allCases.first { kind in kind.schema.sections.contains { $0.name == section } }
    }
}

/// What one profile value must be. Physical quantities carry units; the others are plain JSON
/// numbers or booleans.
public enum ProfileValueKind: Sendable, Equatable {
    case quantity(Quantity.Dimension)
    /// A dimensionless share in (0, 1], such as an efficiency.
    case fraction
    /// A whole number ≥ 1, such as a count of passes.
    case count
    case flag

    public var expectation: String {
        switch self {
        case .quantity(let dimension): dimension.expectation
        case .fraction: "a number in (0, 1] such as 0.5"
        case .count: "a whole number ≥ 1 such as 2"
        case .flag: "true or false"
        }
    }
}

/// The layout of one kind of profile: named sections of named values, two levels deep. Every
/// section is required unless marked optional; inside a present section every value is required.
struct ProfileSchema: Sendable {
    struct Field: Sendable {
        let name: String
        let kind: ProfileValueKind
    }

    struct Section: Sendable {
        let name: String
        let isOptional: Bool
        let fields: [Field]

        init(_ name: String, optional: Bool = false, _ fields: [(String, ProfileValueKind)]) {
            self.name = name
            self.isOptional = optional
            self.fields = fields.map { Field(name: $0.0, kind: $0.1) }
        }
    }

    /// Keys every profile file has besides its sections.
    static let headerKeys = ["schema", "kind", "description"]
    /// The only schema version so far.
    static let version = 1

    let sections: [Section]

    var keyPaths: [String] {
        sections.flatMap { section in section.fields.map { "\(section.name).\($0.name)" } }
    }

    /// The keys of the optional sections that hold a single value (`device.price`,
    /// `net.bandwidth`): a profile that leaves such a section out can still be given the value
    /// with `--set`, which adds the section. A larger optional section (`fpga`) must come whole
    /// from a file, since one value of it alone is not a profile.
    var addableKeyPaths: [String] {
        sections.filter { $0.isOptional && $0.fields.count == 1 }.map { "\($0.name).\($0.fields[0].name)" }
    }

    /// The field at `section.name`, if the schema has one.
    func field(at keyPath: String) -> Field? {
        let parts = keyPath.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let section = sections.first(where: { $0.name == parts[0] }) else { return nil }
        return section.fields.first { $0.name == parts[1] }
    }
}
