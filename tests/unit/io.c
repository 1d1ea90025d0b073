/*
 * tests/unit/io.c — non-blocking I/O with deadlines: pipes, socketpairs, TCP
 * (IPv4 and IPv6 loopback), sendfile, fd waits, weft_close waking waiters,
 * and the argument / context checks of the I/O calls.
 *
 * The suite runs this binary with WEFT_IO=uring and WEFT_IO=epoll, so every
 * test here covers both backends.
 *
 * Helper tasks are joined (with a deadline) before the main task asserts, so
 * a failed check does not leave tasks parked and the runtime hanging.
 */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a reader parked in weft_read ---------------------------------------- */

typedef struct reader_ctx {
    int fd;
    int64_t deadline_ms; /* relative; -1 = none */
    char buf[64];
    ssize_t n;
    _Atomic int started;
    _Atomic int64_t done_ns;
} reader_ctx;

static void reader_task(void *a) {
    reader_ctx *r = a;
    atomic_store(&r->started, 1);
    r->n = weft_read(r->fd, r->buf, sizeof r->buf, weft_deadline_in(r->deadline_ms));
    atomic_store(&r->done_ns, weft_now_ns());
}

/* The bound on a wake by an event (a write, a close, EOF) of a waiter
 * parked with a 10 s deadline (ms). A wake the event did not cause comes at
 * that deadline and shows in the waiter's result too (WEFT_ETIMEDOUT); any
 * bound far under it is the behaviour, and one far over a loaded machine's
 * delay in running the woken task is not a speed assertion (these were
 * test_slack_ms(500), 500 ms in the plain build). */
#define WOKEN_MS 5000

/* Waits (polling, up to test_slack_ms(5000)) until the task of *started has
 * begun, then PARK_MS more so it reaches its parking point: a fixed 20 ms
 * sleep did not say the task had even started on a loaded machine. */
static void wait_started(_Atomic int *started) {
    int64_t t0 = weft_now_ns();
    while (!atomic_load(started) && test_ms_since(t0) < test_slack_ms(5000)) weft_sleep(1);
    weft_sleep(PARK_MS);
}

TEST(pipe_reader_woken_by_writer) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    reader_ctx r = {.fd = p[0], .deadline_ms = 10000, .n = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, reader_task, &r, "reader");
    if (go == 0) wait_started(&r.started);
    int started = atomic_load(&r.started);
    int64_t done_early = atomic_load(&r.done_ns);
    int64_t t_write = weft_now_ns();
    ssize_t w = weft_write(p[1], "hello", 5, weft_deadline_in(1000));
    int jr = test_join(&g, test_slack_ms(5000));
    test_close2(p);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(started, 1);
    ASSERT_EQ(done_early, 0); /* it was parked, not finished, before the write */
    ASSERT_EQ(w, 5);
    ASSERT_EQ(r.n, 5);
    ASSERT_MEMEQ(r.buf, "hello", 5);
    ASSERT_GE(atomic_load(&r.done_ns), t_write);
    ASSERT_LT((atomic_load(&r.done_ns) - t_write) / 1000000, WOKEN_MS);
}

/* Two tasks bounce a counter through two pipes: every hop parks a reader. */
typedef struct pingpong {
    int in, out, rounds, bad;
} pingpong;

static void pong_task(void *a) {
    pingpong *pp = a;
    for (int i = 0; i < pp->rounds; i++) {
        uint32_t v;
        if (weft_read_full(pp->in, &v, sizeof v, weft_deadline_in(10000)) != sizeof v ||
            v != (uint32_t)i * 2) {
            pp->bad++;
            return;
        }
        v++;
        if (weft_write_all(pp->out, &v, sizeof v, weft_deadline_in(10000)) != sizeof v) {
            pp->bad++;
            return;
        }
    }
}

TEST(pipe_ping_pong) {
    int a[2], b[2];
    ASSERT_EQ(test_nb_pipe(a), 0);
    ASSERT_EQ(test_nb_pipe(b), 0);
    int rounds = (int)test_scale(2000);
    pingpong pp = {.in = a[0], .out = b[1], .rounds = rounds};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, pong_task, &pp, "pong");
    int i = 0, bad = 0;
    for (; go == 0 && i < rounds; i++) {
        uint32_t v = (uint32_t)i * 2;
        if (weft_write_all(a[1], &v, sizeof v, weft_deadline_in(10000)) != sizeof v) break;
        if (weft_read_full(b[0], &v, sizeof v, weft_deadline_in(10000)) != sizeof v) break;
        if (v != (uint32_t)i * 2 + 1) {
            bad = 1;
            break;
        }
    }
    int jr = test_join(&g, test_slack_ms(5000));
    test_close2(a);
    test_close2(b);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(bad, 0);
    ASSERT_EQ(pp.bad, 0);
    ASSERT_EQ(i, rounds);
}

/* Many tasks parked on their own pipe each, woken in reverse order. */
typedef struct many_ctx {
    int fd;
    int idx;
    int got;
} many_ctx;

static void many_reader(void *a) {
    many_ctx *m = a;
    unsigned char c = 0;
    ssize_t n = weft_read(m->fd, &c, 1, weft_deadline_in(10000));
    m->got = n == 1 ? c : (int)n;
}

TEST(pipe_many_parked_readers) {
    enum { N = 100 };
    int p[N][2];
    many_ctx m[N];
    int opened = 0;
    for (; opened < N; opened++)
        if (test_nb_pipe(p[opened]) != 0) break;
    weft_group g;
    weft_group_init(&g);
    int spawned = 0;
    for (int i = 0; i < opened; i++) {
        m[i] = (many_ctx){.fd = p[i][0], .idx = i, .got = -1000};
        if (weft_group_go(&g, many_reader, &m[i], "reader") == 0) spawned++;
    }
    weft_sleep(20);
    int64_t parked = weft_group_count(&g);
    for (int i = opened - 1; i >= 0; i--) {
        unsigned char c = (unsigned char)(i + 7);
        weft_write(p[i][1], &c, 1, weft_deadline_in(1000));
        if (i % 10 == 0) weft_yield();
    }
    int jr = test_join(&g, test_slack_ms(5000));
    for (int i = 0; i < opened; i++) test_close2(p[i]);
    ASSERT_EQ(opened, N);
    ASSERT_EQ(spawned, N);
    ASSERT_EQ(parked, N);
    ASSERT_EQ(jr, 0);
    for (int i = 0; i < N; i++) ASSERT_EQ(m[i].got, i + 7);
}

