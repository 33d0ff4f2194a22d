import DeviceProtocol
import Optim
import Foundation
import Testing

/// Paths in protocol messages stay inside the device's directory or the run's shared memory:
/// a hostile peer cannot make a real device process map or read anything else.
@Suite(.serialized) struct PathConfinementTests {
    @Test func pathsOutsideTheDeviceDirectoryAreRefused() throws {
        let device = try DeviceProcess()
        let connection = try device.connect()
        _ = try connection.configure(DeviceConfiguration(sliceElements: 4096, subgroupElements: 1024,
                                                         optimizer: .adamw(AdamWHyperparameters()), gradientPrecision: .fp32,
                                                         copyOutPrecision: .fp32, handler: .naive))
        // A symlink inside the directory pointing out of it is followed, then refused.
        let link = "\(device.directory)/escape"
        try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/etc")
        let outside = ["/etc/passwd", "\(device.directory)/../../etc/passwd", "\(link)/passwd", "/dev/shm/not-ours", "/proc/self/mem"]
        for path in outside {
            #expect { try connection.perform(.loadParameters(offset: 0, count: 1024, path: path)) } throws: { error in
                (error as? DeviceReplyError)?.code == .outOfRange && "\(error)".contains("outside the device's directory")
            }
            #expect { try connection.perform(.attachHostBuffer(path: path)) } throws: { error in
                (error as? DeviceReplyError)?.code == .outOfRange && "\(error)".contains("outside the device's directory")
            }
        }
        // The device keeps serving, and a path inside its directory is accepted.
        let inside = "\(device.directory)/initial.f32"
        try Data(count: 4096 * 4).write(to: URL(fileURLWithPath: inside))
        try connection.perform(.loadParameters(offset: 0, count: 4096, path: inside))
        #expect(try connection.status() == [0, 0, 0, 0])
    }
}
