/*
 * tests/unit/cancel.c — cancellation: a task parked in any kind of wait is
 * woken with WEFT_ECANCELED promptly, and the object it waited on is left
 * consistent; a cancelled task's later suspending calls fail at once; defers
 * run in LIFO order; groups refuse spawns once cancelled; weft_shutdown()
 * cancels everything and makes weft_main() return; an fd wait withdrawn by a
 * cancel leaves the fd usable.
 *
 * The common pattern (run_victim): spawn the victim in its own group, sleep
 * ~20 ms so it is parked, weft_group_cancel, weft_group_wait with a deadline,
 * and check the victim's call returned WEFT_ECANCELED, that it had not
 * returned before the cancel, and how long the wake took.
 *
 * The suite runs this binary with WEFT_IO=uring and WEFT_IO=epoll; the pipe
 * test also runs both backends explicitly (cancel_read_pipe_each_backend).
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the victim harness ------------------------------------------------------ */

typedef struct victim {
    int (*op)(struct victim *v); /* the call that parks */
    void *a, *b;                 /* its arguments */
    long x;
    weft_group g;
    int go;
    _Atomic int entered;
    _Atomic int returned;
    int rc;
    int canceled; /* weft_canceled() after the call */
    int early;    /* the call had returned before the cancel */
    int wait_rc;  /* weft_group_wait after the cancel */
    int64_t t_cancel_ns;
    _Atomic int64_t t_end_ns;
} victim;

static void victim_main(void *arg) {
    victim *v = arg;
    atomic_store(&v->entered, 1);
    v->rc = v->op(v);
    atomic_store(&v->t_end_ns, weft_now_ns());
    v->canceled = weft_canceled();
    atomic_store(&v->returned, 1);
}

/* Spawn, let it park, cancel, wait for it (with a deadline). Afterwards the
 * caller releases whatever the victim waited on (in case the cancel did not
 * work) and calls victim_reap(). */
static void run_victim(victim *v, int (*op)(victim *)) {
    v->op = op;
    v->rc = -999;
    weft_group_init(&v->g);
    v->go = weft_group_go(&v->g, victim_main, v, "victim");
    if (v->go) return;
    weft_sleep(20);
    v->early = atomic_load(&v->returned);
    v->t_cancel_ns = weft_now_ns();
    weft_group_cancel(&v->g);
    v->wait_rc = weft_group_wait(&v->g, weft_deadline_in(test_slack_ms(2000)));
}

static void victim_reap(victim *v) {
    if (!v->go) weft_group_wait(&v->g, -1);
}

/* Checks of the pattern; reports and returns 0 on failure. */
static int victim_ok(victim *v, const char *what) {
    int64_t lat = (atomic_load(&v->t_end_ns) - v->t_cancel_ns) / 1000000;
    const char *why = NULL;
    if (v->go)
        why = "spawn failed";
    else if (!atomic_load(&v->entered))
        why = "victim never ran";
    else if (v->early)
        why = "the call returned before the cancel (it never parked)";
    else if (v->wait_rc)
        why = "victim did not end within the deadline after the cancel";
    else if (v->rc != WEFT_ECANCELED)
        why = "the call did not return WEFT_ECANCELED";
    else if (!v->canceled)
        why = "weft_canceled() is 0 after the cancel";
    /* No bound on lat of its own: a wake that the cancel did not cause comes
     * never (-1 waits: wait_rc, test_slack_ms(2000)) or at the call's own
     * 10 s deadline (rc 0 or WEFT_ETIMEDOUT, not WEFT_ECANCELED); a bound
     * under those (it was test_slack_ms(500)) only measured how soon a
     * loaded machine ran the victim again. lat is printed on a failure. */
    if (why) {
        test__fail(__FILE__, __LINE__, "%s: %s (rc %d %s, wait %s, %lld ms)", what, why, v->rc,
                   weft_strerror(v->rc), weft_strerror(v->wait_rc), (long long)lat);
        return 0;
    }
    return 1;
}

/* ---- each kind of wait ------------------------------------------------------- */

static int op_recv(victim *v) {
    int x;
    return weft_chan_recv(v->a, &x, -1);
}

TEST(cancel_chan_recv) {
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    victim v = {.a = c};
    run_victim(&v, op_recv);
    int x = 1;
    int after = weft_chan_send(c, &x, 0); /* no receiver may be left queued */
    weft_chan_close(c);
    victim_reap(&v);
    weft_chan_free(c);
    ASSERT(victim_ok(&v, "chan recv"));
    ASSERT_ERR(after, WEFT_EAGAIN);
}

TEST(cancel_chan_recv_buffered) {
    weft_chan *c = weft_chan_new(sizeof(int), 4, NULL);
    ASSERT(c);
    victim v = {.a = c};
    run_victim(&v, op_recv);
    int x = 7, y = 0;
    int s = weft_chan_send(c, &x, 0);
    size_t len = weft_chan_len(c); /* the value stayed in the buffer */
    int r = weft_chan_recv(c, &y, 0);
    weft_chan_close(c);
    victim_reap(&v);
    weft_chan_free(c);
    ASSERT(victim_ok(&v, "buffered chan recv"));
    ASSERT_EQ(s, 0);
    ASSERT_EQ(len, 1);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(y, 7);
}

static int op_send(victim *v) {
    int x = 99;
    return weft_chan_send(v->a, &x, -1);
}

TEST(cancel_chan_send) {
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    victim v = {.a = c};
    run_victim(&v, op_send);
    int x = 0;
    int after = weft_chan_recv(c, &x, 0); /* the value was not left behind */
    weft_chan_close(c);
    victim_reap(&v);
    weft_chan_free(c);
    ASSERT(victim_ok(&v, "chan send"));
    ASSERT_ERR(after, WEFT_EAGAIN);
    ASSERT_EQ(x, 0);
}

TEST(cancel_chan_send_full_buffer) {
    weft_chan *c = weft_chan_new(sizeof(int), 1, NULL);
    ASSERT(c);
    int one = 1;
    ASSERT_EQ(weft_chan_send(c, &one, 0), 0);
    victim v = {.a = c};
    run_victim(&v, op_send);
    int x = 0, y = 0;
    int r1 = weft_chan_recv(c, &x, 0);
    int r2 = weft_chan_recv(c, &y, 0); /* the cancelled send must not refill it */
    weft_chan_close(c);
    victim_reap(&v);
    weft_chan_free(c);
    ASSERT(victim_ok(&v, "chan send (full buffer)"));
    ASSERT_EQ(r1, 0);
    ASSERT_EQ(x, 1);
    ASSERT_ERR(r2, WEFT_EAGAIN);
}

static int op_select(victim *v) {
    int x = 5, y;
    weft_case cs[3] = {
        {.chan = v->a, .op = WEFT_RECV, .val = &y},
        {.chan = v->b, .op = WEFT_SEND, .val = &x},
        {.chan = NULL, .op = WEFT_RECV, .val = &y},
    };
    return weft_select(cs, 3, -1);
}

