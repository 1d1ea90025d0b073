/*
 * io_uring.c — the default I/O backend: one ring per worker.
 *
 * A task waiting for an fd queues a POLL_ADD on its worker's ring; the
 * scheduler loop submits everything queued in one io_uring_enter and reaps
 * completions without a syscall when the kernel has posted them
 * (COOP_TASKRUN + TASKRUN_FLAG tell us when it needs one). An idle worker
 * blocks in the ring; its eventfd, polled multishot on the ring, wakes it.
 *
 * The poll request names a `uwait` in the waiting task's frame, so the task
 * may return only once the kernel is done with it. After a timeout, cancel or
 * weft_close() the task asks for a POLL_REMOVE — on the ring that owns the
 * request: directly if it is running on that worker, else through the
 * owner's inbox — and parks (not cancellable) until both the poll's
 * completion has arrived and the owner has taken the request off its inbox.
 * `kstate` records which of those happened; whoever completes the set wakes
 * the task. Both happen on the owner's thread, so they never race each other.
 *
 * A POLL_REMOVE can miss: it answers -ENOENT/-EALREADY while the poll is
 * between a wake-up and its re-arm (several readers woken for one byte), and
 * the re-armed poll then never completes. So a remove that did not find its
 * poll is issued again while the task still waits for the completion. The
 * user_data carries the wait's sequence number next to the address, so a
 * late or repeated remove can never hit a later wait at the same address.
 *
 * weft_send_async() queues a SEND (MSG_DONTWAIT) named by a `usend` record
 * from the worker's free list; its completion calls the sender's done
 * function. A fan-out to many sockets thus costs one io_uring_enter per
 * ring-full of sends (or per scheduler turn) instead of one sendmsg each.
 * When the ring is full the sends are submitted and the completions reaped
 * at once, so the completion ring never holds more than a ring-full of them.
 */
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_int.h"

enum { K_DONE = 1, K_WAITING = 2, K_INBOX = 4 };

typedef struct uwait {
    weft__waiter wt;
    _Atomic int kstate;
    uint32_t rel_seq;
    weft__worker *owner;
    struct uwait *inext;
} uwait;

/* A queued send: whom to tell. Owned by the worker (free list). */
typedef struct usend {
    weft_send_done_fn *done;
    void *ud;
    struct usend *next;
} usend;

typedef struct uring_state {
    struct io_uring ring;
    _Atomic(uwait *) inbox;
    uint64_t wakebuf;
    int wake_armed;
    int send_ok;       /* the kernel has IORING_OP_SEND */
    usend *free_sends; /* records of completed sends, for the next ones */
} uring_state;

#define RING_ENTRIES 1024

static int ring_init(struct io_uring *r, unsigned entries) {
    unsigned flagsets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
            IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof flagsets / sizeof flagsets[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flagsets[i];
        rc = io_uring_queue_init_params(entries, r, &p);
        if (rc == 0) return 0;
        if (rc != -EINVAL) break;
    }
    return rc;
}

int weft__io_uring_probe(void) {
    struct io_uring r;
    int rc = ring_init(&r, 4);
    if (rc) return rc;
    /* the ops we need */
    struct io_uring_probe *p = io_uring_get_probe_ring(&r);
    if (p) {
        if (!io_uring_opcode_supported(p, IORING_OP_POLL_ADD) ||
            !io_uring_opcode_supported(p, IORING_OP_POLL_REMOVE))
            rc = WEFT_ENOSYS;
        io_uring_free_probe(p);
    }
    io_uring_queue_exit(&r);
    return rc;
}

