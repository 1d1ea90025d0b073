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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    int busy;       /* a request is in flight */
    int queued;     /* on the idle stack */
    int64_t sched;  /* its scheduled time, ns */
    size_t have;    /* bytes of the response read so far */
    char buf[4096];
} conn;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct sockaddr_in addr;

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int ep;
static conn *cs;
static int *idle, nidle;

static void push_idle(int i) {
    if (cs[i].queued) return; /* already there: never twice */
    cs[i].queued = 1;
    idle[nidle++] = i;
}

/* The stream of connection i is lost (closed, failed, unparsable): count
 * its request as failed, dial again, and make it available. */
static void redial(int i, uint64_t *errors) {
    conn *c = &cs[i];
    if (c->busy) (*errors)++;
    c->busy = 0;
    c->have = 0;
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = dial();
    if (c->fd < 0) return; /* tried again when it is next picked */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    push_idle(i);
}

/* Length of the first complete response in b[0..n), 0 if incomplete, -1 if
 * unparsable. Sets *status. Content-Length framing only (what the arena's
 * endpoints send). */
static long response_len(const char *b, size_t n, int *status) {
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (!end) return 0;
    if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(b + 9);
    long head = (long)(end - b) + 4, cl = -1;
    for (const char *p = b; p < end + 2;) {
        const char *eol = memchr(p, '\n', (size_t)(end + 2 - p));
        if (!eol) break;
        if (eol - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0) cl = atol(p + 15);
        p = eol + 1;
    }
    if (cl < 0) return -1;
    return (size_t)(head + cl) <= n ? head + cl : 0;
}

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
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) return 2;
    char req[512];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n"
                          "Connection: keep-alive\r\n\r\n",
                          argv[3]);

    ep = epoll_create1(EPOLL_CLOEXEC);
    cs = calloc((size_t)nconn, sizeof *cs);
    idle = malloc(sizeof(int) * (size_t)nconn);
    for (int i = 0; i < nconn; i++) {
        cs[i].fd = dial();
        if (cs[i].fd < 0) {
            fprintf(stderr, "openloop: connect: %s\n", strerror(errno));
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        push_idle(i);
    }

    double total_s = warm + secs;
    size_t cap = (size_t)(rate * secs * 1.05) + 16, nlat = 0;
    uint32_t *lat = malloc(cap * sizeof *lat); /* microseconds */
    uint64_t sent = 0, done = 0, non2xx = 0, errors = 0;
    int64_t t0 = now_ns(), measure_from = t0 + (int64_t)(warm * 1e9);
    int64_t stop_sched = t0 + (int64_t)(total_s * 1e9);
    int64_t hard_stop = stop_sched + 5000000000LL; /* drain at most 5 s more */
    double interval = 1e9 / rate;
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_ns();
        /* send everything that is due, while connections are free */
        for (;;) {
            int64_t due = t0 + (int64_t)((double)sent * interval);
            if (due > now || due >= stop_sched || nidle == 0) break;
            int ci = idle[--nidle];
            conn *c = &cs[ci];
            c->queued = 0;
            if (c->fd < 0) { /* its redial failed: try again, this request fails */
                c->busy = 1;
                redial(ci, &errors);
                sent++;
                continue;
            }
            c->busy = 1;
            c->sched = due;
            c->have = 0;
            if (write(c->fd, req, (size_t)reqlen) != reqlen) redial(ci, &errors); /* ~100 bytes */
            sent++;
        }
        int64_t next_due = t0 + (int64_t)((double)sent * interval);
        if (now >= stop_sched && done + errors >= sent) break;
        if (now >= hard_stop) break;
        /* spin when the next send is close (the core is the load
         * generator's anyway), sleep in epoll otherwise */
        int timeout = (nidle && next_due < stop_sched && next_due - now < 2000000) ? 0 : 1;
        int n = epoll_wait(ep, evs, 256, timeout);
        now = now_ns();
        for (int k = 0; k < n; k++) {
            conn *c = &cs[evs[k].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) { /* closed or failed */
                    redial((int)evs[k].data.u32, &errors);
                    break;
                }
                c->have += (size_t)r;
                int status = 0;
                long len = response_len(c->buf, c->have, &status);
                if (len < 0 || (len == 0 && c->have == sizeof c->buf)) {
                    /* unparsable or oversized: the stream is lost */
                    if (!c->busy) errors++; /* an answer nobody asked for */
                    redial((int)evs[k].data.u32, &errors);
                    break;
                }
                if (len == 0) continue;
                if (c->busy) {
                    done++;
                    if (status < 200 || status > 299) non2xx++;
                    if (c->sched >= measure_from && nlat < cap) {
                        int64_t us = (now - c->sched) / 1000;
                        lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
                    }
                    c->busy = 0;
                    push_idle((int)(c - cs));
                }
                memmove(c->buf, c->buf + len, c->have - (size_t)len);
                c->have -= (size_t)len;
            }
        }
    }
    double elapsed = (double)(now_ns() - measure_from) / 1e9;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
#define PCT(q) (nlat ? lat[(size_t)((double)(nlat - 1) * (q))] / 1000.0 : -1.0)
    uint64_t measured = nlat;
    printf("{\"target_rps\":%.0f,\"achieved_rps\":%.0f,\"completed\":%llu,\"measured\":%llu,"
           "\"non2xx\":%llu,\"errors\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
           rate, elapsed > 0 ? (double)measured / (elapsed < secs ? secs : elapsed) : 0.0,
           (unsigned long long)done, (unsigned long long)measured, (unsigned long long)non2xx,
           (unsigned long long)errors, PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999),
           nlat ? lat[nlat - 1] / 1000.0 : -1.0);
    for (int i = 0; i < nconn; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);
    free(lat);
    free(idle);
    free(cs);
    return 0;
}
