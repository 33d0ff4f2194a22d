import BlockIO
import Foundation
import Testing

/// The SSD lock against real processes: flock(1) and a shell take it, as another program would.
@Suite struct FileLockTests {

    /// A holder that has ended while its open file lives on (here in a background child that
    /// inherited it; after a crash, in the kernel's deferred clean-up of an io_uring) is waited
    /// for: without a wait the lock is reported held by the ended pid, with one it is taken as
    /// soon as the file goes.
    @Test func aLockLeftByAnEndedProcessIsTakenOnceItsFileCloses() throws {
        let dir = try ScratchDirectory()
        let path = dir.file("ssd.bin")
        // flock(1) takes the lock on descriptor 9 and exits; the background sleep keeps the
        // description (and so the lock) open for 3 s; the shell ends at once.
        // (Foundation's waitUntilExit would wait for the sleeper too, so the test watches for
        // the file the shell writes after flock(1) has ended.)
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", #"exec 9>>"$1"; flock -x 9; sleep 3 & echo $! > "$1.tmp"; mv "$1.tmp" "$1.sleeper""#, "sh", path]
        try shell.run()
        defer { shell.waitUntilExit() }
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: path + ".sleeper") { usleep(1000) }
        let file = try BlockFile(path: path, mode: .buffered, create: false)
        guard case .held(let holder) = try file.lockExclusively(release: .zero) else {
            Issue.record("the lock should still be held by the sleeper's open file")
            return
        }
        let sleeper = try #require(Int32(String(contentsOfFile: path + ".sleeper", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // /proc/locks names flock(1)'s pid, which has ended, not the sleeper's.
        #expect(holder != nil && holder != sleeper)
        #expect(try file.lockExclusively() == .acquired)
    }

    /// A live holder is refused at once, named by its pid.
    @Test func aLiveHolderIsReportedAtOnce() throws {
        let dir = try ScratchDirectory()
        let path = dir.file("ssd.bin")
        let holder = Process()
        let ready = Pipe(), release = Pipe()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["-x", path, "-c", "echo locked; read line"]
        holder.standardOutput = ready
        holder.standardInput = release
        try holder.run()
        defer {
            try? release.fileHandleForWriting.close()
            holder.waitUntilExit()
        }
        // flock(1) prints once it holds the lock.
        let line = ready.fileHandleForReading.readData(ofLength: 7)
        #expect(String(decoding: line, as: UTF8.self) == "locked\n")
        let file = try BlockFile(path: path, mode: .buffered, create: false)
        #expect(try file.lockExclusively() == .held(by: holder.processIdentifier))
    }
}
