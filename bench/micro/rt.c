/*
 * bench/micro/rt.c — runtime micro-benchmarks, one program. The Go and Rust
 * peers (bench/peers/) run the same seven benchmarks with the same sizes and
 * print the same lines; bench/run-rt.sh runs all three and makes the table.
 *
 * Usage: build/bench/rt [name]   name one of switch_ns, spawn_ns,
 * pingpong_ns, chan_msgs_per_s, park1m, wake_ns, wake_block (default: all,
 * in order).
 * Each benchmark prints `RESULT <name> <value> <unit>` on stdout (park1m
 * prints three; switch_ns, spawn_ns and pingpong_ns also print <name minus
 * _ns>_cpu_ns, and park1m park1m_spawn_cpu_ms: the process's CPU time (all
 * threads), which a busy machine disturbs less than the wall clock); lines
 * starting with '#' are notes. Errors go to stderr and make the exit status
 * 1; a failed benchmark prints no RESULT line.
 *
 * Each benchmark runs in its own weft_main() so it gets its own worker count:
 * 1 worker where the point is the cost of the operation itself (no
 * cross-core traffic), 2 (the default on the 2-core bench machine, set
 * explicitly so a bigger machine pinned with taskset matches the peers)
 * where the point is cross-worker behaviour. RT_WORKERS=N runs every
 * benchmark on N workers instead (what a second worker costs a one-worker
 * benchmark). park1m also prints its minor page faults per task, its user
 * and system CPU time and its page-table bytes per task as notes.
 * RT_PARK_N=N parks N tasks instead of 1M (the results keep their names):
 * RSS per task at two counts gives the cost of one more parked task apart
 * from what the process grows once, whatever the count.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <weft/rt.h>

#define SWITCH_N 10000000L /* total yields, both tasks together */
#define SPAWN_N 1000000L
#define SPAWN_B 1000L
#define PING_N 1000000L
#define CHAN_N 10000000L
#define CHAN_CAP 1024
static long park_n = 1000000L; /* RT_PARK_N */
#define WAKE_N 10000
#define WAKE_PARK_NS 20000L  /* sender waits this long so the receiver is parked */
#define WAKE_CAP_NS 2000000L /* after this the sender yields (see bench_wake) */
#define MULTI 2

/* ---- plumbing ------------------------------------------------------------ */

static const char *g_bench; /* name of the running benchmark */
static atomic_int g_failed; /* set by fail(); checked after weft_main */

/* Every benchmark keeps the state its tasks share in static storage, so that
 * on an error path (fail() cancels everything) a task that has not ended yet
 * never points into a finished task's stack. */

static void result(const char *name, double v, const char *unit) {
    printf("RESULT %s %.6f %s\n", name, v, unit);
    fflush(stdout);
}

/* Report an error and cancel everything, so that no partner task stays
 * parked forever; weft_main() then returns. */
static void fail(const char *what, int rc) {
    if (atomic_exchange(&g_failed, 1) && rc == WEFT_ECANCELED)
        return; /* fallout of an earlier failure */
    fprintf(stderr, "rt: %s: %s: %s (%d)\n", g_bench, what, weft_strerror(rc), rc);
    weft_shutdown();
}

/* Wait for a wait group; on failure cancel everything. */
static int wg_wait(weft_wg *wg) {
    int rc = weft_wg_wait(wg, -1);
    if (rc < 0) fail("weft_wg_wait", rc);
    return rc;
}

static void wg_done(weft_wg *wg) {
    int rc = weft_wg_done(wg);
    if (rc < 0) fail("weft_wg_done", rc);
}

/* CPU time of the whole process (every thread), for the *_cpu_ns results:
 * on a machine shared with other work the wall clock also counts the time
 * the benchmark waited for a CPU, its CPU time does not. */
