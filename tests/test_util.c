/* tests/test_util.c — helpers shared by the test binaries (declared in tests/test.h). */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- time and sizes ------------------------------------------------------ */

int64_t test_slack_ms(int64_t ms) {
#if defined(__SANITIZE_THREAD__)
    return ms * 10;
#elif defined(__SANITIZE_ADDRESS__)
    return ms * 4;
#else
    return ms;
#endif
}

int64_t test_ms_since(int64_t t0_ns) { return (weft_now_ns() - t0_ns) / 1000000; }

long test_scale_min(long n, long min) {
    long s = test_scale(n);
    return s < min ? min : s;
}

void test_atomic_max(atomic_int *m, int v) {
    int cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {}
}

/* ---- tasks ------------------------------------------------------------------ */

static void stop_on_failure(void *arg) {
    (void)arg;
    if (test__failed()) weft_shutdown();
}

void test_guard(void) { weft_defer(stop_on_failure, NULL); }

int test_go_wg(weft_wg *wg, weft_fn fn, void *arg) {
    weft_wg_add(wg, 1);
    int rc = weft_go(fn, arg);
    if (rc) weft_wg_done(wg);
    return rc;
}

int test_join(weft_group *g, int64_t ms) {
    int rc = weft_group_wait(g, weft_deadline_in(ms));
    if (rc != 0) {
        weft_group_cancel(g);
        weft_group_wait(g, -1);
    }
    return rc;
}

/* ---- pipes and bytes ----------------------------------------------------------- */

int test_run_child(int (*fn)(void *), void *arg, char *out, size_t cap, int *status) {
    int p[2];
    if (pipe(p) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        signal(SIGABRT, SIG_DFL);
        _exit(fn(arg));
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(p[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    close(p[0]);
    out[n] = 0;
    return waitpid(pid, status, 0) == pid ? 0 : -1;
}

int test_nb_pipe(int p[2]) { return pipe2(p, O_NONBLOCK | O_CLOEXEC); }

void test_close2(int p[2]) {
    if (p[0] >= 0) weft_close(p[0]);
    if (p[1] >= 0) weft_close(p[1]);
    p[0] = p[1] = -1;
}

size_t test_fill_pipe(int wfd) {
    static const char junk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t r = write(wfd, junk, sizeof junk);
        if (r <= 0) break;
        total += (size_t)r;
    }
    return total;
}

size_t test_drain(int rfd) {
    char junk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t r = read(rfd, junk, sizeof junk);
        if (r <= 0) break;
        total += (size_t)r;
    }
    return total;
}

int test_pipe_bytes(int fd) {
    int n = -1;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

void test_fill_pattern(unsigned char *b, size_t n, uint32_t seed) {
    uint32_t x = (seed * 2654435761u) | 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)(x >> 7);
    }
}

/* ---- alarms and watchdogs ---------------------------------------------------------- */

static void *alarm_main(void *arg) {
    test_alarm *a = arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += a->secs;
    pthread_mutex_lock(&a->mu);
    while (!a->stopped)
        if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) != 0) break;
    int fire = !a->stopped;
    a->fired = fire;
    pthread_mutex_unlock(&a->mu);
    if (fire) a->fire(a->arg);
    return NULL;
}

int test_alarm_start(test_alarm *a, int secs, void (*fire)(void *arg), void *arg) {
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->secs = secs;
    a->fire = fire;
    a->arg = arg;
    int rc = pthread_create(&a->th, NULL, alarm_main, a);
    a->running = rc == 0;
    return rc;
}

int test_alarm_stop(test_alarm *a) {
    if (a->running) {
        pthread_mutex_lock(&a->mu);
        a->stopped = 1;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->th, NULL);
        a->running = 0;
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    return a->fired;
}

static void watchdog_fire(void *arg) {
    test_watchdog *wd = arg;
    fprintf(stderr, "WATCHDOG: %s did not finish in %d s; tasks:\n", wd->what, wd->secs);
    weft_dump_tasks(2);
    abort();
}

void test_watchdog_start(test_watchdog *wd, const char *what, int secs) {
    wd->what = what;
    wd->secs = secs;
    test_alarm_start(&wd->alarm, secs, watchdog_fire, wd);
}

void test_watchdog_stop(test_watchdog *wd) { test_alarm_stop(&wd->alarm); }

int test_main_watched(const char *what, weft_fn fn, void *arg, const weft_config *cfg) {
    test_watchdog wd;
    test_watchdog_start(&wd, what, 60);
    int rc = weft_main(fn, arg, cfg);
    test_watchdog_stop(&wd);
    return rc;
}

int test_uring_unavailable(weft_io_backend io, int rc) {
    if (rc == 0 || io != WEFT_IO_URING) return 0;
    printf("    note: io_uring unavailable (%s); only epoll checked\n", weft_strerror(rc));
    return 1;
}

/* ---- the spread gate ---------------------------------------------------------------- */

/* The calling thread's id, read afresh on every call. pthread_self() is
 * declared const, so the compiler may reuse one result across a weft_yield(),
 * after which the task may be running on another thread. */
__attribute__((noinline)) static unsigned long thread_id(void) {
    unsigned long id = (unsigned long)pthread_self();
    __asm__ volatile("" : "+r"(id));
    return id;
}

void test_gate_init(test_spread_gate *g, int64_t give_up_ms) {
    atomic_init(&g->first, 0);
    atomic_init(&g->spread, weft_workers() < 2);
    g->give_up_ns = weft_now_ns() + give_up_ms * 1000000;
}

void test_gate_pass(test_spread_gate *g) {
    while (!atomic_load(&g->spread) && weft_now_ns() < g->give_up_ns) {
        unsigned long first = 0, me = thread_id();
        if (!atomic_compare_exchange_strong(&g->first, &first, me) && first != me)
            atomic_store(&g->spread, 1);
        else
            weft_yield();
    }
}

/* ---- tallies ---------------------------------------------------------------------- */

int test_tally_init(test_tally *t, long n) {
    t->n = n;
    t->seen = calloc((size_t)n, sizeof *t->seen);
    atomic_init(&t->received, 0);
    atomic_init(&t->dups, 0);
    atomic_init(&t->out_of_range, 0);
    atomic_init(&t->sum, 0);
    return t->seen ? 0 : -1;
}

void test_tally_add(test_tally *t, int64_t v) {
    if (v < 0 || v >= t->n) {
        atomic_fetch_add(&t->out_of_range, 1);
        return;
    }
    if (atomic_fetch_add(&t->seen[v], 1) != 0) atomic_fetch_add(&t->dups, 1);
    atomic_fetch_add(&t->received, 1);
    atomic_fetch_add(&t->sum, v);
}

long test_tally_missing(test_tally *t) {
    long missing = 0;
    for (long i = 0; i < t->n; i++)
        if (atomic_load(&t->seen[i]) != 1) missing++;
    return missing;
}

void test_tally_free(test_tally *t) {
    free(t->seen);
    t->seen = NULL;
}