/* ---- deadlines ----------------------------------------------------------- */

TEST(pipe_read_deadline_times_out) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    char b[8];
    int64_t dl = weft_deadline_in(50);
    int64_t t0 = weft_now_ns();
    ssize_t n = weft_read(p[0], b, sizeof b, dl);
    int64_t now = weft_now();
    int64_t el_ns = weft_now_ns() - t0;
    /* the fd still works after a timed-out wait */
    ssize_t w = weft_write(p[1], "x", 1, weft_deadline_in(1000));
    ssize_t n2 = weft_read(p[0], b, sizeof b, weft_deadline_in(1000));
    test_close2(p);
    ASSERT_ERR(n, WEFT_ETIMEDOUT);
    ASSERT_GE(now, dl);
    ASSERT_GE(el_ns, 49 * 1000000LL); /* dl was built from a ms clock */
    ASSERT_LT(el_ns / 1000000, 50 + test_slack_ms(500));
    ASSERT_EQ(w, 1);
    ASSERT_EQ(n2, 1);
    ASSERT_EQ(b[0], 'x');
}

TEST(pipe_write_deadline_times_out) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    size_t filled = test_fill_pipe(p[1]);
    char b[100] = {0};
    int64_t dl = weft_deadline_in(30);
    ssize_t n = weft_write(p[1], b, sizeof b, dl);
    int64_t now = weft_now();
    ssize_t z = weft_write(p[1], b, sizeof b, 0);
    test_close2(p);
    ASSERT_GT(filled, 0);
    ASSERT_ERR(n, WEFT_ETIMEDOUT);
    ASSERT_GE(now, dl);
    ASSERT_ERR(z, WEFT_EAGAIN);
}

TEST(pipe_deadline_zero_and_past) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    char b[8] = {0};
    ssize_t e = weft_read(p[0], b, sizeof b, 0);
    int64_t t0 = weft_now_ns();
    ssize_t past = weft_read(p[0], b, sizeof b, weft_now() - 5); /* already passed */
    int64_t past_ms = test_ms_since(t0);
    ssize_t w = weft_write(p[1], "ab", 2, 0);      /* room: no wait needed */
    ssize_t got = weft_read(p[0], b, sizeof b, 0); /* data waiting: no wait needed */
    struct iovec iov = {b, sizeof b};
    ssize_t ev = weft_readv(p[0], &iov, 1, 0);
    int fw = weft_fd_wait(p[0], WEFT_POLLIN, 0);
    test_close2(p);
    ASSERT_ERR(e, WEFT_EAGAIN);
    ASSERT_ERR(past, WEFT_ETIMEDOUT);
    /* returned without a wait (the wrong one would wait for a write that
     * never comes); 1 s, not test_slack_ms(100): a loaded machine's delay
     * is not what this checks */
    ASSERT_LT(past_ms, 1000);
    ASSERT_EQ(w, 2);
    ASSERT_EQ(got, 2);
    ASSERT_MEMEQ(b, "ab", 2);
    ASSERT_ERR(ev, WEFT_EAGAIN);
    ASSERT_ERR(fw, WEFT_EAGAIN);
}

/* ---- end of file --------------------------------------------------------- */

/* What close_under_parked() saw. */
typedef struct closed_under {
    int go, closed, jr; /* the spawn, the weft_close(), the join */
    int64_t early;      /* the task's done_ns before the close: 0 while it is parked */
    int64_t lat_ms;     /* from the close to the task's end */
} closed_under;

/* Spawns fn(arg) (named name) in a group, lets it park on *fd for 20 ms,
 * weft_close()s *fd (and sets it to -1) and joins the task. fn stores the
 * time it ended in *done_ns. */
static closed_under close_under_parked(weft_fn fn, void *arg, const char *name,
                                       _Atomic int64_t *done_ns, int *fd) {
    closed_under c;
    weft_group g;
    weft_group_init(&g);
    c.go = weft_group_go(&g, fn, arg, name);
    weft_sleep(20);
    c.early = atomic_load(done_ns);
    int64_t t0 = weft_now_ns();
    c.closed = weft_close(*fd);
    *fd = -1;
    c.jr = test_join(&g, test_slack_ms(5000));
    c.lat_ms = (atomic_load(done_ns) - t0) / 1000000;
    return c;
}

TEST(pipe_eof_wakes_parked_reader) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    reader_ctx r = {.fd = p[0], .deadline_ms = 10000, .n = -999};
    closed_under c = close_under_parked(reader_task, &r, "reader", &r.done_ns, &p[1]);
    test_close2(p);
    ASSERT_EQ(c.go, 0);
    ASSERT_EQ(c.closed, 0);
    ASSERT_EQ(c.jr, 0);
    ASSERT_EQ(c.early, 0);
    ASSERT_EQ(r.n, 0);
    ASSERT_LT(c.lat_ms, WOKEN_MS);
}

TEST(pipe_eof_after_data) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    char b[16];
    ssize_t w = weft_write(p[1], "abc", 3, -1);
    int cr = weft_close(p[1]);
    p[1] = -1;
    ssize_t n1 = weft_read(p[0], b, sizeof b, weft_deadline_in(1000));
    ssize_t n2 = weft_read(p[0], b + 3, sizeof b - 3, weft_deadline_in(1000));
    ssize_t n3 = weft_read(p[0], b + 3, sizeof b - 3, -1);
    test_close2(p);
    ASSERT_EQ(w, 3);
    ASSERT_EQ(cr, 0);
    ASSERT_EQ(n1, 3);
    ASSERT_MEMEQ(b, "abc", 3);
    ASSERT_EQ(n2, 0);
    ASSERT_EQ(n3, 0);
}

/* ---- bulk transfer --------------------------------------------------------- */

typedef struct bulk_writer {
    int fd;
    const unsigned char *buf;
    size_t n;
    ssize_t rc;
} bulk_writer;

static void bulk_write_task(void *a) {
    bulk_writer *bw = a;
    bw->rc = weft_write_all(bw->fd, bw->buf, bw->n, weft_deadline_in(20000));
    weft_close(bw->fd); /* EOF for the reader */
}

