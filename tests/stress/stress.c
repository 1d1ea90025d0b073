/*
 * tests/stress/stress.c — the runtime under load: a million tasks, a million
 * parked at once, 100k tasks passing messages across workers, randomized
 * select with closes and deadlines, and cancellation storms.
 *
 * Sizes shrink under sanitizers (test_scale); the assertions do not.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

/* ---- 1M tasks spawned and joined ----------------------------------------- */

static weft_wg s_wg;
static _Atomic long s_sum;

static void add_one(void *arg) {
    atomic_fetch_add_explicit(&s_sum, (long)(intptr_t)arg, memory_order_relaxed);
    weft_wg_done(&s_wg);
}

TEST(million_tasks_spawned_and_joined) {
    long n = test_scale(1000000);
    weft_wg_init(&s_wg);
    atomic_store(&s_sum, 0);
    ASSERT_EQ(weft_wg_add(&s_wg, n), 0);
    for (long i = 0; i < n; i++) {
        int rc = weft_go(add_one, (void *)(intptr_t)(i & 7));
        ASSERT_ERR(rc, 0);
        if ((i & 1023) == 0) weft_yield(); /* let the other worker share the work */
    }
    ASSERT_EQ(weft_wg_wait(&s_wg, weft_deadline_in(120000)), 0);
    long want = 0;
    for (long i = 0; i < n; i++) want += i & 7;
    ASSERT_EQ(atomic_load(&s_sum), want);
}

/* ---- 1M tasks parked at the same time -------------------------------------- */

static weft_wg s_gate, s_parked;

