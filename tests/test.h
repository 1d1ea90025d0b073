/*
 * tests/test.h — the one test harness every weft test binary uses.
 *
 *   TEST(chan_close_drains) { ... ASSERT_EQ(weft_chan_len(c), 3); ... }
 *
 * Tests register themselves (constructor attribute); main() comes from
 * tests/test_main.c, which runs them in order (or only those named on the
 * command line), each in a fresh weft runtime unless the test is declared
 * with TEST_PLAIN, each in a child process of its own. A failed ASSERT
 * prints file:line and both sides and ends that test's process at once
 * (wherever it fails: tasks and servers the test started die with it, so
 * state on the test's stack cannot outlive it); the other tests go on. A
 * test that runs past its time limit (WEFT_TEST_TIMEOUT, tests/README.md)
 * fails "timed out" and is killed with its process group. The last line
 * of output is "<binary>: N passed, N failed".
 *
 *   build/tests/unit/chan                 every test of the file
 *   build/tests/unit/chan NAME [NAME...]  only those (exit 2 if a name is unknown)
 *   build/tests/unit/chan --list          the names, one a line
 *   build/tests/unit/chan --no-fork ...   all in this process (for gdb; WEFT_TEST_FORK=0):
 *                                         a failed ASSERT then returns from its function
 *
 * Helpers the test files share (time slack, joins, pipes, watchdogs, the
 * spread gate, ...) are declared at the end and live in tests/test_util.c.
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

typedef struct test_case {
    const char *name;
    void (*fn)(void);
    int in_runtime; /* run fn as the main task of a fresh weft_main() */
    struct test_case *next;
} test_case;

void test__register(test_case *tc);
void test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test__failed(void);
/* After a failed ASSERT: ends the test's process (returns under --no-fork). */
void test__stop(void);
/* Stress sizes shrink under sanitizers: TEST_SCALE(1000000) is 1M in a plain
 * build, 1/10 under ASan, 1/250 under TSan. */
long test_scale(long n);

#define TEST__DEFINE(name_, rt_)                                                                   \
    static void test_##name_(void);                                                                \
    static test_case tc_##name_ = {#name_, test_##name_, rt_, 0};                                  \
    __attribute__((constructor)) static void reg_##name_(void) { test__register(&tc_##name_); }    \
    static void test_##name_(void)

