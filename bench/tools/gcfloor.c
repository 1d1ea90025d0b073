/*
 * bench/tools/gcfloor.c — the floor of the GC case (docs/gc-case.md,
 * bench/run-gc.sh PROGS="... floor"): an HTTP/1.1 server that does no work.
 *
 * It answers every request with the same Read States JSON of the size the
 * real services send, from one thread that sleeps in epoll_wait between
 * requests. No store, no allocation per request, no runtime, no collector:
 * what its latency shows at a given rate is what the load generator, the
 * loopback path and the machine's wake-ups cost on their own. When weft
 * and Rust share a p99.9 floor, this row says whether that floor is theirs.
 *
 *   gcfloor PORT [--spin]
 * prints "listening on 127.0.0.1:PORT" once it accepts (run-gc.sh waits
 * for that line); runs until killed. --spin (run-gc.sh's "floor-spin"):
 * poll with epoll_wait(..., 0) instead of sleeping, so the thread never
 * idles and its CPU never has to be woken: when the sleeping floor's tail is
 * the machine waking an idle CPU, the spinning one's is lower.
 *
 * Written by hand because it must be nothing but the floor: any server
 * library would add the work this row exists to leave out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXCONN 4096
#define BUFSZ 8192

typedef struct conn {
    size_t have;
    char buf[BUFSZ];
} conn;

static const char answer[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 117\r\n\r\n"
    "{\"user_id\":1234567,\"channel_id\":12345,\"last_message_id\":123456789012345,"
    "\"mention_count\":3,\"updated_at\":1700000000000}";

/* Length of the first complete request in b[0..n): 0 while incomplete,
 * -1 when it cannot be one (no end of head within the buffer, a bad
 * Content-Length). */
static long request_len(const char *b, size_t n) {
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (!end) return n >= BUFSZ ? -1 : 0;
    size_t head = (size_t)(end - b) + 4;
    long body = 0;
    for (const char *p = b; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
            char *stop;
            body = strtol(p + 15, &stop, 10);
            if (body < 0 || body > BUFSZ) return -1;
        }
        p = eol + 1;
    }
    return n >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
}

int main(int argc, char **argv) {
    int port = argc >= 2 ? atoi(argv[1]) : 0;
    int spin = argc == 3 && strcmp(argv[2], "--spin") == 0;
    if (port <= 0 || port > 65535 || argc > 3 || (argc == 3 && !spin)) {
        fprintf(stderr, "usage: gcfloor PORT [--spin]\n");
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0) {
        fprintf(stderr, "gcfloor: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    conn **cs = calloc(MAXCONN, sizeof *cs);
    if (ep < 0 || !cs) return 1;
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, spin ? 0 : -1);
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (c >= MAXCONN || !(cs[c] = calloc(1, sizeof(conn)))) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            conn *c = cs[fd];
            int dead = 0;
            for (;;) {
                ssize_t r = read(fd, c->buf + c->have, BUFSZ - c->have);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) {
                    dead = 1;
                    break;
                }
                c->have += (size_t)r;
                long len;
                while ((len = request_len(c->buf, c->have)) > 0) {
                    /* one request in flight per connection: an answer this
                     * small fits the socket buffer, or the peer is gone */
                    if (write(fd, answer, sizeof answer - 1) != (ssize_t)(sizeof answer - 1)) {
                        dead = 1;
                        break;
                    }
                    memmove(c->buf, c->buf + len, c->have - (size_t)len);
                    c->have -= (size_t)len;
                }
                if (len < 0 || dead) {
                    dead = 1;
                    break;
                }
            }
            if (dead) {
                close(fd);
                free(c);
                cs[fd] = NULL;
            }
        }
    }
}
