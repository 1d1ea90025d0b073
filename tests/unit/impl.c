/*
 * tests/unit/impl.c — the module authors' tier, weft/impl.h: cancellation
 * masking (scoped, nesting, deadlines still honoured, a pending cancel taking
 * effect once unmasked), task references (cancel a running task, cancel after
 * the task ended and its slot was reused, "ended" only after every cleanup,
 * races between ending and cancelling) and fd waits without confirmation
 * (readiness, deadline, cancel, close, bad arguments), and sends queued on
 * the worker's ring (done once per send, a full socket, no ring on epoll).
 *
 * Only public and impl headers: this is what a module outside src/rt/ sees.
 * The suite runs the binary with WEFT_IO=uring and WEFT_IO=epoll.
 */
#include "test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "weft/impl.h"

/* ---- cancellation masking ----------------------------------------------------- */

TEST_PLAIN(nocancel_outside_task) {
    ASSERT_ERR(weft_nocancel_begin(), WEFT_ENOTASK);
    ASSERT_ERR(weft_nocancel_end(0), WEFT_ENOTASK);
}

TEST(nocancel_nests_and_restores) {
    int a = weft_nocancel_begin();
    ASSERT_EQ(a, 0);
    int b = weft_nocancel_begin();
    ASSERT_EQ(b, 1);
    ASSERT_EQ(weft_nocancel_end(b), 0);
    /* still masked by the outer scope: the next begin finds depth 1 */
    int c = weft_nocancel_begin();
    ASSERT_EQ(c, 1);
    ASSERT_EQ(weft_nocancel_end(c), 0);
    ASSERT_EQ(weft_nocancel_end(a), 0);
    int d = weft_nocancel_begin();
    ASSERT_EQ(d, 0);
    ASSERT_EQ(weft_nocancel_end(d), 0);
    ASSERT_ERR(weft_nocancel_end(WEFT_ENOTASK), WEFT_EINVAL);
}

/* The masked sleep: long enough that the cancel, sent ~PARK_MS into it,
 * comes while it sleeps even on a loaded machine (it was 150 ms). */
#define MASKED_MS 500

typedef struct masked_sleeper {
    weft_group g;
    _Atomic int parked;
    _Atomic int cancel_sent; /* the test task has called weft_group_cancel */
    int sleep_rc, after_rc, canceled_seen;
    int64_t slept_ms;
} masked_sleeper;

static void masked_sleeper_main(void *arg) {
    masked_sleeper *m = arg;
    int prev = weft_nocancel_begin();
    atomic_store(&m->parked, 1);
    int64_t t0 = weft_now_ns();
    m->sleep_rc = weft_sleep(MASKED_MS); /* the cancel comes after ~30 ms */
    m->slept_ms = test_ms_since(t0);
    /* still masked, until the cancel has surely been sent: on a loaded
     * machine the test task may not have sent it within the sleep, and
     * weft_canceled() read before it came would be 0 with the code right */
    for (int i = 0; i < 20000 && !atomic_load(&m->cancel_sent); i++) weft_sleep(1);
    m->canceled_seen = weft_canceled();
    weft_nocancel_end(prev);
    m->after_rc = weft_sleep(5000); /* unmasked: fails at once */
}

TEST(nocancel_ignores_cancel_keeps_deadline) {
    masked_sleeper m = {0};
    weft_group_init(&m.g);
    ASSERT_EQ(weft_group_go(&m.g, masked_sleeper_main, &m, "masked"), 0);
    while (!atomic_load(&m.parked)) weft_yield();
    weft_sleep(PARK_MS);
    weft_group_cancel(&m.g);
    atomic_store(&m.cancel_sent, 1);
    ASSERT_EQ(weft_group_wait(&m.g, weft_deadline_in(MASKED_MS + test_slack_ms(5000))), 0);
    ASSERT_EQ(m.sleep_rc, 0);              /* the cancel did not wake it */
    ASSERT_GE(m.slept_ms, MASKED_MS - 10); /* ... it slept to its deadline (a ms clock) */
    /* and no longer: a masked sleep that missed its deadline would sleep
     * on into the group_wait's deadline (the wake's speed is not the point) */
    ASSERT_LT(m.slept_ms, MASKED_MS + test_slack_ms(2000));
    ASSERT_EQ(m.canceled_seen, 1);          /* but the cancel is reported */
    ASSERT_ERR(m.after_rc, WEFT_ECANCELED); /* and takes effect once unmasked */
}

