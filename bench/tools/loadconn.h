/*
 * bench/tools/loadconn.h — the connection plumbing the arena's open-loop
 * load generators share (bench/tools/openloop.c, bench/tools/gcload.c):
 * a pool of keep-alive TCP connections to one IPv4 address, each with one
 * request in flight at most, registered on one epoll instance, and a stack
 * of the idle ones. tests/unit/latwin.c checks it against a listening
 * socket.
 *
 * A connection whose stream is lost (closed, failed, unparsable) is
 * redialled at once: its request in flight, if any, counts as an error,
 * and it goes back on the idle stack. A redial that fails leaves fd at -1;
 * the generator tries again when it next picks that connection.
 */
#ifndef BENCH_LOADCONN_H
#define BENCH_LOADCONN_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct lc_conn {
    int fd;       /* -1 after a failed redial */
    int busy;     /* a request is in flight */
    int queued;   /* on the idle stack */
    int64_t due;  /* when its request was due (open-loop schedule), ns */
    int64_t sent; /* when its request was written, ns */
    size_t have;  /* response bytes read so far */
    char buf[4096];
} lc_conn;

typedef struct lc_pool {
    struct sockaddr_in addr;
    int ep;        /* epoll instance; data.u32 of each event is the index */
    int n;         /* connections */
    lc_conn *cs;
    int *idle;     /* stack of idle connection indexes */
    int nidle;
    uint64_t errors; /* requests lost with their stream */
} lc_pool;

static inline int64_t lc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A connected, non-blocking socket with TCP_NODELAY, or -1 (errno set). */
static inline int lc_dial(const lc_pool *p) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (const struct sockaddr *)&p->addr, sizeof p->addr) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Connection i onto the idle stack, never twice. */
static inline void lc_push_idle(lc_pool *p, int i) {
    if (p->cs[i].queued) return;
    p->cs[i].queued = 1;
    p->idle[p->nidle++] = i;
}

/* Take an idle connection's index off the stack (the caller checks nidle). */
static inline int lc_pop_idle(lc_pool *p) {
    int i = p->idle[--p->nidle];
    p->cs[i].queued = 0;
    return i;
}

static inline int lc_watch(lc_pool *p, int i) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    return epoll_ctl(p->ep, EPOLL_CTL_ADD, p->cs[i].fd, &ev);
}

/* The stream of connection i is lost: its request (if any) failed; dial
 * again and make it available. */
static inline void lc_redial(lc_pool *p, int i) {
    lc_conn *c = &p->cs[i];
    if (c->busy) p->errors++;
    c->busy = 0;
    c->have = 0;
    if (c->fd >= 0) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = lc_dial(p);
    if (c->fd < 0) return; /* tried again when it is next picked */
    lc_watch(p, i);
    lc_push_idle(p, i);
}

static inline void lc_close(lc_pool *p) {
    for (int i = 0; p->cs && i < p->n; i++)
        if (p->cs[i].fd >= 0) close(p->cs[i].fd);
    if (p->ep >= 0) close(p->ep);
    free(p->cs);
    free(p->idle);
    memset(p, 0, sizeof *p);
    p->ep = -1;
}

/* Dial n connections to host:port (an IPv4 address), all idle. 0, or -1
 * with errno set (EINVAL: a bad address or n) and nothing left open. */
static inline int lc_open(lc_pool *p, const char *host, int port, int n) {
    memset(p, 0, sizeof *p);
    p->ep = -1;
    p->addr.sin_family = AF_INET;
    p->addr.sin_port = htons((uint16_t)port);
    if (n <= 0 || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &p->addr.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->cs = calloc((size_t)n, sizeof *p->cs);
    p->idle = malloc(sizeof(int) * (size_t)n);
    if (p->ep < 0 || !p->cs || !p->idle) {
        int e = p->ep < 0 ? errno : ENOMEM;
        lc_close(p);
        errno = e;
        return -1;
    }
    for (int i = 0; i < n; i++) p->cs[i].fd = -1;
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->cs[i].fd = lc_dial(p);
        if (p->cs[i].fd < 0 || lc_watch(p, i) < 0) {
            int e = errno;
            lc_close(p);
            errno = e;
            return -1;
        }
        lc_push_idle(p, i);
    }
    return 0;
}

#endif
