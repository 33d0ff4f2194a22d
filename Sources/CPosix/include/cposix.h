#ifndef SMARTINF_CPOSIX_H
#define SMARTINF_CPOSIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Linux calls and constants that Swift's Glibc module hides because it is built without
// _GNU_SOURCE (see FIELD-NOTES.md). _GNU_SOURCE is defined only in the .c file.

/// open(2) with O_DIRECT or'ed in when `direct` is non-zero.
int si_open(const char *path, int flags, int direct, unsigned mode);
/// fallocate(2) with mode 0; returns 0 or -errno.
int si_fallocate(int fd, int64_t offset, int64_t length);
/// Size in bytes of a regular file or a block device (BLKGETSIZE64); -errno on failure.
int64_t si_file_size(int fd);
/// 1 when fd is a block device.
int si_is_block_device(int fd);
/// flock(2) LOCK_EX | LOCK_NB, retried on EINTR: 0, or -errno (-EWOULDBLOCK when another open
/// file description holds a lock on the file).
int si_lock_exclusive(int fd);
/// The device numbers and inode of an open file (fstat), as /proc/locks names them; 0 or -errno.
int si_file_identity(int fd, uint32_t *major_number, uint32_t *minor_number, uint64_t *inode);
/// The uid of the process at the other end of a Unix socket (SO_PEERCRED), or -errno.
int64_t si_peer_uid(int fd);
/// Asks the kernel to SIGKILL this process when its parent exits (PR_SET_PDEATHSIG); returns 0,
/// or 1 if the parent is already gone, or -errno.
int si_exit_with_parent(void);
/// The current thread's errno.
int si_errno(void);
/// Sequentially consistent load of a 64-bit word that other processes may write (shared memory).
uint64_t si_atomic_load_u64(const uint64_t *word);
/// Sequentially consistent store of a 64-bit word that other processes read (shared memory).
void si_atomic_store_u64(uint64_t *word, uint64_t value);
/// Compare-and-swap on a shared 64-bit word; 1 when `desired` was stored.
int si_atomic_cas_u64(uint64_t *word, uint64_t expected, uint64_t desired);
/// Sequentially consistent load of a 32-bit word that other processes may write (shared memory).
uint32_t si_atomic_load_u32(const uint32_t *word);
/// Adds 1 to a 32-bit word other processes may read (wrapping); returns the new value.
uint32_t si_atomic_increment_u32(uint32_t *word);
/// Sleeps while `*word` still holds `expected`, for at most `timeout_ns` nanoseconds (measured on
/// CLOCK_MONOTONIC): FUTEX_WAIT without FUTEX_PRIVATE_FLAG, so that a wake from any process
/// mapping the same memory ends it. Returns 0 when woken (possibly spuriously), -EAGAIN when the
/// word no longer held `expected`, -ETIMEDOUT, or -EINTR.
int si_futex_wait(const uint32_t *word, uint32_t expected, uint64_t timeout_ns);
/// Wakes every thread, of any process, sleeping on `word` (FUTEX_WAKE without
/// FUTEX_PRIVATE_FLAG); returns how many it woke, or -errno.
int si_futex_wake_all(uint32_t *word);
/// The calling thread's kernel id (gettid(2)): what /proc/self/task lists.
int64_t si_thread_id(void);
/// Names the calling thread (the first 15 bytes of `name`: /proc/self/task/TID/comm, ps, gdb).
void si_set_thread_name(const char *name);
/// Bytes in live allocations of the C heap (glibc mallinfo2().uordblks).
uint64_t si_heap_in_use(void);
/// Returns free heap memory to the system (glibc malloc_trim(0)).
void si_malloc_trim(void);

#endif