/* ---- task references ------------------------------------------------------------- */

TEST_PLAIN(task_ref_outside_task) {
    int err = 0;
    ASSERT(weft_task_ref_self(&err) == NULL);
    ASSERT_ERR(err, WEFT_ENOTASK);
    ASSERT(weft_task_ref_self(NULL) == NULL);
    ASSERT_ERR(weft_task_ref_cancel(NULL), WEFT_EINVAL);
    ASSERT_EQ(weft_task_ref_ended(NULL), 1);
    ASSERT_EQ(weft_task_ref_id(NULL), 0);
    weft_task_ref_release(NULL);
}

typedef struct ref_child {
    weft_chan *refs;      /* the child sends its reference here */
    weft_chan *block;     /* it then waits here (nobody sends) */
    int recv_rc;
    uint64_t id;
    _Atomic int ended_in_cleanup; /* weft_task_ref_ended() seen from its own cleanup */
    weft_task_ref *self;
} ref_child;

static void ref_child_cleanup(void *arg) {
    ref_child *c = arg;
    if (c->self) atomic_store(&c->ended_in_cleanup, weft_task_ref_ended(c->self) + 1);
}

static void ref_child_main(void *arg) {
    ref_child *c = arg;
    /* registered before the reference exists, so it would run after the
     * reference's own cleanup in plain LIFO order: the reference must still
     * report the task running here ("ended" = nothing of it runs any more) */
    weft_defer(ref_child_cleanup, c);
    int err = -1;
    weft_task_ref *r = weft_task_ref_self(&err);
    if (!r) return;
    c->self = r;
    c->id = weft_task_id();
    weft_chan_send(c->refs, &r, -1);
    int v;
    c->recv_rc = weft_chan_recv(c->block, &v, weft_deadline_in(10000));
}

TEST(task_ref_cancel_running_then_ended) {
    ref_child c = {0};
    c.refs = weft_chan_new(sizeof(weft_task_ref *), 1, NULL);
    c.block = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c.refs && c.block);
    weft_group g;
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&g, ref_child_main, &c, "ref-child"), 0);
    weft_task_ref *r = NULL;
    ASSERT_EQ(weft_chan_recv(c.refs, &r, weft_deadline_in(5000)), 0);
    ASSERT(r != NULL);
    ASSERT_EQ(weft_task_ref_ended(r), 0);
    ASSERT_EQ(weft_task_ref_id(r), c.id);
    weft_sleep(PARK_MS); /* parked in the recv */
    int64_t t0 = weft_now_ns();
    ASSERT_EQ(weft_task_ref_cancel(r), 0);
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    /* woken by the cancel, not at its 10 s deadline (that recv would end
     * with WEFT_ETIMEDOUT, after the wait's 5 s); how soon is not the point
     * (a test_slack_ms(200) bound here timed how soon a loaded machine ran
     * the task again) */
    ASSERT_LT(test_ms_since(t0), 5000);
    ASSERT_ERR(c.recv_rc, WEFT_ECANCELED);
    ASSERT_EQ(atomic_load(&c.ended_in_cleanup), 1); /* not ended yet inside its cleanups */
    ASSERT_EQ(weft_task_ref_ended(r), 1);
    ASSERT_ERR(weft_task_ref_cancel(r), WEFT_ENOENT);
    ASSERT_EQ(weft_task_ref_id(r), c.id); /* still readable after the end */
    weft_task_ref_release(r);
    weft_chan_free(c.refs);
    weft_chan_free(c.block);
}

/* A reference to an ended task must not cancel the task that reuses its
 * stack slot. Many short tasks in a row reuse slots from the worker's cache. */
static void ref_short_main(void *arg) {
    weft_task_ref **out = arg;
    *out = weft_task_ref_self(NULL);
}

typedef struct ref_sleeper {
    _Atomic int started;
    int rc;
} ref_sleeper;

static void ref_sleeper_main(void *arg) {
    ref_sleeper *s = arg;
    atomic_store(&s->started, 1);
    s->rc = weft_sleep(100);
}