TEST(cancel_select) {
    weft_chan *a = weft_chan_new(sizeof(int), 0, NULL);
    weft_chan *b = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(a && b);
    victim v = {.a = a, .b = b};
    run_victim(&v, op_select);
    int x = 1, y = 0;
    int s = weft_chan_send(a, &x, 0);
    int r = weft_chan_recv(b, &y, 0);
    weft_chan_close(a);
    weft_chan_close(b);
    victim_reap(&v);
    weft_chan_free(a);
    weft_chan_free(b);
    ASSERT(victim_ok(&v, "select"));
    ASSERT_ERR(s, WEFT_EAGAIN);
    ASSERT_ERR(r, WEFT_EAGAIN);
}

static int op_sleep(victim *v) { return weft_sleep(10000); }
static int op_sleep_until(victim *v) { return weft_sleep_until(weft_deadline_in(10000)); }

TEST(cancel_sleep) {
    victim v = {0}, u = {0};
    run_victim(&v, op_sleep);
    victim_reap(&v);
    run_victim(&u, op_sleep_until);
    victim_reap(&u);
    ASSERT(victim_ok(&v, "sleep"));
    ASSERT(victim_ok(&u, "sleep_until"));
}

static int op_mutex(victim *v) {
    int rc = weft_mutex_lock(v->a, -1);
    if (rc == 0) weft_mutex_unlock(v->a);
    return rc;
}

TEST(cancel_mutex_lock) {
    weft_mutex m = WEFT_MUTEX_INIT;
    ASSERT_EQ(weft_mutex_lock(&m, -1), 0);
    victim v = {.a = &m};
    run_victim(&v, op_mutex);
    /* the lock was not handed to the departed waiter */
    int u1 = weft_mutex_unlock(&m);
    int l2 = weft_mutex_lock(&m, 0);
    int u2 = weft_mutex_unlock(&m);
    int u3 = weft_mutex_unlock(&m);
    victim_reap(&v);
    ASSERT(victim_ok(&v, "mutex"));
    ASSERT_EQ(u1, 0);
    ASSERT_EQ(l2, 0);
    ASSERT_EQ(u2, 0);
    ASSERT_ERR(u3, WEFT_EINVAL);
}

static int op_sem(victim *v) { return weft_sem_acquire(v->a, -1); }

TEST(cancel_sem_acquire) {
    weft_sem s;
    weft_sem_init(&s, 0);
    victim v = {.a = &s};
    run_victim(&v, op_sem);
    /* the unit released now is not swallowed by the departed waiter */
    int r = weft_sem_release(&s, 1);
    int a1 = weft_sem_acquire(&s, 0);
    int a2 = weft_sem_acquire(&s, 0);
    weft_sem_release(&s, 1);
    victim_reap(&v);
    ASSERT(victim_ok(&v, "semaphore"));
    ASSERT_EQ(r, 0);
    ASSERT_EQ(a1, 0);
    ASSERT_ERR(a2, WEFT_EAGAIN);
}

static int op_wg(victim *v) { return weft_wg_wait(v->a, -1); }

TEST(cancel_wg_wait) {
    weft_wg wg;
    weft_wg_init(&wg);
    weft_wg_add(&wg, 1);
    victim v = {.a = &wg};
    run_victim(&v, op_wg);
    int d = weft_wg_done(&wg);
    int w = weft_wg_wait(&wg, 0);
    victim_reap(&v);
    ASSERT(victim_ok(&v, "wait group"));
    ASSERT_EQ(d, 0);
    ASSERT_EQ(w, 0);
}

static void park_on_chan(void *a) {
    int x;
    weft_chan_recv(a, &x, -1);
}

static int op_group_wait(victim *v) { return weft_group_wait(v->a, -1); }

TEST(cancel_group_wait) {
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    weft_group inner;
    weft_group_init(&inner);
    int go = weft_group_go(&inner, park_on_chan, c, "inner");
    victim v = {.a = &inner};
    run_victim(&v, op_group_wait);
    int64_t still = weft_group_count(&inner); /* the inner task was not touched */
    weft_chan_close(c);
    int jr = test_join(&inner, test_slack_ms(2000));
    victim_reap(&v);
    weft_chan_free(c);
    ASSERT_EQ(go, 0);
    ASSERT(victim_ok(&v, "group wait"));
    ASSERT_EQ(still, 1);
    ASSERT_EQ(jr, 0);
}

static void hold_once(void *a) {
    int x;
    weft_chan_recv(a, &x, -1); /* holds the once until the channel closes */
}

static _Atomic int once_runs;
static void once_fn(void *a) {
    atomic_fetch_add(&once_runs, 1);
    hold_once(a);
}

static void run_once_task(void *a) {
    victim *v = a;
    weft_once_do(v->b, once_fn, v->a);
}

static int op_once(victim *v) { return weft_once_do(v->b, once_fn, v->a); }

TEST(cancel_once_do) {
    atomic_store(&once_runs, 0);
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    static weft_once once = WEFT_ONCE_INIT;
    victim v = {.a = c, .b = &once};
    weft_group runner;
    weft_group_init(&runner);
    int go = weft_group_go(&runner, run_once_task, &v, "once runner");
    weft_sleep(10);
    run_victim(&v, op_once);
    weft_chan_close(c);
    int jr = test_join(&runner, test_slack_ms(2000));
    victim_reap(&v);
    int again = weft_once_do(&once, once_fn, c);
    weft_chan_free(c);
    ASSERT_EQ(go, 0);
    ASSERT(victim_ok(&v, "once"));
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(again, 0);
    ASSERT_EQ(atomic_load(&once_runs), 1);
}

static int op_read(victim *v) {
    char b[8];
    return (int)weft_read((int)v->x, b, sizeof b, -1);
}

static int op_read_deadline(victim *v) {
    char b[8];
    return (int)weft_read((int)v->x, b, sizeof b, weft_deadline_in(10000));
}

/* Returns 0 or the line that failed. */
static int read_pipe_scenario(victim *v, victim *u, int *got) {
    int p[2];
    if (test_nb_pipe(p)) return __LINE__;
    v->x = p[0];
    run_victim(v, op_read);
    u->x = p[0];
    run_victim(u, op_read_deadline);
    /* the cancelled reads consumed nothing, and the fd works */
    ssize_t w = weft_write(p[1], "q", 1, weft_deadline_in(1000));
    char b[4] = {0};
    ssize_t r = weft_read(p[0], b, sizeof b, weft_deadline_in(2000));
    weft_close(p[1]); /* EOF: frees a victim the cancel missed */
    p[1] = -1;
    victim_reap(v);
    victim_reap(u);
    test_close2(p);
    *got = r == 1 ? b[0] : (int)r;
    return w == 1 ? 0 : __LINE__;
}

TEST(cancel_read_pipe) {
    victim v = {0}, u = {0};
    int got = 0;
    ASSERT_EQ(read_pipe_scenario(&v, &u, &got), 0);
    ASSERT(victim_ok(&v, "weft_read"));
    ASSERT(victim_ok(&u, "weft_read with deadline"));
    ASSERT_EQ(got, 'q');
}

