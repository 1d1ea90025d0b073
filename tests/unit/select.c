/*
 * tests/unit/select.c — weft_select: ready send/recv cases, default
 * (deadline 0), timeouts, closed channels, NULL channels, random choice
 * among ready cases, waking a parked select (and leaving no stale waiter on
 * the other channels), one channel in several cases, argument checks, plain
 * threads, cancellation and a cross-worker stress.
 *
 * Helper tasks never ASSERT: they record results, the main task checks them.
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static weft_chan *chan64(size_t cap) { return weft_chan_new(sizeof(int64_t), cap, NULL); }

static int send64(weft_chan *c, int64_t v, int64_t deadline) {
    return weft_chan_send(c, &v, deadline);
}

static weft_case rcase(weft_chan *c, int64_t *dst) {
    return (weft_case){.chan = c, .op = WEFT_RECV, .val = dst, .err = 12345};
}
static weft_case scase(weft_chan *c, int64_t *src) {
    return (weft_case){.chan = c, .op = WEFT_SEND, .val = src, .err = 12345};
}

/* ---- a select in a helper task ------------------------------------------ */

#define MAXC 64

typedef struct {
    weft_case cases[MAXC];
    int64_t vals[MAXC];
    int n;
    int64_t deadline;
    int rc;
    int errs[MAXC];
    int64_t t_end;
    atomic_int finished;
    weft_wg *wg;
} sel_task;

static void sel_init(sel_task *s, weft_wg *wg, int64_t deadline) {
    memset(s, 0, sizeof *s);
    s->wg = wg;
    s->deadline = deadline;
    s->rc = 12345;
    atomic_init(&s->finished, 0);
}
static void sel_add(sel_task *s, weft_chan *c, weft_case_op op, int64_t v) {
    s->vals[s->n] = v;
    s->cases[s->n] = (weft_case){.chan = c, .op = op, .val = &s->vals[s->n], .err = 12345};
    s->n++;
}

static void select_task(void *arg) {
    sel_task *s = arg;
    s->rc = weft_select(s->cases, s->n, s->deadline);
    for (int i = 0; i < s->n; i++) s->errs[i] = s->cases[i].err;
    s->t_end = weft_now();
    atomic_store(&s->finished, 1);
    weft_wg_done(s->wg);
}

static int spawn_select(sel_task *s) { return test_go_wg(s->wg, select_task, s); }

typedef struct {
    weft_chan *c;
    int64_t val;
    int64_t deadline;
    int rc;
    weft_wg *wg;
} op_task;

static void send_task(void *arg) {
    op_task *o = arg;
    o->rc = weft_chan_send(o->c, &o->val, o->deadline);
    weft_wg_done(o->wg);
}
static void recv_task(void *arg) {
    op_task *o = arg;
    o->val = -1;
    o->rc = weft_chan_recv(o->c, &o->val, o->deadline);
    weft_wg_done(o->wg);
}
static int spawn_op(weft_fn fn, op_task *o) { return test_go_wg(o->wg, fn, o); }

/* ---- ready cases ------------------------------------------------------------ */

TEST(select_ready_recv_fires) {
    test_guard();
    weft_chan *a = chan64(1), *b = chan64(1);
    ASSERT(a && b);
    ASSERT_ERR(send64(a, 11, 0), 0);
    int64_t va = 0, vb = -5;
    weft_case cs[2] = {rcase(b, &vb), rcase(a, &va)};
    ASSERT_EQ(weft_select(cs, 2, -1), 1);
    ASSERT_EQ(va, 11);
    ASSERT_EQ(vb, -5);
    ASSERT_ERR(cs[1].err, 0);
    ASSERT_EQ(weft_chan_len(a), 0);

    /* the same with deadline 0, and with a NULL destination (value dropped) */
    ASSERT_ERR(send64(b, 22, 0), 0);
    cs[0] = rcase(b, NULL);
    cs[1] = rcase(a, &va);
    ASSERT_EQ(weft_select(cs, 2, 0), 0);
    ASSERT_ERR(cs[0].err, 0);
    ASSERT_EQ(weft_chan_len(b), 0);

    /* from a parked sender on an unbuffered channel */
    weft_chan *u = chan64(0);
    ASSERT(u != NULL);
    weft_wg wg;
    weft_wg_init(&wg);
    op_task s = {u, 4711, -1, 12345, &wg};
    ASSERT_EQ(spawn_op(send_task, &s), 0);
    int64_t vu = 0;
    va = -1;
    weft_case cu[2] = {rcase(a, &va), rcase(u, &vu)};
    int rc, tries = 0; /* EAGAIN only until the sender has parked */
    while ((rc = weft_select(cu, 2, 0)) == WEFT_EAGAIN && ++tries < 5000) weft_sleep(1);
    ASSERT_EQ(rc, 1);
    ASSERT_EQ(vu, 4711);
    ASSERT_EQ(va, -1);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(s.rc, 0);
    weft_chan_free(a);
    weft_chan_free(b);
    weft_chan_free(u);
}

