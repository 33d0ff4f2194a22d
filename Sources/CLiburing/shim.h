// liburing.h defines _GNU_SOURCE/_XOPEN_SOURCE itself; the system headers it uses must come
// first or the module clashes with SwiftGlibc over fd_set (see FIELD-NOTES.md).
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <inttypes.h>
#include <time.h>
#include <fcntl.h>
#include <sched.h>
#include <liburing.h>