TEST(pipe_write_all_1mib) {
    enum { N = 1 << 20 };
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    unsigned char *src = malloc(N), *dst = malloc(N + 4096);
    ASSERT(src && dst);
    test_fill_pattern(src, N, 1);
    memset(dst, 0, N + 4096);
    bulk_writer bw = {.fd = p[1], .buf = src, .n = N, .rc = -999};
    p[1] = -1; /* the writer closes it */
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, bulk_write_task, &bw, "writer");
    size_t total = 0;
    ssize_t last = -999;
    int reads = 0;
    static const size_t sizes[] = {1, 7000, 65536, 100, 131072, 4093};
    while (go == 0 && total <= N) {
        size_t want = sizes[reads % 6];
        if (want > N + 4096 - total) want = N + 4096 - total;
        last = weft_read(p[0], dst + total, want, weft_deadline_in(10000));
        if (last <= 0) break;
        total += (size_t)last;
        reads++;
    }
    int jr = test_join(&g, test_slack_ms(10000));
    test_close2(p);
    int same = memcmp(src, dst, N) == 0;
    free(src);
    free(dst);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(bw.rc, N);
    ASSERT_EQ(last, 0); /* ended by EOF, not an error */
    ASSERT_EQ(total, N);
    ASSERT(same);
    ASSERT_GT(reads, 16); /* 64 KiB pipe: the writer had to park */
}

typedef struct trickle {
    int fd;
    const unsigned char *buf;
    size_t n, piece;
    int bad;
} trickle;

static void trickle_task(void *a) {
    trickle *t = a;
    for (size_t off = 0; off < t->n; off += t->piece) {
        size_t k = t->n - off < t->piece ? t->n - off : t->piece;
        if (weft_write_all(t->fd, t->buf + off, k, weft_deadline_in(10000)) != (ssize_t)k) {
            t->bad = 1;
            break;
        }
        if ((off / t->piece) % 8 == 7)
            weft_sleep(1);
        else
            weft_yield();
    }
    weft_close(t->fd);
}

TEST(pipe_read_full) {
    enum { N = 10000 };
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    static unsigned char src[N], dst[N + 100];
    test_fill_pattern(src, N, 2);
    /* nothing written yet: read_full times out */
    ssize_t to = weft_read_full(p[0], dst, 10, weft_deadline_in(20));
    trickle t = {.fd = p[1], .buf = src, .n = N, .piece = 100};
    p[1] = -1;
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, trickle_task, &t, "trickle");
    ssize_t a = weft_read_full(p[0], dst, 6000, weft_deadline_in(10000));
    ssize_t b = weft_read_full(p[0], dst + 6000, 8000 > N + 100 - 6000 ? N + 100 - 6000 : 8000,
                               weft_deadline_in(10000));
    ssize_t c = weft_read_full(p[0], dst, 10, weft_deadline_in(1000));
    int jr = test_join(&g, test_slack_ms(5000));
    test_close2(p);
    ASSERT_ERR(to, WEFT_ETIMEDOUT);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(t.bad, 0);
    ASSERT_EQ(a, 6000);
    ASSERT_EQ(b, N - 6000); /* short: end of file first */
    ASSERT_EQ(c, 0);
    ASSERT_MEMEQ(src, dst, N);
}

/* ---- readv / writev ----------------------------------------------------------- */

typedef struct vec_ctx {
    int fd;
    char a[5], b[20];
    ssize_t n;
} vec_ctx;

static void readv_task(void *arg) {
    vec_ctx *v = arg;
    struct iovec iov[2] = {{v->a, sizeof v->a}, {v->b, sizeof v->b}};
    v->n = weft_readv(v->fd, iov, 2, weft_deadline_in(10000));
}

TEST(readv_writev) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    /* direct */
    struct iovec out[4] = {
        {(void *)"abc", 3}, {(void *)"", 0}, {(void *)"defghij", 7}, {(void *)"KLMNOP", 6}};
    ssize_t w = weft_writev(p[1], out, 4, weft_deadline_in(1000));
    char a[5], b[20];
    memset(b, 0, sizeof b);
    struct iovec in[2] = {{a, sizeof a}, {b, sizeof b}};
    ssize_t r = weft_readv(p[0], in, 2, weft_deadline_in(1000));
    /* a parked readv woken by a writev from this task */
    vec_ctx v = {.fd = p[0], .n = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, readv_task, &v, "readv");
    weft_sleep(20);
    ssize_t early = v.n;
    struct iovec out2[2] = {{(void *)"0123", 4}, {(void *)"456789xyz", 9}};
    ssize_t w2 = weft_writev(p[1], out2, 2, weft_deadline_in(1000));
    int jr = test_join(&g, test_slack_ms(5000));
    test_close2(p);
    ASSERT_EQ(w, 16);
    ASSERT_EQ(r, 16);
    ASSERT_MEMEQ(a, "abcde", 5);
    ASSERT_MEMEQ(b, "fghijKLMNOP", 11);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(early, -999);
    ASSERT_EQ(w2, 13);
    ASSERT_EQ(v.n, 13);
    ASSERT_MEMEQ(v.a, "01234", 5);
    ASSERT_MEMEQ(v.b, "56789xyz", 8);
}

/* ---- socketpair: one task reads and one writes the same socket ---------------- */

typedef struct duplex {
    int fd;
    const unsigned char *buf; /* what to send, or what to expect */
    size_t n;
    size_t done;
    int err;
    int parks; /* reads/writes that got less than they asked (a wait happened) */
} duplex;

static void duplex_writer(void *a) {
    duplex *d = a;
    uint32_t x = 12345;
    while (d->done < d->n) {
        x = x * 1103515245u + 12345u;
        size_t k = 1000 + (x >> 8) % 60000;
        if (k > d->n - d->done) k = d->n - d->done;
        ssize_t r = weft_write(d->fd, d->buf + d->done, k, weft_deadline_in(20000));
        if (r <= 0) {
            d->err = r == 0 ? -1 : (int)r;
            return;
        }
        if ((size_t)r < k) d->parks++;
        d->done += (size_t)r;
    }
}

static void duplex_reader(void *a) {
    duplex *d = a;
    unsigned char *tmp = malloc(70000);
    if (!tmp) {
        d->err = WEFT_ENOMEM;
        return;
    }
    uint32_t x = 777;
    while (d->done < d->n) {
        x = x * 1103515245u + 12345u;
        size_t k = 1 + (x >> 8) % 70000;
        ssize_t r = weft_read(d->fd, tmp, k, weft_deadline_in(20000));
        if (r <= 0) {
            d->err = r == 0 ? -1 : (int)r;
            break;
        }
        if ((size_t)r > d->n - d->done || memcmp(tmp, d->buf + d->done, (size_t)r) != 0) {
            d->err = -2;
            break;
        }
        d->done += (size_t)r;
    }
    free(tmp);
}