TEST(select_ready_send_fires) {
    test_guard();
    weft_chan *full = chan64(1), *room = chan64(1);
    ASSERT(full && room);
    ASSERT_ERR(send64(full, 1, 0), 0);
    int64_t x = 100, y = 200;
    weft_case cs[2] = {scase(full, &x), scase(room, &y)};
    ASSERT_EQ(weft_select(cs, 2, -1), 1);
    ASSERT_ERR(cs[1].err, 0);
    ASSERT_EQ(weft_chan_len(room), 1);
    ASSERT_EQ(weft_chan_len(full), 1);
    int64_t v = 0;
    ASSERT_ERR(weft_chan_recv(room, &v, 0), 0);
    ASSERT_EQ(v, 200);
    ASSERT_ERR(weft_chan_recv(full, &v, 0), 0);
    ASSERT_EQ(v, 1);

    /* into a parked receiver on an unbuffered channel, with deadline 0 */
    weft_chan *u = chan64(0);
    ASSERT(u != NULL);
    weft_wg wg;
    weft_wg_init(&wg);
    op_task r = {u, 0, -1, 12345, &wg};
    ASSERT_EQ(spawn_op(recv_task, &r), 0);
    ASSERT_ERR(send64(full, 2, 0), 0);
    int64_t z = 9999;
    weft_case cu[2] = {scase(full, &x), scase(u, &z)};
    int rc, tries = 0; /* EAGAIN only until the receiver has parked */
    while ((rc = weft_select(cu, 2, 0)) == WEFT_EAGAIN && ++tries < 5000) weft_sleep(1);
    ASSERT_EQ(rc, 1);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(r.rc, 0);
    ASSERT_EQ(r.val, 9999);
    ASSERT_EQ(weft_chan_len(full), 1);
    weft_chan_free(full);
    weft_chan_free(room);
    weft_chan_free(u);
}

TEST(select_ready_mixed_ops) {
    /* one recv and one send case, only one ready at a time */
    test_guard();
    weft_chan *a = chan64(1), *b = chan64(1);
    ASSERT(a && b);
    ASSERT_ERR(send64(b, 5, 0), 0); /* b full: its send case is blocked */
    int64_t in = -1, out = 77;
    weft_case cs[2] = {rcase(a, &in), scase(b, &out)};
    ASSERT_ERR(weft_select(cs, 2, 0), WEFT_EAGAIN);
    ASSERT_ERR(send64(a, 8, 0), 0);
    ASSERT_EQ(weft_select(cs, 2, 0), 0);
    ASSERT_EQ(in, 8);
    int64_t v;
    ASSERT_ERR(weft_chan_recv(b, &v, 0), 0); /* b has room now */
    ASSERT_EQ(weft_select(cs, 2, 0), 1);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), 0);
    ASSERT_EQ(v, 77);
    weft_chan_free(a);
    weft_chan_free(b);
}

/* ---- nothing ready ----------------------------------------------------------- */

/* After a select gave up on these channels, none of them may hold a waiter:
 * a non-blocking op must find nobody to pair with. */
static int no_waiters_left(weft_chan *u) {
    int64_t v = 0;
    if (weft_chan_send(u, &v, 0) != WEFT_EAGAIN) return 0;
    if (weft_chan_recv(u, &v, 0) != WEFT_EAGAIN) return 0;
    return 1;
}

TEST(select_default_when_nothing_ready) {
    test_guard();
    weft_chan *u = chan64(0), *e = chan64(1), *f = chan64(1);
    ASSERT(u && e && f);
    ASSERT_ERR(send64(f, 42, 0), 0);
    int64_t r1 = -1, r2 = -2, s1 = 10, s2 = 20;
    weft_case cs[4] = {rcase(u, &r1), scase(u, &s1), rcase(e, &r2), scase(f, &s2)};
    for (int i = 0; i < 100; i++) ASSERT_ERR(weft_select(cs, 4, 0), WEFT_EAGAIN);
    ASSERT_EQ(r1, -1);
    ASSERT_EQ(r2, -2);
    ASSERT_EQ(weft_chan_len(e), 0);
    ASSERT_EQ(weft_chan_len(f), 1);
    ASSERT(no_waiters_left(u));
    int64_t v = 0;
    ASSERT_ERR(weft_chan_recv(f, &v, 0), 0);
    ASSERT_EQ(v, 42);
    weft_chan_free(u);
    weft_chan_free(e);
    weft_chan_free(f);
}

TEST(select_timeout) {
    test_guard();
    weft_chan *u = chan64(0), *f = chan64(1), *u2 = chan64(0);
    ASSERT(u && f && u2);
    ASSERT_ERR(send64(f, 1, 0), 0);
    static const int64_t waits[] = {1, 20, 100};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        int64_t r = -1, s = 5, s2 = 6;
        weft_case cs[3] = {rcase(u, &r), scase(f, &s), scase(u2, &s2)};
        int64_t t0 = weft_now(), dl = t0 + waits[i];
        ASSERT_ERR(weft_select(cs, 3, dl), WEFT_ETIMEDOUT);
        int64_t t1 = weft_now();
        ASSERT_GE(t1, dl);
        ASSERT_LT(t1 - t0, waits[i] + test_slack_ms(SLACK_MS));
        ASSERT_EQ(r, -1);
        ASSERT(no_waiters_left(u));
        ASSERT(no_waiters_left(u2));
        ASSERT_EQ(weft_chan_len(f), 1);
    }
    /* an expired deadline times out at once */
    int64_t r = -1;
    weft_case c1[1] = {rcase(u, &r)};
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_select(c1, 1, 1), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_select(c1, 1, t0 - 10), WEFT_ETIMEDOUT);
    ASSERT_LT(weft_now() - t0, 100);
    ASSERT(no_waiters_left(u));
    weft_chan_free(u);
    weft_chan_free(f);
    weft_chan_free(u2);
}

