/*
 * tests/unit/blocking.c — weft_blocking: the job runs on a pool thread, the
 * calling task (not its worker) waits, a queued job can be withdrawn by a
 * deadline or a cancel while a started one is always waited for, the pool's
 * size limit, and the argument / context checks.
 *
 * Tests that need a particular configuration (one worker, a one-thread pool)
 * are TEST_PLAIN and call weft_main() themselves, with a watchdog thread that
 * dumps the tasks and aborts if the runtime does not come back.
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* ---- where and how fn runs ------------------------------------------------ */

typedef struct where {
    pthread_t th;
    int in_task;
    uint64_t task_id;
    int value;
    char text[32];
} where;

static void record_where(void *a) {
    where *w = a;
    w->th = pthread_self();
    w->in_task = weft_in_task();
    w->task_id = weft_task_id();
    w->value = 42; /* plain writes: the caller must see them after return */
    strcpy(w->text, "written by the pool");
}

TEST(blocking_runs_on_pool_thread) {
    pthread_t before = pthread_self();
    where w = {.in_task = -1, .task_id = 12345};
    int rc = weft_blocking(record_where, &w, -1);
    pthread_t after = pthread_self();
    ASSERT_EQ(rc, 0);
    ASSERT(!pthread_equal(w.th, before));
    ASSERT(!pthread_equal(w.th, after));
    ASSERT_EQ(w.in_task, 0); /* a pool thread is not a task */
    ASSERT_EQ(w.task_id, 0);
    ASSERT_EQ(w.value, 42);
    ASSERT_STREQ(w.text, "written by the pool");
    ASSERT(weft_in_task());
}

typedef struct accum {
    long sum;
    int n;
} accum;

static void add_up(void *a) {
    accum *x = a;
    for (int i = 1; i <= x->n; i++) x->sum += i;
}

static void many_caller(void *a) {
    accum *x = a;
    for (int k = 0; k < 50; k++) {
        x->n = 1000 + k;
        x->sum = 0;
        if (weft_blocking(add_up, x, -1) != 0 || x->sum != (long)x->n * (x->n + 1) / 2) {
            x->sum = -1;
            return;
        }
    }
}

TEST(blocking_many_tasks_results_visible) {
    accum acc[16];
    weft_group g;
    weft_group_init(&g);
    int go = 0;
    for (int i = 0; i < 16; i++) {
        acc[i] = (accum){0, 0};
        go |= weft_group_go(&g, many_caller, &acc[i], "caller");
    }
    int jr = test_join(&g, test_slack_ms(10000));
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    for (int i = 0; i < 16; i++) {
        ASSERT_EQ(acc[i].n, 1049);
        ASSERT_EQ(acc[i].sum, 1049L * 1050 / 2);
    }
}

/* ---- a blocked pool thread does not block the workers ----------------------- */

static struct {
    _Atomic int stop;
    _Atomic int sleeps, yields;
    int sleeps_during, yields_during;
    int rc, workers;
    int64_t blocked_ms;
    int ticker_rc;
} ONE;

static void usleep_200(void *a) { sleep_ms(200); }

static void ticker_sleeps(void *a) {
    while (!atomic_load(&ONE.stop)) {
        int rc = weft_sleep(10);
        if (rc) {
            ONE.ticker_rc = rc;
            return;
        }
        atomic_fetch_add(&ONE.sleeps, 1);
    }
}

static void ticker_yields(void *a) {
    while (!atomic_load(&ONE.stop)) {
        if (weft_yield() != 0) return;
        atomic_fetch_add(&ONE.yields, 1);
        if (atomic_load(&ONE.yields) % 64 == 0) weft_sleep(1); /* let the sleeper's timer run */
    }
}

static void one_worker_main(void *a) {
    ONE.workers = weft_workers();
    weft_group g;
    weft_group_init(&g);
    weft_group_go(&g, ticker_sleeps, NULL, "sleeper");
    weft_group_go(&g, ticker_yields, NULL, "yielder");
    weft_sleep(5);
    int s0 = atomic_load(&ONE.sleeps), y0 = atomic_load(&ONE.yields);
    int64_t t0 = weft_now_ns();
    ONE.rc = weft_blocking(usleep_200, NULL, -1);
    ONE.blocked_ms = test_ms_since(t0);
    ONE.sleeps_during = atomic_load(&ONE.sleeps) - s0;
    ONE.yields_during = atomic_load(&ONE.yields) - y0;
    atomic_store(&ONE.stop, 1);
    test_join(&g, 5000);
}

