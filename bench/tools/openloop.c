/*
 * bench/tools/openloop.c — open-loop HTTP/1.1 load generator with
 * coordinated-omission correction, for the arena's latency rows.
 *
 * Why not only oha: pinned to one core, oha tops out at ~35-45k requests/s
 * on this kind of machine, below 90 % of the best peer's peak, so its
 * percentiles there measure oha's own queue. This tool does the same job in
 * one thread with epoll and a pre-built request, and is cheap enough per
 * request to hold those rates.
 *
 * Method: request k is *scheduled* at t0 + k/rate. It is sent as soon as a
 * connection is free (each connection has one request in flight, like a
 * browser or oha without pipelining); its latency is measured from the
 * scheduled time, not the send time, so a server that stalls is charged for
 * every request that should have gone out meanwhile (the correction wrk2
 * and oha --latency-correction make). Only requests scheduled after the
 * warm-up count.
 *
 *   openloop HOST PORT PATH RATE SECONDS CONNS [WARMUP_SECONDS]
 * prints one JSON object: target and achieved rate, p50/p90/p99/p99.9/max
 * in ms, completed requests, non-2xx responses, errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "latwin.h"
#include "loadconn.h"

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: openloop HOST PORT PATH RATE SECONDS CONNS [WARMUP_SECONDS]\n");
        return 2;
    }
    double rate = atof(argv[4]), secs = atof(argv[5]), warm = argc > 7 ? atof(argv[7]) : 1.0;
    int nconn = atoi(argv[6]);
    if (rate <= 0 || secs <= 0 || nconn <= 0 || warm < 0) return 2;
    char req[512];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n"
                          "Connection: keep-alive\r\n\r\n",
                          argv[3]);

    lc_pool pool;
    if (lc_open(&pool, argv[1], atoi(argv[2]), nconn) < 0) {
        if (errno == EINVAL) return 2;
        fprintf(stderr, "openloop: connect: %s\n", strerror(errno));
        return 1;
    }
    lc_conn *cs = pool.cs;

    double total_s = warm + secs;
    size_t cap = (size_t)(rate * secs * 1.05) + 16, nlat = 0;
    uint32_t *lat = malloc(cap * sizeof *lat); /* microseconds */
    uint64_t sent = 0, done = 0, non2xx = 0;
    int64_t t0 = lc_now_ns(), measure_from = t0 + (int64_t)(warm * 1e9);
    int64_t stop_sched = t0 + (int64_t)(total_s * 1e9);
    int64_t hard_stop = stop_sched + 5000000000LL; /* drain at most 5 s more */
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = lc_now_ns();
        /* send everything that is due, while connections are free */
        for (;;) {
            int64_t due = sched_due(t0, sent, rate);
            if (due > now || due >= stop_sched || pool.nidle == 0) break;
            int ci = lc_pop_idle(&pool);
            lc_conn *c = &cs[ci];
            if (c->fd < 0) { /* its redial failed: try again, this request fails */
                c->busy = 1;
                lc_redial(&pool, ci);
                sent++;
                continue;
            }
            c->busy = 1;
            c->due = due;
            c->have = 0;
            if (write(c->fd, req, (size_t)reqlen) != reqlen) lc_redial(&pool, ci); /* ~100 bytes */
            sent++;
        }
        int64_t next_due = sched_due(t0, sent, rate);
        if (now >= stop_sched && done + pool.errors >= sent) break;
        if (now >= hard_stop) break;
        /* spin when the next send is close (the core is the load
         * generator's anyway), sleep in epoll otherwise */
        int timeout = (pool.nidle && next_due < stop_sched && next_due - now < 2000000) ? 0 : 1;
        int n = epoll_wait(pool.ep, evs, 256, timeout);
        now = lc_now_ns();
        for (int k = 0; k < n; k++) {
            lc_conn *c = &cs[evs[k].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) { /* closed or failed */
                    lc_redial(&pool, (int)evs[k].data.u32);
                    break;
                }
                c->have += (size_t)r;
                int status = 0;
                long len = http_response_len(c->buf, c->have, &status);
                if (len < 0 || (len == 0 && c->have == sizeof c->buf)) {
                    /* unparsable or oversized: the stream is lost */
                    if (!c->busy) pool.errors++; /* an answer nobody asked for */
                    lc_redial(&pool, (int)evs[k].data.u32);
                    break;
                }
                if (len == 0) continue;
                if (c->busy) {
                    done++;
                    if (status < 200 || status > 299) non2xx++;
                    if (c->due >= measure_from && nlat < cap) {
                        int64_t us = (now - c->due) / 1000;
                        lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
                    }
                    c->busy = 0;
                    lc_push_idle(&pool, (int)(c - cs));
                }
                memmove(c->buf, c->buf + len, c->have - (size_t)len);
                c->have -= (size_t)len;
            }
        }
    }
    double elapsed = (double)(lc_now_ns() - measure_from) / 1e9;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
#define PCT(q) (nlat ? lat[(size_t)((double)(nlat - 1) * (q))] / 1000.0 : -1.0)
    uint64_t measured = nlat;
    printf("{\"target_rps\":%.0f,\"achieved_rps\":%.0f,\"completed\":%llu,\"measured\":%llu,"
           "\"non2xx\":%llu,\"errors\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
           rate, elapsed > 0 ? (double)measured / (elapsed < secs ? secs : elapsed) : 0.0,
           (unsigned long long)done, (unsigned long long)measured, (unsigned long long)non2xx,
           (unsigned long long)pool.errors, PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999),
           nlat ? lat[nlat - 1] / 1000.0 : -1.0);
    lc_close(&pool);
    free(lat);
    return 0;
}
