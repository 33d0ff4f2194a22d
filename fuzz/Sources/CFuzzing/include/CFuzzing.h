#ifndef SMARTINF_CFUZZING_H
#define SMARTINF_CFUZZING_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for a program with its own main. Weak: it resolves only when the
/// program is linked with -sanitize=fuzzer (libFuzzer's runtime is then linked whole).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

/// 1 when libFuzzer is linked in.
int cfuzz_libfuzzer_linked(void);

/// Installs handlers for the fatal signals (SIGILL and SIGTRAP, which a Swift trap raises, and
/// SIGSEGV, SIGBUS, SIGABRT, SIGFPE) that write the current input to `path`, say so on stderr and
/// re-raise the signal; stack overflows are handled on an alternate stack. Returns 0 on success.
int cfuzz_install_crash_saver(const char *path);

/// Records the input about to run (not copied: it must stay alive until the next call) and
/// when it started, for the crash saver and the watchdog.
void cfuzz_set_current_input(const uint8_t *data, size_t size);

/// Marks the current input as finished.
void cfuzz_input_done(void);

/// Starts a thread that, when one input has run for more than `seconds`, writes it to `path`,
/// says so on stderr and ends the process with status 70. Returns 0 on success.
int cfuzz_start_watchdog(const char *path, unsigned seconds);

#endif
