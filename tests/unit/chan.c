/*
 * tests/unit/chan.c — channels: rendezvous and buffered transfer, element
 * sizes, len/cap, Go's close semantics, deadlines (0, future, expired),
 * argument checks, calls from plain threads, cancellation, and cross-worker
 * traffic where every value must arrive exactly once.
 *
 * Helper tasks never ASSERT (an ASSERT only ends the task it runs in): they
 * record what they saw and the main task checks it after joining them.
 */
#include "test.h"
#include "weft/impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- one channel operation in a helper task ---------------------------- */

typedef struct {
    weft_chan *c;
    weft_wg *wg;
    int64_t deadline;
    int64_t val; /* send: value; recv: received value */
    int rc;      /* result of the operation */
    atomic_int finished;
    int64_t t_end; /* weft_now() when the operation returned */
} chan_op;

static void op_init(chan_op *op, weft_chan *c, weft_wg *wg, int64_t deadline, int64_t val) {
    op->c = c;
    op->wg = wg;
    op->deadline = deadline;
    op->val = val;
    op->rc = 12345;
    atomic_init(&op->finished, 0);
    op->t_end = 0;
}

static void send_task(void *arg) {
    chan_op *op = arg;
    op->rc = weft_chan_send(op->c, &op->val, op->deadline);
    op->t_end = weft_now();
    atomic_store(&op->finished, 1);
    weft_wg_done(op->wg);
}

static void recv_task(void *arg) {
    chan_op *op = arg;
    op->val = -1;
    op->rc = weft_chan_recv(op->c, &op->val, op->deadline);
    op->t_end = weft_now();
    atomic_store(&op->finished, 1);
    weft_wg_done(op->wg);
}

static int spawn_op(weft_fn fn, chan_op *op) { return test_go_wg(op->wg, fn, op); }

/* ---- unbuffered ----------------------------------------------------------- */

TEST(chan_unbuffered_send_waits_for_receiver) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *c = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(c != NULL);
    ASSERT_EQ(weft_chan_cap(c), 0);

    chan_op op;
    op_init(&op, c, &wg, -1, 0x1122334455667788LL);
    ASSERT_EQ(spawn_op(send_task, &op), 0);
    weft_sleep(PARK_MS);
    /* nobody has received: the send must still be parked, nothing buffered */
    ASSERT_EQ(atomic_load(&op.finished), 0);
    ASSERT_EQ(weft_chan_len(c), 0);

    int64_t v = 0;
    ASSERT_ERR(weft_chan_recv(c, &v, -1), 0);
    ASSERT_EQ(v, 0x1122334455667788LL);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(op.rc, 0);
    weft_chan_free(c);
}

TEST(chan_unbuffered_recv_waits_for_sender) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *c = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(c != NULL);

    chan_op op;
    op_init(&op, c, &wg, -1, 0);
    ASSERT_EQ(spawn_op(recv_task, &op), 0);
    weft_sleep(PARK_MS);
    ASSERT_EQ(atomic_load(&op.finished), 0);

    int64_t v = -77;
    ASSERT_ERR(weft_chan_send(c, &v, -1), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(op.rc, 0);
    ASSERT_EQ(op.val, -77);
    weft_chan_free(c);
}

typedef struct {
    weft_chan *c;
    weft_wg *wg;
    int n;
    int errs;
    int bad_order;
} seq_arg;

static void seq_receiver(void *arg) {
    seq_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        int v = -1;
        int rc = weft_chan_recv(a->c, &v, -1);
        if (rc) {
            a->errs++;
            break;
        }
        if (v != i) a->bad_order++;
    }
    weft_wg_done(a->wg);
}

TEST(chan_unbuffered_many_in_order) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c != NULL);
    seq_arg a = {c, &wg, 1000, 0, 0};
    ASSERT_EQ(test_go_wg(&wg, seq_receiver, &a), 0);
    for (int i = 0; i < a.n; i++) {
        ASSERT_ERR(weft_chan_send(c, &i, -1), 0);
        /* the value went straight to the receiver */
        ASSERT_EQ(weft_chan_len(c), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(a.errs, 0);
    ASSERT_EQ(a.bad_order, 0);
    weft_chan_free(c);
}

/* ---- buffered ----------------------------------------------------------- */

TEST(chan_buffered_fifo) {
    test_guard();
    weft_chan *c = weft_chan_new(sizeof(int), 16, NULL);
    ASSERT(c != NULL);
    ASSERT_EQ(weft_chan_cap(c), 16);
    for (int i = 0; i < 16; i++) {
        ASSERT_ERR(weft_chan_send(c, &i, 0), 0);
        ASSERT_EQ(weft_chan_len(c), (size_t)i + 1);
    }
    int x = 99;
    ASSERT_ERR(weft_chan_send(c, &x, 0), WEFT_EAGAIN);
    ASSERT_EQ(weft_chan_len(c), 16);
    for (int i = 0; i < 16; i++) {
        int v = -1;
        ASSERT_ERR(weft_chan_recv(c, &v, 0), 0);
        ASSERT_EQ(v, i);
        ASSERT_EQ(weft_chan_len(c), (size_t)(15 - i));
    }
    ASSERT_ERR(weft_chan_recv(c, &x, 0), WEFT_EAGAIN);

    /* FIFO across the ring's wrap-around, many times over */
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        int k = 1 + (round * 7) % 16; /* 1..16 */
        for (int i = 0; i < k && (int)weft_chan_len(c) < 16; i++, next_in++)
            ASSERT_ERR(weft_chan_send(c, &next_in, 0), 0);
        int m = 1 + (round * 5) % 16;
        for (int i = 0; i < m && weft_chan_len(c) > 0; i++, next_out++) {
            int v = -1;
            ASSERT_ERR(weft_chan_recv(c, &v, 0), 0);
            ASSERT_EQ(v, next_out);
        }
    }
    while (weft_chan_len(c) > 0) {
        int v = -1;
        ASSERT_ERR(weft_chan_recv(c, &v, 0), 0);
        ASSERT_EQ(v, next_out);
        next_out++;
    }
    ASSERT_EQ(next_out, next_in);
    weft_chan_free(c);
}

typedef struct {
    weft_chan *c;
    weft_wg *wg;
    int from, to;
    int errs;
} range_arg;

static void range_sender(void *arg) {
    range_arg *a = arg;
    for (int i = a->from; i < a->to; i++)
        if (weft_chan_send(a->c, &i, -1) != 0) a->errs++;
    weft_wg_done(a->wg);
}

TEST(chan_buffered_parked_sender_keeps_order) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *c = weft_chan_new(sizeof(int), 2, NULL);
    ASSERT(c != NULL);
    range_arg a = {c, &wg, 0, 10, 0};
    ASSERT_EQ(test_go_wg(&wg, range_sender, &a), 0);
    /* the sender fills the buffer and parks with the third value */
    for (int i = 0; i < 5000 && weft_chan_len(c) < 2; i++) weft_sleep(1);
    weft_sleep(PARK_MS / 3);
    ASSERT_EQ(weft_chan_len(c), 2);
    for (int i = 0; i < 10; i++) {
        int v = -1;
        ASSERT_ERR(weft_chan_recv(c, &v, weft_deadline_in(5000)), 0);
        ASSERT_EQ(v, i);
        ASSERT_LE(weft_chan_len(c), 2);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(a.errs, 0);
    ASSERT_EQ(weft_chan_len(c), 0);
    weft_chan_free(c);
}