TEST(task_ref_stale_does_not_hit_slot_reuser) {
    enum { N = 64 };
    weft_task_ref *refs[N] = {0};
    weft_group g;
    weft_group_init(&g);
    for (int i = 0; i < N; i++) ASSERT_EQ(weft_group_go(&g, ref_short_main, &refs[i], "short"), 0);
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ref_sleeper sl[N];
    memset(sl, 0, sizeof sl);
    for (int i = 0; i < N; i++) ASSERT_EQ(weft_group_go(&g, ref_sleeper_main, &sl[i], "reuser"), 0);
    for (int i = 0; i < N; i++)
        while (!atomic_load(&sl[i].started)) weft_yield();
    for (int i = 0; i < N; i++) {
        ASSERT(refs[i] != NULL);
        ASSERT_EQ(weft_task_ref_ended(refs[i]), 1);
        ASSERT_ERR(weft_task_ref_cancel(refs[i]), WEFT_ENOENT);
        weft_task_ref_release(refs[i]);
    }
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    for (int i = 0; i < N; i++) ASSERT_EQ(sl[i].rc, 0); /* none of them was cancelled */
}

/* Tasks end while another task cancels them through their references: every
 * cancel either reaches a running task (0) or finds it ended (ENOENT), and
 * nothing else is hit (TSan checks the lock protocol). */
typedef struct ref_race {
    weft_chan *refs;
    atomic_long delivered, missed, bad;
} ref_race;

static void ref_racer_main(void *arg) {
    ref_race *rr = arg;
    weft_task_ref *r = weft_task_ref_self(NULL);
    if (!r || weft_chan_send(rr->refs, &r, -1) != 0) {
        weft_task_ref_release(r); /* the test gave up; ours is the only holder */
        return;
    }
    weft_yield(); /* end soon, maybe before, maybe after the cancel */
}

static void ref_canceler_main(void *arg) {
    ref_race *rr = arg;
    weft_task_ref *r;
    while (weft_chan_recv(rr->refs, &r, -1) == 0) {
        int rc = weft_task_ref_cancel(r);
        if (rc == 0)
            atomic_fetch_add(&rr->delivered, 1);
        else if (rc == WEFT_ENOENT)
            atomic_fetch_add(&rr->missed, 1);
        else
            atomic_fetch_add(&rr->bad, 1);
        weft_task_ref_release(r);
    }
}

TEST(task_ref_cancel_races_end) {
    long n = test_scale_min(20000, 500);
    ref_race rr = {0};
    rr.refs = weft_chan_new(sizeof(weft_task_ref *), 16, NULL);
    ASSERT(rr.refs);
    weft_group cg, g;
    weft_group_init(&cg);
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&cg, ref_canceler_main, &rr, "canceler"), 0);
    for (long i = 0; i < n; i++) {
        ASSERT_EQ(weft_group_go(&g, ref_racer_main, &rr, "racer"), 0);
        if (i % 256 == 255) weft_yield();
    }
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(60000)), 0);
    weft_chan_close(rr.refs);
    ASSERT_EQ(weft_group_wait(&cg, weft_deadline_in(10000)), 0);
    ASSERT_EQ(atomic_load(&rr.bad), 0);
    ASSERT_EQ(atomic_load(&rr.delivered) + atomic_load(&rr.missed), n);
    weft_chan_free(rr.refs);
}

static void self_cancel_main(void *arg) {
    int *rc = arg;
    weft_task_ref *r = weft_task_ref_self(NULL);
    if (!r) return;
    rc[0] = weft_task_ref_cancel(r);
    rc[1] = weft_sleep(1000);
    weft_task_ref_release(r);
}

TEST(task_ref_cancel_self) {
    int rc[2] = {-999, -999};
    weft_group g;
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&g, self_cancel_main, rc, "self"), 0);
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_EQ(rc[0], 0);
    ASSERT_ERR(rc[1], WEFT_ECANCELED);
}

/* ---- fd waits without confirmation ---------------------------------------------- */

