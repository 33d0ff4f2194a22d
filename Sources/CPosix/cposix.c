#define _GNU_SOURCE
#include "cposix.h"
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int si_open(const char *path, int flags, int direct, unsigned mode) {
    return open(path, flags | (direct ? O_DIRECT : 0) | O_CLOEXEC, (mode_t)mode);
}

int si_fallocate(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, 0, (off_t)offset, (off_t)length) == 0 ? 0 : -errno;
}

int si_is_block_device(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    return S_ISBLK(st.st_mode) ? 1 : 0;
}

int64_t si_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes = 0;
        if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) return -errno;
        return (int64_t)bytes;
    }
    return (int64_t)st.st_size;
}

int si_lock_exclusive(int fd) {
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int si_file_identity(int fd, uint32_t *major_number, uint32_t *minor_number, uint64_t *inode) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    *major_number = major(st.st_dev);
    *minor_number = minor(st.st_dev);
    *inode = (uint64_t)st.st_ino;
    return 0;
}

int64_t si_peer_uid(int fd) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -errno;
    return (int64_t)credentials.uid;
}

int si_exit_with_parent(void) {
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return -errno;
    // The parent may have died before the request took effect.
    return getppid() != parent ? 1 : 0;
}

int si_errno(void) { return errno; }

void si_atomic_store_u64(uint64_t *word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_SEQ_CST); }

uint64_t si_atomic_load_u64(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

int si_atomic_cas_u64(uint64_t *word, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

uint32_t si_atomic_load_u32(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

uint32_t si_atomic_increment_u32(uint32_t *word) { return __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST); }

int si_futex_wait(const uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
    struct timespec timeout = {(time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull)};
    return syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, NULL, 0) == 0 ? 0 : -errno;
}

int si_futex_wake_all(uint32_t *word) {
    long woken = syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    return woken >= 0 ? (int)woken : -errno;
}

int64_t si_thread_id(void) { return (int64_t)gettid(); }

void si_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

uint64_t si_heap_in_use(void) { return (uint64_t)mallinfo2().uordblks; }

void si_malloc_trim(void) { malloc_trim(0); }