static struct {
    victim v, u;
    int line, got;
    const char *backend;
} RP;

static void read_pipe_main(void *a) {
    RP.backend = weft_io_backend_name();
    RP.line = read_pipe_scenario(&RP.v, &RP.u, &RP.got);
}

TEST_PLAIN(cancel_read_pipe_each_backend) {
    static const struct {
        weft_io_backend io;
        const char *name;
    } bk[] = {{WEFT_IO_URING, "io_uring"}, {WEFT_IO_EPOLL, "epoll"}};
    for (int i = 0; i < 2; i++) {
        memset(&RP, 0, sizeof RP);
        weft_config cfg = {.io = bk[i].io};
        int rc = test_main_watched("cancel_read_pipe_each_backend", read_pipe_main, NULL, &cfg);
        if (test_uring_unavailable(bk[i].io, rc)) continue;
        ASSERT_EQ(rc, 0);
        ASSERT_STREQ(RP.backend, bk[i].name);
        ASSERT_EQ(RP.line, 0);
        ASSERT(victim_ok(&RP.v, bk[i].name));
        ASSERT(victim_ok(&RP.u, bk[i].name));
        ASSERT_EQ(RP.got, 'q');
    }
}

static int op_write(victim *v) {
    char b[256] = {0};
    return (int)weft_write((int)v->x, b, sizeof b, -1);
}

TEST(cancel_write_full_pipe) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    size_t filled = test_fill_pipe(p[1]);
    victim v = {.x = p[1]};
    run_victim(&v, op_write);
    /* drain: a cancelled writer must not have written anything */
    size_t drained = test_drain(p[0]);
    ssize_t w = weft_write(p[1], "ok", 2, weft_deadline_in(1000));
    weft_close(p[0]); /* EPIPE/EBADF frees a victim the cancel missed */
    p[0] = -1;
    victim_reap(&v);
    test_close2(p);
    ASSERT(victim_ok(&v, "weft_write"));
    ASSERT_GT(filled, 0);
    ASSERT_EQ(drained, filled);
    ASSERT_EQ(w, 2);
}

static int op_fd_wait(victim *v) { return weft_fd_wait((int)v->x, WEFT_POLLIN, -1); }

static int op_accept(victim *v) { return weft_accept((int)v->x, NULL, NULL, -1); }

TEST(cancel_accept) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    ASSERT_GE(lfd, 0);
    int port = weft_sock_port(lfd);
    victim v = {.x = lfd};
    run_victim(&v, op_accept);
    /* the listener still works */
    int c = weft_tcp_connect("127.0.0.1", port, weft_deadline_in(2000));
    int a = c >= 0 ? weft_accept(lfd, NULL, NULL, weft_deadline_in(2000)) : -1;
    if (a >= 0) weft_close(a);
    if (c >= 0) weft_close(c);
    weft_close(lfd); /* EBADF frees a victim the cancel missed */
    victim_reap(&v);
    ASSERT(victim_ok(&v, "accept"));
    ASSERT_GE(c, 0);
    ASSERT_GE(a, 0);
}

/* weft_blocking while its job is still queued: needs a one-thread pool. */
static struct {
    _Atomic int release, occ_running, ran;
    victim v;
    int occ_rc;
} BQ;

static void bq_occupy(void *a) {
    atomic_store(&BQ.occ_running, 1);
    for (int i = 0; i < 10000 && !atomic_load(&BQ.release); i++) usleep(1000);
}
static void bq_never(void *a) { atomic_fetch_add(&BQ.ran, 1); }
static void bq_occupier(void *a) { BQ.occ_rc = weft_blocking(bq_occupy, NULL, -1); }
static int op_blocking(victim *v) { return weft_blocking(bq_never, NULL, -1); }

static void bq_main(void *a) {
    weft_group g;
    weft_group_init(&g);
    weft_group_go(&g, bq_occupier, NULL, "occupier");
    for (int i = 0; i < 2000 && !atomic_load(&BQ.occ_running); i++) weft_sleep(1);
    run_victim(&BQ.v, op_blocking);
    atomic_store(&BQ.release, 1);
    test_join(&g, test_slack_ms(5000));
    victim_reap(&BQ.v);
    weft_sleep(50); /* the pool thread is free: a withdrawn job would run now */
}

TEST_PLAIN(cancel_blocking_queued) {
    memset(&BQ, 0, sizeof BQ);
    weft_config cfg = {.blocking_threads = 1};
    int rc = test_main_watched("cancel_blocking_queued", bq_main, NULL, &cfg);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(BQ.occ_rc, 0);
    ASSERT(victim_ok(&BQ.v, "blocking (queued)"));
    ASSERT_EQ(atomic_load(&BQ.ran), 0);
}

/* ---- after the cancel --------------------------------------------------------- */

typedef struct after_cancel {
    weft_chan *c;
    int fd;
    int first;
    int rcs[16];
    int nrc;
    int canceled;
    int64_t elapsed_ms;
} after_cancel;

static void cancel_then_everything(void *a) {
    after_cancel *ac = a;
    ac->first = weft_sleep(10000);
    ac->canceled = weft_canceled();
    int64_t t0 = weft_now_ns();
    int x = 0, n = 0;
    weft_mutex m = WEFT_MUTEX_INIT;
    weft_sem s;
    weft_sem_init(&s, 5);
    weft_wg wg;
    weft_wg_init(&wg);
    weft_wg_add(&wg, 1);
    weft_case cs = {.chan = ac->c, .op = WEFT_RECV, .val = &x};
    char b[4];
    ac->rcs[n++] = weft_sleep(1000);
    ac->rcs[n++] = weft_sleep_until(weft_deadline_in(1000));
    ac->rcs[n++] = weft_yield();
    ac->rcs[n++] = weft_chan_recv(ac->c, &x, -1);
    ac->rcs[n++] = weft_chan_send(ac->c, &x, -1); /* buffered with room: still refused */
    ac->rcs[n++] = weft_select(&cs, 1, -1);
    ac->rcs[n++] = weft_mutex_lock(&m, -1);  /* unlocked: still refused */
    ac->rcs[n++] = weft_sem_acquire(&s, -1); /* units available: still refused */
    ac->rcs[n++] = weft_wg_wait(&wg, -1);
    ac->rcs[n++] = (int)weft_read(ac->fd, b, sizeof b, -1); /* data waiting: still refused */
    ac->rcs[n++] = weft_fd_wait(ac->fd, WEFT_POLLIN, -1);
    ac->rcs[n++] = weft_blocking(park_on_chan, NULL, -1);
    ac->nrc = n;
    ac->elapsed_ms = test_ms_since(t0);
}

