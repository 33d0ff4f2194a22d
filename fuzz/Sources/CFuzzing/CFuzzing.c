#define _GNU_SOURCE
#include "CFuzzing.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cfuzz_libfuzzer_linked(void) { return LLVMFuzzerRunDriver != 0; }

static const uint8_t *volatile current_data;
static volatile size_t current_size;
static volatile int64_t current_start_ns;  // 0 while no input runs
static char crash_path[4096];
static char hang_path[4096];

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void cfuzz_set_current_input(const uint8_t *data, size_t size) {
    current_data = data;
    current_size = size;
    __atomic_store_n(&current_start_ns, now_ns(), __ATOMIC_RELEASE);
}

void cfuzz_input_done(void) { __atomic_store_n(&current_start_ns, 0, __ATOMIC_RELEASE); }

static void say(const char *text) {
    ssize_t ignored = write(2, text, strlen(text));
    (void)ignored;
}

/// Async-signal-safe: open, write, close.
static void save_current_input(const char *path) {
    if (path[0] == 0 || current_data == 0) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t done = 0;
    while (done < current_size) {
        ssize_t n = write(fd, current_data + done, current_size - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    close(fd);
}

static void on_fatal_signal(int signal_number) {
    save_current_input(crash_path);
    say("\nsmartinf-fuzz: fatal signal while running an input; the input is saved in ");
    say(crash_path);
    say("\n");
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

int cfuzz_install_crash_saver(const char *path) {
    strncpy(crash_path, path, sizeof crash_path - 1);
    static char alternate_stack[1 << 16];
    stack_t stack = {.ss_sp = alternate_stack, .ss_size = sizeof alternate_stack, .ss_flags = 0};
    if (sigaltstack(&stack, 0) != 0) return -1;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_fatal_signal;
    action.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    int signals[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        if (sigaction(signals[i], &action, 0) != 0) return -1;
    }
    return 0;
}

static unsigned watchdog_seconds;

static void *watchdog(void *unused) {
    (void)unused;
    for (;;) {
        sleep(1);
        int64_t start = __atomic_load_n(&current_start_ns, __ATOMIC_ACQUIRE);
        if (start != 0 && now_ns() - start > (int64_t)watchdog_seconds * 1000000000) {
            save_current_input(hang_path);
            say("\nsmartinf-fuzz: an input ran longer than the time limit; it is saved in ");
            say(hang_path);
            say("\n");
            _exit(70);
        }
    }
    return 0;
}

int cfuzz_start_watchdog(const char *path, unsigned seconds) {
    strncpy(hang_path, path, sizeof hang_path - 1);
    watchdog_seconds = seconds;
    pthread_t thread;
    if (pthread_create(&thread, 0, watchdog, 0) != 0) return -1;
    return pthread_detach(thread);
}
