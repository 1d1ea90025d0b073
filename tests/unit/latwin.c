/*
 * tests/unit/latwin.c — the arithmetic of the GC case's load generator
 * (bench/tools/latwin.h): histogram buckets and percentiles against exact
 * order statistics, the open-loop schedule and its coordinated-omission
 * correction, the windows, and the HTTP response framing; and the
 * generators' connection pool (bench/tools/loadconn.h) against a listening
 * socket.
 */
#include <stdlib.h>

#include "../bench/tools/latwin.h"
#include "../bench/tools/loadconn.h"
#include "test.h"

/* Every value lands in a bucket whose top is >= it and within 1/64 of it,
 * and buckets are in order. */
TEST_PLAIN(latwin_buckets) {
    uint64_t vals[] = {0, 1, 127, 128, 129, 255, 256, 1000, 1023, 1024, 99999, 1000000,
                       123456789, (1ull << 40) + 12345};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint64_t v = vals[i];
        unsigned b = lh_index(v);
        ASSERT_LT(b, LH_BUCKETS);
        uint64_t top = lh_upper(b);
        ASSERT_GE(top, v);
        ASSERT_LE((double)(top - v), (double)v / 64.0 + 0.5);
        if (b > 0) ASSERT_LT(lh_upper(b - 1), v); /* v is not in the bucket below */
    }
    for (unsigned b = 1; b < LH_BUCKETS; b++) ASSERT(lh_upper(b) > lh_upper(b - 1));
    ASSERT(lh_upper(LH_BUCKETS - 1) == UINT64_MAX);
    ASSERT_EQ(lh_index(UINT64_MAX), LH_BUCKETS - 1);
    ASSERT_EQ(lh_index(lh_upper(500)), 500);
    ASSERT_EQ(lh_index(lh_upper(500) + 1), 501);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentiles of a skewed sample (most fast, a tail of slow) against the
 * exact order statistic: never below it, at most 1/64 above. */
TEST_PLAIN(latwin_quantiles_match_exact) {
    enum { N = 100000 };
    static uint64_t v[N];
    lat_hist *h = calloc(1, sizeof *h);
    uint64_t r = 12345;
    for (int i = 0; i < N; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        v[i] = (i % 1000 == 0) ? 20000 + r % 80000 : 50 + r % 400; /* 0.1 % tail */
        lh_add(h, v[i]);
    }
    qsort(v, N, sizeof v[0], cmp_u64);
    const double qs[] = {0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        size_t rank = (size_t)(qs[i] * N + 0.999999); /* ceil, 1-based */
        uint64_t exact = v[rank - 1], got = lh_quantile(h, qs[i]);
        ASSERT_GE(got, exact);
        ASSERT_LE((double)got, (double)exact * (1.0 + 1.0 / 64) + 1);
    }
    ASSERT_EQ(h->count, N);
    ASSERT_EQ(h->max, v[N - 1]);
    ASSERT_EQ(lh_quantile(h, 1.0), v[N - 1]);
    free(h);
}

TEST_PLAIN(latwin_small_and_merge) {
    lat_hist *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    ASSERT_EQ(lh_quantile(a, 0.99), 0); /* empty */
    for (uint64_t i = 1; i <= 100; i++) lh_add(a, i); /* exact buckets below 128 */
    ASSERT_EQ(lh_quantile(a, 0.5), 50);
    ASSERT_EQ(lh_quantile(a, 0.99), 99);
    ASSERT_EQ(lh_quantile(a, 0.999), 100);
    lh_add(b, 5000);
    lh_merge(a, b);
    ASSERT_EQ(a->count, 101);
    ASSERT_EQ(a->max, 5000);
    ASSERT_EQ(lh_quantile(a, 1.0), 5000); /* capped at the exact max, not the bucket top */
    ASSERT_EQ(lh_quantile(a, 0.5), 51);
    free(a);
    free(b);
}

/* The schedule and the correction: at 1000/s request k is due at k ms; a
 * server that stalls 100 ms makes every request due in the stall count its
 * wait, as a wrk2-style generator does, instead of one slow sample. */
TEST_PLAIN(latwin_co_correction) {
    int64_t t0 = 5000000000LL;
    ASSERT_EQ(sched_due(t0, 0, 1000), t0);
    ASSERT_EQ(sched_due(t0, 7, 1000), t0 + 7000000);
    ASSERT_EQ(sched_due(t0, 3, 3), t0 + 1000000000);
    ASSERT_EQ(co_latency_us(t0, t0 + 1500000), 1500);
    ASSERT_EQ(co_latency_us(t0 + 10, t0), 0);
    /* one connection, 1 ms service, a 100 ms stall from t = 10 ms: request
     * k goes out when both due and the connection is free */
    lat_hist *h = calloc(1, sizeof *h);
    int64_t free_at = t0;
    for (uint64_t k = 0; k < 1000; k++) {
        int64_t due = sched_due(t0, k, 1000), start = due > free_at ? due : free_at;
        int64_t service = (k == 10) ? 100000000 : 500000;
        free_at = start + service;
        lh_add(h, co_latency_us(due, free_at));
    }
    /* ~100 requests were due during the stall: the corrected p90 sees them
     * (an uncorrected one, measured from the send, would be 0.5 ms) */
    ASSERT_GE(lh_quantile(h, 0.9), 40000);
    ASSERT_GE(h->max, 100000);
    ASSERT_LE(lh_quantile(h, 0.5), 600);
    free(h);
}