TEST(canceled_task_later_calls_fail_fast) {
    weft_chan *c = weft_chan_new(sizeof(int), 4, NULL);
    ASSERT(c);
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    ASSERT_EQ(weft_write(p[1], "data", 4, -1), 4);
    after_cancel ac = {.c = c, .fd = p[0], .first = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, cancel_then_everything, &ac, "canceled");
    weft_sleep(20);
    weft_group_cancel(&g);
    int jr = test_join(&g, test_slack_ms(5000));
    size_t len = weft_chan_len(c);
    char b[8];
    ssize_t left = weft_read(p[0], b, sizeof b, 0);
    test_close2(p);
    weft_chan_free(c);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_ERR(ac.first, WEFT_ECANCELED);
    ASSERT(ac.canceled);
    ASSERT_EQ(ac.nrc, 12);
    for (int i = 0; i < ac.nrc; i++) {
        if (ac.rcs[i] != WEFT_ECANCELED)
            test__fail(__FILE__, __LINE__, "call #%d after cancel returned %d (%s)", i, ac.rcs[i],
                       weft_strerror(ac.rcs[i]));
    }
    /* nothing waited: the shortest wait a call that did not fail fast would
     * make is weft_sleep(1000)'s (the -1 ones would hang into the join);
     * the bound was test_slack_ms(100), a speed assertion */
    ASSERT_LT(ac.elapsed_ms, 1000);
    ASSERT_EQ(len, 0);  /* the send did not happen */
    ASSERT_EQ(left, 4); /* the read did not happen */
}

TEST(canceled_flag_only_for_canceled_tasks) {
    ASSERT_EQ(weft_canceled(), 0);
    ASSERT_EQ(weft_sleep(1), 0);
}

static void canceled_before_running(void *a) {
    int *out = a;
    out[0] = weft_canceled();
    out[1] = weft_sleep(5000);
}

TEST(cancel_before_first_run) {
    /* A cancelled group refuses new tasks: none runs at all. */
    int out[2] = {-1, -999};
    weft_group g;
    weft_group_init(&g);
    weft_group_cancel(&g);
    int go = weft_group_go(&g, canceled_before_running, out, "late");
    ASSERT_ERR(go, WEFT_ECANCELED);
    ASSERT_EQ(test_join(&g, test_slack_ms(2000)), 0);
    ASSERT_EQ(out[0], -1);
    ASSERT_EQ(out[1], -999);

    /* Racy by nature: cancel right after spawning. With two workers the
     * task may already run on the other one before the cancel (then it
     * sees 0 first); either way its first wait ends in ECANCELED. */
    int out2[2] = {-1, -999};
    weft_group g2;
    weft_group_init(&g2);
    go = weft_group_go(&g2, canceled_before_running, out2, "late2");
    weft_group_cancel(&g2);
    int jr = test_join(&g2, test_slack_ms(2000));
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT(out2[0] == 0 || out2[0] == 1);
    ASSERT_ERR(out2[1], WEFT_ECANCELED);
}

/* ---- defers ---------------------------------------------------------------------- */

typedef struct defer_log {
    int order[16];
    _Atomic int n;
    int set;     /* which static item set to use */
    int no_park; /* the body returns at once */
    int sleep_rc;
    int64_t sleep_ms;
    int body_rc;
} defer_log;

typedef struct defer_item {
    defer_log *log;
    int id;
} defer_item;

static void defer_record(void *a) {
    defer_item *d = a;
    d->log->order[atomic_fetch_add(&d->log->n, 1)] = d->id;
}

static void defer_try_sleep(void *a) {
    defer_log *l = a;
    int64_t t0 = weft_now_ns();
    l->sleep_rc = weft_sleep(50);
    l->sleep_ms = test_ms_since(t0);
}

static void deferring_task(void *a) {
    defer_log *l = a;
    static defer_item items[2][6];
    defer_item *it = items[l->set];
    for (int i = 0; i < 6; i++) {
        it[i] = (defer_item){l, i + 1};
        weft_defer(defer_record, &it[i]); /* 6 > the inline slots: grows */
        if (i == 2) weft_defer(defer_try_sleep, l);
    }
    l->body_rc = l->no_park ? 0 : weft_sleep(10000);
}

TEST(defers_run_lifo_when_canceled_task_ends) {
    defer_log l;
    memset(&l, 0, sizeof l);
    l.sleep_rc = l.body_rc = -999;
    l.set = 0;
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, deferring_task, &l, "deferrer");
    weft_sleep(20);
    int before = atomic_load(&l.n);
    weft_group_cancel(&g);
    int jr = test_join(&g, test_slack_ms(5000));
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(before, 0); /* none ran while the task was parked */
    ASSERT_ERR(l.body_rc, WEFT_ECANCELED);
    ASSERT_EQ(atomic_load(&l.n), 6);
    for (int i = 0; i < 6; i++) ASSERT_EQ(l.order[i], 6 - i);
    /* rt.h: cleanups run with cancellation masked, so they may suspend */
    ASSERT_ERR(l.sleep_rc, 0);
    ASSERT_GE(l.sleep_ms, 49); /* weft_sleep counts whole ms of weft_now(); this is ns truncated */
}

TEST(defer_may_suspend_after_normal_end) {
    /* the task ends on its own (not cancelled): its cleanups may suspend */
    defer_log l;
    memset(&l, 0, sizeof l);
    l.sleep_rc = l.body_rc = -999;
    l.set = 1;
    l.no_park = 1;
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, deferring_task, &l, "deferrer");
    int jr = test_join(&g, test_slack_ms(5000));
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(l.body_rc, 0);
    ASSERT_EQ(atomic_load(&l.n), 6);
    for (int i = 0; i < 6; i++) ASSERT_EQ(l.order[i], 6 - i);
    /* rt.h: cleanups run with cancellation masked, so they may suspend */
    ASSERT_ERR(l.sleep_rc, 0);
    ASSERT_GE(l.sleep_ms, 49); /* weft_sleep counts whole ms of weft_now(); this is ns truncated */
}

TEST_PLAIN(defer_outside_task_enotask) { ASSERT_ERR(weft_defer(defer_record, NULL), WEFT_ENOTASK); }

/* ---- groups ------------------------------------------------------------------------ */

static void park_forever_group(void *a) {
    int x;
    weft_chan_recv(a, &x, -1);
}

static void noop(void *a) { (void)a; }

TEST(group_go_into_canceled_group) {
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    weft_group g;
    weft_group_init(&g);
    int go1 = weft_group_go(&g, park_forever_group, c, "member");
    weft_group_cancel(&g);
    int go2 = weft_group_go(&g, noop, NULL, "late"); /* refused */
    int64_t cnt = weft_group_count(&g);
    int jr = test_join(&g, test_slack_ms(2000));
    /* a waited-for group may be reused */
    int go3 = weft_group_go(&g, noop, NULL, "reuse");
    int jr2 = test_join(&g, test_slack_ms(2000));
    weft_group empty;
    weft_group_init(&empty);
    weft_group_cancel(&empty); /* cancelled while empty: still refuses */
    int go4 = weft_group_go(&empty, noop, NULL, "late");
    int64_t cnt4 = weft_group_count(&empty);
    weft_chan_free(c);
    ASSERT_EQ(go1, 0);
    ASSERT_ERR(go2, WEFT_ECANCELED);
    ASSERT_LE(cnt, 1);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(go3, 0);
    ASSERT_EQ(jr2, 0);
    ASSERT_ERR(go4, WEFT_ECANCELED);
    ASSERT_EQ(cnt4, 0);
}