TEST(fd_wait_hint_ready_and_timeout) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    int64_t t0 = weft_now_ns();
    ASSERT_ERR(weft_fd_wait_hint(p[0], WEFT_POLLIN, weft_deadline_in(50)), WEFT_ETIMEDOUT);
    ASSERT_GE(test_ms_since(t0), 45);
    ASSERT_ERR(weft_fd_wait_hint(p[0], WEFT_POLLIN, 0), WEFT_EAGAIN);
    int w = weft_fd_wait_hint(p[1], WEFT_POLLOUT, weft_deadline_in(1000));
    ASSERT_GT(w, 0);
    ASSERT(w & WEFT_POLLOUT);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    int r = weft_fd_wait_hint(p[0], WEFT_POLLIN, weft_deadline_in(1000));
    ASSERT_GT(r, 0);
    ASSERT(r & WEFT_POLLIN);
    ASSERT_ERR(weft_fd_wait_hint(p[0], 0, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_fd_wait_hint(-1, WEFT_POLLIN, -1), WEFT_EBADF);
    test_close2(p);
}

typedef struct hint_waiter {
    int fd;
    _Atomic int entered;
    int rc;
} hint_waiter;

static void hint_waiter_main(void *arg) {
    hint_waiter *h = arg;
    atomic_store(&h->entered, 1);
    h->rc = weft_fd_wait_hint(h->fd, WEFT_POLLIN, weft_deadline_in(10000));
}

static void late_writer_main(void *arg) {
    int fd = *(int *)arg;
    weft_sleep(PARK_MS);
    ssize_t n = write(fd, "y", 1);
    (void)n;
}

TEST(fd_wait_hint_woken_by_writer) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    weft_group g;
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&g, late_writer_main, &p[1], "writer"), 0);
    int64_t t0 = weft_now_ns();
    int r = weft_fd_wait_hint(p[0], WEFT_POLLIN, weft_deadline_in(10000));
    ASSERT_GT(r, 0); /* woken by the write: its 10 s deadline gives WEFT_ETIMEDOUT */
    ASSERT(r & WEFT_POLLIN);
    ASSERT_LT(test_ms_since(t0), 5000); /* well before it, however loaded the machine */
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    test_close2(p);
}

TEST(fd_wait_hint_cancel_and_close) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    hint_waiter h = {.fd = p[0]};
    weft_group g;
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&g, hint_waiter_main, &h, "hint-wait"), 0);
    while (!atomic_load(&h.entered)) weft_yield();
    weft_sleep(PARK_MS);
    int64_t t0 = weft_now_ns();
    weft_group_cancel(&g);
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_ERR(h.rc, WEFT_ECANCELED);   /* woken by the cancel, not at its 10 s deadline */
    ASSERT_LT(test_ms_since(t0), 5000); /* (was test_slack_ms(200): a speed bound) */

    /* closed by another task while waiting: EBADF, not a hang */
    hint_waiter h2 = {.fd = p[0]};
    ASSERT_EQ(weft_group_go(&g, hint_waiter_main, &h2, "hint-wait2"), 0);
    while (!atomic_load(&h2.entered)) weft_yield();
    weft_sleep(PARK_MS);
    ASSERT_EQ(weft_close(p[0]), 0);
    p[0] = -1;
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_ERR(h2.rc, WEFT_EBADF);
    test_close2(p);
}

/* ---- sends batched on the worker's ring ---------------------------------------- */

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int ring_backend(void) {
    const char *io = getenv("WEFT_IO");
    return !io || strcmp(io, "epoll") != 0;
}

/* What the done callbacks saw. They run on the worker that reaps the ring
 * while the test task polls calls, and that task may resume on the other
 * worker after each weft_sleep: every field is atomic. calls is counted
 * last, with release, so a test that has seen calls reach n (with acquire:
 * calls_after) also sees the other fields as the n-th callback left them. */
typedef struct send_tally {
    atomic_int calls, full;
    _Atomic ssize_t bytes, last;
} send_tally;

static void tally_done(void *ud, ssize_t res) {
    send_tally *t = ud;
    atomic_store_explicit(&t->last, res, memory_order_relaxed);
    if (res > 0) atomic_fetch_add_explicit(&t->bytes, res, memory_order_relaxed);
    if (res == WEFT_EAGAIN) atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->calls, 1, memory_order_release);
}

/* The done calls counted once n have come, or after a generous deadline
 * (then fewer, and the caller's check fails). */
static int calls_after(send_tally *t, int n) {
    int64_t t0 = weft_now_ns();
    while (atomic_load_explicit(&t->calls, memory_order_acquire) < n &&
           test_ms_since(t0) < test_slack_ms(5000))
        weft_sleep(1);
    return atomic_load_explicit(&t->calls, memory_order_acquire);
}

