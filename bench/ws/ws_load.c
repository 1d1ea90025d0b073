/*
 * bench/ws/ws_load.c — the load generator of the WebSocket benchmark
 * (bench/run-ws.sh), on weft's own client (weft_ws_dial, one task per
 * connection). It measures the server too: the server's CPU time
 * (utime + stime of all its threads, /proc/PID/stat) and its resident memory
 * (/proc/PID/status VmRSS) at the edges of the measured window, so the
 * window and the CPU it cost are the same interval.
 *
 *   ws_load echo   URL CONNS SIZE SECONDS WARMUP PID
 *       CONNS connections to URL (the echo route), each sending a binary
 *       message of SIZE bytes and waiting for it to come back (one in flight
 *       per connection, a closed loop: the server is kept busy, the rate is
 *       what it sustains). Every reply is checked (opcode, length, bytes).
 *   fanout BASE   SUBS RATE SECONDS WARMUP PID [SIZE]
 *       SUBS connections to BASE/sub, then one to BASE/pub that sends
 *       RATE binary messages a second (SIZE bytes, default 64: the send time
 *       in CLOCK_MONOTONIC ns and a sequence number, then filler). Each
 *       subscriber takes the receive time on arrival: publish-to-receive
 *       latency on one machine's monotonic clock. Counted: the messages
 *       published after WARMUP, for SECONDS; the window ends when all their
 *       deliveries have arrived (or 20 s after the last publish: a
 *       busy server still delivering late messages is waited for, its CPU
 *       counted; what has not come by then is reported missing).
 *   idle   URL    CONNS SETTLE PID
 *       100 connections first (so one-time costs are not counted), the
 *       server's RSS, then CONNS more that stay silent, SETTLE seconds, the
 *       RSS again: bytes per idle connection = the difference / CONNS.
 *
 * Prints one JSON object on stdout; errors (failed dials, wrong replies,
 * messages that never came) are counted in it, never hidden. The process
 * exits without closing its connections (the kernel does, with FIN). Needs
 * about CONNS + 16 file descriptors: it raises its soft RLIMIT_NOFILE to the
 * hard limit. Run it with WEFT_WORKERS=1, pinned to its own CPU.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "weft/weft.h"
#include "weft/ws.h"

enum { MODE_ECHO, MODE_FANOUT, MODE_IDLE };
enum { DIAL_PARALLEL = 64, IDLE_WARM = 100 };

static struct {
    int mode;
    const char *url;
    long conns, size, rate, settle;
    double seconds, warmup;
    int pid;
} opt;

/* shared by the tasks; relaxed atomics (the tool runs on one worker, but
 * nothing depends on that) */
static atomic_long connected, dial_failed, errors;
static atomic_ulong echoed;     /* echo: replies checked */
static atomic_ulong delivered;  /* fanout: measured messages received */
static atomic_long measure_from = INT64_MAX; /* fanout: ns; messages sent at or after it count */
static atomic_int stop;
static const char *first_error;
static weft_sem dial_gate;
static uint32_t *lat;           /* fanout: latencies in microseconds */
static atomic_size_t nlat;
static size_t lat_cap;

static const weft_ws_config client_cfg = {.ping_interval_ms = -1, .idle_timeout_ms = -1};

static void fail(const char *what) {
    if (!first_error) first_error = what;
    atomic_fetch_add_explicit(&errors, 1, memory_order_relaxed);
}

/* ---- the server, seen from /proc ----------------------------------------- */

static double server_cpu_s(void) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", opt.pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long server_rss_kb(void) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", opt.pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static double now_s(void) { return (double)weft_now_ns() / 1e9; }

/* ---- connections ------------------------------------------------------------ */

/* Dial url (at most DIAL_PARALLEL at once); counts it as connected or failed. */
static weft_ws *dial(const char *url) {
    /* without a permit (the task was cancelled: nothing here does so today)
     * neither dial nor give back a permit this task never took */
    int rc = weft_sem_acquire(&dial_gate, -1);
    if (rc) {
        atomic_fetch_add(&dial_failed, 1);
        if (!first_error) first_error = weft_strerror(rc);
        return NULL;
    }
    int err = 0;
    const char *why = NULL;
    weft_ws *ws = weft_ws_dial(url, NULL, &client_cfg, weft_deadline_in(30000), &err, &why);
    weft_sem_release(&dial_gate, 1);
    if (!ws) {
        atomic_fetch_add(&dial_failed, 1);
        if (!first_error) first_error = why ? why : weft_strerror(err);
        return NULL;
    }
    atomic_fetch_add(&connected, 1);
    return ws;
}