TEST_PLAIN(blocking_does_not_block_the_worker) {
    memset(&ONE, 0, sizeof ONE);
    weft_config cfg = {.workers = 1};
    int rc = test_main_watched("blocking_does_not_block_the_worker", one_worker_main, NULL, &cfg);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(ONE.workers, 1);
    ASSERT_EQ(ONE.rc, 0);
    ASSERT_GE(ONE.blocked_ms, 199);
    ASSERT_ERR(ONE.ticker_rc, 0);
    /* ~20 expected; the only worker was free while the pool thread slept */
    ASSERT_GE(ONE.sleeps_during, 5);
    ASSERT_GE(ONE.yields_during, 100);
}

/* ---- withdrawing a queued job ---------------------------------------------- */

static struct {
    _Atomic int release; /* lets the occupying job end */
    _Atomic int occ_running;
    _Atomic int victim_ran;
    int occ_rc, victim_rc, victim2_rc, after_rc;
    int64_t victim_ms, victim_dl, victim_now;
    int ran_after;
} Q;

static void occupy(void *a) {
    atomic_store(&Q.occ_running, 1);
    for (int i = 0; i < 10000 && !atomic_load(&Q.release); i++) sleep_ms(1);
}

static void must_not_run(void *a) { atomic_fetch_add(&Q.victim_ran, 1); }

static void occupier_task(void *a) { Q.occ_rc = weft_blocking(occupy, NULL, -1); }

static void canceled_victim(void *a) { Q.victim2_rc = weft_blocking(must_not_run, NULL, -1); }

static void after_fn(void *a) { *(int *)a = 1; }

static void queued_main(void *a) {
    weft_group g, v;
    weft_group_init(&g);
    weft_group_init(&v);
    weft_group_go(&g, occupier_task, NULL, "occupier");
    for (int i = 0; i < 2000 && !atomic_load(&Q.occ_running); i++) weft_sleep(1);
    /* the only pool thread is busy: this job can only queue, and times out */
    int64_t t0 = weft_now_ns();
    Q.victim_dl = weft_deadline_in(50);
    Q.victim_rc = weft_blocking(must_not_run, NULL, Q.victim_dl);
    Q.victim_now = weft_now();
    Q.victim_ms = test_ms_since(t0);
    /* the same by cancellation */
    weft_group_go(&v, canceled_victim, NULL, "victim");
    weft_sleep(20);
    weft_group_cancel(&v);
    test_join(&v, test_slack_ms(2000));
    /* free the pool thread: withdrawn jobs must not run now */
    atomic_store(&Q.release, 1);
    test_join(&g, test_slack_ms(5000));
    weft_sleep(50);
    /* and the pool still works */
    Q.after_rc = weft_blocking(after_fn, &Q.ran_after, weft_deadline_in(5000));
}

TEST_PLAIN(blocking_queued_job_withdrawn) {
    memset(&Q, 0, sizeof Q);
    Q.victim2_rc = -999;
    weft_config cfg = {.blocking_threads = 1};
    int rc = test_main_watched("blocking_queued_job_withdrawn", queued_main, NULL, &cfg);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(Q.occ_rc, 0);
    ASSERT_ERR(Q.victim_rc, WEFT_ETIMEDOUT);
    ASSERT_GE(Q.victim_now, Q.victim_dl);
    ASSERT_LT(Q.victim_ms, test_slack_ms(1000));
    ASSERT_ERR(Q.victim2_rc, WEFT_ECANCELED);
    ASSERT_EQ(atomic_load(&Q.victim_ran), 0);
    ASSERT_EQ(Q.after_rc, 0);
    ASSERT_EQ(Q.ran_after, 1);
}

/* ---- a started job is waited for ---------------------------------------------- */

typedef struct slow_job {
    int ms;
    _Atomic int started;
    _Atomic int64_t started_ns; /* weft_now_ns() as it started */
    int finished; /* plain: written by the pool thread, read after return */
} slow_job;

static void slow(void *a) {
    slow_job *j = a;
    atomic_store(&j->started_ns, weft_now_ns());
    atomic_store(&j->started, 1);
    sleep_ms(j->ms);
    j->finished = 1;
}

