/*
 * chan.c — channels and select, with Go's semantics.
 *
 * A channel is a spinlock, a ring buffer of cap elements, and two queues of
 * parked tasks (senders, receivers). The lock is only ever held for a copy
 * and a few pointer moves, never across a switch: a task that must wait puts
 * a weft__waiter (in its own frame) on a queue and parks; the lock is
 * released by the next context after the switch (rt_int.h).
 *
 * A waker takes a waiter off a queue, claims it with a CAS on the task's
 * wait state (a timer or cancel may have claimed it first: then the waiter
 * is skipped), copies the element straight to/from the waiter's memory, and
 * readies the task. Unbuffered channels thus copy once, sender to receiver.
 *
 * select locks all its channels in address order (so two selects over the
 * same channels cannot deadlock), looks for a case that can proceed in a
 * random order, and otherwise queues one waiter per case, all sharing the
 * task's single wait: the first waker to claim it wins and records its case
 * index as the wake result.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_int.h"

struct weft_chan {
    uint32_t lock;
    int closed;
    size_t esz, cap, len, head;
    weft__waiter *sendq, *recvq;
    char *buf;
};

weft_chan *weft_chan_new(size_t elem_size, size_t cap, int *err) {
    int e = 0;
    weft_chan *c = NULL;
    if (elem_size == 0 || elem_size > 65536 || cap > (1u << 28)) {
        e = WEFT_EINVAL;
        goto out;
    }
    c = calloc(1, sizeof *c + elem_size * cap);
    if (!c) {
        e = WEFT_ENOMEM;
        goto out;
    }
    c->esz = elem_size;
    c->cap = cap;
    c->buf = (char *)(c + 1);
out:
    if (err) *err = e;
    return c;
}

void weft_chan_free(weft_chan *c) {
    if (!c) return;
    WEFT_ASSERT(!c->sendq && !c->recvq);
    free(c);
}

size_t weft_chan_len(weft_chan *c) {
    if (!c) return 0;
    weft__spin_lock(&c->lock);
    size_t n = c->len;
    weft__spin_unlock(&c->lock);
    return n;
}
size_t weft_chan_cap(weft_chan *c) { return c ? c->cap : 0; }

static inline void copy_elem(void *dst, const void *src, size_t n) {
    if (!dst || !src) return;
    switch (n) { /* the common sizes without a call */
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
    }
}
static inline char *slot(weft_chan *c, size_t i) {
    return c->buf + ((c->head + i) % c->cap) * c->esz;
}

/* Pop the first waiter that can still be claimed (lock held). The claimed
 * task cannot run until readied, which the caller does after unlocking
 * (rt_int.h, weft__chain): the woken task may free the channel at once. */
static inline __attribute__((always_inline)) weft__waiter *take_waiter(weft__waiter **q, int err) {
    weft__waiter *w;
    while ((w = weft__wq_pop(q))) {
        if (weft__claim(w->task, w->seq, w->idx)) {
            w->err = err;
            return w;
        }
    }
    return NULL;
}

/* Try to send without waiting (lock held). 1 sent, 0 would block, <0 error.
 * A woken receiver is chained on *wake. */
static inline __attribute__((always_inline)) int try_send(weft_chan *c, const void *v,
                                                          weft__task **wake) {
    WEFT_ASSERT_HELD(&c->lock);
    if (c->closed) return WEFT_ECLOSED;
    weft__waiter *r = take_waiter(&c->recvq, 0);
    if (r) {
        copy_elem(r->val, v, c->esz);
        weft__chain(wake, r->task);
        return 1;
    }
    if (c->len < c->cap) {
        copy_elem(slot(c, c->len), v, c->esz);
        c->len++;
        return 1;
    }
    return 0;
}

/* Try to receive without waiting (lock held). 1 received, 0 would block,
 * WEFT_ECLOSED when closed and drained. A woken sender is chained on *wake. */
static inline __attribute__((always_inline)) int try_recv(weft_chan *c, void *v,
                                                          weft__task **wake) {
    WEFT_ASSERT_HELD(&c->lock);
    if (c->len > 0) {
        copy_elem(v, slot(c, 0), c->esz);
        c->head = (c->head + 1) % c->cap;
        c->len--;
        /* a sender waits for room: move its element into the freed slot */
        weft__waiter *s = take_waiter(&c->sendq, 0);
        if (s) {
            copy_elem(slot(c, c->len), s->val, c->esz);
            c->len++;
            weft__chain(wake, s->task);
        }
        return 1;
    }
    weft__waiter *s = take_waiter(&c->sendq, 0);
    if (s) { /* unbuffered: straight from the sender */
        copy_elem(v, s->val, c->esz);
        weft__chain(wake, s->task);
        return 1;
    }
    return c->closed ? WEFT_ECLOSED : 0;
}

/* The hand-off protocol's arming (rt_int.h, "The hand-off park"): the op
 * arms its wait before it takes the channel's lock, so that the lock's XCHG
 * is the full barrier between this store and the canceled load after it.
 * Returns the wait's seq. */
