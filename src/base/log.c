/*
 * src/base/log.c — leveled logging to stderr.
 *
 * A line is built in a stack buffer and written with one write(2), so lines
 * from different threads never interleave (a write of <= PIPE_BUF bytes to a
 * pipe is atomic, hence the 4 KiB line limit). No malloc, no stdio stream and
 * no locks: the UTC timestamp is computed by hand because gmtime_r() takes
 * glibc's tz lock.
 *
 *   2026-11-22T06:20:01.123Z WARN [task-name] message
 *
 * base/ does not call up into the runtime: the "[task-name]" comes from the
 * context callback the runtime installs (weft_log_set_context).
 */
#include "weft/log.h"
#include "base/civil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096 /* PIPE_BUF on Linux, including the '\n' */

/* -1 until WEFT_LOG has been read. */
static atomic_int cur_level = -1;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static _Atomic(weft_log_context_fn) context_fn;

void weft_log_set_context(weft_log_context_fn fn) {
    atomic_store_explicit(&context_fn, fn, memory_order_release);
}

weft_log_context_fn weft_log_get_context(void) {
    return atomic_load_explicit(&context_fn, memory_order_acquire);
}

static int level_from_env(void) {
    const char *s = getenv("WEFT_LOG");
    if (!s) return WEFT_LOG_INFO;
    if (strcasecmp(s, "error") == 0) return WEFT_LOG_ERROR;
    if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0) return WEFT_LOG_WARN;
    if (strcasecmp(s, "info") == 0) return WEFT_LOG_INFO;
    if (strcasecmp(s, "debug") == 0) return WEFT_LOG_DEBUG;
    return WEFT_LOG_INFO;
}

weft_log_level weft_log_get_level(void) {
    int l = atomic_load_explicit(&cur_level, memory_order_relaxed);
    if (__builtin_expect(l < 0, 0)) {
        int expected = -1;
        l = level_from_env();
        /* A concurrent weft_log_set_level() wins over the environment. */
        if (!atomic_compare_exchange_strong(&cur_level, &expected, l)) l = expected;
    }
    return (weft_log_level)l;
}

void weft_log_set_level(weft_log_level lvl) {
    int l = (int)lvl;
    if (l < WEFT_LOG_ERROR) l = WEFT_LOG_ERROR;
    if (l > WEFT_LOG_DEBUG) l = WEFT_LOG_DEBUG;
    atomic_store(&cur_level, l);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days). */
void weft__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t weft__days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static size_t format_time(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t secs = (int64_t)ts.tv_sec;
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) sod += 86400, days--;
    int64_t y;
    unsigned mo, d;
    weft__civil_from_days(days, &y, &mo, &d);
    int n = snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mo, d,
                     (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60),
                     (unsigned)(ts.tv_nsec / 1000000));
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static void write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

void weft_log(weft_log_level lvl, const char *fmt, ...) {
    if ((int)lvl > (int)weft_log_get_level()) return;
    int saved_errno = errno; /* logging must not disturb the caller's errno */

    char line[LINE_MAX_BYTES];
    size_t off = format_time(line, sizeof(line));

    unsigned li = (unsigned)lvl;
    const char *tag = li < sizeof(level_names) / sizeof(level_names[0]) ? level_names[li] : "LOG";
    weft_log_context_fn ctx = weft_log_get_context();
    const char *where = ctx ? ctx() : NULL;
    int n;
    if (where)
        n = snprintf(line + off, sizeof(line) - off, " %s [%.64s] ", tag, where);
    else
        n = snprintf(line + off, sizeof(line) - off, " %s ", tag);
    if (n > 0) off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;

    /* Room for the message and its NUL; the '\n' later takes the NUL's place. */
    size_t room = sizeof(line) - off;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(line + off, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = snprintf(line + off, room, "(bad log format: %s)", fmt);
        if (n < 0) n = 0;
    }
    if ((size_t)n >= room) {
        /* Truncated: room - 1 bytes were written; end them with "...". */
        off += room - 1;
        line[off - 3] = line[off - 2] = line[off - 1] = '.';
    } else {
        off += (size_t)n;
        if (n > 0 && line[off - 1] == '\n') off--; /* we add our own */
    }
    line[off++] = '\n';
    write_all(STDERR_FILENO, line, off);
    errno = saved_errno;
}