TEST(blocking_started_job_outlives_deadline) {
    slow_job j = {.ms = 200};
    int64_t t0 = weft_now_ns();
    int rc = weft_blocking(slow, &j, weft_deadline_in(50));
    int64_t el = test_ms_since(t0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(j.finished, 1);
    ASSERT_GE(el, 199);
}

typedef struct cancel_running {
    slow_job job;
    int rc, canceled, next_rc;
    int64_t returned_ns; /* weft_now_ns() as weft_blocking returned */
} cancel_running;

static void run_slow_then_more(void *a) {
    cancel_running *c = a;
    c->rc = weft_blocking(slow, &c->job, -1);
    c->returned_ns = weft_now_ns();
    c->canceled = weft_canceled();
    c->next_rc = weft_sleep(1000);
}

TEST(blocking_started_job_outlives_cancel) {
    cancel_running c = {.job = {.ms = 200}, .rc = -999, .next_rc = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, run_slow_then_more, &c, "slow");
    for (int i = 0; i < 2000 && !atomic_load(&c.job.started); i++) weft_sleep(1);
    int started = atomic_load(&c.job.started);
    weft_group_cancel(&g);
    int jr = test_join(&g, test_slack_ms(5000));
    ASSERT_EQ(go, 0);
    ASSERT(started);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(c.rc, 0); /* fn ran to the end, and the call says so */
    ASSERT_EQ(c.job.finished, 1);
    ASSERT(c.canceled);
    ASSERT_ERR(c.next_rc, WEFT_ECANCELED);
    /* the cancel did not cut the wait short: the call returned after the
     * job's 200 ms, timed from the job's own start (timed from the cancel,
     * 'at least 100 ms' would fail if this task ran 100 ms late) */
    ASSERT_GE((c.returned_ns - atomic_load(&c.job.started_ns)) / 1000000, 199);
}

/* ---- the pool's size limit -------------------------------------------------- */

static struct {
    _Atomic int cur, max;
    int rcs_bad;
} LIM;

static void count_concurrency(void *a) {
    int c = atomic_fetch_add(&LIM.cur, 1) + 1;
    test_atomic_max(&LIM.max, c);
    sleep_ms(20);
    atomic_fetch_sub(&LIM.cur, 1);
}

static void limit_caller(void *a) {
    if (weft_blocking(count_concurrency, NULL, -1) != 0) LIM.rcs_bad++;
}

static void limit_main(void *a) {
    weft_group g;
    weft_group_init(&g);
    for (int i = 0; i < 24; i++) weft_group_go(&g, limit_caller, NULL, "caller");
    test_join(&g, test_slack_ms(10000));
}

TEST_PLAIN(blocking_pool_size_limit) {
    memset(&LIM, 0, sizeof LIM);
    weft_config cfg = {.blocking_threads = 4};
    test_watchdog wd;
    test_watchdog_start(&wd, "blocking_pool_size_limit", 60);
    int64_t t0 = weft_now_ns();
    int rc = weft_main(limit_main, NULL, &cfg);
    int64_t el = test_ms_since(t0);
    test_watchdog_stop(&wd);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(LIM.rcs_bad, 0);
    ASSERT_LE(atomic_load(&LIM.max), 4);
    ASSERT_GE(atomic_load(&LIM.max), 2); /* jobs did run in parallel */
    ASSERT_GE(el, 24 / 4 * 20 - 5);      /* 6 rounds of 20 ms at least */
}

/* A burst of jobs while one thread is idle: each job must get a thread of its
 * own (up to the limit). The pool used to start a thread only when none was
 * idle, and a thread signalled for one job counts as idle until it wakes, so
 * the whole burst queued behind that one thread and ran one after another.
 * Each job here waits until all four run at once; serialised, each waits out
 * its bound and the count says so. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, saw_all;
} BURST = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void burst_job(void *a) {
    pthread_mutex_lock(&BURST.mu);
    BURST.running++;
    pthread_cond_broadcast(&BURST.cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += test_slack_ms(5000) / 1000;
    while (BURST.running < 4 && pthread_cond_timedwait(&BURST.cv, &BURST.mu, &until) == 0) {
    }
    if (BURST.running >= 4) BURST.saw_all++;
    pthread_mutex_unlock(&BURST.mu);
}

static void burst_caller(void *a) {
    if (weft_blocking(burst_job, NULL, -1) != 0) LIM.rcs_bad++;
}

static void nothing(void *a) {}

TEST(blocking_burst_gets_a_thread_per_job) {
    LIM.rcs_bad = 0;
    ASSERT_EQ(weft_blocking(nothing, NULL, -1), 0); /* now a thread is idle */
    weft_group g;
    weft_group_init(&g);
    for (int i = 0; i < 4; i++) weft_group_go(&g, burst_caller, NULL, "burst");
    ASSERT_EQ(test_join(&g, test_slack_ms(60000)), 0);
    ASSERT_EQ(LIM.rcs_bad, 0);
    ASSERT_EQ(BURST.saw_all, 4);
}

/* ---- argument and context checks --------------------------------------------- */

static void set_flag(void *a) { *(int *)a = 1; }

