import CLiburing
import Glibc

/// One contiguous range to move between a file and memory.
public struct BlockTransfer: @unchecked Sendable {
    // Safe to hand to another thread: `memory` is the submitter's for the transfer's length (a
    // stage's own buffer set, or a buffer no other thread uses meanwhile).
    public enum Direction: Sendable {
        case read
        case write
    }

    public var direction: Direction
    public var file: BlockFile
    public var fileOffset: Int
    public var memory: UnsafeMutableRawBufferPointer

    public init(_ direction: Direction, file: BlockFile, fileOffset: Int, memory: UnsafeMutableRawBufferPointer) {
        self.direction = direction
        self.file = file
        self.fileOffset = fileOffset
        self.memory = memory
    }
}

/// An io_uring instance that moves large ranges in blocks with a bounded number in flight.
///
/// The block size and queue depth are DeepSpeed's `aio.block_size` and `aio.queue_depth`
/// knobs. Buffers that are reused every step (a device's DRAM pool) are registered once as
/// fixed buffers, which saves the kernel from pinning pages on every request.
public final class IORing {
    public let queueDepth: Int
    private let ring: UnsafeMutablePointer<io_uring>
    private var registered: [UnsafeMutableRawBufferPointer] = []

    /// One block in flight: where it goes and what is left of it (short transfers resubmit).
    private struct Block {
        var transfer: Int
        /// The block's place in its transfer (0 for the first `blockSize` bytes).
        var index: Int
        var fileOffset: Int
        var memory: UnsafeMutableRawPointer
        var length: Int
    }

    public init(queueDepth: Int) throws(BlockIOError) {
        guard queueDepth >= 1 && queueDepth <= 4096 else {
            throw BlockIOError(.ringSetup, path: "io_uring", code: EINVAL,
                               detail: "queue depth must be between 1 and 4096, got \(queueDepth)")
        }
        self.queueDepth = queueDepth
        ring = .allocate(capacity: 1)
        let result = io_uring_queue_init(UInt32(queueDepth), ring, 0)
        guard result == 0 else {
            ring.deallocate()
            throw BlockIOError(.ringSetup, path: "io_uring", code: -result)
        }
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
    }

    /// The largest single buffer the kernel accepts for registration (1 GiB); register larger
    /// regions as several buffers.
    public static var maximumRegisteredBufferBytes: Int { 1 << 30 }

    /// Registers `buffers` as fixed buffers (replacing any earlier registration). Transfers whose
    /// memory lies inside one of them then use the `_fixed` read and write operations.
    public func register(buffers: [UnsafeMutableRawBufferPointer]) throws(BlockIOError) {
        if !registered.isEmpty {
            io_uring_unregister_buffers(ring)
            registered = []
        }
        guard !buffers.isEmpty else { return }
        var vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        let result = io_uring_register_buffers(ring, &vectors, UInt32(vectors.count))
        guard result == 0 else {
            throw BlockIOError(.registerBuffers, path: "io_uring", code: -result,
                               detail: "the locked-memory limit (ulimit -l) may be too low for \(buffers.map(\.count).reduce(0, +)) bytes")
        }
        registered = buffers
    }

    /// Runs every transfer to completion, `blockSize` bytes per request and at most
    /// `queueDepth` requests in flight. Short reads and writes are continued; the first error
    /// stops new submissions, waits for those in flight, and is thrown.
    ///
    /// A transfer on a direct-I/O file must move whole blocks: its offset, its length, its
    /// buffer's address and the block size it is cut into are all multiples of
    /// `BlockFile.directAlignment`. That is checked here, before anything is submitted, and a
    /// misaligned transfer is refused with EINVAL: the kernel refuses some misaligned requests
    /// but serves others (ext4 reads of unwritten extents), so leaving it to the kernel would
    /// let a misaligned caller pass on one file and fail on the next. (The block size can come
    /// from a user's configuration, so this is an error, not a trap.)
    ///
    /// `meanwhile`, if given, is called on this thread between waits with how many leading
    /// bytes of each transfer are done: a read's have landed in memory, a write's have reached
    /// the file. It lets the caller work on the bytes at the disk's pace while the rest is in
    /// flight (a device checksums a slot as it moves). It is called once the queue has been
    /// refilled and submitted, so the disk has a full queue meanwhile; requests that complete
    /// during the call are replaced after it returns, so a call should not outlast the queue.
    /// It is not called again once a transfer has failed.
    public func run(_ transfers: [BlockTransfer], blockSize: Int,
                    meanwhile: ((_ ready: [Int]) -> Void)? = nil) throws(BlockIOError) {
        precondition(blockSize > 0, "block size must be positive")
        var pending: [Block] = []
        for (t, transfer) in transfers.enumerated() {
            guard let base = transfer.memory.baseAddress else { continue }
            try Self.checkAlignment(transfer, base: base, blockSize: blockSize)
            var done = 0
            while done < transfer.memory.count {
                let length = min(blockSize, transfer.memory.count - done)
                pending.append(Block(transfer: t, index: done / blockSize, fileOffset: transfer.fileOffset + done,
                                     memory: base + done, length: length))
                done += length
            }
        }
        var done = meanwhile.map { _ in CompletedPrefixes(transfers, blockSize: blockSize) }
        // Blocks are submitted in file order; `pending` is consumed from the front.
        pending.reverse()
        var slots = [Block?](repeating: nil, count: queueDepth)
        var freeSlots = Array((0..<queueDepth).reversed())
        var inFlight = 0
        var failure: BlockIOError?

        while (failure == nil && !pending.isEmpty) || inFlight > 0 {
            while failure == nil, !pending.isEmpty, let slot = freeSlots.popLast() {
                let block = pending.removeLast()
                prepare(block, slot: slot, transfer: transfers[block.transfer])
                slots[slot] = block
                inFlight += 1
                // The bound the ring was sized for: one submission-queue entry per request.
                precondition(inFlight <= queueDepth, "\(inFlight) requests in flight on a ring of depth \(queueDepth)")
            }
            if failure == nil, let meanwhile, let done {
                // Submitted first, so that the disk has a full queue while the caller works.
                try submit(waitingFor: 0, path: transfers.first?.file.path)
                meanwhile(done.ready)
            }
            try submit(waitingFor: 1, path: transfers.first?.file.path)
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            while inFlight > 0, io_uring_peek_cqe(ring, &cqe) == 0, let completion = cqe {
                let slot = Int(io_uring_cqe_get_data64(completion))
                let result = Int(completion.pointee.res)
                io_uring_cqe_seen(ring, completion)
                inFlight -= 1
                guard var block = slots[slot] else { continue }
                slots[slot] = nil
                freeSlots.append(slot)
                let transfer = transfers[block.transfer]
                if result < 0 {
                    failure = failure ?? BlockIOError(transfer.direction == .read ? .read : .write,
                                                      path: transfer.file.path, offset: block.fileOffset,
                                                      code: Int32(-result))
                } else if result == 0 {
                    failure = failure ?? BlockIOError(
                        transfer.direction == .read ? .read : .write, path: transfer.file.path,
                        offset: block.fileOffset, code: transfer.direction == .read ? 0 : ENOSPC,
                        detail: transfer.direction == .read
                            ? "the file ends before the \(block.length) bytes requested"
                            : "the device accepted no bytes")
                } else if result < block.length {
                    block.fileOffset += result
                    block.memory += result
                    block.length -= result
                    pending.append(block)
                } else {
                    done?.complete(block.index, of: block.transfer)
                }
            }
        }
        if let failure { throw failure }
    }