static int64_t cpu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Minor page faults, user and system CPU time of the whole process, for the
 * park1m notes: where its time goes (the kernel's page work or ours). */
static void proc_usage(long long *minflt, double *user_ms, double *sys_ms) {
    struct rusage ru;
    *minflt = -1;
    *user_ms = *sys_ms = -1;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return;
    *minflt = ru.ru_minflt;
    *user_ms = (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3;
    *sys_ms = (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
}

/* The process's page tables (VmPTE of /proc/self/status), in bytes; -1 if
 * unreadable. Not part of RSS: a parked task's stack slot costs its share of
 * a page-table page besides its resident page. */
static long long pte_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmPTE: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* RssAnon and RssFile of /proc/self/status, in bytes (-1 if unreadable):
 * park1m's RSS split into anonymous memory (stacks, heap) and file-backed
 * pages (code run for the first time), which a process maps once. */
static void rss_split(long long *anon, long long *file) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb;
    *anon = *file = -1;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "RssAnon: %lld kB", &kb) == 1) *anon = kb * 1024;
        if (sscanf(line, "RssFile: %lld kB", &kb) == 1) *file = kb * 1024;
    }
    fclose(f);
}

/* Resident set size from /proc/self/statm: resident pages * page size. */
static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, res = -1;
    if (!f) return -1;
    if (fscanf(f, "%lld %lld", &size, &res) != 2) res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (long long)sysconf(_SC_PAGESIZE);
}

/* ---- 1. switch_ns ---------------------------------------------------------
 * Two tasks call weft_yield() in a loop, SWITCH_N yields in all; ns per
 * switch = total time / total yields. 1 worker, so this is the user-space
 * switch plus the run-queue round trip, with no cross-core traffic. */
typedef struct {
    weft_wg wg;
} switch_ctx;

static void switch_task(void *arg) {
    switch_ctx *c = arg;
    for (long i = 0; i < SWITCH_N / 2; i++) {
        int rc = weft_yield();
        if (rc < 0) {
            fail("weft_yield", rc);
            break;
        }
    }
    wg_done(&c->wg);
}

static void bench_switch(void *arg) {
    static switch_ctx c;
    weft_wg_init(&c.wg);
    weft_wg_add(&c.wg, 2);
    int64_t t0 = weft_now_ns(), c0 = cpu_now_ns();
    for (int i = 0; i < 2; i++) {
        int rc = weft_go(switch_task, &c);
        if (rc < 0) {
            weft_wg_add(&c.wg, -(2 - i));
            fail("weft_go", rc);
            break;
        }
    }
    if (wg_wait(&c.wg) < 0 || atomic_load(&g_failed)) return;
    result("switch_ns", (double)(weft_now_ns() - t0) / SWITCH_N, "ns");
    result("switch_cpu_ns", (double)(cpu_now_ns() - c0) / SWITCH_N, "ns");
}

/* ---- 2. spawn_ns ------------------------------------------------------------
 * One task spawns SPAWN_N trivial tasks in batches of SPAWN_B and waits for
 * each batch with a wait group; ns per task (spawn + run + exit). 1 worker. */
static void spawn_task(void *arg) { wg_done(arg); }

static void bench_spawn(void *arg) {
    static weft_wg wg;
    weft_wg_init(&wg);
    int64_t t0 = weft_now_ns(), c0 = cpu_now_ns();
    for (long b = 0; b < SPAWN_N / SPAWN_B; b++) {
        weft_wg_add(&wg, SPAWN_B);
        for (long i = 0; i < SPAWN_B; i++) {
            int rc = weft_go(spawn_task, &wg);
            if (rc < 0) {
                weft_wg_add(&wg, -(SPAWN_B - i));
                fail("weft_go", rc);
                wg_wait(&wg);
                return;
            }
        }
        if (wg_wait(&wg) < 0) return;
    }
    result("spawn_ns", (double)(weft_now_ns() - t0) / SPAWN_N, "ns");
    result("spawn_cpu_ns", (double)(cpu_now_ns() - c0) / SPAWN_N, "ns");
}

/* ---- 3. pingpong_ns -------------------------------------------------------
 * A sends an int64 on an unbuffered channel, B receives it and sends v+1
 * back on a second unbuffered channel; ns per round trip. 1 worker. */
typedef struct {
    weft_chan *ping, *pong;
    weft_wg wg;
} ping_ctx;

static void echo_task(void *arg) {
    ping_ctx *c = arg;
    int64_t v;
    for (;;) {
        int rc = weft_chan_recv(c->ping, &v, -1);
        if (rc == WEFT_ECLOSED) break;
        if (rc < 0) {
            fail("echo: weft_chan_recv", rc);
            break;
        }
        v++;
        rc = weft_chan_send(c->pong, &v, -1);
        if (rc < 0) {
            fail("echo: weft_chan_send", rc);
            break;
        }
    }
    wg_done(&c->wg);
}

