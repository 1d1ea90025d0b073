/*
 * tests/unit/sync.c — task-aware mutex, semaphore, wait group and once:
 * exclusion across workers, deadlines (0, future, expired), misuse that
 * must be refused, state left consistent after timeouts, wakes from plain
 * threads, and once's "exactly once, and nobody returns early".
 *
 * Helper tasks never ASSERT: they record results, the main task checks them.
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- mutex ------------------------------------------------------------------ */

typedef struct {
    weft_mutex *mu;
    weft_wg *wg;
    long iters;
    test_spread_gate *gate;
    long *counter;       /* protected by mu, deliberately not atomic */
    atomic_int *inside;  /* tasks inside the critical section right now */
    atomic_int *overlap; /* times a task found someone else inside */
    atomic_int *errs;
} mutex_arg;

static void mutex_worker(void *arg) {
    mutex_arg *a = arg;
    test_gate_pass(a->gate);
    for (long i = 0; i < a->iters; i++) {
        if (weft_mutex_lock(a->mu, -1) != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
        if (atomic_fetch_add(a->inside, 1) != 0) atomic_fetch_add(a->overlap, 1);
        long v = *a->counter;
        weft_yield(); /* let others run (and try to get in) mid-update */
        *a->counter = v + 1;
        atomic_fetch_sub(a->inside, 1);
        if (weft_mutex_unlock(a->mu) != 0) atomic_fetch_add(a->errs, 1);
    }
    weft_wg_done(a->wg);
}

TEST(mutex_mutual_exclusion) {
    test_guard();
    enum { NT = 100 };
    weft_mutex mu;
    weft_mutex_init(&mu);
    weft_wg wg;
    weft_wg_init(&wg);
    long counter = 0;
    atomic_int inside = 0, overlap = 0, errs = 0;
    mutex_arg *args = calloc(NT, sizeof *args);
    ASSERT(args != NULL);
    long iters = test_scale_min(1000, 10);
    test_spread_gate gate;
    test_gate_init(&gate, 15000);
    weft_wg_add(&wg, NT);
    for (int i = 0; i < NT; i++) {
        args[i] = (mutex_arg){&mu, &wg, iters, &gate, &counter, &inside, &overlap, &errs};
        ASSERT_EQ(weft_go(mutex_worker, &args[i]), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(60000)), 0);
    ASSERT_EQ(atomic_load(&errs), 0);
    ASSERT_EQ(atomic_load(&overlap), 0);
    ASSERT_EQ(counter, NT * iters);
    ASSERT(atomic_load(&gate.spread)); /* the contenders ran on several workers */
    /* and it ends unlocked */
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), WEFT_EINVAL);
    free(args);
}

typedef struct {
    weft_mutex *mu;
    weft_wg *wg;
    int rc_timeout, rc_try, rc_expired;
    int64_t t0, deadline, t_end;
    int rc_lock, rc_unlock;
    weft_chan *phase; /* the contender reports its timed attempts are done */
    weft_chan *go;    /* main says when to take the lock for real */
} contender_arg;

static void contender(void *arg) {
    contender_arg *a = arg;
    a->rc_try = weft_mutex_lock(a->mu, 0);
    a->rc_expired = weft_mutex_lock(a->mu, 1);
    a->t0 = weft_now();
    a->deadline = a->t0 + 100;
    a->rc_timeout = weft_mutex_lock(a->mu, a->deadline);
    a->t_end = weft_now();
    int one = 1;
    weft_chan_send(a->phase, &one, -1);
    weft_chan_recv(a->go, &one, -1);
    a->rc_lock = weft_mutex_lock(a->mu, weft_deadline_in(5000));
    a->rc_unlock = a->rc_lock == 0 ? weft_mutex_unlock(a->mu) : 12345;
    weft_wg_done(a->wg);
}