_Static_assert(WS_MAKE(1, 0, 0) == 8u && WS_MAKE(WS_SEQ_MASK, 1, 3) == ~0ull,
              "prearm: seq is bits 3-63 of an IDLE word");
static inline weft__seq prearm(weft__task *t, int nc) {
    /* the word is IDLE (its owner is running), so seq fills bits 3-63:
     * adding 8 bumps it modulo 2^61, as WS_SEQ(ws) + 1 masked would, in
     * fewer instructions */
    uint64_t ws = atomic_load_explicit(&t->wstate, memory_order_relaxed);
    uint64_t nw = ((ws & ~7ull) + 8u) | ((uint64_t)nc << 2) | WS_ARMED;
    atomic_store_explicit(&t->wstate, nw, memory_order_relaxed);
    return WS_SEQ(nw);
}
/* The op finished without parking: back to IDLE. Only the owner changes an
 * ARMED wait, so a plain store will do. */
static inline void disarm(weft__task *t, weft__seq seq) {
    atomic_store_explicit(&t->wstate, WS_MAKE(seq, 0, WS_IDLE), memory_order_relaxed);
}

/* send and recv: the same shape, specialised by the constant `send`.
 *
 * Unbuffered hand-off, the case a ping-pong exercises on both sides: the
 * task that finds a partner parked on the other queue claims it (the CAS of
 * weft__claim, which a timer or canceler may win first), copies the element
 * straight between its own memory and the partner's, and makes the partner
 * this worker's run-next task; the task that finds nobody arms, queues a
 * waiter in its frame and parks through weft__park_handoff (no CAS: see
 * rt_int.h) straight into the worker's next task, usually the partner it
 * just woke. Memory ordering, in order of a hand-off:
 *  - the parker's waiter and element are published by its hook's unlock
 *    (release) after the PARKED store (release); the waker's lock (acquire)
 *    sees both.
 *  - the waker copies the element and sets wt.err, then readies the parker
 *    after unlocking; the parker resumes through a context switch on this
 *    worker, or on another worker through the run queue's release/acquire
 *    (or the run-next slot's exchange), and its acquire load of wstate in
 *    the park pairs with the claim CAS.
 *  - canceled: see prearm() and rt_int.h rule 2. */
static inline __attribute__((always_inline)) int chan_op(weft_chan *c, void *v, int64_t deadline,
                                                          bool send) {
    if (!c) return WEFT_EINVAL;
    weft__worker *w = weft__worker_self();
    weft__task *t = w ? w->current : NULL;
    weft__seq seq = 0;
    int nc = 0;
    if (t) {
        nc = t->nocancel > 0;
        seq = prearm(t, nc);
    }
    weft__spin_lock(&c->lock);
#if !defined(__x86_64__)
    atomic_thread_fence(memory_order_seq_cst); /* rule 2: the XCHG's job elsewhere */
#endif
    if (t && !nc && atomic_load_explicit(&t->canceled, memory_order_seq_cst)) {
        disarm(t, seq);
        weft__spin_unlock(&c->lock);
        return WEFT_ECANCELED;
    }
    weft__task *wake = NULL;
    int rc = send ? try_send(c, v, &wake) : try_recv(c, v, &wake);
    if (rc != 0) {
        if (t) disarm(t, seq);
        weft__spin_unlock(&c->lock);
        /* at most one partner: try_send/try_recv chain one task */
        if (wake) {
            wake->next = NULL;
            if (t) /* a task: w is its worker */
                weft__ready_here(w, wake);
            else
                weft__ready_chan(w, wake);
        }
        return rc < 0 ? rc : 0;
    }
    if (!t) {
        weft__spin_unlock(&c->lock);
        return deadline == 0 ? WEFT_EAGAIN : WEFT_ENOTASK;
    }
    rc = deadline == 0 ? WEFT_EAGAIN : deadline > 0 && deadline <= weft_now() ? WEFT_ETIMEDOUT : 0;
    if (rc) {
        disarm(t, seq);
        weft__spin_unlock(&c->lock);
        return rc;
    }
    weft__waiter **q = send ? &c->sendq : &c->recvq;
    const char *reason = send ? "chan send" : "chan recv";
    weft__waiter wt; /* the fields a channel waker reads (next/prev: the push) */
    wt.task = t;
    wt.seq = seq;
    wt.idx = 0;
    wt.err = 0;
    wt.val = v;
    weft__wq_push(q, &wt);
    if (deadline < 0) {
        /* no timer: the hand-off park. Only a canceler can end it early */
        rc = weft__park_handoff(w, seq, &c->lock, reason, c);
    } else {
        /* a timer is a waker that takes no lock: the CAS park (rt_int.h) */
        weft__wait_timer(t, seq, deadline);
        rc = weft__park(seq, weft__spin_unlock_cb, &c->lock, reason, c);
        weft__wait_timer_cancel(t);
    }
    if (rc < 0) { /* timeout or cancel: we may still be queued */
        weft__spin_lock(&c->lock);
        weft__wq_remove(q, &wt);
        weft__spin_unlock(&c->lock);
        return rc;
    }
    return wt.err;
}