static void bench_pingpong(void *arg) {
    static ping_ctx c;
    int err = 0;
    memset(&c, 0, sizeof c);
    weft_wg_init(&c.wg);
    c.ping = weft_chan_new(sizeof(int64_t), 0, &err);
    if (!c.ping) {
        fail("weft_chan_new", err);
        return;
    }
    c.pong = weft_chan_new(sizeof(int64_t), 0, &err);
    if (!c.pong) {
        fail("weft_chan_new", err);
        weft_chan_free(c.ping);
        return;
    }
    weft_wg_add(&c.wg, 1);
    int rc = weft_go(echo_task, &c);
    if (rc < 0) {
        weft_wg_add(&c.wg, -1);
        fail("weft_go", rc);
        weft_chan_free(c.ping);
        weft_chan_free(c.pong);
        return;
    }
    int64_t t0 = weft_now_ns(), c0 = cpu_now_ns(), el = -1, cel = -1;
    for (int64_t i = 0; i < PING_N; i++) {
        int64_t r = -1;
        if ((rc = weft_chan_send(c.ping, &i, -1)) < 0) {
            fail("weft_chan_send", rc);
            break;
        }
        if ((rc = weft_chan_recv(c.pong, &r, -1)) < 0) {
            fail("weft_chan_recv", rc);
            break;
        }
        if (r != i + 1) {
            fail("pong carried a wrong value", WEFT_EINVAL);
            break;
        }
    }
    if (!atomic_load(&g_failed)) {
        el = weft_now_ns() - t0;
        cel = cpu_now_ns() - c0;
    }
    weft_chan_close(c.ping);
    /* on failure the echo task may still be parked on a channel: leak them */
    if (wg_wait(&c.wg) < 0) return;
    if (el >= 0 && !atomic_load(&g_failed)) {
        result("pingpong_ns", (double)el / PING_N, "ns");
        result("pingpong_cpu_ns", (double)cel / PING_N, "ns");
    }
    weft_chan_free(c.ping);
    weft_chan_free(c.pong);
}

/* ---- 4. chan_msgs_per_s ---------------------------------------------------
 * Buffered channel (cap 1024) of int64, one producer and one consumer,
 * CHAN_N messages; msgs/s from the first send to the consumer's last recv.
 * 2 workers. */
typedef struct {
    weft_chan *ch;
    weft_wg wg;
    int64_t sum;
} chan_ctx;

static void producer_task(void *arg) {
    chan_ctx *c = arg;
    for (int64_t i = 0; i < CHAN_N; i++) {
        int rc = weft_chan_send(c->ch, &i, -1);
        if (rc < 0) {
            fail("producer: weft_chan_send", rc);
            break;
        }
    }
    weft_chan_close(c->ch);
    wg_done(&c->wg);
}

static void consumer_task(void *arg) {
    chan_ctx *c = arg;
    int64_t v, s = 0;
    for (;;) {
        int rc = weft_chan_recv(c->ch, &v, -1);
        if (rc == WEFT_ECLOSED) break;
        if (rc < 0) {
            fail("consumer: weft_chan_recv", rc);
            break;
        }
        s += v;
    }
    c->sum = s;
    wg_done(&c->wg);
}

static void bench_chan(void *arg) {
    static chan_ctx c;
    int err = 0;
    memset(&c, 0, sizeof c);
    weft_wg_init(&c.wg);
    c.ch = weft_chan_new(sizeof(int64_t), CHAN_CAP, &err);
    if (!c.ch) {
        fail("weft_chan_new", err);
        return;
    }
    weft_fn fns[2] = {producer_task, consumer_task};
    weft_wg_add(&c.wg, 2);
    int64_t t0 = weft_now_ns();
    for (int i = 0; i < 2; i++) {
        int rc = weft_go(fns[i], &c);
        if (rc < 0) {
            weft_wg_add(&c.wg, -(2 - i));
            weft_chan_close(c.ch);
            fail("weft_go", rc);
            break;
        }
    }
    int rc = wg_wait(&c.wg);
    int64_t el = weft_now_ns() - t0;
    if (rc == 0 && !atomic_load(&g_failed)) {
        if (c.sum != (int64_t)CHAN_N * (CHAN_N - 1) / 2)
            fail("consumer got a wrong sum", WEFT_EINVAL);
        else
            result("chan_msgs_per_s", (double)CHAN_N * 1e9 / (double)el, "msgs/s");
    }
    if (rc == 0) weft_chan_free(c.ch); /* only when nobody can be parked on it */
}