TEST(mutex_lock_deadlines) {
    test_guard();
    weft_mutex mu = WEFT_MUTEX_INIT;
    weft_wg wg;
    weft_wg_init(&wg);
    weft_chan *go = weft_chan_new(sizeof(int), 1, NULL);
    weft_chan *phase = weft_chan_new(sizeof(int), 1, NULL);
    ASSERT(go && phase);
    /* an unlocked mutex: deadline 0 takes it */
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), WEFT_EAGAIN); /* not recursive */
    ASSERT_ERR(weft_mutex_lock(&mu, 1), WEFT_ETIMEDOUT);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_mutex_lock(&mu, t0 + 20), WEFT_ETIMEDOUT);
    ASSERT_GE(weft_now(), t0 + 20);

    /* held by main: another task times out */
    contender_arg a;
    memset(&a, 0, sizeof a);
    a.mu = &mu;
    a.wg = &wg;
    a.go = go;
    a.phase = phase;
    ASSERT_EQ(test_go_wg(&wg, contender, &a), 0);
    int one = 0;
    ASSERT_ERR(weft_chan_recv(phase, &one, weft_deadline_in(5000)), 0);
    ASSERT_ERR(a.rc_try, WEFT_EAGAIN);
    ASSERT_ERR(a.rc_expired, WEFT_ETIMEDOUT);
    ASSERT_ERR(a.rc_timeout, WEFT_ETIMEDOUT);
    ASSERT_GE(a.t_end, a.deadline);
    ASSERT_LT(a.t_end - a.t0, 100 + test_slack_ms(SLACK_MS));

    /* the timed-out waiter is gone: unlocking leaves the mutex free */
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    /* and a real waiter still gets it when main lets go */
    ASSERT_ERR(weft_chan_send(go, &one, 0), 0);
    weft_sleep(PARK_MS);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(a.rc_lock, 0);
    ASSERT_ERR(a.rc_unlock, 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    weft_chan_free(go);
    weft_chan_free(phase);
}

TEST(mutex_unlock_unlocked_is_einval) {
    test_guard();
    weft_mutex mu;
    weft_mutex_init(&mu);
    ASSERT_ERR(weft_mutex_unlock(&mu), WEFT_EINVAL);
    ASSERT_ERR(weft_mutex_lock(&mu, -1), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), WEFT_EINVAL);
    /* the refused unlock did not corrupt it */
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    weft_mutex st = WEFT_MUTEX_INIT;
    ASSERT_ERR(weft_mutex_unlock(&st), WEFT_EINVAL);
}

static void unlock_other(void *arg) {
    void **p = arg;
    *(int *)p[1] = weft_mutex_unlock((weft_mutex *)p[0]);
    weft_wg_done((weft_wg *)p[2]);
}