int weft_chan_send(weft_chan *c, const void *v, int64_t deadline) {
    return chan_op(c, (void *)v, deadline, true);
}

int weft_chan_recv(weft_chan *c, void *v, int64_t deadline) {
    return chan_op(c, v, deadline, false);
}

int weft_chan_close(weft_chan *c) {
    if (!c) return WEFT_EINVAL;
    weft__spin_lock(&c->lock);
    if (c->closed) {
        weft__spin_unlock(&c->lock);
        return WEFT_ECLOSED;
    }
    c->closed = 1;
    weft__task *wake = NULL;
    weft__waiter *w;
    while ((w = take_waiter(&c->recvq, WEFT_ECLOSED))) weft__chain(&wake, w->task);
    while ((w = take_waiter(&c->sendq, WEFT_ECLOSED))) weft__chain(&wake, w->task);
    weft__spin_unlock(&c->lock);
    weft__ready_chain(wake);
    return 0;
}

/* ---- select ---------------------------------------------------------------- */

#define SELECT_MAX 64

typedef struct {
    weft_chan *locked[SELECT_MAX];
    int n;
} lockset;

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (weft_chan *const *)a, y = (uintptr_t) * (weft_chan *const *)b;
    return x < y ? -1 : x > y;
}

static void lock_all(lockset *ls) {
    for (int i = 0; i < ls->n; i++) weft__spin_lock(&ls->locked[i]->lock);
}
static void unlock_all(void *arg) {
    lockset *ls = arg;
    for (int i = ls->n - 1; i >= 0; i--) weft__spin_unlock(&ls->locked[i]->lock);
}

int weft_select(weft_case *cases, int n, int64_t deadline) {
    if (!cases || n < 1 || n > SELECT_MAX) return WEFT_EINVAL;
    for (int i = 0; i < n; i++) {
        if (cases[i].op != WEFT_SEND && cases[i].op != WEFT_RECV) return WEFT_EINVAL;
        cases[i].err = 0;
    }
    weft__task *t = weft__task_self();
    if (t && atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;

    /* distinct channels, sorted: the lock order */
    lockset ls;
    ls.n = 0;
    for (int i = 0; i < n; i++)
        if (cases[i].chan) ls.locked[ls.n++] = cases[i].chan;
    qsort(ls.locked, (size_t)ls.n, sizeof ls.locked[0], cmp_ptr);
    int u = 0;
    for (int i = 0; i < ls.n; i++)
        if (u == 0 || ls.locked[u - 1] != ls.locked[i]) ls.locked[u++] = ls.locked[i];
    ls.n = u;

    /* random poll order (Fisher-Yates), so no case is favoured */
    unsigned char order[SELECT_MAX];
    weft__worker *w = weft__worker_self();
    for (int i = 0; i < n; i++) order[i] = (unsigned char)i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t r = w ? weft__rand(w) : (uint32_t)weft_now_ns();
        int j = (int)(r % (uint32_t)(i + 1));
        unsigned char x = order[i];
        order[i] = order[j];
        order[j] = x;
    }

    lock_all(&ls);
    for (int k = 0; k < n; k++) {
        int i = order[k];
        weft_case *cs = &cases[i];
        if (!cs->chan) continue;
        weft__task *wake = NULL;
        int rc = cs->op == WEFT_SEND ? try_send(cs->chan, cs->val, &wake)
                                     : try_recv(cs->chan, cs->val, &wake);
        if (rc != 0) {
            unlock_all(&ls);
            weft__ready_chain(wake);
            cs->err = rc < 0 ? rc : 0;
            return i;
        }
    }
    if (!t) {
        unlock_all(&ls);
        return deadline == 0 ? WEFT_EAGAIN : WEFT_ENOTASK;
    }
    weft__seq seq;
    int rc = weft__wait_begin(t, deadline, 0, &seq);
    if (rc) {
        unlock_all(&ls);
        return rc;
    }
    weft__waiter wts[SELECT_MAX];
    for (int i = 0; i < n; i++) {
        weft_case *cs = &cases[i];
        wts[i] = (weft__waiter){.task = t, .seq = seq, .idx = i, .val = cs->val};
        if (!cs->chan) continue;
        weft__wq_push(cs->op == WEFT_SEND ? &cs->chan->sendq : &cs->chan->recvq, &wts[i]);
    }
    weft__wait_timer(t, seq, deadline);
    rc = weft__park(seq, unlock_all, &ls, "select", cases);
    weft__wait_timer_cancel(t);
    /* take our other waiters off their queues */
    lock_all(&ls);
    for (int i = 0; i < n; i++) {
        weft_case *cs = &cases[i];
        if (cs->chan)
            weft__wq_remove(cs->op == WEFT_SEND ? &cs->chan->sendq : &cs->chan->recvq, &wts[i]);
    }
    unlock_all(&ls);
    if (rc >= 0) cases[rc].err = wts[rc].err;
    return rc;
}