/* ---- 5. park1m ------------------------------------------------------------
 * The main task spawns park_n (1M) tasks; each bumps a counter and parks in
 * weft_wg_wait() on one shared wait group. park1m_spawn_ms = time from the
 * first spawn until every task has started (bumped the counter, right before
 * parking). Then a 20 ms sleep lets the last ones park, and RSS growth over
 * the whole run / park_n is park1m_rss_per_task_bytes. Then they are
 * released and awaited. Default stack size. 2 workers. */
typedef struct {
    weft_wg release, exited;
    atomic_long started;
} park_ctx;

static void park_task(void *arg) {
    park_ctx *c = arg;
    atomic_fetch_add_explicit(&c->started, 1, memory_order_relaxed);
    int rc = weft_wg_wait(&c->release, -1);
    if (rc < 0) fail("parked task: weft_wg_wait", rc);
    wg_done(&c->exited);
}

static void bench_park(void *arg) {
    static park_ctx c;
    memset(&c, 0, sizeof c);
    weft_wg_init(&c.release);
    weft_wg_init(&c.exited);
    weft_wg_add(&c.release, 1);
    weft_wg_add(&c.exited, park_n);
    long long rss0 = rss_bytes(), pte0 = pte_bytes(), flt0, flt1, anon0, file0, anon1, file1;
    rss_split(&anon0, &file0);
    double u0, s0, u1, s1;
    proc_usage(&flt0, &u0, &s0);
    int64_t t0 = weft_now_ns(), c0 = cpu_now_ns();
    long spawned = 0;
    for (; spawned < park_n; spawned++) {
        int rc = weft_go(park_task, &c);
        if (rc < 0) {
            char what[64];
            snprintf(what, sizeof what, "weft_go after %ld tasks", spawned);
            weft_wg_add(&c.exited, -(park_n - spawned));
            wg_done(&c.release);
            fail(what, rc);
            wg_wait(&c.exited);
            return;
        }
    }
    while (atomic_load_explicit(&c.started, memory_order_relaxed) < park_n) {
        int rc = weft_yield();
        if (rc < 0) {
            fail("weft_yield", rc);
            break;
        }
    }
    int64_t el = weft_now_ns() - t0, cel = cpu_now_ns() - c0;
    proc_usage(&flt1, &u1, &s1);
    weft_sleep(20); /* let the last ones actually park */
    long long rss1 = rss_bytes(), pte1 = pte_bytes();
    rss_split(&anon1, &file1);
    int64_t t1 = weft_now_ns();
    wg_done(&c.release);
    if (wg_wait(&c.exited) < 0 || atomic_load(&g_failed)) return;
    int64_t rel = weft_now_ns() - t1;
    result("park1m_spawn_ms", (double)el / 1e6, "ms");
    result("park1m_spawn_cpu_ms", (double)cel / 1e6, "ms");
    if (rss0 >= 0 && rss1 >= 0)
        result("park1m_rss_per_task_bytes", (double)(rss1 - rss0) / park_n, "B");
    else
        fail("reading /proc/self/statm", WEFT_EIO);
    printf("# park1m: %ld tasks; rss before %lld B, after %lld B; release+exit of all %.1f ms\n",
           park_n, rss0, rss1, (double)rel / 1e6);
    printf("# park1m spawn phase: %.3f minor faults per task, user %.0f ms, system %.0f ms\n",
           (double)(flt1 - flt0) / park_n, u1 - u0, s1 - s0);
    if (anon0 >= 0 && anon1 >= 0 && file0 >= 0 && file1 >= 0)
        printf("# park1m RSS split: anonymous %.3f B per task, file-backed %+lld B in all\n",
               (double)(anon1 - anon0) / park_n, file1 - file0);
    if (pte0 >= 0 && pte1 >= 0)
        printf("# park1m page tables (VmPTE, not in RSS): %.0f B per task\n",
               (double)(pte1 - pte0) / park_n);
}