TEST(mutex_unlock_from_other_task) {
    test_guard();
    weft_mutex mu = WEFT_MUTEX_INIT;
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_ERR(weft_mutex_lock(&mu, -1), 0);
    int rc = 12345;
    void *p[3] = {&mu, &rc, &wg};
    ASSERT_EQ(test_go_wg(&wg, unlock_other, p), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(rc, 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
}

typedef struct {
    weft_mutex *mu;
    weft_wg *wg;
    test_spread_gate *gate;
    long iters;
    atomic_int *inside, *overlap, *errs, *got;
} timeout_arg;

static void timeout_churner(void *arg) {
    timeout_arg *a = arg;
    test_gate_pass(a->gate);
    for (long i = 0; i < a->iters; i++) {
        int rc = weft_mutex_lock(a->mu, i % 4 == 0 ? 0 : weft_deadline_in(1 + i % 2));
        if (rc == WEFT_ETIMEDOUT || rc == WEFT_EAGAIN) continue;
        if (rc != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
        atomic_fetch_add(a->got, 1);
        if (atomic_fetch_add(a->inside, 1) != 0) atomic_fetch_add(a->overlap, 1);
        if (i % 3 == 0)
            weft_sleep(1);
        else
            weft_yield();
        atomic_fetch_sub(a->inside, 1);
        if (weft_mutex_unlock(a->mu) != 0) atomic_fetch_add(a->errs, 1);
    }
    weft_wg_done(a->wg);
}

TEST(mutex_timeouts_leave_it_consistent) {
    /* waiters that give up (timeout / deadline 0) while others hand the lock
     * over must never break exclusion or leave it stuck locked */
    test_guard();
    enum { NT = 16 };
    weft_mutex mu = WEFT_MUTEX_INIT;
    weft_wg wg;
    weft_wg_init(&wg);
    atomic_int inside = 0, overlap = 0, errs = 0, got = 0;
    timeout_arg args[NT];
    long iters = test_scale_min(200, 20);
    test_spread_gate gate;
    test_gate_init(&gate, 15000);
    weft_wg_add(&wg, NT);
    for (int i = 0; i < NT; i++) {
        args[i] = (timeout_arg){&mu, &wg, &gate, iters, &inside, &overlap, &errs, &got};
        ASSERT_EQ(weft_go(timeout_churner, &args[i]), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(60000)), 0);
    ASSERT_EQ(atomic_load(&errs), 0);
    ASSERT_EQ(atomic_load(&overlap), 0);
    ASSERT_GT(atomic_load(&got), 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), WEFT_EINVAL);
}

TEST_PLAIN(sync_outside_runtime) {
    weft_mutex mu = WEFT_MUTEX_INIT;
    ASSERT_ERR(weft_mutex_lock(&mu, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_mutex_unlock(&mu), WEFT_EINVAL); /* the refused lock took nothing */
    weft_sem s;
    weft_sem_init(&s, 0);
    ASSERT_ERR(weft_sem_acquire(&s, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_sem_release(&s, 1), 0); /* any thread */
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_ERR(weft_wg_add(&wg, 1), 0); /* any thread */
    ASSERT_ERR(weft_wg_wait(&wg, -1), WEFT_ENOTASK);
    ASSERT_ERR(weft_wg_done(&wg), 0);
    ASSERT_ERR(weft_wg_done(&wg), WEFT_EINVAL);
}

/* ---- cancelled waiters ----------------------------------------------------- */

typedef struct {
    int kind; /* 0 mutex, 1 semaphore, 2 wait group */
    weft_mutex *mu;
    weft_sem *sem;
    weft_wg *wg;
    int rc;
} cancel_arg;

static void cancel_victim(void *arg) {
    cancel_arg *a = arg;
    if (a->kind == 0)
        a->rc = weft_mutex_lock(a->mu, -1);
    else if (a->kind == 1)
        a->rc = weft_sem_acquire(a->sem, -1);
    else
        a->rc = weft_wg_wait(a->wg, -1);
}

TEST(sync_cancel_wakes_parked_waiters) {
    /* a cancelled waiter returns WEFT_ECANCELED and takes nothing with it */
    test_guard();
    weft_mutex mu = WEFT_MUTEX_INIT;
    weft_sem sem;
    weft_sem_init(&sem, 0);
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_ERR(weft_wg_add(&wg, 1), 0);
    ASSERT_ERR(weft_mutex_lock(&mu, -1), 0);
    weft_group g;
    weft_group_init(&g);
    cancel_arg a[3];
    for (int k = 0; k < 3; k++) {
        a[k] = (cancel_arg){k, &mu, &sem, &wg, 12345};
        ASSERT_EQ(weft_group_go(&g, cancel_victim, &a[k], "victim"), 0);
    }
    weft_sleep(PARK_MS);
    ASSERT_EQ(weft_group_count(&g), 3); /* all parked */
    int64_t t0 = weft_now();
    weft_group_cancel(&g);
    ASSERT_ERR(weft_group_wait(&g, weft_deadline_in(5000)), 0);
    ASSERT_LT(weft_now() - t0, test_slack_ms(SLACK_MS));
    for (int k = 0; k < 3; k++) ASSERT_ERR(a[k].rc, WEFT_ECANCELED);
    /* the mutex was not handed to the cancelled waiter */
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    ASSERT_ERR(weft_mutex_lock(&mu, 0), 0);
    ASSERT_ERR(weft_mutex_unlock(&mu), 0);
    /* the unit released now is not swallowed by the cancelled acquirer */
    ASSERT_ERR(weft_sem_release(&sem, 1), 0);
    ASSERT_ERR(weft_sem_acquire(&sem, 0), 0);
    ASSERT_ERR(weft_sem_acquire(&sem, 0), WEFT_EAGAIN);
    /* the wait group still counts 1 */
    ASSERT_ERR(weft_wg_wait(&wg, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_wg_done(&wg), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
}

/* ---- semaphore --------------------------------------------------------------- */

typedef struct {
    weft_sem *sem;
    weft_wg *wg;
    test_spread_gate *gate;
    int iters;
    atomic_int *inside, *max_inside, *errs;
} sem_arg;

static void sem_worker(void *arg) {
    sem_arg *a = arg;
    test_gate_pass(a->gate);
    for (int i = 0; i < a->iters; i++) {
        if (weft_sem_acquire(a->sem, -1) != 0) {
            atomic_fetch_add(a->errs, 1);
            break;
        }
        test_atomic_max(a->max_inside, atomic_fetch_add(a->inside, 1) + 1);
        if (i % 2)
            weft_sleep(1);
        else
            weft_yield();
        atomic_fetch_sub(a->inside, 1);
        if (weft_sem_release(a->sem, 1) != 0) atomic_fetch_add(a->errs, 1);
    }
    weft_wg_done(a->wg);
}

TEST(sem_limits_concurrency) {
    test_guard();
    enum { NT = 20, K = 3 };
    weft_sem sem;
    weft_sem_init(&sem, K);
    weft_wg wg;
    weft_wg_init(&wg);
    atomic_int inside = 0, max_inside = 0, errs = 0;
    sem_arg args[NT];
    int iters = (int)test_scale_min(20, 4);
    test_spread_gate gate;
    test_gate_init(&gate, 15000);
    weft_wg_add(&wg, NT);
    for (int i = 0; i < NT; i++) {
        args[i] = (sem_arg){&sem, &wg, &gate, iters, &inside, &max_inside, &errs};
        ASSERT_EQ(weft_go(sem_worker, &args[i]), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(60000)), 0);
    ASSERT_EQ(atomic_load(&errs), 0);
    ASSERT_LE(atomic_load(&max_inside), K);
    /* tasks sleeping inside leave room for others: the limit is reached */
    ASSERT_EQ(atomic_load(&max_inside), K);
    ASSERT_EQ(atomic_load(&inside), 0);
    /* all K units are back */
    for (int i = 0; i < K; i++) ASSERT_ERR(weft_sem_acquire(&sem, 0), 0);
    ASSERT_ERR(weft_sem_acquire(&sem, 0), WEFT_EAGAIN);
}

TEST(sem_release_invalid) {
    test_guard();
    weft_sem s;
    weft_sem_init(&s, 0);
    ASSERT_ERR(weft_sem_release(&s, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_sem_release(&s, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_sem_release(&s, INT64_MIN), WEFT_EINVAL);
    ASSERT_ERR(weft_sem_acquire(&s, 0), WEFT_EAGAIN); /* the count did not move */
    ASSERT_ERR(weft_sem_release(&s, 2), 0);
    ASSERT_ERR(weft_sem_acquire(&s, 0), 0);
    ASSERT_ERR(weft_sem_release(&s, 0), WEFT_EINVAL);
    ASSERT_ERR(weft_sem_acquire(&s, 0), 0);
    ASSERT_ERR(weft_sem_acquire(&s, 0), WEFT_EAGAIN);
}

typedef struct {
    weft_sem *sem;
    weft_wg *wg;
    int64_t deadline;
    int rc;
    int64_t t_end;
    atomic_int finished;
} acq_arg;

static void acquirer(void *arg) {
    acq_arg *a = arg;
    a->rc = weft_sem_acquire(a->sem, a->deadline);
    a->t_end = weft_now();
    atomic_store(&a->finished, 1);
    weft_wg_done(a->wg);
}

TEST(sem_acquire_timeout) {
    test_guard();
    weft_sem s;
    weft_sem_init(&s, 0);
    ASSERT_ERR(weft_sem_acquire(&s, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_sem_acquire(&s, 1), WEFT_ETIMEDOUT);
    int64_t t0 = weft_now(), dl = t0 + 100;
    ASSERT_ERR(weft_sem_acquire(&s, dl), WEFT_ETIMEDOUT);
    int64_t t1 = weft_now();
    ASSERT_GE(t1, dl);
    ASSERT_LT(t1 - t0, 100 + test_slack_ms(SLACK_MS));

    /* a unit released after a waiter gave up is not lost to its ghost */
    weft_wg wg;
    weft_wg_init(&wg);
    acq_arg a = {&s, &wg, weft_deadline_in(30), 12345, 0, 0};
    ASSERT_EQ(test_go_wg(&wg, acquirer, &a), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_ERR(a.rc, WEFT_ETIMEDOUT);
    ASSERT_GE(a.t_end, a.deadline);
    ASSERT_ERR(weft_sem_release(&s, 1), 0);
    ASSERT_ERR(weft_sem_acquire(&s, 0), 0);
    ASSERT_ERR(weft_sem_acquire(&s, 0), WEFT_EAGAIN);
}

typedef struct {
    weft_sem *sem;
    int64_t n;
    int rc;
} release_arg;

static void *release_thread(void *p) {
    release_arg *r = p;
    r->rc = weft_sem_release(r->sem, r->n);
    return NULL;
}

TEST(sem_release_wakes_parked) {
    test_guard();
    enum { N = 4 };
    weft_sem s;
    weft_sem_init(&s, 0);
    weft_wg wg;
    weft_wg_init(&wg);
    acq_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (acq_arg){&s, &wg, weft_deadline_in(10000), 12345, 0, 0};
        ASSERT_EQ(test_go_wg(&wg, acquirer, &a[i]), 0);
    }
    weft_sleep(PARK_MS);
    for (int i = 0; i < N; i++) ASSERT_EQ(atomic_load(&a[i].finished), 0);
    /* release three from this task: exactly three waiters get through */
    ASSERT_ERR(weft_sem_release(&s, 3), 0);
    int done = 0;
    for (int t = 0; t < 5000 && done < 3; t++) {
        weft_sleep(1);
        done = 0;
        for (int i = 0; i < N; i++) done += atomic_load(&a[i].finished);
    }
    weft_sleep(PARK_MS); /* a fourth would have had time to get through too */
    done = 0;
    for (int i = 0; i < N; i++) done += atomic_load(&a[i].finished);
    ASSERT_EQ(done, 3);
    /* the last one from a plain thread ("any thread") */
    release_arg r = {&s, 1, 12345};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, release_thread, &r), 0);
    int wrc = weft_wg_wait(&wg, weft_deadline_in(5000));
    pthread_join(th, NULL);
    ASSERT_ERR(wrc, 0);
    ASSERT_ERR(r.rc, 0);
    for (int i = 0; i < N; i++) ASSERT_ERR(a[i].rc, 0);
    /* every unit went to a waiter; none is left over */
    ASSERT_ERR(weft_sem_acquire(&s, 0), WEFT_EAGAIN);
}

/* ---- wait group -------------------------------------------------------------- */

typedef struct {
    weft_wg *wg;
    int ms;
    atomic_int *finished;
} wg_worker_arg;

static void wg_worker(void *arg) {
    wg_worker_arg *a = arg;
    weft_sleep(a->ms);
    atomic_fetch_add(a->finished, 1);
    weft_wg_done(a->wg);
}

typedef struct {
    weft_wg *wg;
    weft_wg *outer;
    atomic_int *finished;
    int seen_at_wake;
    int rc;
} wg_waiter_arg;

static void wg_waiter(void *arg) {
    wg_waiter_arg *a = arg;
    a->rc = weft_wg_wait(a->wg, weft_deadline_in(10000));
    a->seen_at_wake = atomic_load(a->finished);
    weft_wg_done(a->outer);
}

TEST(wg_wait_returns_after_all_done) {
    test_guard();
    enum { N = 50, W = 3 };
    weft_wg wg, outer;
    weft_wg_init(&wg);
    weft_wg_init(&outer);
    atomic_int finished = 0;
    wg_worker_arg wa[N];
    wg_waiter_arg wt[W];
    ASSERT_ERR(weft_wg_add(&wg, N), 0);
    for (int i = 0; i < N; i++) {
        wa[i] = (wg_worker_arg){&wg, 1 + (i * 7) % 20, &finished};
        ASSERT_EQ(weft_go(wg_worker, &wa[i]), 0);
    }
    /* several waiters, all released together */
    ASSERT_ERR(weft_wg_add(&outer, W), 0);
    for (int i = 0; i < W; i++) {
        wt[i] = (wg_waiter_arg){&wg, &outer, &finished, -1, 12345};
        ASSERT_EQ(weft_go(wg_waiter, &wt[i]), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(10000)), 0);
    ASSERT_EQ(atomic_load(&finished), N);
    ASSERT_ERR(weft_wg_wait(&outer, weft_deadline_in(10000)), 0);
    for (int i = 0; i < W; i++) {
        ASSERT_ERR(wt[i].rc, 0);
        ASSERT_EQ(wt[i].seen_at_wake, N);
    }
    /* reusable */
    ASSERT_ERR(weft_wg_add(&wg, 1), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_wg_done(&wg), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
}

TEST(wg_add_negative_is_einval) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_ERR(weft_wg_add(&wg, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_done(&wg), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0); /* still zero */
    ASSERT_ERR(weft_wg_add(&wg, 2), 0);
    ASSERT_ERR(weft_wg_add(&wg, -3), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_add(&wg, INT64_MIN), WEFT_EINVAL);
    /* the count is still exactly 2: one done leaves 1, the next reaches 0 */
    ASSERT_ERR(weft_wg_wait(&wg, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_wg_done(&wg), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_wg_done(&wg), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
    ASSERT_ERR(weft_wg_done(&wg), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
    /* a negative delta that lands exactly on zero is fine */
    ASSERT_ERR(weft_wg_add(&wg, 5), 0);
    ASSERT_ERR(weft_wg_add(&wg, -5), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
}

TEST(wg_wait_zero_returns_at_once) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_wg_wait(&wg, -1), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(5000)), 0);
    ASSERT_LT(weft_now() - t0, 100);
}

TEST(wg_wait_timeout) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_ERR(weft_wg_add(&wg, 1), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), WEFT_EAGAIN);
    ASSERT_ERR(weft_wg_wait(&wg, 1), WEFT_ETIMEDOUT);
    int64_t t0 = weft_now(), dl = t0 + 100;
    ASSERT_ERR(weft_wg_wait(&wg, dl), WEFT_ETIMEDOUT);
    int64_t t1 = weft_now();
    ASSERT_GE(t1, dl);
    ASSERT_LT(t1 - t0, 100 + test_slack_ms(SLACK_MS));
    /* the timed-out wait left nothing behind that breaks the next one */
    ASSERT_ERR(weft_wg_done(&wg), 0);
    ASSERT_ERR(weft_wg_wait(&wg, 0), 0);
    ASSERT_ERR(weft_wg_wait(&wg, -1), 0);
}

typedef struct {
    weft_wg *wg;
    int rc;
} wg_thread_arg;

static void *wg_done_thread(void *p) {
    wg_thread_arg *a = p;
    a->rc = weft_wg_done(a->wg);
    return NULL;
}

TEST(wg_done_from_plain_thread_wakes_task) {
    test_guard();
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_ERR(weft_wg_add(&wg, 1), 0);
    wg_thread_arg a = {&wg, 12345};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, wg_done_thread, &a), 0);
    int rc = weft_wg_wait(&wg, weft_deadline_in(5000));
    pthread_join(th, NULL);
    ASSERT_ERR(rc, 0);
    ASSERT_ERR(a.rc, 0);
}

/* ---- the caller owns the object again once its wait returns ------------------ */

/* Once weft_wg_wait() / weft_sem_acquire() has returned, the caller may reuse
 * or free the object at once (a wait group on the stack of a function that
 * returns right after waiting is the common case). The waker must therefore
 * not touch the object after the wake. To see a late write, the caller
 * overwrites the object with a pattern (waiters NULL, so a late reader finds
 * an empty list rather than crashing) and checks it is still intact a little
 * later. Wakers are plain threads (the woken task is then resumed by another
 * worker at once) and tasks. */

static void *wg_done_thread_fn(void *p) {
    weft_wg_done(p);
    return NULL;
}
typedef struct {
    void *obj;
    atomic_int finished; /* set last: the waker task is done with obj */
} waker_arg;

static void wg_done_task(void *p) {
    waker_arg *a = p;
    weft_wg_done(a->obj);
    atomic_store(&a->finished, 1);
}

static void *sem_release_thread_fn(void *p) {
    weft_sem_release(p, 1);
    return NULL;
}
static void sem_release_task(void *p) {
    waker_arg *a = p;
    weft_sem_release(a->obj, 1);
    atomic_store(&a->finished, 1);
}

static void pause_a_little(void) {
    int64_t end = weft_now_ns() + 50000; /* 50 us, on this worker */
    while (weft_now_ns() < end) {}
}

static int intact(const void *p, const void *pattern, size_t n) {
    return memcmp(p, pattern, n) == 0;
}

/* Rounds of: wait on a fresh wait group (sem 0) or semaphore (sem 1) that a
 * plain thread (even rounds) or a task wakes, overwrite it with the pattern
 * the moment the wait returns, and count the rounds where it did not stay
 * intact. */
static void reusable_as_soon_as_woken(int sem) {
    long rounds = test_scale_min(2000, 100);
    size_t size = sem ? sizeof(weft_sem) : sizeof(weft_wg);
    union {
        weft_wg wg;
        weft_sem sem;
    } poison;
    memset(&poison, 0xA5, sizeof poison);
    if (sem)
        poison.sem.waiters = NULL;
    else
        poison.wg.waiters = NULL;
    long late_writes[2] = {0, 0}; /* [woken by a thread] */
    for (long r = 0; r < rounds; r++) {
        void *obj = malloc(size);
        ASSERT(obj != NULL);
        if (sem) {
            weft_sem_init(obj, 0);
        } else {
            weft_wg_init(obj);
            ASSERT_ERR(weft_wg_add(obj, 1), 0);
        }
        pthread_t th;
        int by_thread = r % 2 == 0;
        waker_arg wa = {obj, 0};
        if (by_thread)
            ASSERT_EQ(
                pthread_create(&th, NULL, sem ? sem_release_thread_fn : wg_done_thread_fn, obj), 0);
        else
            ASSERT_EQ(weft_go(sem ? sem_release_task : wg_done_task, &wa), 0);
        int64_t dl = weft_deadline_in(5000);
        int rc = sem ? weft_sem_acquire(obj, dl) : weft_wg_wait(obj, dl);
        memcpy(obj, &poison, size); /* ours again: reuse the memory */
        pause_a_little();
        if (!intact(obj, &poison, size)) late_writes[by_thread]++;
        if (by_thread)
            pthread_join(th, NULL);
        else
            while (!atomic_load(&wa.finished)) weft_yield();
        free(obj);
        ASSERT_ERR(rc, 0);
    }
    if (late_writes[0] || late_writes[1])
        test__fail(__FILE__, __LINE__,
                   "written after the waiter returned: %ld of %ld rounds woken by a task, "
                   "%ld of %ld woken by a plain thread",
                   late_writes[0], rounds / 2, late_writes[1], (rounds + 1) / 2);
}

TEST(wg_reusable_as_soon_as_wait_returns) {
    test_guard();
    reusable_as_soon_as_woken(0);
}

TEST(sem_reusable_as_soon_as_acquire_returns) {
    test_guard();
    reusable_as_soon_as_woken(1);
}

/* ---- once -------------------------------------------------------------------- */

typedef struct {
    atomic_int runs;
    atomic_int flag; /* set by fn when it has completed */
} once_state;

static void once_fn(void *arg) {
    once_state *st = arg;
    atomic_fetch_add(&st->runs, 1);
    weft_sleep(20);
    atomic_store(&st->flag, 1);
}

typedef struct {
    weft_once *once;
    once_state *st;
    weft_wg *wg;
    test_spread_gate *gate;
    int rc;
    int flag_after;
} once_arg;

static void once_caller(void *arg) {
    once_arg *a = arg;
    test_gate_pass(a->gate);
    a->rc = weft_once_do(a->once, once_fn, a->st);
    a->flag_after = atomic_load(&a->st->flag);
    weft_wg_done(a->wg);
}

TEST(once_runs_exactly_once) {
    test_guard();
    enum { N = 50 };
    weft_once once = WEFT_ONCE_INIT;
    once_state st;
    atomic_init(&st.runs, 0);
    atomic_init(&st.flag, 0);
    weft_wg wg;
    weft_wg_init(&wg);
    once_arg args[N];
    test_spread_gate gate;
    test_gate_init(&gate, 15000);
    weft_wg_add(&wg, N);
    for (int i = 0; i < N; i++) {
        args[i] = (once_arg){&once, &st, &wg, &gate, 12345, -1};
        ASSERT_EQ(weft_go(once_caller, &args[i]), 0);
    }
    ASSERT_ERR(weft_wg_wait(&wg, weft_deadline_in(10000)), 0);
    ASSERT_EQ(atomic_load(&st.runs), 1);
    for (int i = 0; i < N; i++) {
        ASSERT_ERR(args[i].rc, 0);
        ASSERT_EQ(args[i].flag_after, 1); /* nobody returned before fn completed */
    }
    /* later calls do nothing */
    ASSERT_ERR(weft_once_do(&once, once_fn, &st), 0);
    ASSERT_EQ(atomic_load(&st.runs), 1);
    /* a separate once runs again */
    weft_once other = WEFT_ONCE_INIT;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_once_do(&other, once_fn, &st), 0);
    ASSERT_EQ(atomic_load(&st.runs), 2);
    ASSERT_GE(weft_now() - t0, 20);
}

/* Invalid arguments return an error, never crash. */
static void noop_fn(void *a) { (void)a; }
TEST(null_arguments_are_rejected) {
    ASSERT_ERR(weft_mutex_lock(NULL, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_mutex_unlock(NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_sem_acquire(NULL, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_sem_release(NULL, 1), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_add(NULL, 1), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_done(NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_wg_wait(NULL, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_once_do(NULL, noop_fn, NULL), WEFT_EINVAL);
    weft_once o = WEFT_ONCE_INIT;
    ASSERT_ERR(weft_once_do(&o, NULL, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_group_go(NULL, noop_fn, NULL, "x"), WEFT_EINVAL);
    ASSERT_ERR(weft_group_wait(NULL, -1), WEFT_EINVAL);
    ASSERT_EQ(weft_group_count(NULL), 0);
    weft_group_cancel(NULL); /* no-op */
    weft_mutex_init(NULL);
    weft_sem_init(NULL, 1);
    weft_wg_init(NULL);
    weft_group_init(NULL);
    ASSERT_EQ(weft_chan_len(NULL), 0);
    ASSERT_EQ(weft_chan_cap(NULL), 0);
    ASSERT_ERR(weft_chan_close(NULL), WEFT_EINVAL);
    weft_chan_free(NULL);
}