TEST(group_wait_deadlines) {
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, park_forever_group, c, "member");
    int z = weft_group_wait(&g, 0);
    int64_t dl = weft_deadline_in(30);
    int t = weft_group_wait(&g, dl);
    int64_t now = weft_now();
    int64_t cnt = weft_group_count(&g);
    weft_chan_close(c);
    int jr = test_join(&g, test_slack_ms(2000));
    int e = weft_group_wait(&g, 0); /* empty: nothing to wait for */
    weft_chan_free(c);
    ASSERT_EQ(go, 0);
    ASSERT_ERR(z, WEFT_EAGAIN);
    ASSERT_ERR(t, WEFT_ETIMEDOUT);
    ASSERT_GE(now, dl);
    ASSERT_EQ(cnt, 1);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(e, 0);
}

/* A group with many members: cancel wakes them all, wherever they wait. */
typedef struct mass {
    weft_chan *c;
    weft_mutex *m;
    _Atomic int canceled;
} mass;

static void mass_member(void *a) {
    mass *ms = a;
    int x, rc;
    switch (weft_task_id() % 3) {
    case 0:
        rc = weft_chan_recv(ms->c, &x, -1);
        break;
    case 1:
        rc = weft_sleep(100000);
        break;
    default:
        rc = weft_mutex_lock(ms->m, -1);
        break;
    }
    if (rc == WEFT_ECANCELED) atomic_fetch_add(&ms->canceled, 1);
}

TEST(cancel_wakes_every_member) {
    int n = (int)test_scale(2000);
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c);
    weft_mutex m = WEFT_MUTEX_INIT;
    weft_mutex_lock(&m, -1);
    mass ms = {.c = c, .m = &m};
    weft_group g;
    weft_group_init(&g);
    int spawned = 0;
    for (int i = 0; i < n; i++)
        if (weft_group_go(&g, mass_member, &ms, "member") == 0) spawned++;
    weft_sleep(50);
    int64_t t0 = weft_now_ns();
    weft_group_cancel(&g);
    int jr = weft_group_wait(&g, weft_deadline_in(test_slack_ms(3000)));
    int64_t el = test_ms_since(t0);
    weft_chan_close(c);
    weft_mutex_unlock(&m);
    if (jr) test_join(&g, 5000);
    weft_chan_free(c);
    ASSERT_EQ(spawned, n);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(atomic_load(&ms.canceled), n);
    printf("    %d members cancelled in %lld ms\n", n, (long long)el);
}

/* ---- shutdown ------------------------------------------------------------------------ */

static struct {
    int n;
    weft_chan *c;
    _Atomic int started, canceled;
    int go_after, main_sleep, main_canceled;
} SD;

static void sd_parked(void *a) {
    int x;
    atomic_fetch_add(&SD.started, 1);
    if (weft_chan_recv(SD.c, &x, -1) == WEFT_ECANCELED) atomic_fetch_add(&SD.canceled, 1);
}

static void sd_main(void *a) {
    for (int i = 0; i < SD.n; i++)
        if (weft_go(sd_parked, NULL) != 0) break;
    for (int i = 0; i < 5000 && atomic_load(&SD.started) < SD.n; i++) weft_sleep(1);
    weft_sleep(20);
    weft_shutdown();
    SD.go_after = weft_go(noop, NULL);
    SD.main_canceled = weft_canceled();
    SD.main_sleep = weft_sleep(5000);
}

TEST_PLAIN(shutdown_from_task_cancels_all) {
    memset(&SD, 0, sizeof SD);
    SD.n = 1000;
    SD.c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(SD.c);
    test_watchdog wd;
    test_watchdog_start(&wd, "shutdown_from_task_cancels_all", 60);
    int64_t t0 = weft_now_ns();
    int rc = weft_main(sd_main, NULL, NULL);
    int64_t el = test_ms_since(t0);
    test_watchdog_stop(&wd);
    weft_chan_free(SD.c);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(atomic_load(&SD.started), SD.n);
    ASSERT_EQ(atomic_load(&SD.canceled), SD.n);
    ASSERT_ERR(SD.go_after, WEFT_ESHUTDOWN);
    ASSERT(SD.main_canceled);
    ASSERT_ERR(SD.main_sleep, WEFT_ECANCELED);
    ASSERT_LT(el, 2000 + test_slack_ms(1000));
    /* the process can run a runtime again */
    ASSERT_EQ(weft_main(noop, NULL, NULL), 0);
}

static struct {
    int sleep_rc;
    _Atomic int children_canceled;
    _Atomic int waiting; /* tasks about to sleep: the 10 children and main */
} SP;

/* Shuts the runtime down once every task is about to sleep (a cancel that
 * arrives before the sleep parks is kept and ends it). A fixed delay here
 * raced the runtime's start under TSan: a shutdown before weft_main has a
 * runtime is a no-op (shutdown_without_runtime_is_harmless), so main slept
 * its 100 s into the watchdog, or children not yet started were counted. */
static void *shutdown_later(void *a) {
    for (int i = 0; i < 20000 && atomic_load(&SP.waiting) < 11; i++) usleep(1000);
    usleep(10 * 1000);
    weft_shutdown();
    return NULL;
}

static void sp_child(void *a) {
    atomic_fetch_add(&SP.waiting, 1);
    if (weft_sleep(100000) == WEFT_ECANCELED) atomic_fetch_add(&SP.children_canceled, 1);
}

static void sp_main(void *a) {
    for (int i = 0; i < 10; i++) weft_go(sp_child, NULL);
    atomic_fetch_add(&SP.waiting, 1);
    SP.sleep_rc = weft_sleep(100000);
}

TEST_PLAIN(shutdown_from_plain_thread) {
    memset(&SP, 0, sizeof SP);
    SP.sleep_rc = -999;
    test_watchdog wd;
    test_watchdog_start(&wd, "shutdown_from_plain_thread", 60);
    pthread_t th;
    int cr = pthread_create(&th, NULL, shutdown_later, NULL);
    int64_t t0 = weft_now_ns();
    int rc = cr == 0 ? weft_main(sp_main, NULL, NULL) : -1;
    int64_t el = test_ms_since(t0);
    if (cr == 0) pthread_join(th, NULL);
    test_watchdog_stop(&wd);
    ASSERT_EQ(cr, 0);
    ASSERT_EQ(rc, 0);
    ASSERT_ERR(SP.sleep_rc, WEFT_ECANCELED);
    ASSERT_EQ(atomic_load(&SP.children_canceled), 10);
    ASSERT_LT(el, 2000 + test_slack_ms(1000));
}

TEST_PLAIN(shutdown_without_runtime_is_harmless) {
    weft_shutdown();
    ASSERT_EQ(weft_main(noop, NULL, NULL), 0);
}