/* ---- 6. wake_ns and 7. wake_block -------------------------------------------
 * Cross-worker wake-up latency, 2 workers. The receiver R parks in a recv on
 * an unbuffered channel. The sender S waits until R has announced its recv,
 * spins WAKE_PARK_NS so that R is surely parked, stamps t0 = weft_now_ns() and
 * sends t0. A sample is R's weft_now_ns() on resume - t0. Then:
 *  - wake_ns: S keeps its own worker busy (spinning, no yield) until R
 *    reports that it ran. So R can only be resumed promptly by the other,
 *    idle, worker: the time to hand a woken task to an idle worker and switch
 *    to it there. If R has not run after WAKE_CAP_NS (the runtime left it
 *    queued behind the busy sender), S starts yielding so the benchmark ends;
 *    such samples are kept as they are.
 *  - wake_block: S blocks in a recv of R's acknowledgement (a second
 *    unbuffered channel), freeing its worker: the request/response pattern,
 *    where R may run on either worker.
 * Results: the median of WAKE_N samples and the share of samples under
 * 10 us, 100 us and 1 ms (<name>_lt10us_pct ...): a distribution, never a
 * figure divided by the cap. */
typedef struct {
    weft_chan *ch, *ack; /* ack: only for wake_block */
    weft_wg wg;
    atomic_long ready, got;
    int64_t *samples;
} wake_ctx;

static void wake_receiver(void *arg) {
    wake_ctx *c = arg;
    for (long i = 0; i < WAKE_N; i++) {
        int64_t t0;
        atomic_store(&c->ready, i + 1);
        int rc = weft_chan_recv(c->ch, &t0, -1);
        if (rc < 0) {
            fail("receiver: weft_chan_recv", rc);
            break;
        }
        c->samples[i] = weft_now_ns() - t0;
        atomic_store(&c->got, i + 1);
        if (c->ack && (rc = weft_chan_send(c->ack, &t0, -1)) < 0) {
            fail("receiver: weft_chan_send", rc);
            break;
        }
    }
    wg_done(&c->wg);
}

