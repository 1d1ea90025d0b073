/*
 * src/base/err.c — weft_strerror() and what a failed WEFT_ASSERT calls.
 *
 * Codes with an errno twin are -errno, so the common ones are looked up in a
 * table indexed by errno (our wording, lower case, stable across libcs); any
 * other -errno falls back to glibc's strerrordesc_np(), which returns a static
 * string without touching locale state (strerror() may not be thread-safe and
 * strerror_r() needs a caller buffer). Custom codes have their own table.
 * Everything returned is a string literal, so the function is thread-safe.
 */
#include "weft/base.h"
#include "weft/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const errno_msgs[] = {
    [EPERM] = "operation not permitted",
    [ENOENT] = "no such file or directory",
    [EINTR] = "interrupted system call",
    [EIO] = "input/output error",
    [EBADF] = "bad file descriptor",
    [EAGAIN] = "resource temporarily unavailable",
    [ENOMEM] = "out of memory",
    [EACCES] = "permission denied",
    [EBUSY] = "resource busy",
    [EEXIST] = "already exists",
    [EINVAL] = "invalid argument",
    [EMFILE] = "too many open files",
    [ENOSPC] = "no space left on device",
    [EPIPE] = "broken pipe",
    [ERANGE] = "result out of range",
    [ENOSYS] = "function not implemented",
    [ENOTSUP] = "operation not supported",
    [EADDRINUSE] = "address already in use",
    [ECONNABORTED] = "connection aborted",
    [ECONNRESET] = "connection reset by peer",
    [ENOTCONN] = "socket is not connected",
    [ETIMEDOUT] = "operation timed out",
    [ECONNREFUSED] = "connection refused",
    [ECANCELED] = "operation canceled",
};

/* Indexed by WEFT__ECUSTOM - code. */
static const char *const custom_msgs[] = {
    [WEFT__ECUSTOM - WEFT_ECLOSED] = "channel closed",
    [WEFT__ECUSTOM - WEFT_ESHUTDOWN] = "runtime shut down or not running",
    [WEFT__ECUSTOM - WEFT_ENOTASK] = "not called from a weft task",
    [WEFT__ECUSTOM - WEFT_ELIMIT] = "limit reached",
    [WEFT__ECUSTOM - WEFT_EPARSE] = "malformed input",
    [WEFT__ECUSTOM - WEFT_EDB] = "database error",
};

/* Linux errno values are all below this; it also keeps -code from
 * overflowing for INT_MIN. */
#define ERRNO_MAX 4096

const char *weft_strerror(int code) {
    if (code == 0) return "success";
    if (code < 0 && code > -ERRNO_MAX) {
        int e = -code;
        if ((size_t)e < COUNTOF(errno_msgs) && errno_msgs[e]) return errno_msgs[e];
        const char *s = strerrordesc_np(e);
        return s ? s : "unknown error";
    }
    if (code < WEFT__ECUSTOM) {
        /* 64-bit subtraction: WEFT__ECUSTOM - INT_MIN overflows int. */
        long long i = (long long)WEFT__ECUSTOM - code;
        if (i < (long long)COUNTOF(custom_msgs) && custom_msgs[i]) return custom_msgs[i];
    }
    return "unknown error";
}

/* A failed assertion. Logged like any error (time, task); an assertion that
 * fails inside the logger (or its context callback) would recurse, so the
 * second one on a thread writes a bare line instead. */
void weft__assert_fail(const char *cond, const char *file, int line) {
    static __thread int failing;
    if (!failing++) {
        weft_log_error("assertion failed: %s (%s:%d)", cond, file, line);
    } else {
        char b[512];
        int n = snprintf(b, sizeof b, "assertion failed: %s (%s:%d)\n", cond, file, line);
        if (n > 0) {
            ssize_t w = write(STDERR_FILENO, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
            (void)w;
        }
    }
    abort();
}