/* A queued send goes out and its done is called once with the byte count,
 * on io_uring; 1,500 of them (more than the ring holds, so completions are
 * also reaped inside weft_send_async) each get theirs: a byte sent, or
 * WEFT_EAGAIN once the unread socket is full (a 1-byte send costs a unix
 * socket a buffer's worth of accounting). Epoll has no ring: WEFT_ENOSYS,
 * and done is never called. */
TEST(send_async_calls_done_once_per_send) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    send_tally t = {0};
    int rc = weft_send_async(sv[0], "hello", 5, tally_done, &t);
    if (!ring_backend()) {
        ASSERT_ERR(rc, WEFT_ENOSYS);
        weft_sleep(5);
        ASSERT_EQ(atomic_load(&t.calls), 0);
        test_close2(sv);
        return;
    }
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(calls_after(&t, 1), 1);
    ASSERT_EQ(atomic_load(&t.last), 5);
    char buf[2048];
    ASSERT_EQ(weft_read(sv[1], buf, sizeof buf, weft_deadline_in(5000)), 5);
    ASSERT_MEMEQ(buf, "hello", 5);

    send_tally many = {0};
    enum { N = 1500 };
    for (int i = 0; i < N; i++) ASSERT_EQ(weft_send_async(sv[0], "x", 1, tally_done, &many), 0);
    ASSERT_EQ(calls_after(&many, N), N);
    ssize_t bytes = atomic_load(&many.bytes);
    ASSERT_GT(bytes, 0);
    ASSERT_EQ(bytes + atomic_load(&many.full), N);
    ssize_t got = 0;
    while (got < bytes) {
        ssize_t r = weft_read(sv[1], buf, sizeof buf, weft_deadline_in(5000));
        ASSERT_GT(r, 0);
        got += r;
    }
    ASSERT_EQ(got, bytes);
    ASSERT_ERR(weft_send_async(-1, "x", 1, tally_done, &many), WEFT_EBADF);
    test_close2(sv);
}

/* A full socket: the send does not wait, it completes with WEFT_EAGAIN. */
TEST(send_async_to_a_full_socket_completes_with_eagain) {
    if (!ring_backend()) return;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    static char fill[65536];
    while (write(sv[0], fill, sizeof fill) > 0) {}
    send_tally t = {0};
    ASSERT_EQ(weft_send_async(sv[0], "x", 1, tally_done, &t), 0);
    ASSERT_EQ(calls_after(&t, 1), 1);
    ASSERT_ERR(atomic_load(&t.last), WEFT_EAGAIN);
    test_close2(sv);
}

TEST_PLAIN(send_async_outside_a_worker) {
    send_tally t = {0};
    ASSERT_ERR(weft_send_async(1, "x", 1, tally_done, &t), WEFT_ENOTASK);
    ASSERT_EQ(atomic_load(&t.calls), 0);
}

/* The runtime does not end while a send is queued: a main task that queues
 * one and returns at once still has its done called before weft_main
 * returns. (With one worker this holds even without the in-flight count, the
 * loop polls before it looks for the end; the count is for a send queued on
 * another worker than the one that ends the last task.) */
typedef struct last_send {
    int fd;
    int rc;
    send_tally t;
} last_send;

static void last_send_main(void *arg) {
    last_send *l = arg;
    l->rc = weft_send_async(l->fd, "bye", 3, tally_done, &l->t);
}

TEST_PLAIN(send_async_keeps_the_runtime_until_done) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    last_send l = {.fd = sv[0]};
    ASSERT_EQ(weft_main(last_send_main, &l, NULL), 0);
    if (ring_backend()) {
        ASSERT_EQ(l.rc, 0);
        ASSERT_EQ(atomic_load(&l.t.calls), 1);
        ASSERT_EQ(atomic_load(&l.t.last), 3);
        char buf[8];
        ASSERT_EQ(read(sv[1], buf, sizeof buf), 3);
    } else {
        ASSERT_ERR(l.rc, WEFT_ENOSYS);
        ASSERT_EQ(atomic_load(&l.t.calls), 0);
    }
    close(sv[0]);
    close(sv[1]);
}