static struct io_uring_sqe *get_sqe(uring_state *s) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    while (!sqe) {
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void arm_wake(uring_state *s, weft__worker *w) {
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_poll_multishot(sqe, w->wakefd, POLLIN);
    io_uring_sqe_set_data64(sqe, WEFT__WAKE_TAG);
    s->wake_armed = 1;
}

/* The rings' memory is mapped by liburing with raw syscalls, so a ring
 * mapped where a finished worker's ring was looks, to TSan, like the same
 * memory written by two threads with no order between them. It is ordered:
 * the old ring was unmapped first. This release/acquire pair says so (and
 * costs one atomic per worker start and stop). */
static _Atomic unsigned ring_generation;

static int u_init(weft__worker *w) {
    (void)atomic_load_explicit(&ring_generation, memory_order_acquire);
    uring_state *s = calloc(1, sizeof *s);
    if (!s) return WEFT_ENOMEM;
    int rc = ring_init(&s->ring, RING_ENTRIES);
    if (rc) {
        free(s);
        return rc;
    }
    struct io_uring_probe *p = io_uring_get_probe_ring(&s->ring);
    s->send_ok = p && io_uring_opcode_supported(p, IORING_OP_SEND);
    if (p) io_uring_free_probe(p);
    w->io = s;
    arm_wake(s, w);
    io_uring_submit(&s->ring);
    return 0;
}

static void u_fini(weft__worker *w) {
    uring_state *s = w->io;
    if (!s) return;
    atomic_fetch_add_explicit(&ring_generation, 1, memory_order_release);
    io_uring_queue_exit(&s->ring);
    while (s->free_sends) {
        usend *u = s->free_sends;
        s->free_sends = u->next;
        free(u);
    }
    free(s);
    w->io = NULL;
}

/* user_data of a wait's POLL_ADD: its address, and its seq in bits 48..62
 * (user-space addresses are below 2^47); bit 0 set marks the POLL_REMOVE.
 * A send's is its usend's address with bit 1 set (both are 8-aligned). */
#define UD_SEND 2ull
#define UD_ADDR_MASK ((1ull << 48) - 1)
static uint64_t wait_ud(uwait *uw) {
    return (uint64_t)(uintptr_t)uw | ((uint64_t)(uw->wt.seq & 0x7fff) << 48);
}

static void remove_poll(uring_state *s, uwait *uw) {
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_poll_remove(sqe, wait_ud(uw));
    io_uring_sqe_set_data64(sqe, wait_ud(uw) | 1);
}

static int u_wait_fd(weft__worker *w, int fd, int events, int64_t deadline) {
    weft__task *t = w->current;
    weft__seq seq;
    int rc = weft__wait_begin(t, deadline, 0, &seq);
    if (rc) return rc;
    uring_state *s = w->io;
    uwait uw;
    memset(&uw, 0, sizeof uw);
    uw.wt.task = t;
    uw.wt.seq = seq;
    uw.owner = w;
    weft__fdent *fe = &weft__fdtab[fd];
    weft__waiter **list = events & WEFT_POLLIN ? &fe->rd : &fe->wr;
    weft__spin_lock(&fe->lock);
    weft__wq_push(list, &uw.wt);
    weft__spin_unlock(&fe->lock);

    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_poll_add(sqe, fd, (unsigned)events);
    io_uring_sqe_set_data64(sqe, wait_ud(&uw));
    weft__wait_timer(t, seq, deadline);
    int r = weft__park(seq, NULL, NULL, events & WEFT_POLLIN ? "io read" : "io write",
                       (const void *)(intptr_t)fd);
    weft__wait_timer_cancel(t);
    weft__spin_lock(&fe->lock);
    weft__wq_remove(list, &uw.wt);
    weft__spin_unlock(&fe->lock);
    if (atomic_load(&uw.kstate) & K_DONE) {
        /* a poll cancelled by a remove that was meant for someone else can
         * never happen (seq in user_data), but be safe: make it a spurious
         * wake, after which the caller retries its syscall */
        return r == -ECANCELED ? events : r;
    }

    /* timed out / cancelled / fd closed: take the request back first */
    weft__seq seq2;
    weft__wait_begin(t, -1, 1, &seq2);
    uw.rel_seq = seq2;
    weft__worker *cur = weft__worker_self();
    if (cur == uw.owner) {
        remove_poll(cur->io, &uw);
    } else {
        uring_state *os = uw.owner->io;
        atomic_fetch_or(&uw.kstate, K_INBOX);
        uwait *h = atomic_load(&os->inbox);
        do uw.inext = h;
        while (!atomic_compare_exchange_weak(&os->inbox, &h, &uw));
        weft__worker_wake(uw.owner);
    }
    int old = atomic_fetch_or(&uw.kstate, K_WAITING);
    if ((old & K_DONE) && !(old & K_INBOX))
        weft__wait_disarm(t);
    else
        weft__park(seq2, NULL, NULL, "io release", (const void *)(intptr_t)fd);
    return r;
}

static void drain_inbox(uring_state *s) {
    uwait *uw = atomic_exchange(&s->inbox, NULL);
    while (uw) {
        uwait *next = uw->inext;
        remove_poll(s, uw);
        int old = atomic_fetch_and(&uw->kstate, ~K_INBOX);
        if ((old & K_DONE) && (old & K_WAITING)) weft__wake(uw->wt.task, uw->rel_seq, 0);
        uw = next;
    }
}

/* Whether the wait behind a remove's user_data still waits for its poll.
 * Reads a frame its task may have reused meanwhile (always mapped; stale
 * contents fail the seq check), hence no TSan. */
WEFT_NO_TSAN static bool still_waiting(uwait *uw, uint64_t ud) {
    int ks = *(volatile int *)&uw->kstate;
    weft__seq seq = *(volatile weft__seq *)&uw->wt.seq;
    uint64_t cur = (uint64_t)(uintptr_t)uw | ((uint64_t)(seq & 0x7fff) << 48);
    return cur == ud && !(ks & K_DONE) && (ks & K_WAITING);
}

static int handle_cqe(weft__worker *w, uring_state *s, struct io_uring_cqe *cqe) {
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    if (ud == WEFT__WAKE_TAG) {
        ssize_t n = read(w->wakefd, &s->wakebuf, sizeof s->wakebuf);
        (void)n;
        if (!(cqe->flags & IORING_CQE_F_MORE)) s->wake_armed = 0;
        return 0;
    }
    if (ud & UD_SEND) {
        usend *u = (usend *)(uintptr_t)(ud & ~UD_SEND);
        weft_send_done_fn *done = u->done;
        void *arg = u->ud;
        u->next = s->free_sends;
        s->free_sends = u;
        done(arg, cqe->res);
        /* counted as ended after done: a task it spawns is counted first,
         * so the runtime never looks finished in between */
        weft__count_bump(&w->ended);
        return 0;
    }
    if (ud & 1) { /* a POLL_REMOVE's own completion */
        if (cqe->res == -ENOENT || cqe->res == -EALREADY) {
            /* missed (see the top of this file): if that wait still waits
             * for its poll, remove again. The frame is always mapped; the
             * seq check tells whether it is still that wait. */
            uwait *uw = (uwait *)(uintptr_t)(ud & UD_ADDR_MASK & ~1ull);
            if (still_waiting(uw, ud & ~1ull)) remove_poll(s, uw);
        }
        return 0;
    }
    uwait *uw = (uwait *)(uintptr_t)(ud & UD_ADDR_MASK);
    weft__task *t = uw->wt.task;
    weft__seq seq = uw->wt.seq;
    int res = cqe->res;
    int old = atomic_fetch_or(&uw->kstate, K_DONE);
    /* from here uw may be gone unless the task waits for us (K_WAITING) */
    if (old == 0) return weft__wake(t, seq, res);
    if ((old & K_WAITING) && !(old & K_INBOX)) weft__wake(t, uw->rel_seq, 0);
    return 0;
}

static int reap(weft__worker *w, uring_state *s) {
    struct io_uring *r = &s->ring;
    int n = 0;
    unsigned head, seen = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(r, head, cqe) {
        n += handle_cqe(w, s, cqe);
        seen++;
    }
    io_uring_cq_advance(r, seen);
    return n;
}

static int u_send(weft__worker *w, int fd, const void *buf, size_t n, weft_send_done_fn *done,
                  void *ud) {
    uring_state *s = w->io;
    if (!s->send_ok) return WEFT_ENOSYS;
    usend *u = s->free_sends;
    if (u)
        s->free_sends = u->next;
    else if (!(u = malloc(sizeof *u)))
        return WEFT_ENOMEM;
    u->done = done;
    u->ud = ud;
    if (!io_uring_sq_space_left(&s->ring)) {
        /* a ring-full: to the kernel now, and its completions taken, so
         * they never pile up past the completion ring's size */
        io_uring_submit(&s->ring);
        reap(w, s);
    }
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_send(sqe, fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)u | UD_SEND);
    weft__count_spawn(w); /* in flight: the runtime stays up for its done */
    return 0;
}

static int u_poll(weft__worker *w, int timeout_ms) {
    uring_state *s = w->io;
    struct io_uring *r = &s->ring;
    if (atomic_load_explicit(&s->inbox, memory_order_relaxed)) drain_inbox(s);
    if (!s->wake_armed) arm_wake(s, w);
    if (timeout_ms == 0) {
        if (io_uring_sq_ready(r) || (IO_URING_READ_ONCE(*r->sq.kflags) & IORING_SQ_TASKRUN) ||
            io_uring_cq_has_overflow(r))
            io_uring_submit_and_get_events(r);
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
        io_uring_submit_and_wait_timeout(r, &cqe, 1, timeout_ms > 0 ? &ts : NULL, NULL);
    }
    return reap(w, s);
}

const weft__io_ops weft__io_uring_ops = {
    .name = "io_uring",
    .init = u_init,
    .fini = u_fini,
    .wait_fd = u_wait_fd,
    .poll = u_poll,
    .send = u_send,
};