TEST(socketpair_full_duplex_same_socket) {
    size_t n = (size_t)test_scale_min(16L << 20, 1L << 20);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    unsigned char *ab = malloc(n), *ba = malloc(n);
    ASSERT(ab && ba);
    test_fill_pattern(ab, n, 3);
    test_fill_pattern(ba, n, 4);
    /* sv[0] is read by r0 and written by w0 at the same time; same for sv[1] */
    duplex w0 = {.fd = sv[0], .buf = ab, .n = n}, r1 = {.fd = sv[1], .buf = ab, .n = n};
    duplex w1 = {.fd = sv[1], .buf = ba, .n = n}, r0 = {.fd = sv[0], .buf = ba, .n = n};
    weft_group g;
    weft_group_init(&g);
    int go = 0;
    go |= weft_group_go(&g, duplex_reader, &r0, "r0");
    go |= weft_group_go(&g, duplex_writer, &w0, "w0");
    go |= weft_group_go(&g, duplex_reader, &r1, "r1");
    go |= weft_group_go(&g, duplex_writer, &w1, "w1");
    int jr = test_join(&g, test_slack_ms(20000));
    weft_close(sv[0]);
    weft_close(sv[1]);
    free(ab);
    free(ba);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_ERR(w0.err, 0);
    ASSERT_ERR(w1.err, 0);
    ASSERT_ERR(r0.err, 0);
    ASSERT_ERR(r1.err, 0);
    ASSERT_EQ(w0.done, n);
    ASSERT_EQ(w1.done, n);
    ASSERT_EQ(r0.done, n);
    ASSERT_EQ(r1.done, n);
}

/* ---- TCP ----------------------------------------------------------------------- */

typedef struct echo_srv {
    int lfd;
    int family;   /* of the accepted peer address */
    int peer_ok;  /* peer address is the loopback */
    int accepted; /* fd or error */
    long bytes;
    int err;
} echo_srv;

static long echo_conn(int fd, int *err) {
    char buf[4096];
    long total = 0;
    for (;;) {
        ssize_t n = weft_read(fd, buf, sizeof buf, weft_deadline_in(20000));
        if (n <= 0) {
            if (n < 0) *err = (int)n;
            break;
        }
        ssize_t w = weft_write_all(fd, buf, (size_t)n, weft_deadline_in(20000));
        if (w != n) {
            *err = (int)w;
            break;
        }
        total += n;
    }
    return total;
}

static void echo_once_task(void *a) {
    echo_srv *s = a;
    struct sockaddr_storage ss;
    unsigned len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    int c = weft_accept(s->lfd, &ss, &len, weft_deadline_in(20000));
    s->accepted = c;
    if (c < 0) return;
    s->family = ss.ss_family;
    if (ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in))
        s->peer_ok = ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    else if (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6))
        s->peer_ok = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    s->bytes = echo_conn(c, &s->err);
    weft_close(c);
}

/* Echo 1000 messages of varying length through a server task. Returns 0 or
 * the message index that failed (+1). */