TEST(chan_len_cap) {
    test_guard();
    weft_chan *c0 = weft_chan_new(4, 0, NULL);
    ASSERT(c0 != NULL);
    ASSERT_EQ(weft_chan_cap(c0), 0);
    ASSERT_EQ(weft_chan_len(c0), 0);
    weft_chan *c = weft_chan_new(4, 5, NULL);
    ASSERT(c != NULL);
    ASSERT_EQ(weft_chan_cap(c), 5);
    ASSERT_EQ(weft_chan_len(c), 0);
    int v = 1;
    ASSERT_ERR(weft_chan_send(c, &v, 0), 0);
    ASSERT_ERR(weft_chan_send(c, &v, 0), 0);
    ASSERT_EQ(weft_chan_len(c), 2);
    ASSERT_ERR(weft_chan_recv(c, &v, 0), 0);
    ASSERT_EQ(weft_chan_len(c), 1);
    ASSERT_EQ(weft_chan_cap(c), 5);
    /* closing keeps what is buffered */
    ASSERT_ERR(weft_chan_close(c), 0);
    ASSERT_EQ(weft_chan_len(c), 1);
    ASSERT_EQ(weft_chan_cap(c), 5);
    ASSERT_ERR(weft_chan_recv(c, &v, 0), 0);
    ASSERT_EQ(weft_chan_len(c), 0);
    /* cap 1 and a large capacity */
    weft_chan *c1 = weft_chan_new(1, 1, NULL);
    ASSERT(c1 != NULL);
    ASSERT_EQ(weft_chan_cap(c1), 1);
    weft_chan *cbig = weft_chan_new(1, 100000, NULL);
    ASSERT(cbig != NULL);
    ASSERT_EQ(weft_chan_cap(cbig), 100000);
    for (int i = 0; i < 100000; i++) {
        unsigned char b = (unsigned char)i;
        ASSERT_ERR(weft_chan_send(cbig, &b, 0), 0);
    }
    ASSERT_EQ(weft_chan_len(cbig), 100000);
    unsigned char b = 0;
    ASSERT_ERR(weft_chan_send(cbig, &b, 0), WEFT_EAGAIN);
    for (int i = 0; i < 100000; i++) {
        ASSERT_ERR(weft_chan_recv(cbig, &b, 0), 0);
        ASSERT_EQ(b, (unsigned char)i);
    }
    weft_chan_free(cbig);
    weft_chan_free(c1);
    weft_chan_free(c);
    weft_chan_free(c0);
}

/* ---- element sizes --------------------------------------------------------- */

typedef struct {
    uint32_t id;
    char name[90];
    uint16_t tail;
    uint32_t crc;
} rec100;

typedef struct {
    weft_chan *c;
    weft_wg *wg;
    size_t esz;
    int count;
    int rc;
} sized_arg;

static void sized_sender(void *arg) {
    sized_arg *a = arg;
    unsigned char *buf = malloc(a->esz);
    a->rc = buf ? 0 : WEFT_ENOMEM;
    for (int k = 0; buf && k < a->count && a->rc == 0; k++) {
        test_fill_pattern(buf, a->esz, (unsigned)k);
        a->rc = weft_chan_send(a->c, buf, -1);
    }
    free(buf);
    weft_wg_done(a->wg);
}

/* Pass `count` elements of size esz through a channel of capacity cap from a
 * helper task; each must arrive intact, and recv must write exactly esz bytes. */
static void check_size(size_t esz, size_t cap) {
    const size_t guard_bytes = 64;
    weft_wg wg;
    weft_wg_init(&wg);
    int err = 1;
    weft_chan *c = weft_chan_new(esz, cap, &err);
    ASSERT(c != NULL);
    ASSERT_EQ(weft_chan_cap(c), cap);
    sized_arg a = {c, &wg, esz, 8, 0};
    ASSERT_EQ(test_go_wg(&wg, sized_sender, &a), 0);
    unsigned char *got = malloc(esz + guard_bytes);
    unsigned char *want = malloc(esz);
    ASSERT(got && want);
    for (int k = 0; k < a.count; k++) {
        memset(got, 0xEE, esz + guard_bytes);
        ASSERT_ERR(weft_chan_recv(c, got, weft_deadline_in(5000)), 0);
        test_fill_pattern(want, esz, (unsigned)k);
        ASSERT_MEMEQ(got, want, esz);
        for (size_t i = esz; i < esz + guard_bytes; i++) ASSERT_EQ(got[i], 0xEE);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(a.rc, 0);
    free(got);
    free(want);
    weft_chan_free(c);
}

TEST(chan_element_sizes) {
    test_guard();
    static const size_t sizes[] = {1, 8, sizeof(rec100), 4096, 65536};
    ASSERT_EQ(sizeof(rec100), 100);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_size(sizes[i], 0);
        if (test__failed()) {
            test__fail(__FILE__, __LINE__, "element size %zu, unbuffered", sizes[i]);
            return;
        }
        check_size(sizes[i], 3);
        if (test__failed()) {
            test__fail(__FILE__, __LINE__, "element size %zu, cap 3", sizes[i]);
            return;
        }
    }
}

TEST(chan_struct_roundtrip_buffered) {
    test_guard();
    weft_chan *c = weft_chan_new(sizeof(rec100), 4, NULL);
    ASSERT(c != NULL);
    rec100 in[4];
    for (int i = 0; i < 4; i++) {
        memset(&in[i], 0, sizeof in[i]);
        in[i].id = 1000u + (uint32_t)i;
        snprintf(in[i].name, sizeof in[i].name, "record number %d", i);
        in[i].tail = (uint16_t)(0xBEEF + i);
        in[i].crc = 0xDEADBEEFu ^ (uint32_t)i;
        ASSERT_ERR(weft_chan_send(c, &in[i], 0), 0);
    }
    /* the channel holds a copy: scribbling over the source changes nothing */
    memset(in, 0x5A, sizeof in);
    for (int i = 0; i < 4; i++) {
        rec100 out;
        memset(&out, 0, sizeof out);
        ASSERT_ERR(weft_chan_recv(c, &out, 0), 0);
        ASSERT_EQ(out.id, 1000u + (uint32_t)i);
        char want[90];
        snprintf(want, sizeof want, "record number %d", i);
        ASSERT_STREQ(out.name, want);
        ASSERT_EQ(out.tail, 0xBEEF + i);
        ASSERT_EQ(out.crc, 0xDEADBEEFu ^ (uint32_t)i);
    }
    weft_chan_free(c);
}

/* ---- close ---------------------------------------------------------------- */

TEST(chan_close_drains_then_closed) {
    test_guard();
    weft_chan *c = weft_chan_new(sizeof(int), 4, NULL);
    ASSERT(c != NULL);
    for (int i = 1; i <= 3; i++) ASSERT_ERR(weft_chan_send(c, &i, 0), 0);
    ASSERT_ERR(weft_chan_close(c), 0);
    ASSERT_EQ(weft_chan_len(c), 3);
    int v = 0;
    ASSERT_ERR(weft_chan_send(c, &v, -1), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_send(c, &v, 0), WEFT_ECLOSED);
    ASSERT_EQ(weft_chan_len(c), 3);
    for (int i = 1; i <= 3; i++) {
        v = -1;
        ASSERT_ERR(weft_chan_recv(c, &v, -1), 0);
        ASSERT_EQ(v, i);
    }
    /* drained: every kind of deadline gets WEFT_ECLOSED at once */
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_chan_recv(c, &v, -1), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_recv(c, &v, 0), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_recv(c, &v, weft_deadline_in(1000)), WEFT_ECLOSED);
    ASSERT_LT(weft_now() - t0, 200);
    ASSERT_ERR(weft_chan_close(c), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_close(c), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_send(c, &v, 0), WEFT_ECLOSED);
    weft_chan_free(c);
}

TEST(chan_close_unbuffered) {
    test_guard();
    weft_chan *c = weft_chan_new(sizeof(int), 0, NULL);
    ASSERT(c != NULL);
    ASSERT_ERR(weft_chan_close(c), 0);
    int v = 5;
    ASSERT_ERR(weft_chan_send(c, &v, -1), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_recv(c, &v, -1), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_recv(c, &v, 0), WEFT_ECLOSED);
    ASSERT_EQ(v, 5); /* a failed recv leaves the destination alone */
    ASSERT_ERR(weft_chan_close(c), WEFT_ECLOSED);
    weft_chan_free(c);
}