static void wake_sender(void *arg) {
    wake_ctx *c = arg;
    for (long i = 0; i < WAKE_N && !atomic_load(&g_failed); i++) {
        int rc = 0;
        while (atomic_load(&c->ready) != i + 1 && rc == 0) rc = weft_yield();
        if (rc < 0) {
            fail("sender: weft_yield", rc);
            break;
        }
        for (int64_t s = weft_now_ns(); weft_now_ns() - s < WAKE_PARK_NS;)
            ;
        int64_t t0 = weft_now_ns();
        if ((rc = weft_chan_send(c->ch, &t0, -1)) < 0) {
            fail("sender: weft_chan_send", rc);
            break;
        }
        if (c->ack) {
            int64_t echo;
            if ((rc = weft_chan_recv(c->ack, &echo, -1)) < 0) {
                fail("sender: weft_chan_recv", rc);
                break;
            }
            continue;
        }
        while (atomic_load(&c->got) != i + 1 && rc == 0) {
            if (weft_now_ns() - t0 > WAKE_CAP_NS) rc = weft_yield();
        }
        if (rc < 0) {
            fail("sender: weft_yield", rc);
            break;
        }
    }
    wg_done(&c->wg);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* RESULT <prefix>_ns (median) and <prefix>_lt{10us,100us,1ms}_pct of the
 * sorted samples, and a '#' line with the tail. */
static void report_wake(const char *prefix, const int64_t *v, int n, int spin) {
    static const struct {
        int64_t lim;
        const char *tag;
    } lims[] = {{10000, "10us"}, {100000, "100us"}, {1000000, "1ms"}};
    char name[64];
    snprintf(name, sizeof name, "%s_ns", prefix);
    result(name, (double)v[n / 2], "ns");
    for (size_t k = 0; k < sizeof lims / sizeof lims[0]; k++) {
        int under = 0;
        for (int i = 0; i < n; i++) under += v[i] < lims[k].lim;
        snprintf(name, sizeof name, "%s_lt%s_pct", prefix, lims[k].tag);
        result(name, 100.0 * under / n, "%");
    }
    int capped = 0;
    for (int i = 0; i < n; i++) capped += v[i] >= WAKE_CAP_NS;
    printf("# %s: p10 %lld p90 %lld p99 %lld max %lld ns", prefix, (long long)v[n / 10],
           (long long)v[n * 9 / 10], (long long)v[n * 99 / 100], (long long)v[n - 1]);
    if (spin)
        printf("; %d of %d samples at or past the %ld ns point where the sender starts yielding",
               capped, n, WAKE_CAP_NS);
    printf("\n");
}

static void run_wake(int block) {
    static wake_ctx c;
    int err = 0;
    memset(&c, 0, sizeof c);
    weft_wg_init(&c.wg);
    c.samples = calloc(WAKE_N, sizeof *c.samples);
    if (!c.samples) {
        fail("calloc", WEFT_ENOMEM);
        return;
    }
    c.ch = weft_chan_new(sizeof(int64_t), 0, &err);
    if (!c.ch) {
        fail("weft_chan_new", err);
        free(c.samples);
        return;
    }
    if (block && !(c.ack = weft_chan_new(sizeof(int64_t), 0, &err))) {
        fail("weft_chan_new", err);
        weft_chan_free(c.ch);
        free(c.samples);
        return;
    }
    weft_fn fns[2] = {wake_receiver, wake_sender};
    weft_wg_add(&c.wg, 2);
    for (int i = 0; i < 2; i++) {
        int rc = weft_go(fns[i], &c);
        if (rc < 0) {
            weft_wg_add(&c.wg, -(2 - i));
            weft_chan_close(c.ch);
            if (c.ack) weft_chan_close(c.ack);
            fail("weft_go", rc);
            break;
        }
    }
    int rc = wg_wait(&c.wg);
    if (rc == 0 && !atomic_load(&g_failed)) {
        qsort(c.samples, WAKE_N, sizeof *c.samples, cmp_i64);
        report_wake(block ? "wake_block" : "wake", c.samples, WAKE_N, !block);
    }
    if (rc == 0) { /* only when nobody can be parked on them */
        weft_chan_free(c.ch);
        if (c.ack) weft_chan_free(c.ack);
        free(c.samples);
    }
}

static void bench_wake(void *arg) {
    (void)arg;
    run_wake(0);
}

static void bench_wake_block(void *arg) {
    (void)arg;
    run_wake(1);
}

/* ---- driver ------------------------------------------------------------------ */

static const struct {
    const char *name;
    int workers;
    weft_fn fn;
} benches[] = {
    {"switch_ns", 1, bench_switch},     {"spawn_ns", 1, bench_spawn},
    {"pingpong_ns", 1, bench_pingpong}, {"chan_msgs_per_s", MULTI, bench_chan},
    {"park1m", MULTI, bench_park},      {"wake_ns", MULTI, bench_wake},
    {"wake_block", MULTI, bench_wake_block},
};

static size_t g_cur; /* index in benches[] of the running benchmark */

/* The first task of each weft_main(): say how the runtime is set up, then
 * run the benchmark. */
static void run_bench(void *arg) {
    const char *io = weft_io_backend_name();
    printf("# weft: %d worker(s), io %s\n", weft_workers(), io ? io : "?");
    benches[g_cur].fn(arg);
}

static int matches(const char *filter, const char *name) {
    size_t n = strlen(name);
    /* "park1m" also answers to its result names, e.g. park1m_spawn_ms */
    return !filter || !strcmp(filter, name) || (!strncmp(filter, name, n) && filter[n] == '_');
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int ran = 0, failed = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (!matches(filter, benches[i].name)) continue;
        ran = 1;
        g_bench = benches[i].name;
        g_cur = i;
        atomic_store(&g_failed, 0);
        weft_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.workers = benches[i].workers;
        const char *pn = getenv("RT_PARK_N");
        if (pn && atol(pn) > 0) park_n = atol(pn);
        /* RT_WORKERS=N runs every benchmark on N workers instead of its
         * own count (to see what a second worker costs a one-worker
         * benchmark, or gains it) */
        const char *wk = getenv("RT_WORKERS");
        if (wk && atoi(wk) > 0) cfg.workers = atoi(wk);
        int rc = weft_main(run_bench, NULL, &cfg);
        if (rc < 0) {
            fprintf(stderr, "rt: %s: weft_main: %s (%d)\n", g_bench, weft_strerror(rc), rc);
            failed = 1;
        }
        if (atomic_load(&g_failed)) failed = 1;
        fflush(stdout);
    }
    if (!ran) {
        fprintf(stderr, "rt: unknown benchmark \"%s\"\n", filter);
        return 2;
    }
    return failed;
}