static int echo_messages(int fd, int count, long *sent) {
    char msg[256], back[256];
    static const char pad[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRST";
    for (int i = 0; i < count; i++) {
        int len = snprintf(msg, sizeof msg, "message %d %.*s|", i, i % 60, pad);
        if (weft_write_all(fd, msg, (size_t)len, weft_deadline_in(10000)) != len) return i + 1;
        if (weft_read_full(fd, back, (size_t)len, weft_deadline_in(10000)) != len) return i + 1;
        if (memcmp(msg, back, (size_t)len) != 0) return i + 1;
        *sent += len;
    }
    return 0;
}

static void tcp_echo_test(const char *host, int family) {
    int lfd = weft_tcp_listen(host, 0, 0, 0);
    ASSERT_GE(lfd, 0);
    int port = weft_sock_port(lfd);
    echo_srv s = {.lfd = lfd, .accepted = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, echo_once_task, &s, "echo");
    int fd = go == 0 ? weft_tcp_connect(host, port, weft_deadline_in(5000)) : -1;
    long sent = 0;
    int bad = fd >= 0 ? echo_messages(fd, 1000, &sent) : -1;
    if (fd >= 0) weft_close(fd); /* EOF ends the server's loop */
    int jr = test_join(&g, test_slack_ms(5000));
    weft_close(lfd);
    ASSERT_GT(port, 0);
    ASSERT_LE(port, 65535);
    ASSERT_EQ(go, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(bad, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_GE(s.accepted, 0);
    ASSERT_EQ(s.family, family);
    ASSERT(s.peer_ok);
    ASSERT_ERR(s.err, 0);
    ASSERT_EQ(s.bytes, sent);
}

TEST(tcp_echo_ipv4) { tcp_echo_test("127.0.0.1", AF_INET); }

TEST(tcp_echo_ipv6) {
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = 0;
    if (probe >= 0) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_loopback;
        ok = bind(probe, (struct sockaddr *)&a6, sizeof a6) == 0;
        close(probe);
    }
    if (!ok) {
        printf("    note: no IPv6 loopback (::1) on this host; tcp_echo_ipv6 skipped\n");
        return;
    }
    tcp_echo_test("::1", AF_INET6);
}

/* 200 clients at once against one accept loop that spawns a task per
 * connection. Every client holds its connection open until all 200 have
 * their answer, so 200 connections are live together. */
enum { NCLIENTS = 200 };

typedef struct fan_srv {
    int lfd, port;
    weft_group conns;
    _Atomic int accepted;
    _Atomic int conn_ok;
    _Atomic int live, max_live;
    int accept_rc;
    weft_chan *gate;
    weft_wg answered;
    _Atomic int client_ok;
    _Atomic int client_err; /* first error seen */
} fan_srv;

typedef struct fan_conn {
    fan_srv *s;
    int fd;
} fan_conn;

static void fan_conn_task(void *a) {
    fan_conn *fc = a;
    fan_srv *s = fc->s;
    int fd = fc->fd;
    free(fc);
    int live = atomic_fetch_add(&s->live, 1) + 1;
    test_atomic_max(&s->max_live, live);
    uint32_t req;
    if (weft_read_full(fd, &req, sizeof req, weft_deadline_in(20000)) == sizeof req) {
        uint32_t resp = req * 3 + 1;
        if (weft_write_all(fd, &resp, sizeof resp, weft_deadline_in(20000)) == sizeof resp) {
            char c;
            if (weft_read(fd, &c, 1, weft_deadline_in(20000)) == 0) /* client closed */
                atomic_fetch_add(&s->conn_ok, 1);
        }
    }
    atomic_fetch_sub(&s->live, 1);
    weft_close(fd);
}

static void fan_accept_loop(void *a) {
    fan_srv *s = a;
    for (;;) {
        int c = weft_accept(s->lfd, NULL, NULL, -1);
        if (c < 0) {
            s->accept_rc = c;
            return;
        }
        atomic_fetch_add(&s->accepted, 1);
        fan_conn *fc = malloc(sizeof *fc);
        if (!fc || (fc->s = s, fc->fd = c, weft_group_go(&s->conns, fan_conn_task, fc, "conn"))) {
            free(fc);
            weft_close(c);
        }
    }
}

static void fan_client(void *a) {
    fan_srv *s = ((fan_conn *)a)->s;
    uint32_t id = (uint32_t)((fan_conn *)a)->fd;
    int dummy, err = 0;
    int fd = -1;
    if (weft_chan_recv(s->gate, &dummy, weft_deadline_in(20000)) != WEFT_ECLOSED) {
        err = -1;
        goto out;
    }
    fd = weft_tcp_connect("127.0.0.1", s->port, weft_deadline_in(20000));
    if (fd < 0) {
        err = fd;
        goto out;
    }
    uint32_t req = id * 1000 + 7, resp = 0;
    ssize_t w = weft_write_all(fd, &req, sizeof req, weft_deadline_in(20000));
    ssize_t r = weft_read_full(fd, &resp, sizeof resp, weft_deadline_in(20000));
    if (w != sizeof req || r != sizeof resp || resp != req * 3 + 1) err = -3;
out:
    weft_wg_done(&s->answered);
    if (weft_wg_wait(&s->answered, weft_deadline_in(20000)) != 0 && !err) err = -4;
    if (fd >= 0) weft_close(fd);
    if (!err)
        atomic_fetch_add(&s->client_ok, 1);
    else {
        int z = 0;
        atomic_compare_exchange_strong(&s->client_err, &z, err);
    }
}

TEST(tcp_200_concurrent_clients) {
    static fan_srv s;
    memset(&s, 0, sizeof s);
    static fan_conn ids[NCLIENTS];
    s.lfd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    ASSERT_GE(s.lfd, 0);
    s.port = weft_sock_port(s.lfd);
    s.gate = weft_chan_new(sizeof(int), 0, NULL);
    weft_group_init(&s.conns);
    weft_wg_init(&s.answered);
    weft_wg_add(&s.answered, NCLIENTS);
    weft_group server, clients;
    weft_group_init(&server);
    weft_group_init(&clients);
    int go = s.gate ? weft_group_go(&server, fan_accept_loop, &s, "accept") : -1;
    int spawned = 0;
    for (int i = 0; go == 0 && i < NCLIENTS; i++) {
        ids[i] = (fan_conn){.s = &s, .fd = i};
        if (weft_group_go(&clients, fan_client, &ids[i], "client") != 0) break;
        spawned++;
    }
    for (int i = spawned; i < NCLIENTS; i++) weft_wg_done(&s.answered);
    weft_sleep(10);
    int64_t t0 = weft_now_ns();
    if (s.gate) weft_chan_close(s.gate); /* all clients start together */
    int jc = test_join(&clients, test_slack_ms(20000));
    int64_t el = test_ms_since(t0);
    int jn = test_join(&s.conns, test_slack_ms(5000));
    weft_group_cancel(&server); /* ends the accept loop */
    int js = test_join(&server, test_slack_ms(5000));
    weft_close(s.lfd);
    if (s.gate) weft_chan_free(s.gate);
    printf("    %d clients in %lld ms, %d connections live at once\n", NCLIENTS, (long long)el,
           atomic_load(&s.max_live));
    ASSERT(s.gate);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(spawned, NCLIENTS);
    ASSERT_EQ(jc, 0);
    ASSERT_EQ(jn, 0);
    ASSERT_EQ(js, 0);
    ASSERT_ERR(atomic_load(&s.client_err), 0);
    ASSERT_EQ(atomic_load(&s.client_ok), NCLIENTS);
    ASSERT_EQ(atomic_load(&s.accepted), NCLIENTS);
    ASSERT_EQ(atomic_load(&s.conn_ok), NCLIENTS);
    ASSERT_EQ(atomic_load(&s.max_live), NCLIENTS);
    ASSERT_ERR(s.accept_rc, WEFT_ECANCELED);
}

TEST(tcp_connect_refused) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    ASSERT_GE(lfd, 0);
    int port = weft_sock_port(lfd);
    ASSERT_EQ(weft_close(lfd), 0); /* nobody listens there now */
    int64_t t0 = weft_now_ns();
    int fd = weft_tcp_connect("127.0.0.1", port, weft_deadline_in(5000));
    int64_t el = test_ms_since(t0);
    if (fd >= 0) weft_close(fd);
    ASSERT_ERR(fd, WEFT_ECONNREFUSED);
    ASSERT_EQ(fd, -ECONNREFUSED);
    ASSERT_LT(el, test_slack_ms(1000));
}

TEST(tcp_accept_deadline) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 16, 1);
    ASSERT_GE(lfd, 0);
    int z = weft_accept(lfd, NULL, NULL, 0);
    int64_t dl = weft_deadline_in(30);
    int t = weft_accept(lfd, NULL, NULL, dl);
    int64_t now = weft_now();
    /* a pending connection is accepted without waiting, with deadline 0 */
    int port = weft_sock_port(lfd);
    int c = weft_tcp_connect("127.0.0.1", port, weft_deadline_in(2000));
    int a = -999;
    for (int i = 0; i < 200 && c >= 0; i++) { /* the handshake completes in the kernel */
        a = weft_accept(lfd, NULL, NULL, 0);
        if (a != WEFT_EAGAIN) break;
        weft_sleep(1);
    }
    if (a >= 0) weft_close(a);
    if (c >= 0) weft_close(c);
    weft_close(lfd);
    ASSERT_ERR(z, WEFT_EAGAIN);
    ASSERT_ERR(t, WEFT_ETIMEDOUT);
    ASSERT_GE(now, dl);
    ASSERT_GE(c, 0);
    ASSERT_GE(a, 0);
}

/* ---- weft_close wakes tasks parked on the fd ------------------------------------ */