static void park_on_gate(void *arg) {
    (void)arg;
    weft_wg_done(&s_parked);
    weft_wg_wait(&s_gate, -1);
    weft_wg_done(&s_wg);
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

TEST(million_tasks_parked_at_once) {
    long n = test_scale(1000000);
    weft_wg_init(&s_gate);
    weft_wg_init(&s_parked);
    weft_wg_init(&s_wg);
    weft_wg_add(&s_gate, 1);
    weft_wg_add(&s_parked, n);
    weft_wg_add(&s_wg, n);
    long rss0 = rss_bytes();
    for (long i = 0; i < n; i++) ASSERT_ERR(weft_go(park_on_gate, NULL), 0);
    ASSERT_EQ(weft_wg_wait(&s_parked, weft_deadline_in(120000)), 0);
    weft_sleep(10); /* the last ones reach weft_wg_wait */
    long per_task = (rss_bytes() - rss0) / n;
    printf("    %ld tasks parked, %ld bytes RSS per task\n", n, per_task);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* the budget is 8 KiB per parked task with a shallow stack (TCB page plus
     * the frames' page); sanitizers add shadow memory, so only the plain
     * build checks it */
    ASSERT_LE(per_task, 8192);
#endif
    weft_wg_done(&s_gate);
    ASSERT_EQ(weft_wg_wait(&s_wg, weft_deadline_in(120000)), 0);
}

/* ---- 100k tasks passing messages across workers ----------------------------- */

typedef struct {
    weft_chan *in, *out;
} hop;

static void relay(void *arg) {
    hop *l = arg;
    long v;
    while (weft_chan_recv(l->in, &v, -1) == 0)
        if (weft_chan_send(l->out, &(long){v + 1}, -1)) break;
    weft_chan_close(l->out);
    weft_wg_done(&s_wg);
}

TEST(hundred_thousand_tasks_pass_messages_in_a_chain) {
    long n = test_scale(100000);
    int tokens = 8;
    weft_chan **ch = calloc((size_t)n + 1, sizeof *ch);
    hop *links = calloc((size_t)n, sizeof *links);
    ASSERT(ch && links);
    for (long i = 0; i <= n; i++) ASSERT((ch[i] = weft_chan_new(sizeof(long), 0, NULL)) != NULL);
    weft_wg_init(&s_wg);
    weft_wg_add(&s_wg, n);
    for (long i = 0; i < n; i++) {
        links[i] = (hop){ch[i], ch[i + 1]};
        ASSERT_ERR(weft_go(relay, &links[i]), 0);
    }
    /* several tokens travel the chain at once, each hop a cross-task hand-off
     * that both workers take part in */
    for (int k = 0; k < tokens; k++)
        ASSERT_EQ(weft_chan_send(ch[0], &(long){k * 1000000000L}, -1), 0);
    long got_sum = 0;
    for (int k = 0; k < tokens; k++) {
        long v;
        ASSERT_EQ(weft_chan_recv(ch[n], &v, weft_deadline_in(120000)), 0);
        ASSERT_EQ(v % 1000000000L, n);
        got_sum += v;
    }
    ASSERT_EQ(got_sum, (long)tokens * (tokens - 1) / 2 * 1000000000L + tokens * n);
    weft_chan_close(ch[0]);
    ASSERT_EQ(weft_wg_wait(&s_wg, weft_deadline_in(120000)), 0);
    long v;
    ASSERT_ERR(weft_chan_recv(ch[n], &v, 0), WEFT_ECLOSED);
    for (long i = 0; i <= n; i++) weft_chan_free(ch[i]);
    free(ch);
    free(links);
}

/* ---- randomized select with closes and deadlines ------------------------------ */

enum { NCH = 8 };
typedef struct {
    weft_chan *ch[NCH];
    _Atomic long sent, received, closed_seen, timeouts;
} sel_world;

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static sel_world *g_sw;

static void selector(void *arg) {
    uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    sel_world *w = g_sw;
    for (int it = 0; it < 400; it++) {
        weft_case cs[4];
        long vals[4];
        int n = 1 + (int)(rnd(&seed) % 4);
        for (int i = 0; i < n; i++) {
            cs[i].chan = w->ch[rnd(&seed) % NCH];
            cs[i].op = rnd(&seed) & 1 ? WEFT_SEND : WEFT_RECV;
            vals[i] = 1;
            cs[i].val = &vals[i];
        }
        uint32_t r = rnd(&seed) % 4;
        int64_t dl = r == 0 ? 0 : r == 1 ? -1 : weft_deadline_in(1 + (int64_t)(rnd(&seed) % 5));
        if (dl == -1) dl = weft_deadline_in(50); /* never forever: the test must end */
        int k = weft_select(cs, n, dl);
        if (k >= 0) {
            if (cs[k].err == WEFT_ECLOSED)
                atomic_fetch_add(&w->closed_seen, 1);
            else if (cs[k].op == WEFT_SEND)
                atomic_fetch_add(&w->sent, 1);
            else
                atomic_fetch_add(&w->received, vals[k]);
        } else if (k == WEFT_ETIMEDOUT || k == WEFT_EAGAIN) {
            atomic_fetch_add(&w->timeouts, 1);
        } else {
            atomic_fetch_add(&w->closed_seen, 1000000); /* unexpected: fails the test */
        }
    }
    weft_wg_done(&s_wg);
}

static void closer(void *arg) {
    sel_world *w = arg;
    for (int i = 0; i < NCH / 2; i++) {
        weft_sleep(5);
        weft_chan_close(w->ch[i * 2]);
    }
    weft_wg_done(&s_wg);
}

TEST(randomized_select_with_closes_and_deadlines) {
    static sel_world w;
    memset(&w, 0, sizeof w);
    g_sw = &w;
    for (int i = 0; i < NCH; i++) w.ch[i] = weft_chan_new(sizeof(long), (size_t)(i % 3), NULL);
    long tasks = test_scale_min(400, 20);
    weft_wg_init(&s_wg);
    weft_wg_add(&s_wg, tasks + 1);
    for (long i = 0; i < tasks; i++) ASSERT_ERR(weft_go(selector, (void *)(intptr_t)i), 0);
    ASSERT_ERR(weft_go(closer, &w), 0);
    ASSERT_EQ(weft_wg_wait(&s_wg, weft_deadline_in(120000)), 0);
    /* conservation: every value sent was received or is still buffered */
    long buffered = 0;
    for (int i = 0; i < NCH; i++) {
        long v;
        while (weft_chan_recv(w.ch[i], &v, 0) == 0) buffered += v;
    }
    ASSERT_LT(atomic_load(&w.closed_seen), 1000000);
    ASSERT_EQ(atomic_load(&w.sent), atomic_load(&w.received) + buffered);
    ASSERT_GT(atomic_load(&w.sent), 0);
    ASSERT_GT(atomic_load(&w.closed_seen), 0);
    ASSERT_GT(atomic_load(&w.timeouts), 0);
    for (int i = 0; i < NCH; i++) weft_chan_free(w.ch[i]);
}

/* ---- cancellation storm: groups cancelled while parked in every kind of wait */

typedef struct {
    weft_chan *ch;
    weft_mutex mu;
    weft_sem sem;
    weft_wg never;
    _Atomic long canceled, other;
} storm;

static storm *g_st;

static void waiter(void *arg) {
    storm *s = g_st;
    int kind = (int)(intptr_t)arg % 6, rc = 0;
    long v;
    weft_case c = {s->ch, WEFT_RECV, &v, 0};
    switch (kind) {
    case 0:
        rc = weft_chan_recv(s->ch, &v, -1);
        break;
    case 1:
        rc = weft_select(&c, 1, -1);
        break;
    case 2:
        rc = weft_sleep(60000);
        break;
    case 3:
        rc = weft_mutex_lock(&s->mu, -1);
        if (rc == 0) weft_mutex_unlock(&s->mu);
        break;
    case 4:
        rc = weft_sem_acquire(&s->sem, -1);
        break;
    case 5:
        rc = weft_wg_wait(&s->never, -1);
        break;
    }
    if (rc == WEFT_ECANCELED)
        atomic_fetch_add(&s->canceled, 1);
    else
        atomic_fetch_add(&s->other, 1);
}

TEST(cancellation_storm) {
    static storm s;
    memset(&s, 0, sizeof s);
    g_st = &s;
    s.ch = weft_chan_new(sizeof(long), 0, NULL);
    weft_mutex_init(&s.mu);
    weft_sem_init(&s.sem, 0);
    weft_wg_init(&s.never);
    weft_wg_add(&s.never, 1);
    ASSERT_EQ(weft_mutex_lock(&s.mu, -1), 0); /* held: lockers park */
    long rounds = 20, per = test_scale_min(3000, 60);
    long total = 0;
    for (long r = 0; r < rounds; r++) {
        weft_group g;
        weft_group_init(&g);
        for (long i = 0; i < per; i++)
            ASSERT_ERR(weft_group_go(&g, waiter, (void *)(intptr_t)i, "w"), 0);
        total += per;
        if (r & 1) weft_sleep(2); /* sometimes parked, sometimes not yet */
        weft_group_cancel(&g);
        ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(60000)), 0);
        ASSERT_EQ(weft_group_count(&g), 0);
    }
    ASSERT_EQ(atomic_load(&s.canceled), total);
    ASSERT_EQ(atomic_load(&s.other), 0);
    weft_mutex_unlock(&s.mu);
    weft_chan_free(s.ch);
}
