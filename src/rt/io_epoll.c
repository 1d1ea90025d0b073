/*
 * io_epoll.c — the fallback I/O backend: one epoll instance per worker.
 *
 * A waiting task adds itself to the fd's reader or writer list in the fd
 * table and (re)arms the fd on its worker's epoll with EPOLLONESHOT and the
 * union of what the fd's waiters want. One-shot + MOD-or-ADD on every wait
 * costs an epoll_ctl per wait but is immune to fds closed behind our back
 * and to fds registered on several workers' instances: whichever instance
 * reports the event wakes the waiters listed in the table, and a stale event
 * at worst wakes a task that retries its syscall and waits again.
 *
 * Selected with WEFT_IO=epoll, or automatically when io_uring is missing or
 * disabled (kernel.io_uring_disabled, seccomp filters in containers).
 */
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io_int.h"

typedef struct epoll_state {
    int epfd;
} epoll_state;

static int e_init(weft__worker *w) {
    epoll_state *s = calloc(1, sizeof *s);
    if (!s) return WEFT_ENOMEM;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        int rc = -errno;
        free(s);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WEFT__WAKE_TAG};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0) {
        int rc = -errno;
        close(s->epfd);
        free(s);
        return rc;
    }
    w->io = s;
    return 0;
}

static void e_fini(weft__worker *w) {
    epoll_state *s = w->io;
    if (!s) return;
    close(s->epfd);
    free(s);
    w->io = NULL;
}

static uint32_t wanted(weft__fdent *fe) {
    return (fe->rd ? EPOLLIN | EPOLLRDHUP : 0) | (fe->wr ? EPOLLOUT : 0);
}

/* (Re)arm fd on epfd for what its waiters want (fe locked). */
static int arm(int epfd, int fd, weft__fdent *fe) {
    uint32_t want = wanted(fe);
    if (!want) return 0;
    struct epoll_event ev = {.events = want | EPOLLONESHOT, .data.u64 = (uint64_t)fd};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno == ENOENT && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    return -errno;
}

static int e_wait_fd(weft__worker *w, int fd, int events, int64_t deadline) {
    weft__task *t = w->current;
    weft__seq seq;
    int rc = weft__wait_begin(t, deadline, 0, &seq);
    if (rc) return rc;
    epoll_state *s = w->io;
    weft__fdent *fe = &weft__fdtab[fd];
    weft__waiter wt = {.task = t, .seq = seq, .events = events};
    weft__waiter **list = events & WEFT_POLLIN ? &fe->rd : &fe->wr;
    weft__spin_lock(&fe->lock);
    weft__wq_push(list, &wt);
    rc = arm(s->epfd, fd, fe);
    if (rc) {
        weft__wq_remove(list, &wt);
        weft__spin_unlock(&fe->lock);
        weft__wait_disarm(t);
        return rc;
    }
    weft__spin_unlock(&fe->lock);
    weft__wait_timer(t, seq, deadline);
    int r = weft__park(seq, NULL, NULL, events & WEFT_POLLIN ? "io read" : "io write",
                       (const void *)(intptr_t)fd);
    weft__wait_timer_cancel(t);
    if (r < 0) {
        weft__spin_lock(&fe->lock);
        weft__wq_remove(list, &wt);
        weft__spin_unlock(&fe->lock);
    }
    return r;
}

static int wake_list(weft__waiter **list, int events) {
    int n = 0;
    weft__waiter *w;
    while ((w = weft__wq_pop(list))) n += weft__wake(w->task, w->seq, events);
    return n;
}

static int e_poll(weft__worker *w, int timeout_ms) {
    epoll_state *s = w->io;
    struct epoll_event evs[128];
    int n = epoll_wait(s->epfd, evs, 128, timeout_ms);
    int woke = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == WEFT__WAKE_TAG) {
            uint64_t v;
            ssize_t r = read(w->wakefd, &v, sizeof v);
            (void)r;
            continue;
        }
        int fd = (int)evs[i].data.u64;
        if (fd < 0 || fd >= weft__fdtab_n) continue;
        weft__fdent *fe = &weft__fdtab[fd];
        uint32_t e = evs[i].events;
        int ready = (e & EPOLLIN ? WEFT_POLLIN : 0) | (e & EPOLLOUT ? WEFT_POLLOUT : 0);
        if (e & (EPOLLERR | EPOLLHUP)) ready |= WEFT_POLLIN | WEFT_POLLOUT;
        if (e & EPOLLRDHUP) ready |= WEFT_POLLIN;
        weft__spin_lock(&fe->lock);
        if (ready & WEFT_POLLIN) woke += wake_list(&fe->rd, ready);
        if (ready & WEFT_POLLOUT) woke += wake_list(&fe->wr, ready);
        arm(s->epfd, fd, fe); /* one-shot: re-arm for whoever still waits */
        weft__spin_unlock(&fe->lock);
    }
    return woke;
}

const weft__io_ops weft__io_epoll_ops = {
    .name = "epoll",
    .init = e_init,
    .fini = e_fini,
    .wait_fd = e_wait_fd,
    .poll = e_poll,
};