/* ---- an fd wait withdrawn by a cancel leaves the fd usable ------------------------- */

typedef struct rd1 {
    int fd;
    ssize_t n;
    char c;
} rd1;

static void read_one(void *a) {
    rd1 *r = a;
    r->n = weft_read(r->fd, &r->c, 1, weft_deadline_in(5000));
}

/* Cycles of: a task waits for the (empty) pipe to be readable and is
 * cancelled at varying points; then the fd must work for the next waiters.
 * With strict, every readiness reported for the empty pipe counts as a
 * failure (weft_fd_wait returns "the ready events"); without, such spurious
 * wakes are only counted and the checks are about the fd still working. */
static void cancel_reuse_cycles(int strict) {
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    int iters = (int)test_scale(strict ? 600 : 300);
    int i = 0, spurious = 0, first_spurious = -1;
    const char *fail = NULL;
    int fail_rc = 0;
    for (; i < iters && !fail; i++) {
        victim v = {.x = p[0], .rc = -999};
        weft_group_init(&v.g);
        v.op = op_fd_wait;
        if (weft_group_go(&v.g, victim_main, &v, "victim")) {
            fail = "spawn";
            break;
        }
        /* cancel at varying points: before it parks, just after, later */
        switch (i % 4) {
        case 0:
            break;
        case 1:
            weft_yield();
            break;
        case 2:
            for (int k = 0; k < 5; k++) weft_yield();
            break;
        default:
            weft_sleep(1);
            break;
        }
        weft_group_cancel(&v.g);
        int jr = weft_group_wait(&v.g, weft_deadline_in(test_slack_ms(2000)));
        if (jr) {
            weft_close(p[1]); /* release it: POLLHUP */
            p[1] = -1;
            weft_group_wait(&v.g, -1);
            fail = "victim did not end after cancel";
            break;
        }
        if (v.rc > 0 && test_pipe_bytes(p[0]) == 0) {
            /* woken as "readable" though nothing was ever there to read */
            if (first_spurious < 0) first_spurious = i;
            spurious++;
        } else if (v.rc != WEFT_ECANCELED) {
            fail = "victim's wait did not return ECANCELED";
            fail_rc = v.rc;
            break;
        }
        /* nothing pending: a stale completion must not make this look ready */
        if (i % 25 == 0) {
            int t = weft_fd_wait(p[0], WEFT_POLLIN, weft_deadline_in(5));
            if (t > 0 && test_pipe_bytes(p[0]) == 0) {
                if (first_spurious < 0) first_spurious = i;
                spurious++;
            } else if (t != WEFT_ETIMEDOUT) {
                fail = "fd_wait on an empty pipe after a cancel did not time out";
                fail_rc = t;
                break;
            }
        }
        /* a new waiter in another task is woken by data */
        rd1 r = {.fd = p[0], .n = -999};
        weft_group g;
        weft_group_init(&g);
        if (weft_group_go(&g, read_one, &r, "reader")) {
            fail = "spawn reader";
            break;
        }
        if (i % 2) weft_yield();
        char ch = (char)('a' + i % 26);
        if (weft_write(p[1], &ch, 1, weft_deadline_in(1000)) != 1) fail = "write";
        if (test_join(&g, test_slack_ms(5000))) fail = "reader did not get the byte";
        if (!fail && (r.n != 1 || r.c != ch)) {
            fail = "reader got the wrong result";
            fail_rc = (int)r.n;
        }
        /* and this task can wait on it too */
        if (!fail && i % 10 == 0) {
            weft_write(p[1], &ch, 1, -1);
            int ev = weft_fd_wait(p[0], WEFT_POLLIN, weft_deadline_in(2000));
            char c2 = 0;
            if (ev <= 0 || !(ev & WEFT_POLLIN) || weft_read(p[0], &c2, 1, 0) != 1 || c2 != ch) {
                fail = "fd_wait/read in the main task after a cancel";
                fail_rc = ev;
            }
        }
    }
    test_close2(p);
    if (fail)
        test__fail(__FILE__, __LINE__, "iteration %d: %s (%d %s)", i, fail, fail_rc,
                   weft_strerror(fail_rc));
    if (spurious)
        printf("    %s: %d of %d waits on an empty pipe reported POLLIN (first at iteration "
               "%d)\n",
               weft_io_backend_name(), spurious, iters, first_spurious);
    if (strict) ASSERT_EQ(spurious, 0);
}

TEST(fd_wait_reusable_after_cancel) { cancel_reuse_cycles(0); }

static void strict_cycles_main(void *a) {
    *(const char **)a = weft_io_backend_name();
    cancel_reuse_cycles(1);
}

/* Strict, on each backend, with more workers than CPUs (here): waiters of one
 * fd then live on several workers' epoll instances, the case that produces
 * stale readiness. */
TEST_PLAIN(fd_wait_no_stale_ready_after_cancel) {
    static const weft_io_backend bk[] = {WEFT_IO_URING, WEFT_IO_EPOLL};
    for (int k = 0; k < 2; k++) {
        weft_config cfg = {.io = bk[k], .workers = 6};
        const char *name = NULL;
        int rc = test_main_watched("fd_wait_no_stale_ready_after_cancel", strict_cycles_main, &name,
                                   &cfg);
        if (test_uring_unavailable(bk[k], rc)) continue;
        ASSERT_EQ(rc, 0);
        ASSERT(name != NULL);
    }
}

/* ---- cancels racing with wakes: nothing is lost or duplicated ---------------------- */

/* Yield a varying number of times: moves the cancel around the other events. */
static void jitter(int i) {
    for (int k = 0; k < i % 7; k++) weft_yield();
}

typedef struct race {
    void *obj;
    int n; /* units / values / bytes the releaser provides */
    int fd;
    _Atomic int ok, canceled, other;
    _Atomic long sum; /* of values received */
} race;

static void sem_taker(void *a) {
    race *r = a;
    int rc = weft_sem_acquire(r->obj, -1);
    atomic_fetch_add(rc == 0 ? &r->ok : rc == WEFT_ECANCELED ? &r->canceled : &r->other, 1);
}

static void sem_releaser(void *a) {
    race *r = a;
    weft_sem_release(r->obj, r->n);
}

TEST(cancel_race_sem_units_conserved) {
    int rounds = (int)test_scale(2000);
    enum { K = 12 };
    for (int i = 0; i < rounds; i++) {
        weft_sem s;
        weft_sem_init(&s, 0);
        race r = {.obj = &s, .n = K / 2};
        weft_group takers, rel;
        weft_group_init(&takers);
        weft_group_init(&rel);
        for (int k = 0; k < K; k++) weft_group_go(&takers, sem_taker, &r, "taker");
        jitter(i);
        weft_group_go(&rel, sem_releaser, &r, "releaser");
        jitter(i / 7);
        weft_group_cancel(&takers);
        int j1 = test_join(&takers, test_slack_ms(5000));
        int j2 = test_join(&rel, test_slack_ms(5000));
        int left = 0;
        while (weft_sem_acquire(&s, 0) == 0) left++;
        ASSERT_EQ(j1, 0);
        ASSERT_EQ(j2, 0);
        ASSERT_EQ(atomic_load(&r.other), 0);
        ASSERT_EQ(atomic_load(&r.ok) + atomic_load(&r.canceled), K);
        if (atomic_load(&r.ok) + left != K / 2)
            test__fail(__FILE__, __LINE__, "round %d: %d acquired + %d left != %d released", i,
                       atomic_load(&r.ok), left, K / 2);
        if (test__failed()) return;
    }
}