TEST(chan_close_wakes_parked_receivers) {
    test_guard();
    enum { N = 4 };
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *b = weft_chan_new(sizeof(int64_t), 3, NULL);
    ASSERT(u && b);
    chan_op ops[2 * N];
    for (int i = 0; i < N; i++) {
        op_init(&ops[i], u, &wg, -1, 0);
        op_init(&ops[N + i], b, &wg, weft_deadline_in(10000), 0);
        ASSERT_EQ(spawn_op(recv_task, &ops[i]), 0);
        ASSERT_EQ(spawn_op(recv_task, &ops[N + i]), 0);
    }
    weft_sleep(PARK_MS);
    for (int i = 0; i < 2 * N; i++) ASSERT_EQ(atomic_load(&ops[i].finished), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_chan_close(u), 0);
    ASSERT_ERR(weft_chan_close(b), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    /* woken by close, not by the deadline */
    ASSERT_LT(weft_now() - t0, test_slack_ms(SLACK_MS));
    for (int i = 0; i < 2 * N; i++) {
        ASSERT_ERR(ops[i].rc, WEFT_ECLOSED);
        ASSERT_EQ(ops[i].val, -1); /* nothing was written */
    }
    weft_chan_free(u);
    weft_chan_free(b);
}

TEST(chan_close_wakes_parked_senders) {
    test_guard();
    enum { N = 4 };
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *b = weft_chan_new(sizeof(int64_t), 2, NULL);
    ASSERT(u && b);
    int64_t x = 100;
    ASSERT_ERR(weft_chan_send(b, &x, 0), 0);
    x = 101;
    ASSERT_ERR(weft_chan_send(b, &x, 0), 0);
    chan_op ops[2 * N];
    for (int i = 0; i < N; i++) {
        op_init(&ops[i], u, &wg, -1, i);
        op_init(&ops[N + i], b, &wg, weft_deadline_in(10000), 200 + i);
        ASSERT_EQ(spawn_op(send_task, &ops[i]), 0);
        ASSERT_EQ(spawn_op(send_task, &ops[N + i]), 0);
    }
    weft_sleep(PARK_MS);
    for (int i = 0; i < 2 * N; i++) ASSERT_EQ(atomic_load(&ops[i].finished), 0);
    ASSERT_EQ(weft_chan_len(b), 2);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_chan_close(u), 0);
    ASSERT_ERR(weft_chan_close(b), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_LT(weft_now() - t0, test_slack_ms(SLACK_MS));
    for (int i = 0; i < 2 * N; i++) ASSERT_ERR(ops[i].rc, WEFT_ECLOSED);
    /* only what was buffered before the close comes out, then WEFT_ECLOSED */
    int64_t v = 0;
    ASSERT_ERR(weft_chan_recv(b, &v, 0), 0);
    ASSERT_EQ(v, 100);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), 0);
    ASSERT_EQ(v, 101);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_ECLOSED);
    weft_chan_free(u);
    weft_chan_free(b);
}

TEST(chan_many_parked_receivers) {
    /* many receivers parked at once: some get values, close wakes the rest */
    test_guard();
    enum { N = 400, SENT = 150 };
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u != NULL);
    weft_wg wg;
    weft_wg_init(&wg);
    chan_op *ops = calloc(N, sizeof *ops);
    ASSERT(ops != NULL);
    for (int i = 0; i < N; i++) {
        op_init(&ops[i], u, &wg, -1, 0);
        ASSERT_EQ(spawn_op(recv_task, &ops[i]), 0);
    }
    weft_sleep(PARK_MS);
    for (int64_t v = 0; v < SENT; v++) ASSERT_ERR(weft_chan_send(u, &v, weft_deadline_in(5000)), 0);
    ASSERT_ERR(weft_chan_close(u), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(10000)), 0);
    int got[SENT] = {0};
    int closed = 0, other = 0;
    for (int i = 0; i < N; i++) {
        if (ops[i].rc == WEFT_ECLOSED)
            closed++;
        else if (ops[i].rc == 0 && ops[i].val >= 0 && ops[i].val < SENT)
            got[ops[i].val]++;
        else
            other++;
    }
    ASSERT_EQ(other, 0);
    ASSERT_EQ(closed, N - SENT);
    for (int v = 0; v < SENT; v++) ASSERT_EQ(got[v], 1);
    free(ops);
    weft_chan_free(u);
}

/* ---- deadlines --------------------------------------------------------- */

TEST(chan_deadline_zero) {
    test_guard();
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *b = weft_chan_new(sizeof(int64_t), 2, NULL);
    ASSERT(u && b);
    int64_t v = 7;
    /* would block: EAGAIN, and nothing happens */
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), WEFT_EAGAIN);
    ASSERT_EQ(v, 7);
    /* would not block: succeeds */
    ASSERT_ERR(weft_chan_send(b, &v, 0), 0);
    v = 8;
    ASSERT_ERR(weft_chan_send(b, &v, 0), 0);
    ASSERT_ERR(weft_chan_send(b, &v, 0), WEFT_EAGAIN);
    ASSERT_EQ(weft_chan_len(b), 2);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), 0);
    ASSERT_EQ(v, 7);

    /* unbuffered with a partner already parked: succeeds without waiting */
    weft_wg wg;
    weft_wg_init(&wg);
    chan_op r;
    op_init(&r, u, &wg, -1, 0);
    ASSERT_EQ(spawn_op(recv_task, &r), 0);
    /* EAGAIN only until the receiver has parked; never a wait */
    v = 4242;
    int rc, tries = 0;
    while ((rc = weft_chan_send(u, &v, 0)) == WEFT_EAGAIN && ++tries < 5000) weft_sleep(1);
    ASSERT_ERR(rc, 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(r.rc, 0);
    ASSERT_EQ(r.val, 4242);

    chan_op s;
    op_init(&s, u, &wg, -1, 31337);
    ASSERT_EQ(spawn_op(send_task, &s), 0);
    v = 0;
    tries = 0;
    while ((rc = weft_chan_recv(u, &v, 0)) == WEFT_EAGAIN && ++tries < 5000) weft_sleep(1);
    ASSERT_ERR(rc, 0);
    ASSERT_EQ(v, 31337);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(s.rc, 0);
    /* and with nobody left, EAGAIN again */
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN);
    weft_chan_free(u);
    weft_chan_free(b);
}

TEST(chan_deadline_timeout) {
    test_guard();
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *b = weft_chan_new(sizeof(int64_t), 1, NULL);
    ASSERT(u && b);
    int64_t v = 1;
    ASSERT_ERR(weft_chan_send(b, &v, 0), 0); /* b is now full */

    static const int64_t waits[] = {1, 20, 100};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        int64_t ms = waits[i];
        int64_t t0 = weft_now(), dl = t0 + ms;
        ASSERT_ERR(weft_chan_recv(u, &v, dl), WEFT_ETIMEDOUT);
        int64_t t1 = weft_now();
        ASSERT_GE(t1, dl);
        ASSERT_LT(t1 - t0, ms + test_slack_ms(SLACK_MS));

        t0 = weft_now(), dl = t0 + ms;
        ASSERT_ERR(weft_chan_send(u, &v, dl), WEFT_ETIMEDOUT);
        t1 = weft_now();
        ASSERT_GE(t1, dl);
        ASSERT_LT(t1 - t0, ms + test_slack_ms(SLACK_MS));

        t0 = weft_now(), dl = t0 + ms;
        ASSERT_ERR(weft_chan_send(b, &v, dl), WEFT_ETIMEDOUT);
        t1 = weft_now();
        ASSERT_GE(t1, dl);
        ASSERT_LT(t1 - t0, ms + test_slack_ms(SLACK_MS));
    }
    ASSERT_EQ(weft_chan_len(b), 1);

    /* a timed-out waiter left nothing behind on the channel */
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), 0);
    ASSERT_EQ(v, 1);
    ASSERT_ERR(weft_chan_recv(b, &v, 0), WEFT_EAGAIN);
    weft_chan_free(u);
    weft_chan_free(b);
}

TEST(chan_deadline_in_helper_tasks) {
    /* parked helpers on both sides time out on their own, concurrently */
    test_guard();
    enum { N = 6 };
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *u2 = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u && u2);
    chan_op ops[N];
    int64_t t0 = weft_now();
    for (int i = 0; i < N; i++) {
        op_init(&ops[i], i % 2 ? u : u2, &wg, t0 + 50 + 10 * i, i);
        ASSERT_EQ(spawn_op(i % 2 ? recv_task : send_task, &ops[i]), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_ERR(ops[i].rc, WEFT_ETIMEDOUT);
        ASSERT_GE(ops[i].t_end, ops[i].deadline);
        ASSERT_LT(ops[i].t_end - t0, 50 + 10 * i + test_slack_ms(SLACK_MS));
    }
    int64_t v = 0;
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(u2, &v, 0), WEFT_EAGAIN);
    weft_chan_free(u);
    weft_chan_free(u2);
}

TEST(chan_deadline_expired) {
    test_guard();
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u != NULL);
    int64_t v = 3;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_chan_recv(u, &v, 1), WEFT_ETIMEDOUT); /* 1 ms after the clock's epoch */
    ASSERT_ERR(weft_chan_send(u, &v, 1), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_chan_recv(u, &v, t0 - 1), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_chan_send(u, &v, t0 - 1000), WEFT_ETIMEDOUT);
    ASSERT_LT(weft_now() - t0, 100);
    ASSERT_EQ(v, 3);
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN);
    weft_chan_free(u);
}

/* A deadline-0 send racing the deadline of a parked receiver: whichever wins,
 * the value is delivered exactly when the send reports success. */
