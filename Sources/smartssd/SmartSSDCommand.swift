import ArgumentParser
import BlockIO
import ConsoleLog
import DeviceProtocol
import Foundation
import Logging
import SizeNotation
import SmartSSD
import CPosix
import LiveClock

/// `smartssd`: one emulated SmartSSD per process.
@main
struct SmartSSDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smartssd",
        abstract: "An emulated SmartSSD: a backing SSD, a fixed DRAM and the optimizer update, served on a Unix socket.")

    @Option(help: "The backing SSD: a file (created if missing) or a block device.")
    var ssd: String

    @Option(help: "The most SSD bytes the device may use, e.g. 64GiB.")
    var capacity: String = "64GiB"

    @Option(help: "Device DRAM, allocated once at start (a SmartSSD has 4GiB).")
    var dram: String = "4GiB"

    @Option(help: "The Unix socket to serve on.")
    var socket: String

    @Option(help: "Update-kernel threads.")
    var threads: Int = 1

    @Flag(help: "Use the page cache instead of O_DIRECT (for filesystems that refuse direct I/O).")
    var buffered = false

    @Flag(name: .customLong("in-place"), help: "One state slot per subgroup (half the capacity, not crash-safe).")
    var inPlace = false

    @Option(name: .customLong("queue-depth"), help: "io_uring requests in flight (DeepSpeed aio.queue_depth).")
    var queueDepth: Int = 16

    @Option(name: .customLong("block-size"), help: "Bytes per I/O request (DeepSpeed aio.block_size).")
    var blockSize: String = "1MiB"

    @Option(help: "The name the device reports to the host.")
    var name: String = "smartssd"

    @Flag(name: .customLong("exit-with-parent"), help: "Exit when the process that started this device exits (set by the trainer, so no device outlives its run).")
    var exitWithParent = false

    @Option(help: "Inject a fault for recovery tests: crash|hang@step=N,phase=read|update|write_p|write_m|before_commit|after_commit[,subgroup=S], torn@step=N (a torn journal commit, then death), eio@read|write[,step=N][,offset=O], corrupt@grad|state[,step=N][,subgroup=S][,byte=B], slow@link=SECONDS.")
    var fault: String?

    @Option(help: "wall (this machine's speed), virtual (log each step's modeled seconds) or paced (hold every operation to the model, --dilation times slower).")
    var clock: ClockKind = .wall

    @Option(help: "Wall seconds per modeled second under --clock paced.")
    var dilation: Double = 1

    @Option(help: "The device profile a standalone device is modeled with (Emulator/ name or path).")
    var profile: String = "smartssd"

    @Option(name: .customLong("host-profile"), help: "The host topology a standalone device is modeled behind.")
    var hostProfile: String = "hpca24-host"

    @Option(help: "The shared pacer table of a training run (set by smartinf train --clock paced).")
    var pacer: String?

    @Option(name: .customLong("fleet-index"), help: "This device's number in the run's fleet (set by the trainer): its row in the --pacer table and the device of its log lines.")
    var fleetIndex: Int = 0

    @OptionGroup var logging: LogLevelOption

    func run() throws {
        // A parent may have spawned us from a thread that blocks signals (Dispatch workers do);
        // the mask is inherited, so unblock what a user or a trainer uses to stop a device.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        [SIGTERM, SIGINT, SIGHUP].forEach { sigaddset(&unblock, $0) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        if exitWithParent && si_exit_with_parent() != 0 {
            FileHandle.standardError.write(Data("smartssd: the process that started this device is gone; exiting\n".utf8))
            throw ExitCode.failure
        }
        guard let capacityBytes = SizeArgument.parse(capacity), capacityBytes > 0 else {
            throw ValidationError("--capacity '\(capacity)' is not a size (example: 64GiB)")
        }
        guard let dramBytes = SizeArgument.parse(dram), dramBytes >= 1 << 20 else {
            throw ValidationError("--dram '\(dram)' is not a size of at least 1MiB (example: 4GiB)")
        }
        guard let block = SizeArgument.parse(blockSize), block >= 4096, block % 4096 == 0 else {
            throw ValidationError("--block-size '\(blockSize)' must be a multiple of 4096 bytes (example: 1MiB)")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard (1...4096).contains(queueDepth) else { throw ValidationError("--queue-depth must be 1...4096, got \(queueDepth)") }
        logging.bootstrap(prefix: "smartssd[\(name)]: ")
        let logger = {
            var logger = Logger(label: "smartssd.device")
            logger[metadataKey: "device"] = "\(fleetIndex)"
            return logger
        }()
        let faultPlan: FaultPlan?
        do { faultPlan = try fault.map { try FaultPlan(parsing: $0) } } catch { throw ValidationError("\(error)") }
        let model: DeviceClockModel?
        do {
            model = clock == .wall ? nil
                : try DeviceClockModel(clock: clock, dilation: dilation, profile: profile, hostProfile: hostProfile,
                                       pacerTable: pacer, fleetIndex: fleetIndex)
        } catch { throw ValidationError("\(error)") }
        let options = DeviceEngine.Options(deviceName: name, ssdPath: ssd, capacityBytes: capacityBytes, dramBytes: dramBytes,
                                           threads: threads, ioMode: buffered ? .buffered : .direct, slots: inPlace ? 1 : 2,
                                           queueDepth: queueDepth, blockSize: block, fault: faultPlan, pacer: model?.pacer)
        do {
            let engine = try DeviceEngine(options, logger: logger)
            let listener = try SocketListener(path: socket)
            let server = DeviceServer(engine: engine, listener: listener)
            if let model {
                engine.stepObserver = { step, report in
                    let seconds = model.seconds(of: report)
                    logger.info("\(String(format: "step %d: %d operations, modeled %.6f s, wall %.6f s (%@ clock)", step, report.operations.count, seconds.modeled, seconds.wall, model.clock.rawValue))",
                                metadata: ["step": "\(step)"])
                }
            }
            if let superblock = engine.superblock {
                logger.info("opened \(ssd): \(superblock.summary)")
            }
            FileHandle.standardOutput.write(Data("smartssd: ready on \(socket)\n".utf8))
            try server.serve()
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("smartssd: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// `--clock wall|virtual|paced`, refused by the argument parser with the valid values.
extension ClockKind: ExpressibleByArgument {}