/* Wait until want dials have ended (connected or failed), 120 s at most. */
static void wait_dialed(long want) {
    int64_t dl = weft_deadline_in(120000);
    while (atomic_load(&connected) + atomic_load(&dial_failed) < want && weft_now() < dl)
        weft_sleep(10);
}

static void echo_conn(void *arg) {
    (void)arg;
    weft_ws *ws = dial(opt.url);
    if (!ws) return;
    unsigned char *p = malloc((size_t)opt.size);
    weft_buf m;
    weft_buf_init(&m, 0);
    for (long i = 0; i < opt.size; i++) p[i] = (unsigned char)(i * 7 + 3);
    while (p && !atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (weft_ws_send(ws, WEFT_WS_BINARY, p, (size_t)opt.size)) {
            fail("send failed");
            break;
        }
        int op = weft_ws_recv(ws, &m, weft_deadline_in(10000));
        if (op != WEFT_WS_BINARY || m.len != (size_t)opt.size || memcmp(m.data, p, m.len) != 0) {
            if (!atomic_load(&stop)) fail(op < 0 ? weft_strerror(op) : "wrong echo");
            break;
        }
        atomic_fetch_add_explicit(&echoed, 1, memory_order_relaxed);
    }
    free(p);
    weft_buf_free(&m);
    weft_ws_free(ws);
}

static void sub_conn(void *arg) {
    char *url = arg;
    weft_ws *ws = dial(url);
    if (!ws) return;
    weft_buf m;
    weft_buf_init(&m, 0);
    int op;
    while ((op = weft_ws_recv(ws, &m, -1)) > 0) {
        int64_t now = weft_now_ns(), sent;
        if (m.len < 16) {
            fail("short fan-out message");
            break;
        }
        memcpy(&sent, m.data, sizeof sent);
        if (sent < atomic_load_explicit(&measure_from, memory_order_relaxed)) continue;
        atomic_fetch_add_explicit(&delivered, 1, memory_order_relaxed);
        size_t i = atomic_fetch_add_explicit(&nlat, 1, memory_order_relaxed);
        if (i < lat_cap) lat[i] = (uint32_t)((now - sent) / 1000);
    }
    if (!atomic_load(&stop)) fail("a subscriber was closed");
    weft_buf_free(&m);
    weft_ws_free(ws);
}

static void idle_conn(void *arg) {
    weft_ws *ws = dial(opt.url);
    (void)arg;
    if (!ws) return;
    weft_buf m;
    weft_buf_init(&m, 0);
    while (weft_ws_recv(ws, &m, -1) > 0) { /* the server sends nothing; pings are answered */
    }
    if (!atomic_load(&stop)) fail("an idle connection was closed");
    weft_buf_free(&m);
    weft_ws_free(ws);
}

