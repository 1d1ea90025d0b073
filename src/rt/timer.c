/*
 * timer.c — per-worker timer heaps, sleep, and the deadline of every wait.
 *
 * Each worker has a 4-ary min-heap of weft__timer entries, guarded by a
 * spinlock because a task that armed a timer on one worker may be woken and
 * resumed on another, and removes its timer from there. The entry lives in
 * the task's TCB (one wait, hence one deadline, at a time), so arming a
 * deadline never allocates. Insert and remove are O(log n); the scheduler
 * loop reads the earliest deadline from an atomic without the lock.
 */
#include <limits.h>
#include <stdlib.h>

#include "rt_int.h"

static void heap_set(weft__worker *w, int i, weft__timer *t) {
    w->theap[i] = t;
    t->idx = i;
}

static void sift_up(weft__worker *w, int i) {
    weft__timer *t = w->theap[i];
    while (i > 0) {
        int p = (i - 1) / 4;
        if (w->theap[p]->when <= t->when) break;
        heap_set(w, i, w->theap[p]);
        i = p;
    }
    heap_set(w, i, t);
}

static void sift_down(weft__worker *w, int i) {
    weft__timer *t = w->theap[i];
    for (;;) {
        int c = 4 * i + 1, best = -1;
        int64_t bw = t->when;
        for (int k = c; k < c + 4 && k < w->tlen; k++)
            if (w->theap[k]->when < bw) {
                bw = w->theap[k]->when;
                best = k;
            }
        if (best < 0) break;
        heap_set(w, i, w->theap[best]);
        i = best;
    }
    heap_set(w, i, t);
}

/* Heap operations: the caller holds w->tlock. */
static void publish_next(weft__worker *w) {
    WEFT_ASSERT_HELD(&w->tlock);
    atomic_store_explicit(&w->tnext, w->tlen ? w->theap[0]->when : INT64_MAX, memory_order_release);
}

static void heap_remove(weft__worker *w, weft__timer *t) {
    WEFT_ASSERT_HELD(&w->tlock);
    int i = t->idx;
    t->idx = -1;
    weft__timer *last = w->theap[--w->tlen];
    if (i < w->tlen) {
        heap_set(w, i, last);
        sift_up(w, i);
        sift_down(w, last->idx);
    }
}

void weft__timer_add(weft__worker *w, weft__timer *t) {
    weft__spin_lock(&w->tlock);
    if (w->tlen == w->tcap) {
        int cap = w->tcap ? w->tcap * 2 : 256;
        weft__timer **h = realloc(w->theap, sizeof *h * (size_t)cap);
        if (!h) { /* cannot arm: fire at once rather than never */
            weft__spin_unlock(&w->tlock);
            weft__wake(t->task, t->seq, WEFT_ENOMEM);
            return;
        }
        w->theap = h;
        w->tcap = cap;
    }
    t->owner = w;
    w->theap[w->tlen] = t;
    t->idx = w->tlen++;
    sift_up(w, t->idx);
    publish_next(w);
    weft__spin_unlock(&w->tlock);
}

void weft__timer_del(weft__timer *t) {
    weft__worker *w = t->owner;
    if (!w) return;
    weft__spin_lock(&w->tlock);
    if (t->idx >= 0) {
        heap_remove(w, t);
        publish_next(w);
    }
    weft__spin_unlock(&w->tlock);
    t->owner = NULL;
}

int64_t weft__timers_run(weft__worker *w, int64_t now) {
    if (atomic_load_explicit(&w->tnext, memory_order_acquire) > now)
        return atomic_load_explicit(&w->tnext, memory_order_relaxed);
    for (;;) {
        weft__task *due[64];
        weft__seq seq[64];
        int n = 0;
        weft__spin_lock(&w->tlock);
        while (w->tlen && w->theap[0]->when <= now && n < 64) {
            weft__timer *t = w->theap[0];
            due[n] = t->task;
            seq[n] = t->seq;
            n++;
            heap_remove(w, t);
        }
        publish_next(w);
        weft__spin_unlock(&w->tlock);
        for (int i = 0; i < n; i++) weft__wake(due[i], seq[i], WEFT_ETIMEDOUT);
        if (n < 64) break;
    }
    return atomic_load(&w->tnext);
}

void weft__timers_free(weft__worker *w) {
    free(w->theap);
    w->theap = NULL;
    w->tlen = w->tcap = 0;
}

int weft_sleep_until(int64_t deadline) {
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    weft__seq seq;
    int rc = weft__wait_begin(t, deadline, 0, &seq);
    if (rc) return rc == WEFT_ETIMEDOUT || rc == WEFT_EAGAIN ? 0 : rc;
    weft__wait_timer(t, seq, deadline);
    rc = weft__park(seq, NULL, NULL, "sleep", NULL);
    weft__wait_timer_cancel(t);
    return rc == WEFT_ETIMEDOUT ? 0 : rc;
}

int weft_sleep(int64_t ms) {
    if (ms < 0) return WEFT_EINVAL;
    return weft_sleep_until(weft_now() + ms);
}
