/* bench/tools/holdconns.c — open N keep-alive HTTP/1.1 connections to a
 * server on the loopback, complete one request on each (GET PATH, 200 with
 * its whole body read), then hold them all idle until SIGTERM/SIGINT or HOLD
 * seconds, then close them all (with RST, so no TIME_WAIT is left) and exit.
 * Used by bench/run-http.sh to measure a server's memory per idle connection.
 *
 *   holdconns HOST PORT N [PATH [SETUP_TIMEOUT_S [HOLD_S]]]
 *
 * HOST must be an IPv4 loopback address (127.0.0.0/8). Prints, on stdout:
 *   held H failed F [first_error ...]
 *   READY
 * once setup is over (H connections ready, F that failed, at most
 * SETUP_TIMEOUT_S seconds, default 60), and at the end
 *   closed H peer_closed P
 * where P counts the held connections the server had already closed.
 * Needs about N + 16 file descriptors (raise `ulimit -n`). Exit 0 unless the
 * arguments are wrong or nothing could be set up at all.
 *
 * C11 + POSIX/Linux (epoll). Build: cc -O2 -std=c11 -o holdconns holdconns.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { WINDOW = 128, BUFSZ = 4096 };

struct slot {
    int fd;      /* -1 when free */
    int state;   /* 0 connecting, 1 reading */
    size_t have; /* bytes received */
    char buf[BUFSZ];
};

static struct slot slots[WINDOW];
static char first_error[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_error(const char *what, int err)
{
    if (first_error[0] == '\0')
        snprintf(first_error, sizeof first_error, "%s: %s", what, err ? strerror(err) : "unexpected");
}

static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* 1: a whole response is in buf (status 200 required), 0: need more, -1: bad */
static int response_complete(struct slot *s)
{
    s->buf[s->have < BUFSZ ? s->have : BUFSZ - 1] = '\0';
    char *end = strstr(s->buf, "\r\n\r\n");
    if (!end)
        return s->have >= BUFSZ - 1 ? -1 : 0;
    if (strncmp(s->buf, "HTTP/1.1 200", 12) != 0 && strncmp(s->buf, "HTTP/1.0 200", 12) != 0)
        return -1;
    size_t head = (size_t)(end - s->buf) + 4;
    long clen = -1;
    for (char *line = strstr(s->buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            clen = strtol(line + 2 + 15, NULL, 10);
            break;
        }
    }
    if (clen < 0) { /* chunked: done at the last chunk */
        return strstr(s->buf + head, "0\r\n\r\n") ? 1 : 0;
    }
    return s->have >= head + (size_t)clen ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST PORT N [PATH [SETUP_TIMEOUT_S [HOLD_S]]]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    long n = atol(argv[3]);
    const char *path = argc > 4 ? argv[4] : "/plaintext";
    double setup_timeout = argc > 5 ? atof(argv[5]) : 60.0;
    int hold = argc > 6 ? atoi(argv[6]) : 300;

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "holdconns: HOST must be an IPv4 loopback address (127.x.x.x)\n");
        return 2;
    }
    if (port <= 0 || port > 65535 || n <= 0 || n > 1000000) {
        fprintf(stderr, "holdconns: bad PORT or N\n");
        return 2;
    }

    /* block the stop signals now; they are waited for with sigtimedwait */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    char req[512];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);

    int *held = calloc((size_t)n, sizeof *held);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!held || ep < 0) {
        perror("holdconns");
        return 1;
    }
    for (int i = 0; i < WINDOW; i++)
        slots[i].fd = -1;

    long next = 0, nheld = 0, failed = 0, inflight = 0;
    double deadline = now_s() + setup_timeout;
    int stopped = 0;
    struct epoll_event evs[WINDOW];

    while ((next < n || inflight > 0) && now_s() < deadline) {
        /* a stop signal during setup ends it early */
        struct timespec zero = {0, 0};
        if (sigtimedwait(&stop, NULL, &zero) > 0) {
            stopped = 1;
            break;
        }
        for (int i = 0; i < WINDOW && next < n; i++) {
            if (slots[i].fd >= 0)
                continue;
            next++;
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                note_error("socket", errno);
                failed++;
                continue;
            }
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
                note_error("connect", errno);
                close(fd);
                failed++;
                continue;
            }
            slots[i].fd = fd;
            slots[i].state = 0;
            slots[i].have = 0;
            struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (unsigned)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            inflight++;
        }
        int k = epoll_wait(ep, evs, WINDOW, 100);
        for (int e = 0; e < k; e++) {
            struct slot *s = &slots[evs[e].data.u32];
            int bad = 0, done = 0;
            if (s->state == 0) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err || (evs[e].events & (EPOLLERR | EPOLLHUP))) {
                    note_error("connect", err);
                    bad = 1;
                } else if (write(s->fd, req, (size_t)reqlen) != reqlen) {
                    note_error("write", errno);
                    bad = 1;
                } else {
                    s->state = 1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
                }
            } else {
                ssize_t r = read(s->fd, s->buf + s->have, BUFSZ - 1 - s->have);
                if (r > 0) {
                    s->have += (size_t)r;
                    int c = response_complete(s);
                    if (c < 0) {
                        note_error("response not 200 or too large", 0);
                        bad = 1;
                    } else if (c > 0) {
                        done = 1;
                    }
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    note_error(r == 0 ? "server closed the connection" : "read", r == 0 ? 0 : errno);
                    bad = 1;
                }
            }
            if (bad || done) {
                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                if (done) {
                    held[nheld++] = s->fd;
                } else {
                    close_rst(s->fd);
                    failed++;
                }
                s->fd = -1;
                inflight--;
            }
        }
    }
    /* whatever did not finish in time has failed */
    for (int i = 0; i < WINDOW; i++) {
        if (slots[i].fd >= 0) {
            close_rst(slots[i].fd);
            slots[i].fd = -1;
            failed++;
            note_error("setup timed out", 0);
        }
    }
    failed += n - next; /* never tried (timeout or stop) */
    close(ep);

    printf("held %ld failed %ld%s%s\nREADY\n", nheld, failed, first_error[0] ? " first_error " : "",
           first_error);
    fflush(stdout);

    if (!stopped && nheld > 0) {
        struct timespec t = {.tv_sec = hold, .tv_nsec = 0};
        while (sigtimedwait(&stop, NULL, &t) < 0 && errno == EINTR) {
        }
    }

    /* how many did the server close meanwhile (EOF or error pending)? */
    long peer_closed = 0;
    for (long i = 0; i < nheld; i++) {
        struct pollfd p = {.fd = held[i], .events = POLLIN | POLLRDHUP};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            peer_closed++;
        close_rst(held[i]);
    }
    printf("closed %ld peer_closed %ld\n", nheld, peer_closed);
    free(held);
    return nheld > 0 ? 0 : 1;
}