static void mutex_worker(void *a) {
    race *r = a;
    weft_mutex *m = r->obj;
    for (;;) {
        int rc = weft_mutex_lock(m, -1);
        if (rc) {
            if (rc != WEFT_ECANCELED) atomic_fetch_add(&r->other, 1);
            return;
        }
        if (atomic_fetch_add(&r->ok, 1) != 0) atomic_fetch_add(&r->other, 1); /* two inside */
        weft_yield();
        atomic_fetch_sub(&r->ok, 1);
        atomic_fetch_add(&r->sum, 1);
        if (weft_mutex_unlock(m) != 0) atomic_fetch_add(&r->other, 1);
    }
}

TEST(cancel_race_mutex_stays_usable) {
    int rounds = (int)test_scale(1000);
    for (int i = 0; i < rounds; i++) {
        weft_mutex m = WEFT_MUTEX_INIT;
        race r = {.obj = &m};
        weft_group g;
        weft_group_init(&g);
        for (int k = 0; k < 6; k++) weft_group_go(&g, mutex_worker, &r, "locker");
        jitter(i);
        weft_group_cancel(&g);
        int jr = test_join(&g, test_slack_ms(5000));
        int l = weft_mutex_lock(&m, 0); /* unlocked, not owned by a departed task */
        int u = weft_mutex_unlock(&m);
        ASSERT_EQ(jr, 0);
        ASSERT_EQ(atomic_load(&r.other), 0);
        if (l != 0 || u != 0)
            test__fail(__FILE__, __LINE__, "round %d: mutex left locked after cancel (%s)", i,
                       weft_strerror(l));
        if (test__failed()) return;
    }
}

static void chan_sender(void *a) {
    race *r = a;
    long v = weft_task_id();
    int rc = weft_chan_send(r->obj, &v, -1);
    if (rc == 0) atomic_fetch_add(&r->sum, v);
    if (rc != 0 && rc != WEFT_ECANCELED) atomic_fetch_add(&r->other, 1);
}

static void chan_receiver(void *a) {
    race *r = a;
    long v = 0;
    int rc = weft_chan_recv(r->obj, &v, -1);
    if (rc == 0) atomic_fetch_sub(&r->sum, v);
    if (rc == 0) atomic_fetch_add(&r->ok, 1);
    if (rc != 0 && rc != WEFT_ECANCELED) atomic_fetch_add(&r->other, 1);
}

TEST(cancel_race_chan_values_conserved) {
    int rounds = (int)test_scale(2000);
    for (int i = 0; i < rounds; i++) {
        size_t cap = (size_t)(i % 3); /* unbuffered, 1, 2 */
        weft_chan *c = weft_chan_new(sizeof(long), cap, NULL);
        ASSERT(c);
        race r = {.obj = c};
        weft_group g;
        weft_group_init(&g);
        for (int k = 0; k < 8; k++) {
            weft_group_go(&g, chan_sender, &r, "sender");
            weft_group_go(&g, chan_receiver, &r, "receiver");
        }
        jitter(i);
        weft_group_cancel(&g);
        int jr = test_join(&g, test_slack_ms(5000));
        /* what was sent and not received is still buffered */
        long v;
        while (weft_chan_recv(c, &v, 0) == 0) atomic_fetch_sub(&r.sum, v);
        weft_chan_free(c);
        ASSERT_EQ(jr, 0);
        ASSERT_EQ(atomic_load(&r.other), 0);
        if (atomic_load(&r.sum) != 0)
            test__fail(__FILE__, __LINE__,
                       "round %d (cap %zu): sent and received values differ by %ld", i, cap,
                       atomic_load(&r.sum));
        if (test__failed()) return;
    }
}

static void pipe_taker(void *a) {
    race *r = a;
    char b;
    ssize_t n = weft_read(r->fd, &b, 1, -1);
    if (n == 1)
        atomic_fetch_add(&r->ok, 1);
    else if (n == WEFT_ECANCELED)
        atomic_fetch_add(&r->canceled, 1);
    else
        atomic_fetch_add(&r->other, 1);
}

typedef struct pipe_feed {
    int fd, n, written;
} pipe_feed;

static void pipe_feeder(void *a) {
    pipe_feed *f = a;
    for (int k = 0; k < f->n; k++) {
        if (weft_write(f->fd, "b", 1, weft_deadline_in(2000)) == 1) f->written++;
        if (k & 1) weft_yield();
    }
}

TEST(cancel_race_pipe_bytes_conserved) {
    int rounds = (int)test_scale(1000);
    enum { K = 8 };
    int p[2];
    ASSERT_EQ(test_nb_pipe(p), 0);
    for (int i = 0; i < rounds; i++) {
        race r = {.fd = p[0]};
        pipe_feed f = {.fd = p[1], .n = K / 2};
        weft_group takers, feed;
        weft_group_init(&takers);
        weft_group_init(&feed);
        for (int k = 0; k < K; k++) weft_group_go(&takers, pipe_taker, &r, "taker");
        jitter(i);
        weft_group_go(&feed, pipe_feeder, &f, "feeder");
        jitter(i / 7);
        weft_group_cancel(&takers);
        int j1 = test_join(&takers, test_slack_ms(5000));
        int j2 = test_join(&feed, test_slack_ms(5000));
        char junk[64];
        ssize_t left = read(p[0], junk, sizeof junk);
        if (left < 0) left = 0;
        if (j1 || j2 || atomic_load(&r.other) ||
            atomic_load(&r.ok) + atomic_load(&r.canceled) != K ||
            atomic_load(&r.ok) + left != f.written) {
            test__fail(__FILE__, __LINE__,
                       "round %d: join %d/%d, %d read + %zd left vs %d written, %d cancelled, "
                       "%d other",
                       i, j1, j2, atomic_load(&r.ok), left, f.written, atomic_load(&r.canceled),
                       atomic_load(&r.other));
            break;
        }
    }
    test_close2(p);
}

/* ---- shutdown with tasks parked in I/O and blocking calls --------------------------- */

enum { SIO_READERS = 40 };

static struct {
    int p[SIO_READERS][2];
    int lfd;
    _Atomic int read_canceled, accept_canceled, started;
    _Atomic int job_started;
    int job_finished, job_rc;
    const char *backend;
} SIO;

