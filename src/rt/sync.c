/*
 * sync.c — task-aware mutex, semaphore, wait group and once.
 *
 * Each is a small state word plus a spinlock-guarded queue of parked tasks
 * (weft__wait_on in sched.c). Waiting parks the task; the worker runs
 * others. Mutex and semaphore hand ownership directly to the task they wake
 * (FIFO, no barging once someone waits), so a waiter cannot be starved.
 */
#include "rt_int.h"

/* ---- mutex: state 0 unlocked, 1 locked, 2 locked with waiters ----------- */

void weft_mutex_init(weft_mutex *m) {
    if (!m) return;
    m->state = 0;
    m->lock = 0;
    m->waiters = NULL;
}

int weft_mutex_lock(weft_mutex *m, int64_t deadline) {
    if (!m) return WEFT_EINVAL;
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;
    uint32_t zero = 0;
    if (__atomic_compare_exchange_n(&m->state, &zero, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 0;
    weft__spin_lock(&m->lock);
    /* under the spinlock: either take it, or mark "waiters" and queue */
    for (;;) {
        uint32_t s = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
        if (s == 0) {
            if (__atomic_compare_exchange_n(&m->state, &s, 1, false, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                weft__spin_unlock(&m->lock);
                return 0;
            }
        } else if (s == 2 || __atomic_compare_exchange_n(&m->state, &s, 2, false, __ATOMIC_RELAXED,
                                                         __ATOMIC_RELAXED)) {
            break;
        }
    }
    weft__waiter wt = {0};
    int rc = weft__wait_on(&m->lock, (weft__waiter **)&m->waiters, &wt, deadline, "mutex", m);
    if (rc < 0) {
        /* we may have been the last waiter: drop the "waiters" mark */
        weft__spin_lock(&m->lock);
        if (!m->waiters) {
            uint32_t two = 2;
            __atomic_compare_exchange_n(&m->state, &two, 1, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
        }
        weft__spin_unlock(&m->lock);
        return rc;
    }
    return 0; /* ownership was handed to us (the wake's CAS orders it) */
}

int weft_mutex_unlock(weft_mutex *m) {
    if (!m) return WEFT_EINVAL;
    uint32_t one = 1;
    if (__atomic_compare_exchange_n(&m->state, &one, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return 0;
    if (one == 0) return WEFT_EINVAL;
    weft__spin_lock(&m->lock);
    weft__waiter *w = weft__claim_waiter((weft__waiter **)&m->waiters, 0);
    if (w) {
        weft__task *t = w->task;
        /* handed over: stays locked; "waiters" only if more remain */
        __atomic_store_n(&m->state, m->waiters ? 2 : 1, __ATOMIC_RELEASE);
        weft__spin_unlock(&m->lock);
        weft__ready(t); /* after the unlock: the new owner may free m */
        return 0;
    }
    __atomic_store_n(&m->state, 0, __ATOMIC_RELEASE);
    weft__spin_unlock(&m->lock);
    return 0;
}

/* ---- semaphore -------------------------------------------------------------- */

void weft_sem_init(weft_sem *s, int64_t count) {
    if (!s) return;
    s->count = count < 0 ? 0 : count;
    s->lock = 0;
    s->waiters = NULL;
}

int weft_sem_acquire(weft_sem *s, int64_t deadline) {
    if (!s) return WEFT_EINVAL;
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;
    weft__spin_lock(&s->lock);
    if (s->count > 0) {
        s->count--;
        weft__spin_unlock(&s->lock);
        return 0;
    }
    weft__waiter wt = {0};
    return weft__wait_on(&s->lock, (weft__waiter **)&s->waiters, &wt, deadline, "semaphore", s);
}

int weft_sem_release(weft_sem *s, int64_t n) {
    if (!s || n < 1) return WEFT_EINVAL;
    weft__spin_lock(&s->lock);
    weft__task *chain = NULL;
    weft__waiter *w;
    while (n > 0 && (w = weft__claim_waiter((weft__waiter **)&s->waiters, 0))) {
        weft__chain(&chain, w->task);
        n--;
    }
    s->count += n;
    weft__spin_unlock(&s->lock);
    weft__ready_chain(chain);
    return 0;
}

/* ---- wait group -------------------------------------------------------------- */

void weft_wg_init(weft_wg *wg) {
    if (!wg) return;
    wg->count = 0;
    wg->lock = 0;
    wg->waiters = NULL;
}

/* The count reached 0 with waiters (lock held): wake them all. */
static __attribute__((noinline)) int wg_release(weft_wg *wg) {
    weft__task *chain = NULL;
    weft__waiter *w;
    while ((w = weft__claim_waiter((weft__waiter **)&wg->waiters, 0)))
        weft__chain(&chain, w->task);
    weft__spin_unlock(&wg->lock);
    weft__ready_chain(chain); /* the wait group may be gone once they run */
    return 0;
}

int weft_wg_add(weft_wg *wg, int64_t delta) {
    if (!wg) return WEFT_EINVAL;
    weft__spin_lock(&wg->lock);
    int64_t n = wg->count + delta;
    if (n < 0) {
        weft__spin_unlock(&wg->lock);
        return WEFT_EINVAL;
    }
    wg->count = n;
    if (n == 0 && wg->waiters) return wg_release(wg);
    weft__spin_unlock(&wg->lock);
    return 0;
}

int weft_wg_done(weft_wg *wg) { return weft_wg_add(wg, -1); }

int weft_wg_wait(weft_wg *wg, int64_t deadline) {
    if (!wg) return WEFT_EINVAL;
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;
    weft__spin_lock(&wg->lock);
    if (wg->count == 0) {
        weft__spin_unlock(&wg->lock);
        return 0;
    }
    weft__waiter wt = {0};
    return weft__wait_on(&wg->lock, (weft__waiter **)&wg->waiters, &wt, deadline, "wait group", wg);
}

/* ---- once ---------------------------------------------------------------------- */

int weft_once_do(weft_once *o, void (*fn)(void *), void *arg) {
    if (!o || !fn) return WEFT_EINVAL;
    if (__atomic_load_n(&o->state, __ATOMIC_ACQUIRE) == 2) return 0;
    int rc = weft_mutex_lock(&o->mu, -1);
    if (rc) return rc;
    if (o->state != 2) {
        fn(arg);
        __atomic_store_n(&o->state, 2, __ATOMIC_RELEASE);
    }
    weft_mutex_unlock(&o->mu);
    return 0;
}