TEST(blocking_invalid_and_early_returns) {
    int ran = 0;
    ASSERT_ERR(weft_blocking(NULL, NULL, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_blocking(NULL, &ran, weft_deadline_in(100)), WEFT_EINVAL);
    /* deadline 0: would have to wait for the job, so it is not run */
    ASSERT_ERR(weft_blocking(set_flag, &ran, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_blocking(set_flag, &ran, weft_now() - 10), WEFT_ETIMEDOUT);
    weft_sleep(20);
    ASSERT_EQ(ran, 0);
    ASSERT_EQ(weft_blocking(set_flag, &ran, weft_deadline_in(5000)), 0);
    ASSERT_EQ(ran, 1);
}

typedef struct canceled_first {
    int ran, rc;
} canceled_first;

static void cancel_self_then_block(void *a) {
    canceled_first *c = a;
    while (!weft_canceled()) weft_sleep(1);
    c->rc = weft_blocking(set_flag, &c->ran, -1);
}

TEST(blocking_after_cancel_returns_canceled) {
    canceled_first c = {.rc = -999};
    weft_group g;
    weft_group_init(&g);
    int go = weft_group_go(&g, cancel_self_then_block, &c, "canceled");
    weft_group_cancel(&g);
    int jr = test_join(&g, test_slack_ms(2000));
    weft_sleep(20);
    ASSERT_EQ(go, 0);
    ASSERT_EQ(jr, 0);
    ASSERT_ERR(c.rc, WEFT_ECANCELED);
    ASSERT_EQ(c.ran, 0);
}

typedef struct outside {
    int rc, ran;
    _Atomic int done;
} outside;

static void *thread_blocking(void *a) {
    outside *o = a;
    o->rc = weft_blocking(set_flag, &o->ran, -1);
    atomic_store(&o->done, 1);
    return NULL;
}

TEST(blocking_from_plain_thread_enotask) {
    outside o = {.rc = -999};
    pthread_t th;
    int cr = pthread_create(&th, NULL, thread_blocking, &o);
    for (int i = 0; cr == 0 && i < 5000 && !atomic_load(&o.done); i++) weft_sleep(1);
    int done = atomic_load(&o.done);
    if (cr == 0 && done) pthread_join(th, NULL);
    ASSERT_EQ(cr, 0);
    ASSERT(done);
    ASSERT_ERR(o.rc, WEFT_ENOTASK);
    ASSERT_EQ(o.ran, 0);
}

TEST_PLAIN(blocking_without_runtime_enotask) {
    int ran = 0;
    ASSERT_ERR(weft_blocking(set_flag, &ran, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_blocking(set_flag, &ran, weft_deadline_in(10)), WEFT_ENOTASK);
    ASSERT_EQ(ran, 0);
}

/* ---- deadlines and cancels racing with job start ---------------------------------- */

typedef struct brace {
    _Atomic int runs, zero, withdrawn, other;
} brace;

static void count_run(void *a) {
    atomic_fetch_add(&((brace *)a)->runs, 1);
    usleep(500);
}

typedef struct brace_arg {
    brace *b;
    int i;
} brace_arg;

static void brace_caller(void *a) {
    brace_arg *ba = a;
    /* half wait for a cancel, half have a short deadline */
    int64_t dl = ba->i % 2 ? -1 : weft_deadline_in(1 + ba->i % 3);
    int rc = weft_blocking(count_run, ba->b, dl);
    if (rc == 0)
        atomic_fetch_add(&ba->b->zero, 1);
    else if (rc == WEFT_ETIMEDOUT || rc == WEFT_ECANCELED)
        atomic_fetch_add(&ba->b->withdrawn, 1);
    else
        atomic_fetch_add(&ba->b->other, 1);
}

/* fn runs exactly when the call returns 0: a withdrawn job never runs, a
 * started one is reported as done. Needs more callers than pool threads. */
TEST(blocking_race_runs_iff_zero) {
    int rounds = (int)test_scale(100);
    enum { K = 48 };
    brace_arg args[K];
    long ran = 0, withdrawn = 0;
    for (int r = 0; r < rounds; r++) {
        brace b = {0};
        weft_group g;
        weft_group_init(&g);
        for (int i = 0; i < K; i++) {
            args[i] = (brace_arg){&b, i + r};
            weft_group_go(&g, brace_caller, &args[i], "caller");
        }
        weft_sleep(1 + r % 3);
        weft_group_cancel(&g);
        int jr = test_join(&g, test_slack_ms(10000));
        ASSERT_EQ(jr, 0);
        ASSERT_EQ(atomic_load(&b.other), 0);
        ASSERT_EQ(atomic_load(&b.zero) + atomic_load(&b.withdrawn), K);
        if (atomic_load(&b.runs) != atomic_load(&b.zero)) {
            test__fail(__FILE__, __LINE__, "round %d: fn ran %d times, %d calls returned 0", r,
                       atomic_load(&b.runs), atomic_load(&b.zero));
            return;
        }
        ran += atomic_load(&b.zero);
        withdrawn += atomic_load(&b.withdrawn);
    }
    printf("    %ld calls ran, %ld withdrawn\n", ran, withdrawn);
}