static int spawn(weft_fn fn, void *arg, long n) {
    weft_task_opts o = {.name = "conn", .stack_size = 64 * 1024};
    for (long i = 0; i < n; i++) {
        int rc = weft_go_opts(fn, arg, &o);
        if (rc) {
            fprintf(stderr, "ws_load: spawn: %s\n", weft_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void out_common(void) {
    printf("\"connected\": %ld, \"dial_failed\": %ld, \"errors\": %ld, \"first_error\": \"%s\"",
           atomic_load(&connected), atomic_load(&dial_failed), atomic_load(&errors),
           first_error ? first_error : "");
}

/* ---- the three measurements -------------------------------------------------- */

static void run_echo(void) {
    if (spawn(echo_conn, NULL, opt.conns)) return;
    wait_dialed(opt.conns);
    weft_sleep((int64_t)(opt.warmup * 1000));
    unsigned long m0 = atomic_load(&echoed);
    double c0 = server_cpu_s(), t0 = now_s(), s0 = self_cpu_s();
    weft_sleep((int64_t)(opt.seconds * 1000));
    unsigned long m1 = atomic_load(&echoed);
    double c1 = server_cpu_s(), t1 = now_s(), s1 = self_cpu_s();
    atomic_store(&stop, 1);
    double wall = t1 - t0, cpu = c1 - c0, msgs = (double)(m1 - m0);
    printf("\"conns\": %ld, \"size\": %ld, \"messages\": %lu, \"wall_s\": %.3f, "
           "\"msgs_per_s\": %.0f, \"server_cpu_s\": %.3f, \"server_cpu_share\": %.3f, "
           "\"server_cpu_us_per_msg\": %.4f, \"client_cpu_share\": %.3f, ",
           opt.conns, opt.size, m1 - m0, wall, msgs / wall, cpu, cpu / wall,
           msgs > 0 ? cpu * 1e6 / msgs : -1.0, (s1 - s0) / wall);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double q) {
    if (!n) return -1;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1] / 1000.0; /* ms */
}

static void run_fanout(void) {
    static char suburl[512], puburl[512];
    snprintf(suburl, sizeof suburl, "%s/sub", opt.url);
    snprintf(puburl, sizeof puburl, "%s/pub", opt.url);
    lat_cap = (size_t)((double)opt.conns * (double)opt.rate * (opt.seconds + 1) * 1.1) + 1024;
    lat = malloc(lat_cap * sizeof *lat);
    if (!lat) {
        fprintf(stderr, "ws_load: no memory for %zu latencies\n", lat_cap);
        return;
    }
    if (spawn(sub_conn, suburl, opt.conns)) return;
    wait_dialed(opt.conns);
    weft_sleep(1000); /* every server has subscribed its connections by now */
    weft_ws *pub = dial(puburl);
    if (!pub) return;
    unsigned char *p = calloc(1, (size_t)opt.size);
    if (!p) return;
    memset(p + 16, 'x', (size_t)opt.size - 16);
    double interval = 1e9 / (double)opt.rate;
    int64_t t0 = weft_now_ns();
    int64_t start = t0 + (int64_t)(opt.warmup * 1e9), end = start + (int64_t)(opt.seconds * 1e9);
    double c0 = -1, s0 = 0;
    uint64_t measured = 0;
    for (uint64_t k = 0;; k++) {
        int64_t due = t0 + (int64_t)((double)k * interval);
        if (due >= end) break;
        weft_sleep_until((due + 999999) / 1000000);
        int64_t now = weft_now_ns();
        if (due >= start) {
            if (c0 < 0) { /* the first measured message */
                c0 = server_cpu_s(), s0 = self_cpu_s();
                atomic_store(&measure_from, now);
                start = now;
            }
            measured++;
        }
        memcpy(p, &now, 8);
        memcpy(p + 8, &k, 8);
        if (weft_ws_send(pub, WEFT_WS_BINARY, p, (size_t)opt.size)) {
            fail("publish failed");
            break;
        }
    }
    int64_t last_pub = weft_now_ns();
    uint64_t want = measured * (uint64_t)(atomic_load(&connected) - 1); /* the publisher is not one */
    int64_t dl = weft_deadline_in(20000);
    while (atomic_load(&delivered) < want && weft_now() < dl) weft_sleep(1);
    double c1 = server_cpu_s(), s1 = self_cpu_s();
    int64_t end_ns = weft_now_ns();
    atomic_store(&stop, 1);
    size_t n = atomic_load(&nlat);
    if (n > lat_cap) n = lat_cap;
    qsort(lat, n, sizeof *lat, cmp_u32);
    double wall = (double)(end_ns - start) / 1e9, cpu = c1 - c0;
    unsigned long got = atomic_load(&delivered);
    printf("\"subscribers\": %ld, \"rate\": %ld, \"size\": %ld, "
           "\"published\": %llu, \"expected\": %llu, \"delivered\": %lu, \"publish_s\": %.3f, "
           "\"wall_s\": %.3f, \"server_cpu_s\": %.3f, \"server_cpu_share\": %.3f, "
           "\"delivered_per_cpu_s\": %.0f, \"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, "
           "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}, \"client_cpu_share\": %.3f, ",
           atomic_load(&connected) - 1, opt.rate, opt.size, (unsigned long long)measured,
           (unsigned long long)want, got, (double)(last_pub - start) / 1e9, wall, cpu, cpu / wall,
           cpu > 0 ? (double)got / cpu : -1.0, pct(lat, n, 0.5), pct(lat, n, 0.9),
           pct(lat, n, 0.99), pct(lat, n, 0.999), pct(lat, n, 1.0), (s1 - s0) / wall);
    free(p);
}

static void run_idle(void) {
    if (spawn(idle_conn, NULL, IDLE_WARM)) return;
    wait_dialed(IDLE_WARM);
    weft_sleep(1000);
    long rss0 = server_rss_kb();
    if (spawn(idle_conn, NULL, opt.conns)) return;
    wait_dialed(IDLE_WARM + opt.conns);
    weft_sleep(opt.settle * 1000);
    long rss1 = server_rss_kb();
    long n = atomic_load(&connected) - IDLE_WARM;
    atomic_store(&stop, 1);
    printf("\"conns\": %ld, \"warm_conns\": %d, \"rss0_kb\": %ld, "
           "\"rss1_kb\": %ld, \"bytes_per_conn\": %.0f, ",
           opt.conns, IDLE_WARM, rss0, rss1, n > 0 ? (double)(rss1 - rss0) * 1024.0 / (double)n : -1.0);
}

static void run(void *arg) {
    (void)arg;
    static const char *const names[] = {"echo", "fanout", "idle"};
    weft_sem_init(&dial_gate, DIAL_PARALLEL);
    printf("{\"mode\": \"%s\", ", names[opt.mode]); /* each run_ adds its fields */
    if (opt.mode == MODE_ECHO) run_echo();
    else if (opt.mode == MODE_FANOUT) run_fanout();
    else run_idle();
    out_common();
    printf("}\n");
    fflush(stdout);
    _exit(0); /* 10,000 connections: the kernel closes them faster than a handshake each */
}

static int usage(void) {
    fprintf(stderr, "usage: ws_load echo   URL CONNS SIZE SECONDS WARMUP SERVER_PID\n"
                    "       ws_load fanout BASE_URL SUBS RATE SECONDS WARMUP SERVER_PID [SIZE]\n"
                    "       ws_load idle   URL CONNS SETTLE_SECONDS SERVER_PID\n");
    return 2;
}

static int num(const char *s, long lo, long hi, long *out) {
    int64_t v = 0;
    if (weft_str_to_i64(weft_str_c(s), &v) || v < lo || v > hi) {
        fprintf(stderr, "ws_load: %s: not a number in %ld..%ld\n", s, lo, hi);
        return -1;
    }
    *out = (long)v;
    return 0;
}

int main(int argc, char **argv) {
    long secs = 0, warm = 0, pid = 0, size = 64;
    if (argc < 2) return usage();
    if (strcmp(argv[1], "echo") == 0 && argc == 8) {
        opt.mode = MODE_ECHO;
        if (num(argv[3], 1, 100000, &opt.conns) || num(argv[4], 16, 1 << 20, &opt.size) ||
            num(argv[5], 1, 3600, &secs) || num(argv[6], 0, 600, &warm) ||
            num(argv[7], 1, 1 << 30, &pid))
            return 2;
    } else if (strcmp(argv[1], "fanout") == 0 && (argc == 8 || argc == 9)) {
        opt.mode = MODE_FANOUT;
        if (num(argv[3], 1, 100000, &opt.conns) || num(argv[4], 1, 100000, &opt.rate) ||
            num(argv[5], 1, 3600, &secs) || num(argv[6], 0, 600, &warm) ||
            num(argv[7], 1, 1 << 30, &pid) || (argc == 9 && num(argv[8], 16, 1 << 20, &size)))
            return 2;
        opt.size = size;
    } else if (strcmp(argv[1], "idle") == 0 && argc == 6) {
        opt.mode = MODE_IDLE;
        if (num(argv[3], 1, 100000, &opt.conns) || num(argv[4], 0, 600, &opt.settle) ||
            num(argv[5], 1, 1 << 30, &pid))
            return 2;
    } else {
        return usage();
    }
    opt.url = argv[2];
    opt.seconds = (double)secs;
    opt.warmup = (double)warm;
    opt.pid = (int)pid;
    if (server_cpu_s() < 0) {
        fprintf(stderr, "ws_load: cannot read /proc/%d/stat (is the server running?)\n", opt.pid);
        return 1;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.conns + IDLE_WARM + 32) {
        fprintf(stderr, "ws_load: RLIMIT_NOFILE is %llu, %ld connections need more (ulimit -Hn)\n",
                (unsigned long long)rl.rlim_cur, opt.conns);
        return 1;
    }
    int rc = weft_main(run, NULL, NULL);
    if (rc) fprintf(stderr, "ws_load: runtime: %s\n", weft_strerror(rc));
    return 1; /* run() exits on its own */
}
