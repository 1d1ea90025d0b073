/*
 * bench/tools/gcload.c — the open-loop load generator of the GC case
 * (issue 13 C; docs/gc-case.md, bench/run-gc.sh).
 *
 * Sends the Read States mix at a fixed rate over HTTP/1.1 keep-alive
 * connections (one request in flight on each) and reports latency per
 * window of the run, corrected for coordinated omission (latwin.h: each
 * request is charged from the time it was due, however late a busy
 * connection let it go out). Request k reads GET /state/{u} or, with
 * probability UPDATE_PCT %, acks POST /state/{u} {"channel_id":..,
 * "message_id":..}; u is uniform over 1..USERS (xorshift, fixed seed, so
 * every program gets the same sequence). With -p PID it samples that
 * process's VmRSS once a second and its CPU time (utime + stime) at the
 * start and end of the measured part.
 *
 *   gcload [-h HOST] [-P PORT] [-r RATE] [-d SECONDS] [-w WARMUP_S]
 *          [-W WINDOW_S] [-c CONNS] [-u USERS] [-U UPDATE_PCT] [-p PID] [-S]
 * -S: sleep in epoll until the next request is due (epoll_pwait2, timer
 * slack 1 ns) instead of spinning when it is near: a generator that may
 * then run at SCHED_FIFO (bench/run-gc.sh GEN_FIFO) without the kernel's
 * real-time throttling stopping it, which a spinning one triggers.
 * prints one JSON object (stdout): rate, duration, counts, overall and
 * per-window {t, count, p50_us, p99_us, p999_us, max_us, rss_kb}, rss_kb
 * {start, max}, server_cpu_s; and two splits of the measured requests'
 * latency that tell the generator's share from the rest (the GC floor
 * probe, docs/gc-case.md): send_late, how late after its due time each
 * request was written (the generator's own delay: a busy or descheduled
 * generator core), and from_send, write to answer read (kernel, server,
 * and the generator's delay in reading the answer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "latwin.h"
#include "loadconn.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* VmRSS of pid in kB, -1 if unreadable */
static long rss_kb(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* utime + stime of pid in seconds, -1 if unreadable */
static double cpu_s(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void print_hist(const lat_hist *h) {
    printf("\"count\":%llu,\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu",
           (unsigned long long)h->count, (unsigned long long)lh_quantile(h, 0.50),
           (unsigned long long)lh_quantile(h, 0.99), (unsigned long long)lh_quantile(h, 0.999),
           (unsigned long long)h->max);
}

static int usage(void) {
    fprintf(stderr, "usage: gcload [-h HOST] [-P PORT] [-r RATE] [-d SECONDS] [-w WARMUP_S] "
                    "[-W WINDOW_S] [-c CONNS] [-u USERS] [-U UPDATE_PCT] [-p PID] [-S]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 18700, nconn = 64, pid = 0, upd_pct = 10, sleep_mode = 0;
    double rate = 10000, secs = 30, warm = 5, win_s = 10;
    uint64_t users = 10000000;
    int opt;
    while ((opt = getopt(argc, argv, "h:P:r:d:w:W:c:u:U:p:S")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'P': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'W': win_s = atof(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 'u': users = strtoull(optarg, NULL, 10); break;
        case 'U': upd_pct = atoi(optarg); break;
        case 'p': pid = atoi(optarg); break;
        case 'S': sleep_mode = 1; break;
        default: return usage();
        }
    }
    if (rate <= 0 || secs <= 0 || warm < 0 || win_s <= 0 || nconn <= 0 || nconn > 10000 ||
        users == 0 || upd_pct < 0 || upd_pct > 100 || port <= 0 || port > 65535)
        return usage();
    if (sleep_mode) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake at the due time, not 50 us after */
    lc_pool pool;
    if (lc_open(&pool, host, port, nconn) < 0) {
        if (errno == EINVAL) return usage();
        fprintf(stderr, "gcload: connect to %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    lc_conn *cs = pool.cs;
    long nwin = (long)(secs / win_s + 0.999999);
    lat_hist *wins = calloc((size_t)nwin, sizeof *wins), *all = calloc(1, sizeof *all);
    lat_hist *send_late = calloc(1, sizeof *send_late), *from_send = calloc(1, sizeof *from_send);
    long *wrss = calloc((size_t)nwin, sizeof *wrss);
    if (!wins || !all || !send_late || !from_send || !wrss) return 1;
    long rss_start = pid ? rss_kb(pid) : -1, rss_max = rss_start;
    double cpu0 = -1, cpu1 = -1;

    uint64_t sent = 0, done = 0, non2xx = 0, updates = 0;
    int64_t t0 = lc_now_ns(), from = t0 + (int64_t)(warm * 1e9), win_ns = (int64_t)(win_s * 1e9);
    int64_t stop = t0 + (int64_t)((warm + secs) * 1e9), hard_stop = stop + 10000000000LL;
    int64_t next_sample = t0;
    int measuring = 0;
    struct epoll_event evs[256];
    char req[256];
    for (;;) {
        int64_t now = lc_now_ns();
        if (!measuring && now >= from) {
            measuring = 1;
            if (pid) cpu0 = cpu_s(pid);
        }
        if (pid && now >= next_sample) { /* once a second */
            long kb = rss_kb(pid);
            long w = window_of(now, from, win_ns);
            if (kb > rss_max) rss_max = kb;
            if (w >= 0 && w < nwin && kb > wrss[w]) wrss[w] = kb;
            next_sample += 1000000000;
        }
        for (;;) { /* send what is due while connections are free */
            int64_t due = sched_due(t0, sent, rate);
            if (due > now || due >= stop || pool.nidle == 0) break;
            int ci = lc_pop_idle(&pool);
            lc_conn *c = &cs[ci];
            c->busy = 1;
            sent++;
            if (c->fd < 0) { /* its redial failed: this request fails, try again */
                lc_redial(&pool, ci);
                continue;
            }
            uint64_t u = next_rand() % users + 1;
            int len;
            if ((int)(next_rand() % 100) < upd_pct) {
                char body[96];
                int bl = snprintf(body, sizeof body, "{\"channel_id\":%llu,\"message_id\":%llu}",
                                  (unsigned long long)(1000 + next_rand() % 100000),
                                  (unsigned long long)(next_rand() >> 8));
                len = snprintf(req, sizeof req,
                               "POST /state/%llu HTTP/1.1\r\nHost: localhost\r\n"
                               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                               (unsigned long long)u, bl, body);
                updates++;
            } else {
                len = snprintf(req, sizeof req, "GET /state/%llu HTTP/1.1\r\nHost: localhost\r\n\r\n",
                               (unsigned long long)u);
            }
            c->due = due;
            c->have = 0;
            if (write(c->fd, req, (size_t)len) != len) lc_redial(&pool, ci); /* < 256 bytes: all or lost */
            c->sent = lc_now_ns();
        }
        if (now >= stop && done + pool.errors >= sent) break;
        if (now >= hard_stop) break;
        int64_t next_due = sched_due(t0, sent, rate);
        /* spin when the next send is close (this core is the generator's),
         * sleep in epoll otherwise */
        int timeout = (pool.nidle && next_due < stop && next_due - now < 2000000) ? 0 : 1;
        int n;
        if (sleep_mode) { /* until the next is due (or 1 ms when none can go out) */
            int64_t wait = pool.nidle && next_due < stop ? next_due - now : 1000000;
            if (wait > 999999999) wait = 999999999;
            struct timespec ts = {0, wait > 0 ? wait : 0};
            n = epoll_pwait2(pool.ep, evs, 256, &ts, NULL);
        } else {
            n = epoll_wait(pool.ep, evs, 256, timeout);
        }
        now = lc_now_ns();
        for (int k = 0; k < n; k++) {
            int ci = (int)evs[k].data.u32;
            lc_conn *c = &cs[ci];
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) {
                    lc_redial(&pool, ci);
                    break;
                }
                c->have += (size_t)r;
                int status = 0;
                long len;
                while ((len = http_response_len(c->buf, c->have, &status)) > 0) {
                    if (!c->busy) { /* an answer nobody asked for */
                        len = -1;
                        break;
                    }
                    done++;
                    if (status < 200 || status > 299) non2xx++;
                    long w = window_of(c->due, from, win_ns);
                    uint64_t us = co_latency_us(c->due, now);
                    if (w >= 0 && w < nwin) {
                        lh_add(&wins[w], us);
                        lh_add(all, us);
                        lh_add(send_late, co_latency_us(c->due, c->sent));
                        lh_add(from_send, co_latency_us(c->sent, now));
                    }
                    c->busy = 0;
                    lc_push_idle(&pool, ci);
                    memmove(c->buf, c->buf + len, c->have - (size_t)len);
                    c->have -= (size_t)len;
                }
                if (len < 0 || (len == 0 && c->have == sizeof c->buf)) {
                    if (!c->busy) pool.errors++;
                    lc_redial(&pool, ci);
                    break;
                }
            }
        }
    }
    if (pid) cpu1 = cpu_s(pid);
    uint64_t errors = pool.errors, late = sent > done + errors ? sent - done - errors : 0; /* unanswered at the end */
    printf("{\"rate\":%.0f,\"duration_s\":%.0f,\"warmup_s\":%.0f,\"window_s\":%.0f,\"conns\":%d,"
           "\"users\":%llu,\"update_pct\":%d,\"sent\":%llu,\"completed\":%llu,\"updates\":%llu,"
           "\"non2xx\":%llu,\"errors\":%llu,\"unanswered\":%llu,\"achieved_rps\":%.1f,",
           rate, secs, warm, win_s, nconn, (unsigned long long)users, upd_pct,
           (unsigned long long)sent, (unsigned long long)done, (unsigned long long)updates,
           (unsigned long long)non2xx, (unsigned long long)errors, (unsigned long long)late,
           (double)all->count / secs);
    printf("\"overall\":{");
    print_hist(all);
    printf("},\"send_late\":{");
    print_hist(send_late);
    printf("},\"from_send\":{");
    print_hist(from_send);
    printf("},\"rss_kb\":{\"start\":%ld,\"max\":%ld},\"server_cpu_s\":%.2f,\"windows\":[",
           rss_start, rss_max, cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1.0);
    for (long w = 0; w < nwin; w++) {
        printf("%s{\"t\":%.0f,", w ? "," : "", (double)w * win_s);
        print_hist(&wins[w]);
        printf(",\"rss_kb\":%ld}", pid ? wrss[w] : -1L);
    }
    printf("]}\n");
    lc_close(&pool);
    free(wins);
    free(all);
    free(send_late);
    free(from_send);
    free(wrss);
    return errors || late ? 3 : 0;
}
