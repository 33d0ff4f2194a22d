import Glibc
import Optim

/// The host's pinned buffer as the device sees it: a shared-memory file both processes map.
/// The device writes each updated compute copy straight into it, as the FPGA DMAs to host memory.
final class HostBuffer: @unchecked Sendable {
    let path: String
    let bytes: Int
    let base: UnsafeMutableRawPointer

    init(path: String, minimumBytes: Int) throws(DeviceError) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .hostBuffer("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .hostBuffer("cannot stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size >= minimumBytes else {
            throw .hostBuffer("\(path) holds \(size) bytes; the slice's compute copy needs \(minimumBytes)")
        }
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw .hostBuffer("cannot map \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.bytes = size
        self.base = mapped
    }

    deinit { munmap(base, bytes) }
}