    /// Submits the prepared requests and waits for `completions` of them.
    private func submit(waitingFor completions: UInt32, path: String?) throws(BlockIOError) {
        let submitted = io_uring_submit_and_wait(ring, completions)
        if submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY {
            // The ring itself is broken: nothing more will complete.
            throw BlockIOError(.submit, path: path ?? "io_uring", code: -submitted)
        }
    }

    /// How far each transfer is done: its blocks complete in any order, and only the run of
    /// completed blocks from its start counts.
    private struct CompletedPrefixes {
        private let blockSize: Int
        private let counts: [Int]
        private var completed: [[Bool]]
        private var completedBlocks: [Int]
        private(set) var ready: [Int]

        init(_ transfers: [BlockTransfer], blockSize: Int) {
            self.blockSize = blockSize
            counts = transfers.map(\.memory.count)
            completed = transfers.map { [Bool](repeating: false, count: ($0.memory.count + blockSize - 1) / blockSize) }
            completedBlocks = Array(repeating: 0, count: transfers.count)
            ready = Array(repeating: 0, count: transfers.count)
        }

        mutating func complete(_ block: Int, of transfer: Int) {
            completed[transfer][block] = true
            while completedBlocks[transfer] < completed[transfer].count && completed[transfer][completedBlocks[transfer]] {
                completedBlocks[transfer] += 1
            }
            ready[transfer] = min(completedBlocks[transfer] * blockSize, counts[transfer])
        }
    }

    /// Refuses a direct-I/O transfer that is not made of whole, aligned blocks (see `run`).
    private static func checkAlignment(_ transfer: BlockTransfer, base: UnsafeMutableRawPointer,
                                       blockSize: Int) throws(BlockIOError) {
        guard transfer.file.mode == .direct else { return }
        let unit = BlockFile.directAlignment
        let misaligned = [("offset", transfer.fileOffset), ("length", transfer.memory.count),
                          ("buffer address", Int(bitPattern: base)), ("block size", blockSize)].filter { $0.1 % unit != 0 }
        guard misaligned.isEmpty else {
            throw BlockIOError(transfer.direction == .read ? .read : .write, path: transfer.file.path, offset: transfer.fileOffset,
                               code: EINVAL, detail: "direct I/O moves whole \(unit)-byte blocks; expected the offset, length, "
                                   + "buffer address and block size to be multiples of \(unit), but the "
                                   + misaligned.map { "\($0.0) (\($0.1))" }.joined(separator: ", ") + " are not")
        }
    }

    private func prepare(_ block: Block, slot: Int, transfer: BlockTransfer) {
        guard let sqe = io_uring_get_sqe(ring) else {
            preconditionFailure("io_uring submission queue full with \(queueDepth) slots")
        }
        let fd = transfer.file.descriptor
        let offset = UInt64(block.fileOffset)
        let length = UInt32(block.length)
        if let index = registeredIndex(containing: block.memory, length: block.length) {
            switch transfer.direction {
            case .read: io_uring_prep_read_fixed(sqe, fd, block.memory, length, offset, Int32(index))
            case .write: io_uring_prep_write_fixed(sqe, fd, block.memory, length, offset, Int32(index))
            }
        } else {
            switch transfer.direction {
            case .read: io_uring_prep_read(sqe, fd, block.memory, length, offset)
            case .write: io_uring_prep_write(sqe, fd, block.memory, length, offset)
            }
        }
        io_uring_sqe_set_data64(sqe, UInt64(slot))
    }

    private func registeredIndex(containing memory: UnsafeMutableRawPointer, length: Int) -> Int? {
        registered.firstIndex { buffer in
            guard let base = buffer.baseAddress else { return false }
            return memory >= base && memory + length <= base + buffer.count
        }
    }
}