TEST(close_wakes_parked_reader_ebadf) {
    /* a pipe and a socket, each with a reader parked far from its deadline */
    int p[2], sv[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    reader_ctx r1 = {.fd = p[0], .deadline_ms = 10000, .n = -999};
    reader_ctx r2 = {.fd = sv[0], .deadline_ms = 10000, .n = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, reader_task, &r1, "pipe reader");
    go |= weft_group_go(&g, reader_task, &r2, "sock reader");
    weft_sleep(20);
    int64_t early = atomic_load(&r1.done_ns) | atomic_load(&r2.done_ns);
    int64_t t0 = weft_now_ns();
    int c1 = weft_close(p[0]);
    int c2 = weft_close(sv[0]);
    p[0] = sv[0] = -1;
    int jr = test_join(&g, test_slack_ms(5000));
    int64_t lat1 = (atomic_load(&r1.done_ns) - t0) / 1000000;
    int64_t lat2 = (atomic_load(&r2.done_ns) - t0) / 1000000;
    test_close2(p);
    test_close2(sv);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(c1, 0);
    ASSERT_EQ(c2, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(early, 0);
    ASSERT_ERR(r1.n, WEFT_EBADF);
    ASSERT_ERR(r2.n, WEFT_EBADF);
    ASSERT_LT(lat1, WOKEN_MS);
    ASSERT_LT(lat2, WOKEN_MS);
}

typedef struct writer_ctx {
    int fd;
    ssize_t n;
    _Atomic int64_t done_ns;
} writer_ctx;

static void full_writer_task(void *a) {
    writer_ctx *w = a;
    char b[512] = {0};
    w->n = weft_write(w->fd, b, sizeof b, weft_deadline_in(10000));
    atomic_store(&w->done_ns, weft_now_ns());
}

TEST(close_wakes_parked_writer_ebadf) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    size_t filled = test_fill_pipe(p[1]);
    writer_ctx w = {.fd = p[1], .n = -999};
    closed_under c = close_under_parked(full_writer_task, &w, "writer", &w.done_ns, &p[1]);
    test_close2(p);
    ASSERT_GT(filled, 0);
    ASSERT_EQ(c.go, 0);
    ASSERT_EQ(c.closed, 0);
    ASSERT_EQ(c.jr, 0);
    ASSERT_EQ(c.early, 0);
    ASSERT_ERR(w.n, WEFT_EBADF);
    ASSERT_LT(c.lat_ms, WOKEN_MS);
}

/* ---- sendfile --------------------------------------------------------------------- */

typedef struct sink {
    int fd;
    unsigned char *buf;
    size_t n;
    ssize_t got;
} sink;

static void sink_task(void *a) {
    sink *s = a;
    s->got = weft_read_full(s->fd, s->buf, s->n, weft_deadline_in(20000));
}

static int tcp_pair(int *a, int *b) {
    *a = *b = -1;
    int lfd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    if (lfd < 0) return lfd;
    int c = weft_tcp_connect("127.0.0.1", weft_sock_port(lfd), weft_deadline_in(5000));
    int s = c >= 0 ? weft_accept(lfd, NULL, NULL, weft_deadline_in(5000)) : -1;
    weft_close(lfd);
    if (c < 0 || s < 0) {
        if (c >= 0) weft_close(c);
        if (s >= 0) weft_close(s);
        return c < 0 ? c : s;
    }
    *a = c;
    *b = s;
    return 0;
}

TEST(sendfile_file_to_socket) {
    enum { N = 3 << 20 };
    char path[] = "/tmp/weft-io-sendfile-XXXXXX";
    int ffd = mkstemp(path);
    ASSERT_GE(ffd, 0);
    unlink(path);
    unsigned char *src = malloc(N), *dst = malloc(N);
    ASSERT(src && dst);
    test_fill_pattern(src, N, 5);
    size_t wr = 0;
    while (wr < N) {
        ssize_t r = write(ffd, src + wr, N - wr);
        if (r <= 0) break;
        wr += (size_t)r;
    }
    int a, b;
    int pr = tcp_pair(&a, &b);
    /* whole file */
    sink s = {.fd = b, .buf = dst, .n = N, .got = -999};
    weft_group g;
    weft_group_init(&g);
    int go = pr == 0 ? weft_group_go(&g, sink_task, &s, "sink") : -1;
    off_t off = 0;
    ssize_t last = 0;
    int calls = 0;
    while (go == 0 && off < N) {
        last = weft_sendfile(a, ffd, &off, N - (size_t)off, weft_deadline_in(10000));
        if (last <= 0) break;
        calls++;
    }
    int jr = test_join(&g, test_slack_ms(10000));
    int same = memcmp(src, dst, N) == 0;
    /* a slice from the middle */
    memset(dst, 0, 5000);
    sink s2 = {.fd = b, .buf = dst, .n = 5000, .got = -999};
    weft_group_init(&g);
    int go2 = pr == 0 ? weft_group_go(&g, sink_task, &s2, "sink2") : -1;
    off_t off2 = 1000;
    ssize_t part = go2 == 0 ? weft_sendfile(a, ffd, &off2, 5000, weft_deadline_in(10000)) : -1;
    int jr2 = test_join(&g, test_slack_ms(5000));
    int same2 = memcmp(src + 1000, dst, 5000) == 0;
    if (a >= 0) weft_close(a);
    if (b >= 0) weft_close(b);
    close(ffd);
    free(src);
    free(dst);
    ASSERT_EQ(wr, N);
    ASSERT_EQ(pr, 0);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_GT(last, 0);
    ASSERT_EQ(off, N);
    ASSERT_EQ(s.got, N);
    ASSERT(same);
    ASSERT_GE(calls, 1);
    ASSERT_EQ(go2, 0);
    ASSERT_EQ(jr2, 0);
    ASSERT_EQ(part, 5000);
    ASSERT_EQ(off2, 6000);
    ASSERT_EQ(s2.got, 5000);
    ASSERT(same2);
}

/* ---- weft_fd_wait ---------------------------------------------------------------- */

TEST(fd_wait_events) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    int64_t t0 = weft_now_ns();
    int out = weft_fd_wait(sv[0], WEFT_POLLOUT, weft_deadline_in(5000));
    int64_t out_ms = test_ms_since(t0);
    int64_t dl = weft_deadline_in(30);
    int in = weft_fd_wait(sv[0], WEFT_POLLIN, dl);
    int64_t now = weft_now();
    int zero = weft_fd_wait(sv[0], WEFT_POLLIN, 0);
    int noev = weft_fd_wait(sv[0], 0, weft_deadline_in(100));
    ssize_t w = weft_write(sv[1], "z", 1, weft_deadline_in(1000));
    int in2 = weft_fd_wait(sv[0], WEFT_POLLIN, weft_deadline_in(5000));
    int both = weft_fd_wait(sv[0], WEFT_POLLIN | WEFT_POLLOUT, weft_deadline_in(5000));
    weft_close(sv[0]);
    weft_close(sv[1]);
    ASSERT_GT(out, 0);
    ASSERT(out & WEFT_POLLOUT);
    ASSERT_LT(out_ms, 2500); /* ready at once: not near its 5 s deadline (was test_slack_ms(200)) */
    ASSERT_ERR(in, WEFT_ETIMEDOUT);
    ASSERT_GE(now, dl);
    ASSERT_ERR(zero, WEFT_EAGAIN);
    ASSERT_ERR(noev, WEFT_EINVAL);
    ASSERT_EQ(w, 1);
    ASSERT_GT(in2, 0);
    ASSERT(in2 & WEFT_POLLIN);
    ASSERT_GT(both, 0);
    ASSERT_EQ(both & ~(WEFT_POLLIN | WEFT_POLLOUT), 0);
}