TEST_PLAIN(latwin_windows) {
    int64_t from = 1000, w = 10;
    ASSERT_EQ(window_of(999, from, w), -1);
    ASSERT_EQ(window_of(1000, from, w), 0);
    ASSERT_EQ(window_of(1009, from, w), 0);
    ASSERT_EQ(window_of(1010, from, w), 1);
    ASSERT_EQ(window_of(1305, from, w), 30);
}

TEST_PLAIN(latwin_response_framing) {
    int st = 0;
    const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "content-length: 5\r\n\r\nhelloHTTP/1.1 404";
    ASSERT_EQ(http_response_len(ok, sizeof ok - 1, &st), (long)(sizeof ok - 1 - 12));
    ASSERT_EQ(st, 200);
    ASSERT_EQ(http_response_len(ok, sizeof ok - 1 - 14, &st), 0); /* body incomplete */
    ASSERT_EQ(http_response_len(ok, 20, &st), 0);                 /* head incomplete */
    const char nolen[] = "HTTP/1.1 200 OK\r\nX: y\r\n\r\n";
    ASSERT_EQ(http_response_len(nolen, sizeof nolen - 1, &st), -1);
    const char badlen[] = "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
    ASSERT_EQ(http_response_len(badlen, sizeof badlen - 1, &st), -1);
    const char huge[] = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n";
    ASSERT_EQ(http_response_len(huge, sizeof huge - 1, &st), -1);
    const char notstatus[] = "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ASSERT_EQ(http_response_len(notstatus, sizeof notstatus - 1, &st), -1);
    const char badcode[] = "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n";
    ASSERT_EQ(http_response_len(badcode, sizeof badcode - 1, &st), -1);
    const char e400[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    ASSERT_EQ(http_response_len(e400, sizeof e400 - 1, &st), (long)(sizeof e400 - 1));
    ASSERT_EQ(st, 400);
}

/* A listening socket on 127.0.0.1, port 0; its port in *port. */
static int listener(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* The pool dials every connection idle and watched; the idle stack never
 * holds one twice; a lost stream with a request in flight counts one error,
 * is dialled again and comes back idle; bad arguments and a refused
 * connection fail with errno and leave nothing open. */
TEST_PLAIN(loadconn_pool) {
    int port = 0, lfd = listener(&port);
    ASSERT_GE(lfd, 0);
    lc_pool p;
    ASSERT_EQ(lc_open(&p, "127.0.0.1", port, 3), 0);
    ASSERT_EQ(p.n, 3);
    ASSERT_EQ(p.nidle, 3);
    int srv[4];
    for (int i = 0; i < 3; i++) ASSERT_GE(srv[i] = accept(lfd, NULL, NULL), 0);
    for (int i = 0; i < 3; i++) ASSERT_GE(p.cs[i].fd, 0);
    lc_push_idle(&p, 1); /* already idle: not pushed again */
    ASSERT_EQ(p.nidle, 3);
    int ci = lc_pop_idle(&p);
    ASSERT_EQ(p.nidle, 2);
    ASSERT_EQ(p.cs[ci].queued, 0);
    /* a request goes out and the server answers: readable through epoll */
    p.cs[ci].busy = 1;
    ASSERT_EQ(write(p.cs[ci].fd, "x", 1), 1);
    int s = -1;
    for (int i = 0; i < 3; i++) {
        char c;
        if (recv(srv[i], &c, 1, MSG_DONTWAIT) == 1) s = i;
    }
    ASSERT_GE(s, 0);
    ASSERT_EQ(write(srv[s], "y", 1), 1);
    struct epoll_event ev;
    ASSERT_EQ(epoll_wait(p.ep, &ev, 1, 2000), 1);
    ASSERT_EQ((int)ev.data.u32, ci);
    /* the server closes that stream: the request in flight is an error, the
     * connection is dialled again (a new accept) and is idle again */
    close(srv[s]);
    char b[8];
    for (int t = 0; t < 200 && read(p.cs[ci].fd, b, sizeof b) != 0; t++) usleep(10000);
    int old_fd = p.cs[ci].fd;
    lc_redial(&p, ci);
    ASSERT_EQ(p.errors, 1u);
    ASSERT_EQ(p.cs[ci].busy, 0);
    ASSERT_GE(p.cs[ci].fd, 0);
    ASSERT_EQ(p.nidle, 3);
    ASSERT_GE(srv[3] = accept(lfd, NULL, NULL), 0);
    (void)old_fd;
    /* an idle stream lost: no error */
    lc_redial(&p, lc_pop_idle(&p));
    ASSERT_EQ(p.errors, 1u);
    ASSERT_EQ(p.nidle, 3);
    ASSERT(lc_now_ns() > 0);
    lc_close(&p);
    ASSERT_EQ(p.cs, NULL);
    for (int i = 0; i < 4; i++)
        if (i != s) close(srv[i]);
    /* bad arguments, and nobody listening */
    ASSERT_EQ(lc_open(&p, "not-an-ip", port, 2), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(lc_open(&p, "127.0.0.1", port, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    close(lfd);
    ASSERT_EQ(lc_open(&p, "127.0.0.1", port, 2), -1);
    ASSERT_EQ(errno, ECONNREFUSED);
    ASSERT_EQ(p.cs, NULL);
    ASSERT_EQ(p.ep, -1);
}
