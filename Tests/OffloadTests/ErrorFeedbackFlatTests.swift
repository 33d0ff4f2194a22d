@testable import Offload
import Testing

/// The residuals of a fleet as one flat vector (an export, a state dict) and back, over another
/// geometry: the real parameters' residuals travel, the slices' padding comes back as zeros.
@Suite struct ErrorFeedbackFlatTests {
    /// A fleet's residuals over `partition` in subgroups of `subgroup`: element e of the flat
    /// parameters holds e + 1, padding holds 0.
    static func residuals(_ partition: Partition, subgroup: Int, steps: Int) -> ErrorFeedbackFile {
        ErrorFeedbackFile(devices: (0..<partition.deviceCount).map { d in
            stride(from: 0, to: partition.sliceElements, by: subgroup).map { start in
                let elements = (start..<min(start + subgroup, partition.sliceElements)).map { d * partition.sliceElements + $0 }
                return .init(completedSteps: steps, residual: elements.map { $0 < partition.parameterCount ? Float($0 + 1) : 0 })
            }
        })
    }

    @Test(arguments: [(1000, 3, 100, 2, 64), (129, 4, 64, 1, 128), (5000, 1, 4096, 5, 1000)])
    func aFlatVectorTakesAnyGeometryBack(_ geometry: (Int, Int, Int, Int, Int)) throws {
        let (count, devices, subgroup, otherDevices, otherSubgroup) = geometry
        let partition = Partition(parameterCount: count, deviceCount: devices)
        let flat = try Self.residuals(partition, subgroup: subgroup, steps: 7).flattened(over: partition, path: "saved")
        #expect(flat == ErrorFeedbackFile.Flat(residual: (1...count).map(Float.init), completedSteps: 7))

        let other = Partition(parameterCount: count, deviceCount: otherDevices)
        let moved = ErrorFeedbackFile(flat, partition: other, subgroupElements: otherSubgroup)
        #expect(moved == Self.residuals(other, subgroup: otherSubgroup, steps: 7))
        #expect(try moved.flattened(over: other, path: "moved") == flat)
    }

    @Test func anotherGeometryOrUnevenStepsAreRefusedByName() throws {
        let partition = Partition(parameterCount: 1000, deviceCount: 2)
        var file = Self.residuals(partition, subgroup: 100, steps: 3)
        #expect { try file.flattened(over: Partition(parameterCount: 1000, deviceCount: 3), path: "r.bin") } throws: {
            "\($0)" == "r.bin: holds 2 devices' residuals; the checkpoint has 3 devices"
        }
        #expect { try file.flattened(over: Partition(parameterCount: 2000, deviceCount: 2), path: "r.bin") } throws: {
            "\($0)".hasPrefix("r.bin: device 0 holds 512 residuals; its slice has 1024 elements")
        }
        file.devices[1][2].completedSteps = 4
        #expect { try file.flattened(over: partition, path: "r.bin") } throws: {
            "\($0)".contains("its subgroups compressed different numbers of steps ([3, 4])")
        }
    }
}