/* Runs inside a fresh runtime (the body is the main task). */
#define TEST(name_) TEST__DEFINE(name_, 1)
/* Runs on the plain main thread, no runtime. */
#define TEST_PLAIN(name_) TEST__DEFINE(name_, 0)

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test__fail(__FILE__, __LINE__, "ASSERT(%s)", #cond);                                   \
            test__stop();                                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define ASSERT__CMP(a, b, op)                                                                      \
    do {                                                                                           \
        long long a__ = (long long)(a), b__ = (long long)(b);                                      \
        if (!(a__ op b__)) {                                                                       \
            test__fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, a__, b__);       \
            test__stop();                                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT__CMP(a, b, ==)
#define ASSERT_NE(a, b) ASSERT__CMP(a, b, !=)
#define ASSERT_LT(a, b) ASSERT__CMP(a, b, <)
#define ASSERT_LE(a, b) ASSERT__CMP(a, b, <=)
#define ASSERT_GT(a, b) ASSERT__CMP(a, b, >)
#define ASSERT_GE(a, b) ASSERT__CMP(a, b, >=)
/* Compare a weft error code, printing both names. */
#define ASSERT_ERR(a, b)                                                                           \
    do {                                                                                           \
        long long a__ = (long long)(a), b__ = (long long)(b);                                      \
        if (a__ != b__) {                                                                          \
            test__fail(__FILE__, __LINE__, "%s == %s: %lld (%s) vs %lld (%s)", #a, #b, a__,        \
                       weft_strerror((int)a__), b__, weft_strerror((int)b__));                     \
            test__stop();                                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a__ = (a), *b__ = (b);                                                         \
        if (!a__ || !b__ || strcmp(a__, b__) != 0) {                                               \
            test__fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,                   \
                       a__ ? a__ : "(null)", b__ ? b__ : "(null)");                                \
            test__stop();                                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define ASSERT_MEMEQ(a, b, n)                                                                      \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            test__fail(__FILE__, __LINE__, "memcmp(%s, %s, %s) != 0", #a, #b, #n);                 \
            test__stop();                                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- shared helpers (tests/test_util.c) -------------------------------------------- */

/* A sleep this long lets a helper task reach its parking point (ms). */
#define PARK_MS 30
/* A deadline that fires this much late still counts as on time (ms). */
#define SLACK_MS 500

/* Upper bound for "promptly": ms, times 4 under ASan and 10 under TSan. */
int64_t test_slack_ms(int64_t ms);
/* Whole milliseconds since t0_ns (a weft_now_ns() value). */
int64_t test_ms_since(int64_t t0_ns);
/* test_scale(n), but never less than min. */
long test_scale_min(long n, long min);
/* Atomically raises *m to v if v is larger. */
void test_atomic_max(atomic_int *m, int v);

/* Defers a weft_shutdown() for when the calling task ends with the test failed. */
void test_guard(void);
/* weft_wg_add(wg, 1) and weft_go(fn, arg), the add undone if the spawn fails; weft_go's result. */
int test_go_wg(weft_wg *wg, weft_fn fn, void *arg);
/* Waits up to ms for g's tasks; on timeout cancels and reaps them and returns the timeout. */
int test_join(weft_group *g, int64_t ms);

/* Runs fn(arg) in a forked child with its stderr on a pipe and SIGABRT at its
 * default, the child exiting with fn's return value: for checks that abort.
 * Returns 0 and the child's wait status, its stderr NUL-terminated in out
 * (at most cap - 1 bytes), or -1. */
int test_run_child(int (*fn)(void *), void *arg, char *out, size_t cap, int *status);
/* pipe2(p, O_NONBLOCK | O_CLOEXEC): 0, or -1 with errno. */
int test_nb_pipe(int p[2]);
/* weft_close()s each end of p that is >= 0, then sets both to -1. */
void test_close2(int p[2]);
/* Writes to non-blocking wfd until a write would block; returns the bytes written. */
size_t test_fill_pipe(int wfd);
/* Reads non-blocking rfd until nothing is left; returns the bytes read. */
size_t test_drain(int rfd);
/* Bytes waiting to be read on fd (FIONREAD), or -1. */
int test_pipe_bytes(int fd);
/* Fills b with deterministic, non-periodic bytes: the same (n, seed), the same bytes. */
void test_fill_pattern(unsigned char *b, size_t n, uint32_t seed);

/* A thread that calls fire(arg) unless test_alarm_stop() comes within secs seconds. */
typedef struct test_alarm {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int secs, stopped, fired, running;
    void (*fire)(void *arg);
    void *arg;
} test_alarm;
/* Arms a; returns 0, or pthread_create()'s error (and then it never fires). */
int test_alarm_start(test_alarm *a, int secs, void (*fire)(void *arg), void *arg);
/* Disarms a and joins its thread; returns 1 if it fired, else 0. */
int test_alarm_stop(test_alarm *a);

/* An alarm that dumps the tasks and aborts the process: a hang becomes a failure. */
typedef struct test_watchdog {
    test_alarm alarm;
    const char *what;
    int secs;
} test_watchdog;
/* Arms wd: unless stopped within secs seconds, says `what` hung, dumps the tasks, aborts. */
void test_watchdog_start(test_watchdog *wd, const char *what, int secs);
/* Disarms wd. */
void test_watchdog_stop(test_watchdog *wd);
/* weft_main(fn, arg, cfg) under a 60 s watchdog named `what`; weft_main's result. */
int test_main_watched(const char *what, weft_fn fn, void *arg, const weft_config *cfg);
/* 1, after a note on stdout, if rc is weft_main() failing for io == WEFT_IO_URING; else 0. */
int test_uring_unavailable(weft_io_backend io, int rc);

/* A start line for the tasks of a stress test: each yields at the gate until
 * tasks have reached it on two different threads (idle workers steal some of
 * the runnable tasks meanwhile), so the work that follows really crosses
 * workers. Gives up after give_up_ms; `spread` then stays 0. */
typedef struct test_spread_gate {
    atomic_ulong first; /* the thread of the first task at the gate */
    atomic_int spread;  /* 1 once tasks came on two threads (or there is one worker) */
    int64_t give_up_ns;
} test_spread_gate;
/* Sets g up, from a task of the running runtime, to give up after give_up_ms
 * (the tests give 15 s: on a loaded machine a second worker thread may not
 * get a core for seconds, and a gate that gives up fails the spread check). */
void test_gate_init(test_spread_gate *g, int64_t give_up_ms);
/* Yields until g is spread or has given up. */
void test_gate_pass(test_spread_gate *g);

/* Values 0..n-1, sent by some tasks and received by others: each must arrive once. */
typedef struct test_tally {
    long n;
    atomic_uchar *seen; /* times each value arrived */
    atomic_long received, dups, out_of_range;
    atomic_llong sum; /* of the values received */
} test_tally;
/* Sets t up for 0..n-1, all counts 0; returns 0, or -1 if out of memory. */
int test_tally_init(test_tally *t, long n);
/* Counts one received value v (from any task or thread). */
void test_tally_add(test_tally *t, int64_t v);
/* How many of 0..n-1 did not arrive exactly once. */
long test_tally_missing(test_tally *t);
/* Frees what test_tally_init() allocated. */
void test_tally_free(test_tally *t);

#endif