static void sio_reader(void *a) {
    int i = (int)(intptr_t)a;
    char b;
    atomic_fetch_add(&SIO.started, 1);
    /* half on their own pipe, half all on pipe 0 */
    int fd = i % 2 ? SIO.p[i][0] : SIO.p[0][0];
    if (weft_read(fd, &b, 1, -1) == WEFT_ECANCELED) atomic_fetch_add(&SIO.read_canceled, 1);
}

static void sio_acceptor(void *a) {
    atomic_fetch_add(&SIO.started, 1);
    if (weft_accept(SIO.lfd, NULL, NULL, -1) == WEFT_ECANCELED)
        atomic_fetch_add(&SIO.accept_canceled, 1);
}

static void sio_job(void *a) {
    atomic_store(&SIO.job_started, 1);
    usleep(150 * 1000);
    SIO.job_finished = 1;
}

static void sio_blocker(void *a) {
    atomic_fetch_add(&SIO.started, 1);
    SIO.job_rc = weft_blocking(sio_job, NULL, -1);
}

static void sio_main(void *a) {
    SIO.backend = weft_io_backend_name();
    for (int i = 0; i < SIO_READERS; i++) weft_go(sio_reader, (void *)(intptr_t)i);
    weft_go(sio_acceptor, NULL);
    weft_go(sio_blocker, NULL);
    for (int i = 0; i < 5000 &&
                    (atomic_load(&SIO.started) < SIO_READERS + 2 || !atomic_load(&SIO.job_started));
         i++)
        weft_sleep(1);
    weft_sleep(20);
    weft_shutdown();
}

TEST_PLAIN(shutdown_with_io_and_blocking_waiters) {
    static const weft_io_backend bk[] = {WEFT_IO_URING, WEFT_IO_EPOLL};
    for (int k = 0; k < 2; k++) {
        memset(&SIO, 0, sizeof SIO);
        SIO.job_rc = -999;
        int opened = 0;
        for (; opened < SIO_READERS; opened++)
            if (test_nb_pipe(SIO.p[opened])) break;
        SIO.lfd = -1;
        weft_config cfg = {.io = bk[k]};
        test_watchdog wd;
        test_watchdog_start(&wd, "shutdown_with_io_and_blocking_waiters", 60);
        int64_t t0 = weft_now_ns();
        int rc = -1;
        if (opened == SIO_READERS) {
            /* listen outside the runtime: a plain fd, made non-blocking on first use */
            int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET};
            sa.sin_addr.s_addr = htonl(0x7f000001);
            if (lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                listen(lfd, 16) == 0)
                SIO.lfd = lfd;
            else if (lfd >= 0)
                close(lfd);
            if (SIO.lfd >= 0) rc = weft_main(sio_main, NULL, &cfg);
        }
        int64_t el = test_ms_since(t0);
        test_watchdog_stop(&wd);
        for (int i = 0; i < opened; i++) {
            close(SIO.p[i][0]);
            close(SIO.p[i][1]);
        }
        if (SIO.lfd >= 0) close(SIO.lfd);
        ASSERT_EQ(opened, SIO_READERS);
        ASSERT_GE(SIO.lfd, 0);
        if (test_uring_unavailable(bk[k], rc)) continue;
        ASSERT_EQ(rc, 0);
        ASSERT_EQ(atomic_load(&SIO.read_canceled), SIO_READERS);
        ASSERT_EQ(atomic_load(&SIO.accept_canceled), 1);
        ASSERT_EQ(SIO.job_rc, 0); /* it had started: waited for */
        ASSERT_EQ(SIO.job_finished, 1);
        ASSERT_LT(el, 2000 + test_slack_ms(1000));
    }
}

/* A canceled task's slot is taken back by the next spawn of its class
 * (stack.c: the worker's cache is LIFO). The new task must start clean: not
 * canceled, the old wait's deadline timer gone, its own cleanups run, a wait
 * of its own timing out as it should. One worker and a size class nothing
 * else here uses (3 MiB requests: 4 MiB slots), so the slot comes back
 * every round, and the test checks that it did (same frame address). */
#define RECYCLE_ROUNDS 20
static struct {
    uintptr_t victim_frame;
    int victim_canceled, reused, clean, timed_out, defers, rounds;
} RC;
static void recycle_victim(void *arg) {
    RC.victim_frame = (uintptr_t)__builtin_frame_address(0);
    int v;
    /* parked with a deadline: its timer is armed when the cancel comes */
    if (weft_chan_recv(arg, &v, weft_deadline_in(60000)) == WEFT_ECANCELED) RC.victim_canceled++;
}
static void recycle_defer(void *arg) {
    (void)arg;
    RC.defers++;
}
static void recycle_fresh(void *arg) {
    weft_wg *wg = arg;
    if ((uintptr_t)__builtin_frame_address(0) == RC.victim_frame) RC.reused++;
    if (!weft_canceled()) RC.clean++;
    weft_defer(recycle_defer, NULL);
    int err = 0, v;
    weft_chan *c = weft_chan_new(sizeof v, 0, &err);
    if (c && weft_chan_recv(c, &v, weft_deadline_in(2)) == WEFT_ETIMEDOUT) RC.timed_out++;
    weft_chan_free(c);
    weft_wg_done(wg);
}
static void recycle_main(void *arg) {
    (void)arg;
    for (int i = 0; i < RECYCLE_ROUNDS; i++) {
        int err = 0;
        weft_chan *c = weft_chan_new(sizeof(int), 0, &err);
        if (!c) return;
        weft_group g;
        weft_group_init(&g);
        weft_task_opts o = {.stack_size = 3u << 20, .group = &g, .name = "victim"};
        if (weft_go_opts(recycle_victim, c, &o)) return;
        weft_sleep(1); /* the victim parks in its recv */
        weft_group_cancel(&g);
        if (weft_group_wait(&g, weft_deadline_in(5000))) return;
        weft_yield(); /* it has exited: its slot is in the cache */
        weft_chan_free(c);
        weft_wg wg;
        weft_wg_init(&wg);
        weft_wg_add(&wg, 1);
        weft_task_opts f = {.stack_size = 3u << 20, .name = "fresh"};
        if (weft_go_opts(recycle_fresh, &wg, &f)) return;
        if (weft_wg_wait(&wg, weft_deadline_in(5000))) return;
        RC.rounds++;
    }
}

TEST_PLAIN(canceled_task_slot_is_reused_clean) {
    memset(&RC, 0, sizeof RC);
    weft_config cfg = {.workers = 1};
    ASSERT_EQ(weft_main(recycle_main, NULL, &cfg), 0);
    ASSERT_EQ(RC.rounds, RECYCLE_ROUNDS);
    ASSERT_EQ(RC.victim_canceled, RECYCLE_ROUNDS);
    ASSERT_EQ(RC.reused, RECYCLE_ROUNDS);
    ASSERT_EQ(RC.clean, RECYCLE_ROUNDS);
    ASSERT_EQ(RC.defers, RECYCLE_ROUNDS);
    ASSERT_EQ(RC.timed_out, RECYCLE_ROUNDS);
}
