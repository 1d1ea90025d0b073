/*
 * io.c — non-blocking fd operations with deadlines, the per-fd table, and the
 * choice of I/O backend.
 *
 * Every operation is "try the syscall; on EAGAIN wait for readiness; retry".
 * The wait is the backend's (io_uring.c: a POLL_ADD on the worker's ring,
 * submitted in batches with everything else of that loop iteration;
 * io_epoll.c: a one-shot registration on the worker's epoll). Data already
 * waiting in the socket costs one syscall and no wait at all.
 *
 * The fd table (one small entry per possible fd, sized by RLIMIT_NOFILE and
 * committed lazily) remembers which fds were made non-blocking and which
 * tasks wait on each fd, so weft_close() can wake them with WEFT_EBADF
 * instead of leaving them parked on a dead fd.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_int.h"
#include "weft/impl.h"

weft__fdent *weft__fdtab;
int weft__fdtab_n;

int weft__io_fdtab_init(void) {
    struct rlimit rl;
    rlim_t n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) n = rl.rlim_cur;
    if (n == RLIM_INFINITY || n > (1u << 22)) n = 1u << 22;
    if (n < 1024) n = 1024;
    size_t bytes = sizeof(weft__fdent) * (size_t)n;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return WEFT_ENOMEM;
    weft__fdtab = p;
    weft__fdtab_n = (int)n;
    return 0;
}

void weft__io_fdtab_free(void) {
    if (weft__fdtab) munmap(weft__fdtab, sizeof(weft__fdent) * (size_t)weft__fdtab_n);
    weft__fdtab = NULL;
    weft__fdtab_n = 0;
}

int weft__io_select(weft_io_backend want, const weft__io_ops **out) {
    const char *env = getenv("WEFT_IO");
    if (want == WEFT_IO_AUTO && env && *env) {
        if (!strcmp(env, "uring") || !strcmp(env, "io_uring"))
            want = WEFT_IO_URING;
        else if (!strcmp(env, "epoll"))
            want = WEFT_IO_EPOLL;
        else
            weft_log_warn("WEFT_IO=%s not understood (uring|epoll); choosing automatically", env);
    }
    if (want == WEFT_IO_EPOLL) {
        *out = &weft__io_epoll_ops;
        return 0;
    }
    int rc = weft__io_uring_probe();
    if (rc == 0) {
        *out = &weft__io_uring_ops;
        return 0;
    }
    if (want == WEFT_IO_URING) return rc;
    weft_log_info("io_uring unavailable (%s); using epoll", weft_strerror(rc));
    *out = &weft__io_epoll_ops;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

int weft_fd_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    if (fd < weft__fdtab_n && weft__fdtab) atomic_store(&weft__fdtab[fd].nb, 1);
    return 0;
}

/* Common prologue: cancellation, fd range, non-blocking mode. */
static int io_enter(int fd) {
    weft__task *t = weft__task_self();
    if (t && atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;
    if (fd < 0) return WEFT_EBADF;
    if (!weft__fdtab || fd >= weft__fdtab_n) return t ? WEFT_EBADF : WEFT_ENOTASK;
    if (WEFT_UNLIKELY(!atomic_load_explicit(&weft__fdtab[fd].nb, memory_order_relaxed)))
        return weft_fd_nonblock(fd);
    return 0;
}

static int io_wait(int fd, int events, int64_t deadline) {
    weft__worker *w = weft__worker_self();
    if (!w || !w->current) return deadline == 0 ? WEFT_EAGAIN : WEFT_ENOTASK;
    return weft__R.io->wait_fd(w, fd, events, deadline);
}

/* The backends may wake a waiter spuriously (an epoll one-shot armed by an
 * earlier wait on another worker reports readiness that was consumed since).
 * The syscall-retrying operations do not care; weft_fd_wait() hands the
 * events to its caller, so it confirms them with a zero-timeout poll(2). */
int weft_fd_wait_hint(int fd, int events, int64_t deadline) {
    int rc = io_enter(fd);
    if (rc) return rc;
    events &= WEFT_POLLIN | WEFT_POLLOUT;
    if (!events) return WEFT_EINVAL;
    return io_wait(fd, events, deadline);
}

int weft_fd_wait(int fd, int events, int64_t deadline) {
    int rc = io_enter(fd);
    if (rc) return rc;
    events &= WEFT_POLLIN | WEFT_POLLOUT;
    if (!events) return WEFT_EINVAL;
    for (;;) {
        rc = io_wait(fd, events, deadline);
        if (rc < 0) return rc;
        struct pollfd p = {.fd = fd, .events = (short)events};
        int n = poll(&p, 1, 0);
        if (n < 0 && errno != EINTR) return -errno;
        if (n > 0) {
            if (p.revents & POLLNVAL) return WEFT_EBADF;
            return (p.revents & (POLLERR | POLLHUP)) ? events | (p.revents & events)
                                                     : (p.revents & events);
        }
    }
}

/* Retry `call` until it does not fail with EAGAIN, waiting for `ev`. */
#define IO_LOOP(fd, ev, deadline, call)                                                            \
    do {                                                                                           \
        int rc_ = io_enter(fd);                                                                    \
        if (rc_) return rc_;                                                                       \
        for (;;) {                                                                                 \
            ssize_t r_ = (call);                                                                   \
            if (r_ >= 0) return r_;                                                                \
            if (errno == EINTR) continue;                                                          \
            if (errno != EAGAIN) return -errno;                                                    \
            rc_ = io_wait(fd, ev, deadline);                                                       \
            if (rc_ < 0) return rc_;                                                               \
        }                                                                                          \
    } while (0)

ssize_t weft_read(int fd, void *buf, size_t n, int64_t deadline) {
    IO_LOOP(fd, WEFT_POLLIN, deadline, read(fd, buf, n));
}
ssize_t weft_write(int fd, const void *buf, size_t n, int64_t deadline) {
    IO_LOOP(fd, WEFT_POLLOUT, deadline, write(fd, buf, n));
}
ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline) {
    IO_LOOP(fd, WEFT_POLLIN, deadline, readv(fd, iov, iovcnt));
}
ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline) {
    IO_LOOP(fd, WEFT_POLLOUT, deadline, writev(fd, iov, iovcnt));
}
ssize_t weft_sendfile(int out_fd, int in_fd, off_t *offset, size_t n, int64_t deadline) {
    IO_LOOP(out_fd, WEFT_POLLOUT, deadline, sendfile(out_fd, in_fd, offset, n));
}