typedef struct {
    weft_chan *c;
    weft_wg *wg;
    int64_t deadline;
    int rc;
    int64_t val;
} race_arg;

static void race_receiver(void *arg) {
    race_arg *a = arg;
    a->val = -1;
    a->rc = weft_chan_recv(a->c, &a->val, a->deadline);
    weft_wg_done(a->wg);
}

TEST(chan_timeout_race_loses_nothing) {
    test_guard();
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u != NULL);
    long rounds = test_scale_min(200, 30);
    int delivered = 0, timed_out = 0;
    for (long i = 0; i < rounds; i++) {
        weft_wg wg;
        weft_wg_init(&wg);
        race_arg a = {u, &wg, weft_deadline_in(2), 0, 0};
        ASSERT_EQ(test_go_wg(&wg, race_receiver, &a), 0);
        /* wake up around the receiver's deadline (before, at it, or when it
         * is already past), then keep trying a non-blocking send */
        weft_sleep_until(a.deadline - (int64_t)(i % 3));
        int64_t v = i, src;
        int src_rc = WEFT_EAGAIN;
        while (src_rc == WEFT_EAGAIN && weft_now() <= a.deadline + 1) {
            src = v;
            src_rc = weft_chan_send(u, &src, 0);
            if (src_rc == WEFT_EAGAIN) weft_yield();
        }
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        if (src_rc == 0) {
            ASSERT_ERR(a.rc, 0);
            ASSERT_EQ(a.val, v);
            delivered++;
        } else {
            ASSERT_ERR(src_rc, WEFT_EAGAIN);
            ASSERT_ERR(a.rc, WEFT_ETIMEDOUT);
            ASSERT_EQ(a.val, -1);
            timed_out++;
        }
        ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    }
    ASSERT_EQ(delivered + timed_out, rounds);
    ASSERT_GT(delivered, 0);
    weft_chan_free(u);
}

/* ---- cancellation ---------------------------------------------------------- */

TEST(chan_cancel_wakes_parked_ops) {
    test_guard();
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u != NULL);
    weft_wg wg;
    weft_wg_init(&wg);
    weft_group g;
    weft_group_init(&g);
    chan_op r, s;
    op_init(&r, u, &wg, -1, 0);
    op_init(&s, u, &wg, -1, 9);
    weft_wg_add(&wg, 1);
    ASSERT_EQ(weft_group_go(&g, recv_task, &r, "recv"), 0);
    weft_sleep(PARK_MS);
    weft_group_cancel(&g);
    ASSERT_ERR(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_ERR(r.rc, WEFT_ECANCELED);
    /* the cancelled receiver is gone from the channel */
    int64_t v = 1;
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);

    weft_wg_add(&wg, 1);
    ASSERT_EQ(weft_group_go(&g, send_task, &s, "send"), 0);
    weft_sleep(PARK_MS);
    weft_group_cancel(&g);
    ASSERT_ERR(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_ERR(s.rc, WEFT_ECANCELED);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
    weft_chan_free(u);
}

/* A deadline-0 sender racing the cancellation of a parked receiver: the value
 * is delivered exactly when the send reports success. */
typedef struct {
    weft_chan *c;
    weft_wg *wg;
    atomic_int *stop;
    int64_t val;
    int rc;
} eager_sender;

static void eager_send_task(void *arg) {
    eager_sender *s = arg;
    s->rc = WEFT_EAGAIN;
    while (!atomic_load(s->stop)) {
        int64_t v = s->val;
        s->rc = weft_chan_send(s->c, &v, 0);
        if (s->rc != WEFT_EAGAIN) break;
        weft_yield();
    }
    weft_wg_done(s->wg);
}

TEST(chan_cancel_race_loses_nothing) {
    test_guard();
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u != NULL);
    long rounds = test_scale_min(300, 30);
    long delivered = 0, canceled = 0;
    for (long i = 0; i < rounds; i++) {
        weft_group g;
        weft_group_init(&g);
        weft_wg wg;
        weft_wg_init(&wg);
        atomic_int stop = 0;
        race_arg r = {u, &wg, -1, 12345, 0};
        eager_sender s = {u, &wg, &stop, 1000 + i, 12345};
        weft_wg_add(&wg, 2);
        ASSERT_EQ(weft_group_go(&g, race_receiver, &r, "receiver"), 0);
        ASSERT_EQ(weft_go(eager_send_task, &s), 0);
        for (long k = 0; k < i % 5; k++) weft_yield();
        weft_group_cancel(&g);
        atomic_store(&stop, 1);
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        ASSERT_ERR(weft_group_wait(&g, weft_deadline_in(5000)), 0);
        if (s.rc == 0) {
            ASSERT_ERR(r.rc, 0);
            ASSERT_EQ(r.val, 1000 + i);
            delivered++;
        } else {
            ASSERT_ERR(s.rc, WEFT_EAGAIN);
            ASSERT_ERR(r.rc, WEFT_ECANCELED);
            ASSERT_EQ(r.val, -1);
            canceled++;
        }
        ASSERT_ERR(weft_chan_send(u, &s.val, 0), WEFT_EAGAIN);
    }
    ASSERT_EQ(delivered + canceled, rounds);
    weft_chan_free(u);
}

/* ---- close racing with traffic ------------------------------------------ */

typedef struct {
    weft_chan *c;
    weft_wg *wg;
    int id;
    long maxk;
    long sent; /* sends that returned 0: values id*maxk + 0 .. sent-1 */
    int last_rc;
} close_prod;

static void close_producer(void *arg) {
    close_prod *p = arg;
    p->last_rc = 0;
    for (long k = 0; k < p->maxk; k++) {
        int64_t v = p->id * p->maxk + k;
        int rc = weft_chan_send(p->c, &v, -1);
        if (rc != 0) {
            p->last_rc = rc;
            break;
        }
        p->sent++;
    }
    weft_wg_done(p->wg);
}

typedef struct {
    weft_chan *c, *half;
    weft_wg *wg;
    long total, signal_at;
    atomic_uchar *seen;
    atomic_long *received, *bad, *errs;
} close_cons;