/* ---- argument and context checks ------------------------------------------------- */

TEST(io_invalid_args) {
    char b[4];
    ASSERT_ERR(weft_read(-1, b, sizeof b, -1), WEFT_EBADF);
    ASSERT_ERR(weft_write(-1, b, sizeof b, -1), WEFT_EBADF);
    ASSERT_ERR(weft_read_full(-1, b, sizeof b, -1), WEFT_EBADF);
    ASSERT_ERR(weft_write_all(-1, b, sizeof b, -1), WEFT_EBADF);
    ASSERT_ERR(weft_accept(-1, NULL, NULL, -1), WEFT_EBADF);
    ASSERT_ERR(weft_fd_wait(-1, WEFT_POLLIN, -1), WEFT_EBADF);
    ASSERT_ERR(weft_close(-1), WEFT_EBADF);
    ASSERT_ERR(weft_read(1 << 30, b, sizeof b, -1), WEFT_EBADF); /* beyond any fd table */
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", 70000, 0, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", -1, 0, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_tcp_listen("not-an-ip", 0, 0, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_tcp_listen("localhost", 0, 0, 0), WEFT_EINVAL); /* numeric only */
    ASSERT_ERR(weft_tcp_listen("256.1.1.1", 0, 0, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_tcp_connect("not-an-ip", 80, weft_deadline_in(1000)), WEFT_EINVAL);
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", 70000, weft_deadline_in(1000)), WEFT_EINVAL);
    ASSERT_ERR(weft_sock_port(-1), WEFT_EBADF);
    /* an fd number that was closed: a high one, which the runtime's own
     * descriptors (a worker's eventfd, say, created meanwhile by another
     * thread) do not take back — the kernel hands out the lowest free number */
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    int fd = fcntl(p[0], F_DUPFD_CLOEXEC, 700);
    ASSERT_GE(fd, 700);
    test_close2(p);
    ASSERT_EQ(close(fd), 0);
    ASSERT_ERR(weft_read(fd, b, sizeof b, weft_deadline_in(100)), WEFT_EBADF);
}

typedef struct thread_io {
    int fd;
    ssize_t r_dl, r_inf, w_full;
    int wfd;
    _Atomic int done;
} thread_io;

static void *plain_thread_io(void *a) {
    thread_io *t = a;
    char b[8];
    t->r_dl = weft_read(t->fd, b, sizeof b, weft_deadline_in(100));
    t->r_inf = weft_read(t->fd, b, sizeof b, -1);
    t->w_full = weft_write(t->wfd, b, sizeof b, -1);
    atomic_store(&t->done, 1);
    return NULL;
}

TEST(io_from_plain_thread_enotask) {
    int p[2], q[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    ASSERT_EQ(test_nb_pipe(q), 0);
    size_t filled = test_fill_pipe(q[1]);
    thread_io t = {.fd = p[0], .wfd = q[1], .r_dl = -999, .r_inf = -999, .w_full = -999};
    pthread_t th;
    int cr = pthread_create(&th, NULL, plain_thread_io, &t);
    /* do not block the worker: poll for the thread to finish */
    int64_t until = weft_deadline_in(test_slack_ms(5000));
    while (cr == 0 && !atomic_load(&t.done) && weft_now() < until) weft_sleep(1);
    int done = atomic_load(&t.done);
    if (cr == 0 && !done) {
        /* it is stuck in a blocking syscall: unblock it so the test can end */
        weft_write(p[1], "x", 1, -1);
        test_drain(q[0]);
    }
    if (cr == 0) pthread_join(th, NULL);
    test_close2(p);
    test_close2(q);
    ASSERT_EQ(cr, 0);
    ASSERT_GT(filled, 0);
    ASSERT(done);
    ASSERT_ERR(t.r_dl, WEFT_ENOTASK);
    ASSERT_ERR(t.r_inf, WEFT_ENOTASK);
    ASSERT_ERR(t.w_full, WEFT_ENOTASK);
}

TEST_PLAIN(io_without_runtime_enotask) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    char b[8];
    ssize_t r = weft_read(p[0], b, sizeof b, weft_deadline_in(100));
    int fw = weft_fd_wait(p[0], WEFT_POLLIN, -1);
    int acc = weft_accept(p[0], NULL, NULL, -1);
    close(p[0]);
    close(p[1]);
    ASSERT_ERR(r, WEFT_ENOTASK);
    ASSERT_ERR(fw, WEFT_ENOTASK);
    ASSERT_ERR(acc, WEFT_ENOTASK);
}

/* A blocking-mode fd is switched to non-blocking on first use: the read must
 * time out instead of blocking the worker thread in read(2). If it did block,
 * a rescue alarm writes a byte after a while so the test ends (and fails). */
static void rescue_write(void *a) {
    ssize_t n = write(*(int *)a, "!", 1);
    (void)n;
}

TEST(blocking_fd_made_nonblocking) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0); /* blocking mode */
    int fl_before = fcntl(p[0], F_GETFL);
    static test_alarm rescue;
    int cr = test_alarm_start(&rescue, 5, rescue_write, &p[1]);
    char b[4];
    int64_t dl = weft_deadline_in(50);
    ssize_t n = weft_read(p[0], b, sizeof b, dl);
    int64_t now = weft_now();
    int fl_after = fcntl(p[0], F_GETFL);
    /* the write end too, on its first use */
    ssize_t w = weft_write(p[1], "ok", 2, weft_deadline_in(1000));
    int wfl = fcntl(p[1], F_GETFL);
    int fired = test_alarm_stop(&rescue);
    test_close2(p);
    ASSERT_EQ(cr, 0);
    ASSERT_EQ(fired, 0);
    ASSERT_EQ(fl_before & O_NONBLOCK, 0);
    ASSERT_ERR(n, WEFT_ETIMEDOUT);
    ASSERT_GE(now, dl);
    ASSERT(fl_after & O_NONBLOCK);
    ASSERT_EQ(w, 2);
    ASSERT(wfl & O_NONBLOCK);
}