int weft_send_async(int fd, const void *buf, size_t n, weft_send_done_fn *done, void *ud) {
    weft__worker *w = weft__worker_self();
    if (!w) return WEFT_ENOTASK;
    if (fd < 0 || !weft__fdtab || fd >= weft__fdtab_n) return WEFT_EBADF;
    if (!weft__R.io->send) return WEFT_ENOSYS;
    return weft__R.io->send(w, fd, buf, n, done, ud);
}

ssize_t weft_write_all(int fd, const void *buf, size_t n, int64_t deadline) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = weft_write(fd, (const char *)buf + done, n - done, deadline);
        if (r < 0) return r;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t weft_read_full(int fd, void *buf, size_t n, int64_t deadline) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = weft_read(fd, (char *)buf + done, n - done, deadline);
        if (r < 0) return r;
        if (r == 0) break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int weft_accept(int fd, void *addr, unsigned *addrlen, int64_t deadline) {
    int rc = io_enter(fd);
    if (rc) return rc;
    for (;;) {
        socklen_t len = addrlen ? *addrlen : 0;
        int c = accept4(fd, addr, addrlen ? &len : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            if (addrlen) *addrlen = len;
            if (c < weft__fdtab_n) atomic_store(&weft__fdtab[c].nb, 1);
            return c;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        rc = io_wait(fd, WEFT_POLLIN, deadline);
        if (rc < 0) return rc;
    }
}

int weft_connect(int fd, const void *addr, unsigned addrlen, int64_t deadline) {
    int rc = io_enter(fd);
    if (rc) return rc;
    if (connect(fd, addr, addrlen) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN) return -errno;
    rc = io_wait(fd, WEFT_POLLOUT, deadline);
    if (rc < 0) return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    return err ? -err : 0;
}

int weft_close(int fd) {
    if (fd < 0) return WEFT_EBADF;
    weft_fd_forget(fd);
    return close(fd) < 0 ? -errno : 0;
}

void weft_fd_forget(int fd) {
    if (fd >= 0 && weft__fdtab && fd < weft__fdtab_n) {
        weft__fdent *fe = &weft__fdtab[fd];
        weft__spin_lock(&fe->lock);
        atomic_store(&fe->nb, 0);
        weft__waiter *w;
        while ((w = weft__wq_pop(&fe->rd))) weft__wake(w->task, w->seq, WEFT_EBADF);
        while ((w = weft__wq_pop(&fe->wr))) weft__wake(w->task, w->seq, WEFT_EBADF);
        weft__spin_unlock(&fe->lock);
    }
}

/* ---- TCP helpers ------------------------------------------------------------------- */

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
    if (port < 0 || port > 65535) return WEFT_EINVAL;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (!host || !*host) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof *a4;
        return 0;
    }
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return 0;
    }
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    return WEFT_EINVAL;
}

/* A non-blocking TCP socket for host:port, known to the fd table. */
static int tcp_socket(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
    int rc = parse_addr(host, port, ss, len);
    if (rc) return rc;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (weft__fdtab && fd < weft__fdtab_n) atomic_store(&weft__fdtab[fd].nb, 1);
    return fd;
}

int weft_tcp_listen(const char *host, int port, int backlog, int reuseport) {
    struct sockaddr_storage ss;
    socklen_t len;
    int rc, fd = tcp_socket(host, port, &ss, &len);
    if (fd < 0) return fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) goto fail;
    if (listen(fd, backlog > 0 ? backlog : 4096) < 0) goto fail;
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

int weft_tcp_connect(const char *host, int port, int64_t deadline) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = tcp_socket(host, port, &ss, &len);
    if (fd < 0) return fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = weft_connect(fd, &ss, len, deadline);
    if (rc < 0) {
        weft_close(fd);
        return rc;
    }
    return fd;
}

int weft_sock_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return WEFT_EINVAL;
}