static void close_consumer(void *arg) {
    close_cons *a = arg;
    for (;;) {
        int64_t v = -1;
        int rc = weft_chan_recv(a->c, &v, -1);
        if (rc == WEFT_ECLOSED) break;
        if (rc != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
        if (v < 0 || v >= a->total) {
            atomic_fetch_add(a->bad, 1);
            continue;
        }
        atomic_fetch_add(&a->seen[v], 1);
        if (atomic_fetch_add(a->received, 1) + 1 == a->signal_at) {
            int one = 1;
            weft_chan_send(a->half, &one, 0);
        }
    }
    weft_wg_done(a->wg);
}

/* Close while producers and consumers are busy: every send that returned 0
 * is received exactly once (buffered values are drained after the close),
 * every send after it fails with WEFT_ECLOSED, nothing else arrives. */
static void close_mid_traffic(size_t cap) {
    enum { NP = 4, NC = 4 };
    /* enough values that the producers cannot finish before the close lands:
     * under TSan test_scale() alone left 400 each, and all 1,600 could be
     * sent between the half-way signal and the close (failed once in CI) */
    long maxk = test_scale_min(100000, 20000);
    long total = NP * maxk;
    weft_chan *c = weft_chan_new(sizeof(int64_t), cap, NULL);
    weft_chan *half = weft_chan_new(sizeof(int), 1, NULL);
    atomic_uchar *seen = calloc((size_t)total, sizeof *seen);
    ASSERT(c && half && seen);
    atomic_long received = 0, bad = 0, errs = 0;
    weft_wg pwg, cwg;
    weft_wg_init(&pwg);
    weft_wg_init(&cwg);
    close_prod prods[NP];
    close_cons cons[NC];
    for (int i = 0; i < NC; i++) {
        cons[i] = (close_cons){c, half, &cwg, total, total / 4, seen, &received, &bad, &errs};
        ASSERT_EQ(test_go_wg(&cwg, close_consumer, &cons[i]), 0);
    }
    for (int i = 0; i < NP; i++) {
        prods[i] = (close_prod){c, &pwg, i, maxk, 0, 12345};
        ASSERT_EQ(test_go_wg(&pwg, close_producer, &prods[i]), 0);
    }
    int one = 0;
    ASSERT_ERR(weft_chan_recv(half, &one, weft_deadline_in(60000)), 0);
    ASSERT_ERR(weft_chan_close(c), 0);
    ASSERT_ERR(weft_wg_wait(&pwg, weft_deadline_in(60000)), 0);
    ASSERT_ERR(weft_wg_wait(&cwg, weft_deadline_in(60000)), 0);
    ASSERT_EQ(atomic_load(&errs), 0);
    ASSERT_EQ(atomic_load(&bad), 0);
    long cut = 0, sent = 0;
    for (int p = 0; p < NP; p++) {
        if (prods[p].last_rc != 0) {
            ASSERT_ERR(prods[p].last_rc, WEFT_ECLOSED);
            cut++;
        }
        sent += prods[p].sent;
        for (long k = 0; k < maxk; k++) {
            int want = k < prods[p].sent ? 1 : 0;
            if (atomic_load(&seen[p * maxk + k]) != want) {
                test__fail(__FILE__, __LINE__, "producer %d value %ld: seen %d times, want %d", p,
                           k, (int)atomic_load(&seen[p * maxk + k]), want);
                return;
            }
        }
    }
    ASSERT_GT(cut, 0); /* the close did land mid-traffic */
    ASSERT_EQ(atomic_load(&received), sent);
    ASSERT_EQ(weft_chan_len(c), 0);
    free(seen);
    weft_chan_free(c);
    weft_chan_free(half);
}

TEST(chan_close_mid_traffic_unbuffered) {
    test_guard();
    close_mid_traffic(0);
}

TEST(chan_close_mid_traffic_buffered) {
    test_guard();
    close_mid_traffic(8);
}

/* ---- arguments -------------------------------------------------------------- */

TEST_PLAIN(chan_invalid_args) {
    int err = 0;
    ASSERT(weft_chan_new(0, 1, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    err = 0;
    ASSERT(weft_chan_new(0, 0, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    err = 0;
    ASSERT(weft_chan_new(65537, 0, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    err = 0;
    ASSERT(weft_chan_new((size_t)1 << 20, 4, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    err = 0;
    ASSERT(weft_chan_new(SIZE_MAX, 1, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    err = 0;
    ASSERT(weft_chan_new(1, ((size_t)1 << 28) + 1, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    err = 0;
    ASSERT(weft_chan_new(1, SIZE_MAX, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
    /* err may be NULL */
    ASSERT(weft_chan_new(0, 0, NULL) == NULL);
    /* the limits themselves are fine */
    weft_chan *c = weft_chan_new(65536, 0, &err);
    ASSERT(c != NULL);
    weft_chan_free(c);
    c = weft_chan_new(1, 0, &err);
    ASSERT(c != NULL);
    weft_chan_free(c);

    int64_t v = 0;
    ASSERT_ERR(weft_chan_send(NULL, &v, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_chan_send(NULL, &v, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_chan_recv(NULL, &v, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_chan_recv(NULL, &v, -1), WEFT_EINVAL);
}

TEST(chan_invalid_args_in_task) {
    test_guard();
    int64_t v = 0;
    ASSERT_ERR(weft_chan_send(NULL, &v, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_chan_recv(NULL, &v, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_chan_send(NULL, &v, weft_deadline_in(10)), WEFT_EINVAL);
    ASSERT_ERR(weft_chan_recv(NULL, &v, weft_deadline_in(10)), WEFT_EINVAL);
    int err = 0;
    ASSERT(weft_chan_new(0, 4, &err) == NULL);
    ASSERT_ERR(err, WEFT_EINVAL);
}

/* ---- plain threads ------------------------------------------------------- */

TEST_PLAIN(chan_outside_runtime) {
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *b = weft_chan_new(sizeof(int64_t), 2, NULL);
    ASSERT(u && b);
    int64_t v = 5;
    ASSERT_ERR(weft_chan_send(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_send(u, &v, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_chan_send(u, &v, weft_deadline_in(50)), WEFT_ENOTASK);
    ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(u, &v, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_chan_recv(u, &v, weft_deadline_in(50)), WEFT_ENOTASK);
    /* what would not block works */
    ASSERT_ERR(weft_chan_send(b, &v, -1), 0);
    ASSERT_ERR(weft_chan_send(b, &v, weft_deadline_in(50)), 0);
    ASSERT_ERR(weft_chan_send(b, &v, -1), WEFT_ENOTASK);
    v = 0;
    ASSERT_ERR(weft_chan_recv(b, &v, -1), 0);
    ASSERT_EQ(v, 5);
    ASSERT_ERR(weft_chan_close(b), 0);
    ASSERT_ERR(weft_chan_recv(b, &v, -1), 0);
    ASSERT_ERR(weft_chan_recv(b, &v, -1), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_send(b, &v, -1), WEFT_ECLOSED);
    weft_chan_free(u);
    weft_chan_free(b);
}

typedef struct {
    weft_chan *u;     /* a task is parked receiving on it */
    weft_chan *z;     /* a task is parked receiving on it; the thread closes it */
    weft_chan *e;     /* unbuffered, nobody on it */
    weft_chan *b;     /* cap 2, empty */
    weft_chan *done;  /* cap 1: the thread reports here */
    int rc_wake_send; /* send to the parked receiver */
    int rc_close;
    int rc[8];
    int rc_b[4];
    int64_t got;
} thread_arg;

static void *plain_thread(void *p) {
    thread_arg *a = p;
    int64_t v = 777;
    /* WEFT_ENOTASK until the receiving task has parked (it would block) */
    for (int i = 0; i < 5000; i++) {
        a->rc_wake_send = weft_chan_send(a->u, &v, -1);
        if (a->rc_wake_send != WEFT_ENOTASK) break;
        usleep(1000);
    }
    a->rc_close = weft_chan_close(a->z);
    a->rc[0] = weft_chan_send(a->e, &v, -1);
    a->rc[1] = weft_chan_send(a->e, &v, 0);
    a->rc[2] = weft_chan_send(a->e, &v, weft_deadline_in(20));
    a->rc[3] = weft_chan_recv(a->e, &v, -1);
    a->rc[4] = weft_chan_recv(a->e, &v, 0);
    a->rc[5] = weft_chan_recv(a->e, &v, weft_deadline_in(20));
    weft_case cs[1] = {{a->e, WEFT_RECV, &v, 0}};
    a->rc[6] = weft_select(cs, 1, -1);
    a->rc[7] = weft_select(cs, 1, 0);
    v = 55;
    a->rc_b[0] = weft_chan_send(a->b, &v, -1);
    a->got = 0;
    a->rc_b[1] = weft_chan_recv(a->b, &a->got, -1);
    a->rc_b[2] = weft_chan_recv(a->b, &v, -1);
    int one = 1;
    a->rc_b[3] = weft_chan_send(a->done, &one, 0);
    return NULL;
}

TEST(chan_from_plain_thread) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    thread_arg a;
    memset(&a, 0, sizeof a);
    a.u = weft_chan_new(sizeof(int64_t), 0, NULL);
    a.z = weft_chan_new(sizeof(int64_t), 0, NULL);
    a.e = weft_chan_new(sizeof(int64_t), 0, NULL);
    a.b = weft_chan_new(sizeof(int64_t), 2, NULL);
    a.done = weft_chan_new(sizeof(int), 1, NULL);
    ASSERT(a.u && a.z && a.e && a.b && a.done);
    chan_op ru, rz;
    op_init(&ru, a.u, &wg, weft_deadline_in(10000), 0);
    op_init(&rz, a.z, &wg, weft_deadline_in(10000), 0);
    ASSERT_EQ(spawn_op(recv_task, &ru), 0);
    ASSERT_EQ(spawn_op(recv_task, &rz), 0);
    weft_sleep(PARK_MS);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, plain_thread, &a), 0);
    int one = 0;
    int rc = weft_chan_recv(a.done, &one, weft_deadline_in(10000));
    pthread_join(th, NULL); /* the thread has finished its work by now */
    ASSERT_ERR(rc, 0);
    ASSERT_EQ(one, 1);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);

    ASSERT_ERR(a.rc_wake_send, 0); /* a task was parked: no need to block */
    ASSERT_ERR(ru.rc, 0);
    ASSERT_EQ(ru.val, 777);
    ASSERT_ERR(a.rc_close, 0);
    ASSERT_ERR(rz.rc, WEFT_ECLOSED);
    ASSERT_ERR(a.rc[0], WEFT_ENOTASK);
    ASSERT_ERR(a.rc[1], WEFT_EAGAIN);
    ASSERT_ERR(a.rc[2], WEFT_ENOTASK);
    ASSERT_ERR(a.rc[3], WEFT_ENOTASK);
    ASSERT_ERR(a.rc[4], WEFT_EAGAIN);
    ASSERT_ERR(a.rc[5], WEFT_ENOTASK);
    ASSERT_ERR(a.rc[6], WEFT_ENOTASK);
    ASSERT_ERR(a.rc[7], WEFT_EAGAIN);
    ASSERT_ERR(a.rc_b[0], 0);
    ASSERT_ERR(a.rc_b[1], 0);
    ASSERT_EQ(a.got, 55);
    ASSERT_ERR(a.rc_b[2], WEFT_ENOTASK);
    ASSERT_ERR(a.rc_b[3], 0);
    /* the thread's failed calls left no waiter behind */
    int64_t v = 0;
    ASSERT_ERR(weft_chan_send(a.e, &v, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_recv(a.e, &v, 0), WEFT_EAGAIN);
    weft_chan_free(a.u);
    weft_chan_free(a.z);
    weft_chan_free(a.e);
    weft_chan_free(a.b);
    weft_chan_free(a.done);
}

/* ---- cross-worker traffic ----------------------------------------------- */

typedef struct {
    weft_chan *c;
    weft_wg *wg;
    long n; /* values 0..n-1 */
    int nprod, id;
    test_tally *tally;
    atomic_long *errs;
    test_spread_gate *gate;
} mpmc_arg;

static void mpmc_producer(void *arg) {
    mpmc_arg *a = arg;
    test_gate_pass(a->gate);
    for (long i = a->id; i < a->n; i += a->nprod) {
        int64_t v = i;
        if (weft_chan_send(a->c, &v, -1) != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
    }
    weft_wg_done(a->wg);
}

static void mpmc_consumer(void *arg) {
    mpmc_arg *a = arg;
    test_gate_pass(a->gate);
    for (;;) {
        int64_t v = -1;
        int rc = weft_chan_recv(a->c, &v, -1);
        if (rc == WEFT_ECLOSED) break;
        if (rc != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
        test_tally_add(a->tally, v);
    }
    weft_wg_done(a->wg);
}

static void mpmc(long n, size_t cap, int nprod, int ncons) {
    weft_chan *c = weft_chan_new(sizeof(int64_t), cap, NULL);
    ASSERT(c != NULL);
    test_tally t;
    int ti = test_tally_init(&t, n);
    mpmc_arg *args = calloc((size_t)(nprod + ncons), sizeof *args);
    ASSERT(ti == 0 && args);
    atomic_long errs = 0;
    weft_wg pwg, cwg;
    weft_wg_init(&pwg);
    weft_wg_init(&cwg);
    test_spread_gate gate;
    test_gate_init(&gate, 15000);
    for (int i = 0; i < nprod + ncons; i++) {
        mpmc_arg *a = &args[i];
        a->c = c;
        a->wg = i < nprod ? &pwg : &cwg;
        a->n = n;
        a->nprod = nprod;
        a->id = i;
        a->tally = &t;
        a->errs = &errs;
        a->gate = &gate;
    }
    for (int i = 0; i < ncons; i++) ASSERT_EQ(test_go_wg(&cwg, mpmc_consumer, &args[nprod + i]), 0);
    for (int i = 0; i < nprod; i++) ASSERT_EQ(test_go_wg(&pwg, mpmc_producer, &args[i]), 0);
    ASSERT_ERR(weft_wg_wait(&pwg, weft_deadline_in(60000)), 0);
    ASSERT_ERR(weft_chan_close(c), 0);
    ASSERT_ERR(weft_wg_wait(&cwg, weft_deadline_in(60000)), 0);

    ASSERT_EQ(atomic_load(&errs), 0);
    ASSERT_EQ(atomic_load(&t.out_of_range), 0);
    ASSERT_EQ(atomic_load(&t.dups), 0);
    ASSERT_EQ(atomic_load(&t.received), n);
    ASSERT_EQ(atomic_load(&t.sum), (long long)n * (n - 1) / 2);
    ASSERT_EQ(test_tally_missing(&t), 0);
    ASSERT_EQ(weft_chan_len(c), 0);
    /* with several workers, the exchange started on more than one thread */
    ASSERT(atomic_load(&gate.spread));
    test_tally_free(&t);
    free(args);
    weft_chan_free(c);
}

TEST(chan_cross_worker_buffered_mpmc) {
    test_guard();
    ASSERT_GE(weft_workers(), 1);
    mpmc(test_scale(100000), 64, 8, 8);
}

TEST(chan_cross_worker_unbuffered_mpmc) {
    test_guard();
    mpmc(test_scale(30000), 0, 6, 5);
}

TEST(chan_cross_worker_cap1_many_tasks) {
    test_guard();
    mpmc(test_scale(20000), 1, 40, 40);
}

typedef struct {
    weft_chan *in, *out;
    weft_wg *wg;
    long rounds;
    int errs;
} pong_arg;

static void ponger(void *arg) {
    pong_arg *a = arg;
    for (long i = 0; i < a->rounds; i++) {
        int64_t v;
        if (weft_chan_recv(a->in, &v, -1) != 0) {
            a->errs++;
            break;
        }
        v++;
        if (weft_chan_send(a->out, &v, -1) != 0) {
            a->errs++;
            break;
        }
    }
    weft_wg_done(a->wg);
}

TEST(chan_ping_pong) {
    test_guard();
    weft_chan *ping = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *pong = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(ping && pong);
    weft_wg wg;
    weft_wg_init(&wg);
    pong_arg a = {ping, pong, &wg, test_scale(20000), 0};
    ASSERT_EQ(test_go_wg(&wg, ponger, &a), 0);
    int64_t v = 0;
    for (long i = 0; i < a.rounds; i++) {
        ASSERT_ERR(weft_chan_send(ping, &v, -1), 0);
        int64_t w = -1;
        ASSERT_ERR(weft_chan_recv(pong, &w, -1), 0);
        ASSERT_EQ(w, v + 1);
        v = w + 1;
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_EQ(a.errs, 0);
    ASSERT_EQ(v, 2 * a.rounds);
    weft_chan_free(ping);
    weft_chan_free(pong);
}

/* ---- freeing a channel right after the last operation ---------------------------- */

/* A one-shot reply channel: the receiver frees it as soon as its recv has
 * returned (no task is parked on it any more). The sender's call must not
 * touch the channel after handing the value over. ASan/TSan see a late
 * access directly; a plain build may see heap corruption. Kept last in this
 * file because a failure can take the process down. */
typedef struct {
    weft_chan *c;
    int rc;
    atomic_int finished; /* set last: the sender is done with c */
} reply_arg;

static void *reply_thread(void *p) {
    reply_arg *a = p;
    int64_t v = 42;
    for (int i = 0; i < 5000; i++) { /* WEFT_ENOTASK until the receiver parks */
        a->rc = weft_chan_send(a->c, &v, -1);
        if (a->rc != WEFT_ENOTASK) break;
        usleep(200);
    }
    return NULL;
}

static void reply_task(void *p) {
    reply_arg *a = p;
    int64_t v = 42;
    a->rc = weft_chan_send(a->c, &v, -1);
    atomic_store(&a->finished, 1);
}

TEST(chan_free_right_after_recv) {
    test_guard();
    long rounds = test_scale_min(2000, 100);
    for (long r = 0; r < rounds; r++) {
        weft_chan *c = weft_chan_new(sizeof(int64_t), 0, NULL);
        ASSERT(c != NULL);
        reply_arg a = {c, 12345, 0};
        pthread_t th;
        int by_thread = r % 2 == 0;
        if (by_thread)
            ASSERT_EQ(pthread_create(&th, NULL, reply_thread, &a), 0);
        else
            ASSERT_EQ(weft_go(reply_task, &a), 0);
        int64_t v = 0;
        int rc = weft_chan_recv(c, &v, weft_deadline_in(5000));
        weft_chan_free(c); /* nobody is parked on it: ours to free */
        if (by_thread)
            pthread_join(th, NULL);
        else
            while (!atomic_load(&a.finished)) weft_yield();
        ASSERT_ERR(rc, 0);
        ASSERT_EQ(v, 42);
        ASSERT_ERR(a.rc, 0);
    }
}

/* ---- the hand-off park (rt_int.h): cancel, close and wakers across workers -- */

/* A receiver that keeps arming and disarming: each non-blocking op on `buf`
 * arms and drops a wait (rt_int.h, rule 3), each recv on `u` parks through
 * the hand-off park. A canceler on another thread hits it anywhere in that
 * cycle; it must end with WEFT_ECANCELED, and every value a sender was told
 * went through must have arrived. */
typedef struct {
    weft_chan *u, *buf;
    long got, last_rc;
    int64_t sum;
} churn_recv;

static void churn_receiver(void *arg) {
    churn_recv *r = arg;
    for (;;) {
        int64_t v;
        for (int k = 0; k < 4; k++) weft_chan_recv(r->buf, &v, 0); /* arm, drop */
        int rc = weft_chan_recv(r->u, &v, -1);
        if (rc != 0) {
            r->last_rc = rc;
            break;
        }
        r->got++;
        r->sum += v;
    }
}

typedef struct {
    weft_chan *u;
    atomic_int *stop;
    long sent;
    int64_t sum;
} churn_send;

static void churn_sender(void *arg) {
    churn_send *s = arg;
    for (int64_t v = 1; !atomic_load(s->stop); v++) {
        int rc = weft_chan_send(s->u, &v, weft_deadline_in(1));
        if (rc == 0) {
            s->sent++;
            s->sum += v;
        } else if (rc != WEFT_ETIMEDOUT) {
            break;
        } else {
            weft_yield();
        }
    }
}

static void *cancel_from_thread(void *arg) {
    weft_task_ref *ref = arg;
    for (volatile int i = 0; i < 2000; i++) {}
    weft_task_ref_cancel(ref);
    return NULL;
}

static void churn_receiver_ref(void *arg);
typedef struct {
    churn_recv *r;
    weft_task_ref **ref;
    weft_chan *ready;
} churn_boot;
static void churn_receiver_ref(void *arg) {
    churn_boot *b = arg;
    int err = 0;
    *b->ref = weft_task_ref_self(&err);
    int one = 1;
    weft_chan_send(b->ready, &one, -1);
    churn_receiver(b->r);
}

TEST(chan_handoff_cancel_while_arming_loses_nothing) {
    test_guard();
    long rounds = test_scale_min(300, 40);
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    weft_chan *buf = weft_chan_new(sizeof(int64_t), 4, NULL);
    weft_chan *ready = weft_chan_new(sizeof(int), 1, NULL);
    ASSERT(u && buf && ready);
    long total = 0;
    for (long i = 0; i < rounds; i++) {
        weft_group rg, sg;
        weft_group_init(&rg);
        weft_group_init(&sg);
        atomic_int stop = 0;
        churn_recv r = {u, buf, 0, 0, 0};
        churn_send s = {u, &stop, 0, 0};
        weft_task_ref *ref = NULL;
        churn_boot b = {&r, &ref, ready};
        ASSERT_EQ(weft_group_go(&rg, churn_receiver_ref, &b, "churn-recv"), 0);
        ASSERT_EQ(weft_group_go(&sg, churn_sender, &s, "churn-send"), 0);
        int one;
        ASSERT_ERR(weft_chan_recv(ready, &one, weft_deadline_in(5000)), 0);
        ASSERT(ref != NULL);
        for (long k = 0; k < i % 7; k++) weft_yield();
        if (i % 2) {
            /* from a plain thread: no worker, global queue */
            pthread_t th;
            ASSERT_EQ(pthread_create(&th, NULL, cancel_from_thread, ref), 0);
            pthread_join(th, NULL);
        } else {
            weft_task_ref_cancel(ref); /* from a task, maybe on the other worker */
        }
        /* a lost cancel leaves the receiver parked: the wait times out */
        ASSERT_ERR(weft_group_wait(&rg, weft_deadline_in(5000)), 0);
        atomic_store(&stop, 1);
        ASSERT_ERR(weft_group_wait(&sg, weft_deadline_in(5000)), 0);
        weft_task_ref_release(ref);
        ASSERT_ERR((int)r.last_rc, WEFT_ECANCELED);
        ASSERT_EQ(r.got, s.sent);
        ASSERT_EQ(r.sum, s.sum);
        total += r.got;
        int64_t v;
        ASSERT_ERR(weft_chan_recv(u, &v, 0), WEFT_EAGAIN); /* nobody left parked */
    }
    ASSERT_GT(total, 0);
    weft_chan_free(u);
    weft_chan_free(buf);
    weft_chan_free(ready);
}

/* A sender parked through the hand-off park, a receiver arriving on another
 * worker and a close, all at once: either the value went through (both sides
 * 0) or neither side got it (both WEFT_ECLOSED). Never one without the other. */
typedef struct {
    weft_chan *c;
    weft_wg *wg;
    int64_t val;
    int rc;
} hop;

static void hop_send(void *arg) {
    hop *h = arg;
    h->rc = weft_chan_send(h->c, &h->val, -1);
    weft_wg_done(h->wg);
}
static void hop_recv(void *arg) {
    hop *h = arg;
    for (int k = 0; k < 3; k++) weft_yield(); /* let the sender park first, mostly */
    h->rc = weft_chan_recv(h->c, &h->val, -1);
    weft_wg_done(h->wg);
}

TEST(chan_close_while_sender_hands_off) {
    test_guard();
    long rounds = test_scale_min(2000, 200);
    long through = 0, closed = 0;
    for (long i = 0; i < rounds; i++) {
        weft_chan *c = weft_chan_new(sizeof(int64_t), 0, NULL);
        ASSERT(c != NULL);
        weft_wg wg;
        weft_wg_init(&wg);
        hop s = {c, &wg, 1000 + i, 12345}, r = {c, &wg, -1, 12345};
        ASSERT_EQ(test_go_wg(&wg, hop_send, &s), 0);
        ASSERT_EQ(test_go_wg(&wg, hop_recv, &r), 0);
        for (long k = 0; k < i % 6; k++) weft_yield();
        ASSERT_ERR(weft_chan_close(c), 0);
        ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
        if (s.rc == 0) {
            ASSERT_ERR(r.rc, 0);
            ASSERT_EQ(r.val, 1000 + i);
            through++;
        } else {
            ASSERT_ERR(s.rc, WEFT_ECLOSED);
            ASSERT_ERR(r.rc, WEFT_ECLOSED);
            ASSERT_EQ(r.val, -1);
            closed++;
        }
        weft_chan_free(c); /* nobody may still be queued on it */
    }
    ASSERT_EQ(through + closed, rounds);
    ASSERT_GT(closed, 0);
}

/* Ping-pong pairs on every worker at once: with stealing, partners end up
 * on different workers, so the hand-off's waker readies a task parked on
 * another worker (run-next of the waker's worker, then stolen or not).
 * Values must come back in order, incremented. */
typedef struct {
    weft_chan *ping, *pong;
    long rounds;
    test_spread_gate *gate;
    atomic_long *bad;
} xpair;

static void xpair_echo(void *arg) {
    xpair *p = arg;
    test_gate_pass(p->gate);
    for (long i = 0; i < p->rounds; i++) {
        int64_t v;
        if (weft_chan_recv(p->ping, &v, -1) != 0) break;
        v++;
        if (weft_chan_send(p->pong, &v, -1) != 0) break;
    }
}
static void xpair_lead(void *arg) {
    xpair *p = arg;
    test_gate_pass(p->gate);
    for (long i = 0; i < p->rounds; i++) {
        int64_t v = i * 2, back = -1;
        if (weft_chan_send(p->ping, &v, -1) != 0 || weft_chan_recv(p->pong, &back, -1) != 0 ||
            back != v + 1) {
            atomic_fetch_add(p->bad, 1);
            break;
        }
        if (i % 64 == 0) weft_yield(); /* a chance for the other worker to steal */
    }
}

TEST(chan_handoff_pairs_cross_workers) {
    test_guard();
    enum { NPAIR = 8 };
    long rounds = test_scale_min(20000, 2000);
    test_spread_gate gate;
    test_gate_init(&gate, 2000);
    atomic_long bad = 0;
    xpair p[NPAIR];
    weft_group g;
    weft_group_init(&g);
    for (int i = 0; i < NPAIR; i++) {
        p[i] = (xpair){weft_chan_new(sizeof(int64_t), 0, NULL),
                       weft_chan_new(sizeof(int64_t), 0, NULL), rounds, &gate, &bad};
        ASSERT(p[i].ping && p[i].pong);
        ASSERT_EQ(weft_group_go(&g, xpair_echo, &p[i], "echo"), 0);
        ASSERT_EQ(weft_group_go(&g, xpair_lead, &p[i], "lead"), 0);
    }
    ASSERT_ERR(test_join(&g, 60000), 0);
    ASSERT_EQ(atomic_load(&bad), 0);
    ASSERT(atomic_load(&gate.spread));
    for (int i = 0; i < NPAIR; i++) {
        weft_chan_free(p[i].ping);
        weft_chan_free(p[i].pong);
    }
}

/* A cancel from another thread landing while the receiver is on its way
 * into the hand-off park (armed, not yet parked): a canceler that took the
 * ARMED wait for itself would have its wake overwritten by the park, and the
 * receiver would sleep forever. The canceler sweeps its delay across that
 * window, round by round. */
typedef struct {
    _Atomic(weft_task_ref *) ref;
    atomic_int delay, quit;
} sweeper;

static void *sweep_thread(void *arg) {
    sweeper *s = arg;
    for (;;) {
        weft_task_ref *r;
        while (!(r = atomic_exchange(&s->ref, NULL))) {
            if (atomic_load(&s->quit)) return NULL;
            __builtin_ia32_pause();
        }
        for (volatile int i = atomic_load(&s->delay); i > 0; i--) {}
        weft_task_ref_cancel(r);
        weft_task_ref_release(r);
    }
}

typedef struct {
    sweeper *s;
    weft_chan *u;
    int delay, rc;
} sweep_victim;

static void sweep_recv(void *arg) {
    sweep_victim *v = arg;
    weft_task_ref *r = weft_task_ref_self(NULL);
    if (!r) return;
    atomic_store(&v->s->delay, v->delay);
    atomic_store(&v->s->ref, r);
    int64_t x;
    v->rc = weft_chan_recv(v->u, &x, -1); /* nobody sends: only the cancel ends it */
}

TEST(chan_cancel_lands_while_parking) {
    test_guard();
    long rounds = test_scale_min(1500, 300);
    weft_chan *u = weft_chan_new(sizeof(int64_t), 0, NULL);
    ASSERT(u != NULL);
    sweeper s = {NULL, 0, 0};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sweep_thread, &s), 0);
    int failed = 0;
    for (long i = 0; i < rounds && !failed; i++) {
        weft_group g;
        weft_group_init(&g);
        sweep_victim v = {&s, u, (int)(i % 300), 12345};
        if (weft_group_go(&g, sweep_recv, &v, "victim") != 0) failed = 1;
        /* a lost cancel leaves the victim parked for good */
        else if (weft_group_wait(&g, weft_deadline_in(5000)) != 0 || v.rc != WEFT_ECANCELED)
            failed = 2;
    }
    atomic_store(&s.quit, 1);
    pthread_join(th, NULL);
    ASSERT_EQ(failed, 0);
    int64_t x = 1;
    ASSERT_ERR(weft_chan_send(u, &x, 0), WEFT_EAGAIN); /* no victim left queued */
    weft_chan_free(u);
}

/* ---- the wait sequence number: 61 bits, and the wrap -------------------------
 * Test hooks of src/rt/sched.c (not in a header: tests do not include the
 * runtime's private one). */
void *weft__test_task_self(void);
uint64_t weft__test_wait_seq(void *task);
int weft__test_wait_state(void *task); /* 2: parked */
void weft__test_wait_seq_set(uint64_t seq);
_Bool weft__test_wake(void *task, uint64_t seq, int result);

#define SEQ_MAX ((1ull << 61) - 1)

typedef struct {
    weft_chan *c;
    weft_wg wg;
    uint64_t start; /* the parked task's seq before its recv */
    void *task;
    _Atomic int armed;
    int rc;
    int64_t val;
    int woke; /* the stale (or right) wake woke it */
} seq_ctx;

static void wseq_receiver(void *arg) {
    seq_ctx *x = arg;
    x->task = weft__test_task_self();
    weft__test_wait_seq_set(x->start);
    atomic_store(&x->armed, 1);
    x->rc = weft_chan_recv(x->c, &x->val, -1); /* parks with seq start + 1 */
    weft_wg_done(&x->wg);
}

/* Park a receiver whose wait seq is start + 1; try a stale wake with seq
 * `stale`; then send it a value. x->woke: whether the stale wake woke it. */
static void park_and_wake_stale(seq_ctx *x, uint64_t start, uint64_t stale) {
    int err = 0;
    x->c = weft_chan_new(sizeof(int64_t), 0, &err);
    ASSERT(x->c != NULL);
    weft_wg_init(&x->wg);
    weft_wg_add(&x->wg, 1);
    x->start = start;
    atomic_store(&x->armed, 0);
    x->rc = 12345;
    x->val = 0;
    ASSERT_EQ(weft_go(wseq_receiver, x), 0);
    while (!atomic_load(&x->armed)) ASSERT_EQ(weft_yield(), 0);
    /* parked (a wake may not touch a hand-off wait while it is armed) */
    for (int i = 0; i < 5000 && weft__test_wait_state(x->task) != 2; i++) weft_sleep(1);
    ASSERT_EQ(weft__test_wait_state(x->task), 2);
    ASSERT_EQ(weft__test_wait_seq(x->task), (start + 1) & SEQ_MAX);
    x->woke = weft__test_wake(x->task, stale, WEFT_ETIMEDOUT);
    int64_t v = 42;
    if (!x->woke) ASSERT_EQ(weft_chan_send(x->c, &v, -1), 0);
    ASSERT_EQ(weft_wg_wait(&x->wg, -1), 0);
    weft_chan_free(x->c);
}

/* A waker holding the seq of a wait 2^29 waits ago (the old 29-bit seq's
 * wrap: a timer or an I/O completion that arrives that late) must not match
 * the current wait; nor one 2^32 waits ago. The right seq does wake it. */
TEST(wait_seq_old_waker_a_wrap_late_does_not_match) {
    static seq_ctx x;
    uint64_t start = (1ull << 29) + 9; /* the recv parks with seq 2^29 + 10 */
    park_and_wake_stale(&x, start, 10);
    ASSERT(!x.woke);
    ASSERT_EQ(x.rc, 0);
    ASSERT_EQ(x.val, 42);
    start = (1ull << 32) + 9;
    park_and_wake_stale(&x, start, 10);
    ASSERT(!x.woke);
    ASSERT_EQ(x.rc, 0);
    ASSERT_EQ(x.val, 42);
    /* the check can fail: the wait's own seq wakes it with that result */
    park_and_wake_stale(&x, start, start + 1);
    ASSERT(x.woke);
    ASSERT_EQ(x.rc, WEFT_ETIMEDOUT);
}

/* The seq wraps from 2^61 - 1 to 0: channel hand-offs (prearm's add), timed
 * waits (the CAS park) and a parked hand-off across the wrap all work. */
static void seq_echo(void *arg) {
    seq_ctx *x = arg;
    int64_t v;
    while (weft_chan_recv(x->c, &v, -1) == 0) {
        v++;
        if (weft_chan_send(x->c, &v, -1) != 0) break;
    }
    weft_wg_done(&x->wg);
}

TEST(wait_seq_wraps_through_zero) {
    static seq_ctx x;
    void *self = weft__test_task_self();
    /* timed waits across the wrap */
    weft__test_wait_seq_set(SEQ_MAX - 2);
    for (int i = 0; i < 5; i++) {
        int64_t t0 = weft_now();
        ASSERT_EQ(weft_sleep(2), 0);
        ASSERT_GE(weft_now() - t0, 2);
    }
    ASSERT_EQ(weft__test_wait_seq(self), 2); /* SEQ_MAX - 2 + 5, mod 2^61 */
    /* channel ops, parked and not, across the wrap */
    int err = 0;
    x.c = weft_chan_new(sizeof(int64_t), 0, &err);
    ASSERT(x.c != NULL);
    weft_wg_init(&x.wg);
    weft_wg_add(&x.wg, 1);
    ASSERT_EQ(weft_go(seq_echo, &x), 0);
    weft__test_wait_seq_set(SEQ_MAX - 3);
    for (int64_t i = 0; i < 8; i++) {
        int64_t v = i * 10, r = -1;
        ASSERT_EQ(weft_chan_send(x.c, &v, -1), 0);
        ASSERT_EQ(weft_chan_recv(x.c, &r, -1), 0);
        ASSERT_EQ(r, i * 10 + 1);
    }
    ASSERT_EQ(weft__test_wait_seq(self), 12); /* 16 ops from SEQ_MAX - 3 */
    weft_chan_close(x.c);
    ASSERT_EQ(weft_wg_wait(&x.wg, -1), 0);
    weft_chan_free(x.c);
    /* a parked receiver whose recv armed seq 0 (the wrap itself) */
    park_and_wake_stale(&x, SEQ_MAX, 1ull << 29);
    ASSERT(!x.woke);
    ASSERT_EQ(x.rc, 0);
    ASSERT_EQ(x.val, 42);
}