TEST(fd_nonblock_helper) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    int r = weft_fd_nonblock(p[0]);
    int fl = fcntl(p[0], F_GETFL);
    test_close2(p);
    ASSERT_EQ(r, 0);
    ASSERT(fl & O_NONBLOCK);
    ASSERT_ERR(weft_fd_nonblock(-1), WEFT_EBADF);
}

/* ---- many short deadlines at once --------------------------------------------------- */

/* Tasks on their own pipes wait with 1-2 ms deadlines over and over while a
 * feeder drops bytes into random pipes: timeouts, data wakes and tasks
 * moving between workers all mix. Every byte written is read exactly once. */
enum { STORM_TASKS = 64 };

typedef struct storm {
    int p[STORM_TASKS][2];
    long got[STORM_TASKS], written[STORM_TASKS];
    _Atomic int bad, stop;
    int iters;
} storm;

typedef struct storm_arg {
    storm *s;
    int i;
} storm_arg;

static void storm_reader(void *a) {
    storm_arg *sa = a;
    storm *s = sa->s;
    char buf[16];
    for (int k = 0; k < s->iters; k++) {
        ssize_t n = weft_read(s->p[sa->i][0], buf, sizeof buf, weft_deadline_in(1 + k % 2));
        if (n > 0)
            s->got[sa->i] += n;
        else if (n != WEFT_ETIMEDOUT)
            atomic_fetch_add(&s->bad, 1);
    }
}

static void storm_feeder(void *a) {
    storm *s = a;
    uint32_t x = 99;
    while (!atomic_load(&s->stop)) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % STORM_TASKS);
        if (weft_write(s->p[i][1], "s", 1, 0) == 1) s->written[i]++;
        if (x & 0x100)
            weft_sleep(1);
        else
            weft_yield();
    }
}

TEST(io_deadline_storm) {
    static storm s;
    memset(&s, 0, sizeof s);
    s.iters = (int)test_scale_min(100, 5);
    int opened = 0;
    for (; opened < STORM_TASKS; opened++)
        if (test_nb_pipe(s.p[opened]) != 0) break;
    if (opened < STORM_TASKS) {
        for (int i = 0; i < opened; i++) test_close2(s.p[i]);
        ASSERT_EQ(opened, STORM_TASKS);
    }
    static storm_arg args[STORM_TASKS];
    weft_group readers, feeder;
    weft_group_init(&readers);
    weft_group_init(&feeder);
    int go = weft_group_go(&feeder, storm_feeder, &s, "feeder");
    for (int i = 0; i < STORM_TASKS; i++) {
        args[i] = (storm_arg){&s, i};
        go |= weft_group_go(&readers, storm_reader, &args[i], "reader");
    }
    int jr = test_join(&readers, test_slack_ms(20000));
    atomic_store(&s.stop, 1);
    int jf = test_join(&feeder, test_slack_ms(5000));
    long leftover_bad = 0, total = 0;
    for (int i = 0; i < STORM_TASKS; i++) {
        char junk[4096];
        ssize_t left = read(s.p[i][0], junk, sizeof junk);
        if (left < 0) left = 0;
        if (s.got[i] + left != s.written[i]) leftover_bad++;
        total += s.written[i];
        test_close2(s.p[i]);
    }
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(jf, 0);
    ASSERT_EQ(atomic_load(&s.bad), 0);
    ASSERT_EQ(leftover_bad, 0);
    ASSERT_GT(total, 0);
}

/* ---- weft_fd_wait reports only real readiness ----------------------------------------- */

/* A reader is woken by data and consumes it; then a new waiter on the now
 * empty pipe must not be told it is readable. With more workers than CPUs
 * (here) the fd's waits are spread over several workers' epoll instances. */
static struct {
    int spurious, bad, iters, first;
    const char *backend;
} RR;

static void rr_read_one(void *a) {
    char c;
    if (weft_read(*(int *)a, &c, 1, weft_deadline_in(5000)) != 1) RR.bad++;
}

static void rr_main(void *a) {
    RR.backend = weft_io_backend_name();
    int p[2];
    if (test_nb_pipe(p)) {
        RR.bad++;
        return;
    }
    for (int i = 0; i < RR.iters && !RR.bad; i++) {
        weft_group g;
        weft_group_init(&g);
        weft_group_go(&g, rr_read_one, &p[0], "reader");
        for (int k = 0; k < i % 3; k++) weft_yield();
        weft_write(p[1], "x", 1, -1);
        if (test_join(&g, test_slack_ms(5000))) RR.bad++;
        int ev = weft_fd_wait(p[0], WEFT_POLLIN, weft_deadline_in(1));
        if (ev > 0 && test_pipe_bytes(p[0]) == 0) {
            if (!RR.spurious) RR.first = i;
            RR.spurious++;
        } else if (ev != WEFT_ETIMEDOUT) {
            RR.bad++;
        }
    }
    test_close2(p);
}

TEST_PLAIN(fd_wait_reports_only_real_readiness) {
    static const weft_io_backend bk[] = {WEFT_IO_URING, WEFT_IO_EPOLL};
    for (int k = 0; k < 2; k++) {
        memset(&RR, 0, sizeof RR);
        RR.iters = (int)test_scale(400);
        weft_config cfg = {.io = bk[k], .workers = 6};
        int rc = weft_main(rr_main, NULL, &cfg);
        if (test_uring_unavailable(bk[k], rc)) continue;
        ASSERT_EQ(rc, 0);
        if (RR.spurious)
            printf("    %s: %d of %d waits on an empty pipe reported POLLIN (first at %d)\n",
                   RR.backend, RR.spurious, RR.iters, RR.first);
        ASSERT_EQ(RR.bad, 0);
        ASSERT_EQ(RR.spurious, 0);
    }
}