TEST(select_helper_timeout_leaves_no_ghost) {
    /* a select that timed out in another task leaves no ghost behind */
    test_guard();
    weft_chan *a = chan64(0), *b = chan64(0);
    ASSERT(a && b);
    weft_wg wg;
    weft_wg_init(&wg);
    sel_task s;
    sel_init(&s, &wg, weft_deadline_in(40));
    sel_add(&s, a, WEFT_RECV, -1);
    sel_add(&s, b, WEFT_SEND, 3);
    ASSERT_EQ(spawn_select(&s), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(s.rc, WEFT_ETIMEDOUT);
    ASSERT_GE(s.t_end, s.deadline);
    ASSERT(no_waiters_left(a));
    ASSERT(no_waiters_left(b));
    weft_chan_free(a);
    weft_chan_free(b);
}

TEST(select_parked_on_buffered_channels) {
    /* a parked send case on a full buffer moves in when room appears; a
     * parked recv case on an empty buffer gets the next value directly; a
     * NULL destination drops the value */
    test_guard();
    weft_chan *full = chan64(1), *empty = chan64(2), *u = chan64(0);
    ASSERT(full && empty && u);
    ASSERT_ERR(send64(full, 1, 0), 0);
    weft_wg wg;
    weft_wg_init(&wg);
    sel_task s;
    sel_init(&s, &wg, weft_deadline_in(10000));
    sel_add(&s, full, WEFT_SEND, 2);
    sel_add(&s, u, WEFT_RECV, -1);
    ASSERT_EQ(spawn_select(&s), 0);
    weft_sleep(PARK_MS);
    ASSERT_EQ(atomic_load(&s.finished), 0);
    int64_t v = 0;
    ASSERT_ERR(weft_chan_recv(full, &v, 0), 0);
    ASSERT_EQ(v, 1);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(s.rc, 0);
    ASSERT_EQ(weft_chan_len(full), 1);
    ASSERT_ERR(weft_chan_recv(full, &v, 0), 0);
    ASSERT_EQ(v, 2);
    ASSERT(no_waiters_left(u));

    sel_init(&s, &wg, weft_deadline_in(10000));
    sel_add(&s, empty, WEFT_RECV, -1);
    sel_add(&s, u, WEFT_RECV, -1);
    ASSERT_EQ(spawn_select(&s), 0);
    weft_sleep(PARK_MS);
    ASSERT_ERR(send64(empty, 33, 0), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(s.rc, 0);
    ASSERT_EQ(s.vals[0], 33);
    ASSERT_EQ(weft_chan_len(empty), 0); /* handed over, not buffered */
    ASSERT(no_waiters_left(u));

    sel_init(&s, &wg, weft_deadline_in(10000));
    sel_add(&s, u, WEFT_RECV, -1);
    s.cases[0].val = NULL;
    ASSERT_EQ(spawn_select(&s), 0);
    weft_sleep(PARK_MS);
    ASSERT_ERR(send64(u, 44, weft_deadline_in(5000)), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(s.rc, 0);
    ASSERT_EQ(s.vals[0], -1);
    ASSERT(no_waiters_left(u));
    weft_chan_free(full);
    weft_chan_free(empty);
    weft_chan_free(u);
}

/* ---- closed channels ----------------------------------------------------------- */

TEST(select_closed_recv_fires_eclosed) {
    test_guard();
    weft_chan *a = chan64(0), *b = chan64(2);
    ASSERT(a && b);
    ASSERT_ERR(weft_chan_close(a), 0);
    int64_t va = -1, vb = -1;
    weft_case cs[2] = {rcase(b, &vb), rcase(a, &va)};
    ASSERT_EQ(weft_select(cs, 2, -1), 1);
    ASSERT_ERR(cs[1].err, WEFT_ECLOSED);
    ASSERT_ERR(cs[0].err, 0);
    ASSERT_EQ(va, -1);
    ASSERT_EQ(weft_select(cs, 2, 0), 1);
    ASSERT_ERR(cs[1].err, WEFT_ECLOSED);

    /* a closed buffered channel hands out what it holds first */
    ASSERT_ERR(send64(b, 7, 0), 0);
    ASSERT_ERR(weft_chan_close(b), 0);
    weft_case c1[1] = {rcase(b, &vb)};
    ASSERT_EQ(weft_select(c1, 1, 0), 0);
    ASSERT_ERR(c1[0].err, 0);
    ASSERT_EQ(vb, 7);
    vb = -1;
    ASSERT_EQ(weft_select(c1, 1, 0), 0);
    ASSERT_ERR(c1[0].err, WEFT_ECLOSED);
    ASSERT_EQ(vb, -1);
    weft_chan_free(a);
    weft_chan_free(b);
}

TEST(select_closed_send_fires_eclosed) {
    test_guard();
    weft_chan *a = chan64(1), *b = chan64(0);
    ASSERT(a && b);
    ASSERT_ERR(weft_chan_close(a), 0);
    int64_t x = 1, y = 2;
    weft_case cs[2] = {scase(b, &y), scase(a, &x)};
    ASSERT_EQ(weft_select(cs, 2, -1), 1);
    ASSERT_ERR(cs[1].err, WEFT_ECLOSED);
    ASSERT_ERR(cs[0].err, 0);
    ASSERT_EQ(weft_chan_len(a), 0); /* nothing was stored */
    ASSERT_EQ(weft_select(cs, 2, 0), 1);
    ASSERT_ERR(cs[1].err, WEFT_ECLOSED);
    ASSERT(no_waiters_left(b));
    weft_chan_free(a);
    weft_chan_free(b);
}

TEST(select_parked_woken_by_close) {
    test_guard();
    weft_chan *r1 = chan64(0), *r2 = chan64(0), *s1 = chan64(0), *s2 = chan64(0);
    ASSERT(r1 && r2 && s1 && s2);
    weft_wg wg;
    weft_wg_init(&wg);
    sel_task rs, ss;
    sel_init(&rs, &wg, weft_deadline_in(10000));
    sel_add(&rs, r1, WEFT_RECV, -1);
    sel_add(&rs, r2, WEFT_RECV, -1);
    sel_init(&ss, &wg, -1);
    sel_add(&ss, s1, WEFT_SEND, 1);
    sel_add(&ss, s2, WEFT_SEND, 2);
    ASSERT_EQ(spawn_select(&rs), 0);
    ASSERT_EQ(spawn_select(&ss), 0);
    weft_sleep(PARK_MS);
    ASSERT_EQ(atomic_load(&rs.finished), 0);
    ASSERT_EQ(atomic_load(&ss.finished), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_chan_close(r2), 0);
    ASSERT_ERR(weft_chan_close(s1), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_LT(weft_now() - t0, test_slack_ms(SLACK_MS));
    ASSERT_EQ(rs.rc, 1);
    ASSERT_ERR(rs.errs[1], WEFT_ECLOSED);
    ASSERT_ERR(rs.errs[0], 0);
    ASSERT_EQ(rs.vals[1], -1);
    ASSERT_EQ(ss.rc, 0);
    ASSERT_ERR(ss.errs[0], WEFT_ECLOSED);
    ASSERT(no_waiters_left(r1));
    ASSERT(no_waiters_left(s2));
    weft_chan_free(r1);
    weft_chan_free(r2);
    weft_chan_free(s1);
    weft_chan_free(s2);
}

/* ---- NULL channels ------------------------------------------------------------ */

TEST(select_null_chan_never_fires) {
    test_guard();
    int64_t v = 1;
    weft_case nil2[2] = {rcase(NULL, &v), scase(NULL, &v)};
    ASSERT_ERR(weft_select(nil2, 2, 0), WEFT_EAGAIN);
    int64_t t0 = weft_now(), dl = t0 + 30;
    ASSERT_ERR(weft_select(nil2, 2, dl), WEFT_ETIMEDOUT);
    ASSERT_GE(weft_now(), dl);
    ASSERT_LT(weft_now() - t0, 30 + test_slack_ms(SLACK_MS));

    /* beside a ready case, only the ready one ever fires */
    weft_chan *b = chan64(1);
    ASSERT(b != NULL);
    for (int i = 0; i < 200; i++) {
        ASSERT_ERR(send64(b, i, 0), 0);
        int64_t got = -1;
        weft_case cs[3] = {rcase(NULL, &v), rcase(b, &got), scase(NULL, &v)};
        ASSERT_EQ(weft_select(cs, 3, -1), 1);
        ASSERT_EQ(got, i);
    }
    ASSERT_EQ(v, 1);

    /* a parked select with NULL cases is woken through its real one */
    weft_chan *u = chan64(0);
    ASSERT(u != NULL);
    weft_wg wg;
    weft_wg_init(&wg);
    sel_task s;
    sel_init(&s, &wg, weft_deadline_in(10000));
    sel_add(&s, NULL, WEFT_RECV, -1);
    sel_add(&s, NULL, WEFT_SEND, 5);
    sel_add(&s, u, WEFT_RECV, -1);
    ASSERT_EQ(spawn_select(&s), 0);
    weft_sleep(PARK_MS);
    ASSERT_EQ(atomic_load(&s.finished), 0);
    ASSERT_ERR(send64(u, 99, weft_deadline_in(5000)), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(s.rc, 2);
    ASSERT_EQ(s.vals[2], 99);
    ASSERT_EQ(s.vals[0], -1);
    weft_chan_free(b);
    weft_chan_free(u);
}

/* ---- fairness -------------------------------------------------------------------- */

TEST(select_fair_between_ready_recvs) {
    test_guard();
    enum { N = 10000 };
    weft_chan *a = chan64(1), *b = chan64(1);
    ASSERT(a && b);
    ASSERT_ERR(send64(a, 0, 0), 0);
    ASSERT_ERR(send64(b, 1, 0), 0);
    int count[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        int64_t va = -1, vb = -1;
        weft_case cs[2] = {rcase(a, &va), rcase(b, &vb)};
        int rc = weft_select(cs, 2, -1);
        ASSERT(rc == 0 || rc == 1);
        count[rc]++;
        ASSERT_EQ(rc == 0 ? va : vb, rc);
        ASSERT_ERR(send64(rc == 0 ? a : b, rc, 0), 0); /* refill */
    }
    ASSERT_GE(count[0], N * 3 / 10);
    ASSERT_GE(count[1], N * 3 / 10);
    weft_chan_free(a);
    weft_chan_free(b);
}

TEST(select_fair_between_ready_sends) {
    test_guard();
    enum { N = 10000 };
    weft_chan *a = chan64(1), *b = chan64(1);
    ASSERT(a && b);
    int count[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        int64_t x = 10, y = 11;
        weft_case cs[2] = {scase(a, &x), scase(b, &y)};
        int rc = weft_select(cs, 2, 0);
        ASSERT(rc == 0 || rc == 1);
        count[rc]++;
        int64_t v = 0;
        ASSERT_ERR(weft_chan_recv(rc == 0 ? a : b, &v, 0), 0); /* make room again */
        ASSERT_EQ(v, 10 + rc);
    }
    ASSERT_GE(count[0], N * 3 / 10);
    ASSERT_GE(count[1], N * 3 / 10);
    weft_chan_free(a);
    weft_chan_free(b);
}

TEST(select_fair_among_many) {
    /* eight ready cases, mixed ops: none starved (uniform is 12.5% each) */
    test_guard();
    enum { K = 8, N = 8000 };
    weft_chan *cs_[K];
    for (int k = 0; k < K; k++) {
        cs_[k] = chan64(1);
        ASSERT(cs_[k] != NULL);
        if (k % 2 == 0) ASSERT_ERR(send64(cs_[k], k, 0), 0); /* recv cases: full */
    }
    int count[K] = {0};
    for (int i = 0; i < N; i++) {
        int64_t vals[K];
        weft_case cs[K];
        for (int k = 0; k < K; k++) {
            vals[k] = k % 2 ? 1000 + k : -1;
            cs[k] = k % 2 ? scase(cs_[k], &vals[k]) : rcase(cs_[k], &vals[k]);
        }
        int rc = weft_select(cs, K, 0);
        ASSERT(rc >= 0 && rc < K);
        count[rc]++;
        int64_t v = 0;
        if (rc % 2 == 0) {
            ASSERT_EQ(vals[rc], rc);
            ASSERT_ERR(send64(cs_[rc], rc, 0), 0);
        } else {
            ASSERT_ERR(weft_chan_recv(cs_[rc], &v, 0), 0);
            ASSERT_EQ(v, 1000 + rc);
        }
    }
    for (int k = 0; k < K; k++) ASSERT_GE(count[k], N / K / 2);
    for (int k = 0; k < K; k++) weft_chan_free(cs_[k]);
}

/* ---- waking a parked select --------------------------------------------------------- */

TEST(select_woken_by_one_leaves_no_ghosts) {
    test_guard();
    weft_chan *ch[3] = {chan64(0), chan64(0), chan64(0)};
    ASSERT(ch[0] && ch[1] && ch[2]);
    long rounds = test_scale_min(300, 30);
    for (long r = 0; r < rounds; r++) {
        int k = (int)(r % 3);
        int as_send = (int)((r / 3) % 2); /* the select sends, main receives */
        weft_wg wg;
        weft_wg_init(&wg);
        sel_task s;
        sel_init(&s, &wg, -1);
        for (int i = 0; i < 3; i++)
            sel_add(&s, ch[i], as_send ? WEFT_SEND : WEFT_RECV, as_send ? 100 * r + i : -1);
        ASSERT_EQ(spawn_select(&s), 0);
        if (r < 6) weft_sleep(PARK_MS); /* certainly parked; later rounds race */
        int64_t v = 1000 * r + k;
        if (as_send) {
            v = -1;
            ASSERT_ERR(weft_chan_recv(ch[k], &v, weft_deadline_in(5000)), 0);
            ASSERT_EQ(v, 100 * r + k);
        } else {
            ASSERT_ERR(weft_chan_send(ch[k], &v, weft_deadline_in(5000)), 0);
        }
        /* the select has been served: its waiters on the other channels must
         * not take anything, whether or not it has cleaned them up yet */
        for (int j = 0; j < 3; j++) {
            if (j == k) continue;
            int64_t x = 7;
            if (as_send)
                ASSERT_ERR(weft_chan_recv(ch[j], &x, 0), WEFT_EAGAIN);
            else
                ASSERT_ERR(weft_chan_send(ch[j], &x, 0), WEFT_EAGAIN);
        }
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        ASSERT_EQ(s.rc, k);
        ASSERT_ERR(s.errs[k], 0);
        if (!as_send) ASSERT_EQ(s.vals[k], 1000 * r + k);
        for (int j = 0; j < 3; j++) ASSERT(no_waiters_left(ch[j]));
    }
    for (int i = 0; i < 3; i++) weft_chan_free(ch[i]);
}

TEST(select_two_wakers_one_wins) {
    /* two senders race for one select; the loser's value is neither lost nor
     * duplicated: it stays pending until someone else receives it */
    test_guard();
    weft_chan *a = chan64(0), *b = chan64(0);
    ASSERT(a && b);
    long rounds = test_scale_min(300, 30);
    int won[2] = {0, 0};
    for (long r = 0; r < rounds; r++) {
        weft_wg wg, swg;
        weft_wg_init(&wg);
        weft_wg_init(&swg);
        sel_task s;
        sel_init(&s, &swg, weft_deadline_in(10000));
        sel_add(&s, a, WEFT_RECV, -1);
        sel_add(&s, b, WEFT_RECV, -1);
        op_task sa = {a, 2 * r, weft_deadline_in(10000), 12345, &wg};
        op_task sb = {b, 2 * r + 1, weft_deadline_in(10000), 12345, &wg};
        ASSERT_EQ(spawn_select(&s), 0);
        if (r % 2) weft_yield();
        ASSERT_EQ(spawn_op(send_task, &sa), 0);
        ASSERT_EQ(spawn_op(send_task, &sb), 0);
        /* wait for the select alone: one sender must stay parked */
        ASSERT_ERR(weft_wg_wait(&swg, weft_deadline_in(5000)), 0);
        ASSERT(s.rc == 0 || s.rc == 1);
        won[s.rc]++;
        ASSERT_EQ(s.vals[s.rc], 2 * r + s.rc);
        ASSERT_EQ(s.vals[1 - s.rc], -1);
        /* the other sender is still waiting with its value */
        int64_t v = -1;
        ASSERT_ERR(weft_chan_recv(s.rc == 0 ? b : a, &v, weft_deadline_in(5000)), 0);
        ASSERT_EQ(v, 2 * r + (1 - s.rc));
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        ASSERT_ERR(sa.rc, 0);
        ASSERT_ERR(sb.rc, 0);
        ASSERT(no_waiters_left(a));
        ASSERT(no_waiters_left(b));
    }
    ASSERT_EQ(won[0] + won[1], rounds);
    weft_chan_free(a);
    weft_chan_free(b);
}

/* ---- one channel in several cases ---------------------------------------------------- */

TEST(select_same_chan_twice) {
    test_guard();
    weft_chan *b = chan64(1), *u = chan64(0);
    ASSERT(b && u);

    /* two recv cases on one ready channel: exactly one fires, both get picked */
    int count[2] = {0, 0};
    for (int i = 0; i < 400; i++) {
        ASSERT_ERR(send64(b, i, 0), 0);
        int64_t v0 = -1, v1 = -1;
        weft_case cs[2] = {rcase(b, &v0), rcase(b, &v1)};
        int rc = weft_select(cs, 2, 0);
        ASSERT(rc == 0 || rc == 1);
        count[rc]++;
        ASSERT_EQ(rc == 0 ? v0 : v1, i);
        ASSERT_EQ(rc == 0 ? v1 : v0, -1);
        ASSERT_EQ(weft_chan_len(b), 0);
    }
    ASSERT_GT(count[0], 0);
    ASSERT_GT(count[1], 0);

    /* send and recv on the same buffered channel: whichever can go, goes */
    int64_t x = 55, y = -1;
    weft_case sr[2] = {scase(b, &x), rcase(b, &y)};
    ASSERT_EQ(weft_select(sr, 2, 0), 0); /* empty: only the send can */
    ASSERT_EQ(weft_chan_len(b), 1);
    ASSERT_EQ(weft_select(sr, 2, 0), 1); /* full: only the recv can */
    ASSERT_EQ(y, 55);
    ASSERT_EQ(weft_chan_len(b), 0);

    /* send and recv on one unbuffered channel cannot pair with each other */
    weft_case su[2] = {scase(u, &x), rcase(u, &y)};
    ASSERT_ERR(weft_select(su, 2, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_select(su, 2, weft_deadline_in(20)), WEFT_ETIMEDOUT);
    ASSERT(no_waiters_left(u));

    /* parked on the same channel twice: one send wakes it once, no ghost */
    weft_wg wg;
    weft_wg_init(&wg);
    for (int round = 0; round < 4; round++) {
        sel_task s;
        sel_init(&s, &wg, weft_deadline_in(10000));
        sel_add(&s, u, WEFT_RECV, -1);
        sel_add(&s, u, WEFT_RECV, -1);
        ASSERT_EQ(spawn_select(&s), 0);
        weft_sleep(PARK_MS / 3);
        ASSERT_ERR(send64(u, 300 + round, weft_deadline_in(5000)), 0);
        ASSERT_ERR(send64(u, 1, 0), WEFT_EAGAIN);
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        ASSERT(s.rc == 0 || s.rc == 1);
        ASSERT_EQ(s.vals[s.rc], 300 + round);
        ASSERT_EQ(s.vals[1 - s.rc], -1);
        ASSERT(no_waiters_left(u));
    }

    /* parked sending and receiving on one unbuffered channel: a partner
     * takes whichever side matches */
    for (int round = 0; round < 4; round++) {
        sel_task s;
        sel_init(&s, &wg, weft_deadline_in(10000));
        sel_add(&s, u, WEFT_SEND, 800 + round);
        sel_add(&s, u, WEFT_RECV, -1);
        ASSERT_EQ(spawn_select(&s), 0);
        weft_sleep(PARK_MS / 3);
        int64_t v = -1;
        if (round % 2 == 0) {
            ASSERT_ERR(weft_chan_recv(u, &v, weft_deadline_in(5000)), 0);
            ASSERT_EQ(v, 800 + round);
        } else {
            ASSERT_ERR(send64(u, 900 + round, weft_deadline_in(5000)), 0);
        }
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        if (round % 2 == 0) {
            ASSERT_EQ(s.rc, 0);
        } else {
            ASSERT_EQ(s.rc, 1);
            ASSERT_EQ(s.vals[1], 900 + round);
        }
        ASSERT(no_waiters_left(u));
    }
    weft_chan_free(b);
    weft_chan_free(u);
}

/* ---- arguments ---------------------------------------------------------------------- */

TEST(select_invalid_args) {
    test_guard();
    weft_chan *a = chan64(1);
    ASSERT(a != NULL);
    ASSERT_ERR(send64(a, 3, 0), 0);
    int64_t v = -1;
    weft_case cs[MAXC + 1];
    for (int i = 0; i < MAXC + 1; i++) cs[i] = rcase(a, &v);
    ASSERT_ERR(weft_select(cs, 0, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_select(cs, 0, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_select(cs, -1, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_select(cs, MAXC + 1, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_select(cs, 1000, 0), WEFT_EINVAL);
    ASSERT_EQ(weft_chan_len(a), 1); /* nothing consumed */

    /* a bad op anywhere rejects the whole select, before any case runs */
    weft_case bad[2] = {rcase(a, &v), rcase(a, &v)};
    static const int ops[] = {0, 3, -1, 0x7fffffff};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        bad[1].op = (weft_case_op)ops[i];
        ASSERT_ERR(weft_select(bad, 2, -1), WEFT_EINVAL);
        ASSERT_ERR(weft_select(bad, 2, 0), WEFT_EINVAL);
        ASSERT_EQ(weft_chan_len(a), 1);
        ASSERT_EQ(v, -1);
    }
    weft_case badnil[1] = {{.chan = NULL, .op = (weft_case_op)9, .val = &v}};
    ASSERT_ERR(weft_select(badnil, 1, 0), WEFT_EINVAL);

    /* exactly 64 is fine */
    ASSERT_EQ(weft_select(cs, MAXC, 0) >= 0, 1);
    ASSERT_EQ(v, 3);
    weft_chan_free(a);
}

TEST(select_64_cases_parked) {
    test_guard();
    weft_chan *ch[MAXC];
    for (int i = 0; i < MAXC; i++) {
        ch[i] = chan64(0);
        ASSERT(ch[i] != NULL);
    }
    weft_wg wg;
    weft_wg_init(&wg);
    static const int picks[] = {0, 37, 63};
    for (size_t p = 0; p < sizeof picks / sizeof picks[0]; p++) {
        int k = picks[p];
        sel_task *s = malloc(sizeof *s);
        ASSERT(s != NULL);
        sel_init(s, &wg, weft_deadline_in(10000));
        for (int i = 0; i < MAXC; i++)
            sel_add(s, ch[i], i % 2 ? WEFT_SEND : WEFT_RECV, i % 2 ? 4000 + i : -1);
        ASSERT_EQ(spawn_select(s), 0);
        weft_sleep(PARK_MS / 3);
        int64_t v = 4000 + k;
        if (k % 2) {
            v = -1;
            ASSERT_ERR(weft_chan_recv(ch[k], &v, weft_deadline_in(5000)), 0);
            ASSERT_EQ(v, 4000 + k);
        } else
            ASSERT_ERR(weft_chan_send(ch[k], &v, weft_deadline_in(5000)), 0);
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        ASSERT_EQ(s->rc, k);
        if (k % 2 == 0) ASSERT_EQ(s->vals[k], 4000 + k);
        for (int i = 0; i < MAXC; i++) ASSERT(no_waiters_left(ch[i]));
        free(s);
    }
    for (int i = 0; i < MAXC; i++) weft_chan_free(ch[i]);
}

/* ---- plain threads and cancellation -------------------------------------------------- */

TEST_PLAIN(select_outside_runtime) {
    weft_chan *a = chan64(1), *u = chan64(0);
    ASSERT(a && u);
    int64_t v = -1;
    weft_case cs[2] = {rcase(u, &v), rcase(a, &v)};
    ASSERT_ERR(weft_select(cs, 2, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_select(cs, 2, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_select(cs, 2, weft_deadline_in(50)), WEFT_ENOTASK);
    ASSERT(no_waiters_left(u));
    ASSERT_ERR(send64(a, 6, 0), 0);
    ASSERT_EQ(weft_select(cs, 2, -1), 1);
    ASSERT_EQ(v, 6);
    ASSERT_ERR(weft_chan_close(u), 0);
    ASSERT_EQ(weft_select(cs, 2, -1), 0);
    ASSERT_ERR(cs[0].err, WEFT_ECLOSED);
    weft_chan_free(a);
    weft_chan_free(u);
}

TEST(select_cancel_wakes_parked) {
    test_guard();
    weft_chan *a = chan64(0), *b = chan64(0);
    ASSERT(a && b);
    weft_wg wg;
    weft_wg_init(&wg);
    weft_group g;
    weft_group_init(&g);
    sel_task s;
    sel_init(&s, &wg, -1);
    sel_add(&s, a, WEFT_RECV, -1);
    sel_add(&s, b, WEFT_SEND, 1);
    weft_wg_add(&wg, 1);
    ASSERT_EQ(weft_group_go(&g, select_task, &s, "select"), 0);
    weft_sleep(PARK_MS);
    ASSERT_EQ(atomic_load(&s.finished), 0);
    weft_group_cancel(&g);
    ASSERT_ERR(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_ERR(s.rc, WEFT_ECANCELED);
    ASSERT(no_waiters_left(a));
    ASSERT(no_waiters_left(b));
    weft_chan_free(a);
    weft_chan_free(b);
}

/* ---- cross-worker stress ------------------------------------------------------------- */

#define NCH 3

typedef struct {
    weft_chan **ch;
    weft_wg *wg;
    long n;
    int nprod, id;
    test_spread_gate *gate;
    test_tally *tally;
    atomic_long *errs, *timeouts;
} stress_arg;

static void stress_producer(void *arg) {
    stress_arg *a = arg;
    test_gate_pass(a->gate);
    for (long i = a->id; i < a->n; i += a->nprod) {
        int64_t v = i;
        weft_case cs[NCH];
        for (int k = 0; k < NCH; k++) cs[k] = scase(a->ch[k], &v);
        int rc = weft_select(cs, NCH, -1);
        if (rc < 0 || rc >= NCH || cs[rc].err != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
    }
    weft_wg_done(a->wg);
}

static void stress_consumer(void *arg) {
    stress_arg *a = arg;
    weft_chan *live[NCH];
    for (int k = 0; k < NCH; k++) live[k] = a->ch[k];
    int open = NCH;
    test_gate_pass(a->gate);
    while (open > 0) {
        int64_t v = -1;
        weft_case cs[NCH];
        for (int k = 0; k < NCH; k++) cs[k] = rcase(live[k], &v); /* closed ones are NULL */
        /* short deadlines: timeouts race with senders claiming the select */
        int rc = weft_select(cs, NCH, weft_deadline_in(1 + a->id % 3));
        if (rc == WEFT_ETIMEDOUT) {
            atomic_fetch_add(a->timeouts, 1);
            continue;
        }
        if (rc < 0 || rc >= NCH) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
        if (cs[rc].err == WEFT_ECLOSED) {
            live[rc] = NULL;
            open--;
            continue;
        }
        test_tally_add(a->tally, v);
    }
    weft_wg_done(a->wg);
}

TEST(select_cross_worker_stress) {
    test_guard();
    enum { NP = 6, NC = 6 };
    long n = test_scale(50000);
    weft_chan *ch[NCH] = {chan64(0), chan64(1), chan64(16)};
    ASSERT(ch[0] && ch[1] && ch[2]);
    test_tally t;
    ASSERT_EQ(test_tally_init(&t, n), 0);
    atomic_long errs = 0, timeouts = 0;
    weft_wg pwg, cwg;
    weft_wg_init(&pwg);
    weft_wg_init(&cwg);
    stress_arg args[NP + NC];
    test_spread_gate gate;
    test_gate_init(&gate, 15000);
    for (int i = 0; i < NP + NC; i++) {
        args[i] = (stress_arg){.ch = ch,
                               .wg = i < NP ? &pwg : &cwg,
                               .n = n,
                               .nprod = NP,
                               .id = i,
                               .gate = &gate,
                               .tally = &t,
                               .errs = &errs,
                               .timeouts = &timeouts};
    }
    weft_wg_add(&cwg, NC);
    for (int i = 0; i < NC; i++) ASSERT_EQ(weft_go(stress_consumer, &args[NP + i]), 0);
    weft_wg_add(&pwg, NP);
    for (int i = 0; i < NP; i++) ASSERT_EQ(weft_go(stress_producer, &args[i]), 0);
    ASSERT_ERR(weft_wg_wait(&pwg, weft_deadline_in(60000)), 0);
    for (int k = 0; k < NCH; k++) ASSERT_ERR(weft_chan_close(ch[k]), 0);
    ASSERT_ERR(weft_wg_wait(&cwg, weft_deadline_in(60000)), 0);
    ASSERT_EQ(atomic_load(&errs), 0);
    ASSERT_EQ(atomic_load(&t.out_of_range), 0);
    ASSERT_EQ(atomic_load(&t.dups), 0);
    ASSERT_EQ(atomic_load(&t.received), n);
    ASSERT_EQ(atomic_load(&t.sum), (long long)n * (n - 1) / 2);
    ASSERT_EQ(test_tally_missing(&t), 0);
    ASSERT(atomic_load(&gate.spread)); /* it did run on several workers */
    test_tally_free(&t);
    for (int k = 0; k < NCH; k++) weft_chan_free(ch[k]);
}

/* ---- select beside the channel hand-off park (rt_int.h) --------------------- */

/* Two senders and a plain receiver, all without a deadline (so they park
 * through the hand-off park), race a select receiving on the same channel,
 * spawned in a different order each round and spread over the workers: the
 * select and the receiver get one value each, both senders return 0, and
 * nobody is left on the channel. */
TEST(select_races_direct_handoff) {
    test_guard();
    weft_chan *u = chan64(0), *never = chan64(0);
    ASSERT(u && never);
    long rounds = test_scale_min(1000, 100);
    for (long r = 0; r < rounds; r++) {
        weft_wg wg, swg;
        weft_wg_init(&wg);
        weft_wg_init(&swg);
        sel_task s;
        sel_init(&s, &swg, -1);
        sel_add(&s, never, WEFT_RECV, -1);
        sel_add(&s, u, WEFT_RECV, -1);
        op_task s1 = {u, 2 * r, -1, 12345, &wg}, s2 = {u, 2 * r + 1, -1, 12345, &wg};
        op_task rv = {u, -1, -1, 12345, &wg};
        for (int k = 0; k < 4; k++) {
            switch ((k + r) % 4) {
            case 0: ASSERT_EQ(spawn_select(&s), 0); break;
            case 1: ASSERT_EQ(spawn_op(send_task, &s1), 0); break;
            case 2: ASSERT_EQ(spawn_op(send_task, &s2), 0); break;
            default: ASSERT_EQ(spawn_op(recv_task, &rv), 0); break;
            }
            if ((r >> 2) % 2) weft_yield();
        }
        ASSERT_ERR(weft_wg_wait(&swg, weft_deadline_in(5000)), 0);
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        ASSERT_EQ(s.rc, 1);
        ASSERT_ERR(s.errs[1], 0);
        ASSERT_ERR(s1.rc, 0);
        ASSERT_ERR(s2.rc, 0);
        ASSERT_ERR(rv.rc, 0);
        int64_t a = s.vals[1], b = rv.val;
        ASSERT((a == 2 * r && b == 2 * r + 1) || (a == 2 * r + 1 && b == 2 * r));
        ASSERT_EQ(s.vals[0], -1);
        ASSERT(no_waiters_left(u));
        ASSERT(no_waiters_left(never));
    }
    weft_chan_free(u);
    weft_chan_free(never);
}
