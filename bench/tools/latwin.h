/*
 * bench/tools/latwin.h — the arithmetic of the arena's open-loop load
 * generators (bench/tools/gcload.c, openloop.c; their sockets are in
 * loadconn.h), kept apart from the sockets so
 * tests/unit/latwin.c can check it: a log-linear latency histogram, its
 * percentiles, the open-loop schedule and its coordinated-omission
 * correction, and HTTP/1.1 response framing.
 *
 * Histogram: values in microseconds; 0..127 each have a bucket of their
 * own, above that every power of two is split into 64 buckets, so a
 * bucket's width is at most 1/64 of its value (a percentile read from it is
 * within 1.6 % of the exact order statistic, and never below it: a bucket
 * reports its highest value). The maximum is kept exactly. 57 octaves reach
 * all of uint64_t; the array is 30 KB.
 *
 * Schedule (as wrk2 and oha --latency-correction): request k is due at
 * t0 + k * 1e9 / rate ns; its latency is measured from that due time, not
 * from when a free connection let it go out, so a server that stalls is
 * charged for every request that should have been sent during the stall.
 */
#ifndef BENCH_LATWIN_H
#define BENCH_LATWIN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LH_SUB 128 /* exact below this */
#define LH_HALF 64
#define LH_OCTAVES 57 /* msb 7..63 */
#define LH_BUCKETS (LH_SUB + LH_OCTAVES * LH_HALF)

typedef struct lat_hist {
    uint64_t n[LH_BUCKETS];
    uint64_t count, max;
} lat_hist;

static inline unsigned lh_index(uint64_t v) {
    if (v < LH_SUB) return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned shift = m - 6;                         /* v >> shift is in [64, 128) */
    return LH_SUB + (m - 7) * LH_HALF + (unsigned)((v >> shift) - LH_HALF);
}

/* The highest value that falls in bucket i. */
static inline uint64_t lh_upper(unsigned i) {
    if (i < LH_SUB) return i;
    unsigned o = (i - LH_SUB) / LH_HALF, k = (i - LH_SUB) % LH_HALF, shift = o + 1;
    return (((uint64_t)(LH_HALF + k) + 1) << shift) - 1;
}

static inline void lh_add(lat_hist *h, uint64_t v) {
    h->n[lh_index(v)]++;
    h->count++;
    if (v > h->max) h->max = v;
}

static inline void lh_merge(lat_hist *into, const lat_hist *h) {
    for (unsigned i = 0; i < LH_BUCKETS; i++) into->n[i] += h->n[i];
    into->count += h->count;
    if (h->max > into->max) into->max = h->max;
}

/* The q-quantile (0 < q <= 1): the smallest recorded value v with at least
 * ceil(q * count) values <= v, rounded up to its bucket's top and capped at
 * the exact maximum. 0 for an empty histogram. */
static inline uint64_t lh_quantile(const lat_hist *h, double q) {
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) rank++; /* ceil */
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LH_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            uint64_t top = lh_upper(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

/* When request k is due, in ns, for a schedule starting at t0_ns. */
static inline int64_t sched_due(int64_t t0_ns, uint64_t k, double rate) {
    return t0_ns + (int64_t)((double)k * 1e9 / rate);
}

/* The corrected latency in µs of a request due at due_ns whose response
 * was complete at done_ns (0 if done before it was due, which cannot happen
 * on one clock but costs nothing to guard). */
static inline uint64_t co_latency_us(int64_t due_ns, int64_t done_ns) {
    return done_ns > due_ns ? (uint64_t)(done_ns - due_ns) / 1000 : 0;
}

/* Which window (of win_ns) a request due at due_ns belongs to, counting
 * from from_ns; -1 before it (the warm-up). */
static inline long window_of(int64_t due_ns, int64_t from_ns, int64_t win_ns) {
    return due_ns < from_ns ? -1 : (long)((due_ns - from_ns) / win_ns);
}

/* Length of the first complete HTTP/1.1 response in b[0..n): 0 if it is
 * not complete yet, -1 if it cannot be framed (not a status line, no or a
 * bad Content-Length: the services of the GC case always send one).
 * Sets *status. */
static inline long http_response_len(const char *b, size_t n, int *status) {
    const char *end = (const char *)memmem(b, n, "\r\n\r\n", 4);
    if (!end) return 0;
    if (end - b < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ') return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (b[i] < '0' || b[i] > '9') return -1;
        st = st * 10 + (b[i] - '0');
    }
    *status = st;
    long head = (long)(end - b) + 4, cl = -1;
    for (const char *p = b; p < end + 2;) {
        const char *eol = (const char *)memchr(p, '\n', (size_t)(end + 2 - p));
        if (!eol) break;
        if (eol - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
            const char *q = p + 15;
            while (*q == ' ' || *q == '\t') q++;
            if (*q < '0' || *q > '9') return -1;
            cl = 0;
            for (; *q >= '0' && *q <= '9'; q++) {
                cl = cl * 10 + (*q - '0');
                if (cl > (1L << 30)) return -1;
            }
        }
        p = eol + 1;
    }
    if (cl < 0) return -1;
    return (size_t)(head + cl) <= n ? head + cl : 0;
}

#endif
