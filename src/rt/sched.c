/*
 * sched.c — the scheduler core: workers, run queues, work stealing, context
 * switching, parking and waking, and the scheduler loop.
 *
 * Tasks (spawn, defer, groups, cancellation) are in task.c; the starvation
 * monitor, weft_main() and shutdown in main.c.
 *
 * See rt_int.h for the parking protocol. The run queue is the classic
 * bounded ring with a stealable head (owner pushes at the tail, anyone takes
 * from the head with a CAS) plus a "run next" slot for the task the current
 * one just woke, which stealers leave alone unless the owner has been stuck
 * in one task for a while. Idle workers sleep in their I/O backend and are
 * woken through an eventfd only when they are actually asleep and nobody is
 * already spinning for work, so cross-worker wakes on a busy runtime cost no
 * syscall.
 */
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "rt_int.h"

#ifdef WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

weft__rt weft__R;
#ifdef WEFT__LOCK_OWNER
__thread uint32_t weft__tls_lock_tag __attribute__((tls_model("initial-exec")));
static _Atomic uint32_t lock_tags;
/* A thread's first lock: give it the next tag (0 is "free"; wrapping after
 * 4 billion threads would only blunt the check, never break the lock). */
uint32_t weft__lock_tag_new(void) {
    uint32_t v;
    do v = atomic_fetch_add_explicit(&lock_tags, 1, memory_order_relaxed) + 1;
    while (v == 0);
    weft__tls_lock_tag = v;
    return v;
}
#endif
__thread weft__worker *weft__tls_worker __attribute__((tls_model("initial-exec")));

#ifdef WEFT_SCHED_STATS
_Atomic uint64_t weft__sched_stats[WEFT__ST_N];
void weft__sched_stats_print(void) {
    static const char *names[WEFT__ST_N] = {"eventfd wakes", "steals", "run-next steals",
                                            "sleeps", "hand-off wakes skipped"};
    fprintf(stderr, "# weft sched stats:");
    for (int i = 0; i < WEFT__ST_N; i++) {
        fprintf(stderr, " %s %llu;", names[i],
                (unsigned long long)atomic_exchange(&weft__sched_stats[i], 0));
    }
    fprintf(stderr, "\n");
}
#endif

uint32_t weft__rand(weft__worker *w) {
    /* xorshift64* */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* ---- time ------------------------------------------------------------- */

int64_t weft_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
int64_t weft_now(void) { return weft_now_ns() / 1000000; }
int64_t weft_deadline_in(int64_t ms) { return ms < 0 ? -1 : weft_now() + ms; }

/* ---- run queue ----------------------------------------------------------- */

/* ---- global run queue -----------------------------------------------------
 * A ring of task pointers under one spinlock, grown by doubling; the buffer
 * is kept for the process and reused by the next weft_main(). It is not a
 * list through the TCBs: each TCB sits on a page of its own, so moving a batch
 * of tasks along such a list cost a TLB and cache miss per task under the
 * lock (park1m, 1M tasks, 1 worker: 46% of all samples in that walk, ~2.6 us
 * per task). Only when the ring cannot grow (malloc failed) do tasks go on a
 * list through t->next behind it (ghead/gtail), so none is ever dropped. */
static weft__task **gbuf;
static size_t gcap; /* power of two, or 0 */

/* Append the runq slots [h, h+n) of q (q may be NULL when n is 0), then t
 * (if not NULL), to the global queue. */
static void global_put(weft__runq *q, uint32_t h, uint32_t n, weft__task *t) {
    size_t k = n + (t != NULL);
    void *old = NULL;
    weft__spin_lock(&weft__R.glock);
    while (!weft__R.ghead && weft__R.gring + k > gcap) {
        /* grow: allocate outside the lock, then check nobody beat us */
        size_t want = gcap ? gcap * 2 : 1024;
        while (want < weft__R.gring + k) want *= 2;
        weft__spin_unlock(&weft__R.glock);
        free(old);
        old = NULL;
        weft__task **nb = malloc(want * sizeof *nb);
        weft__spin_lock(&weft__R.glock);
        if (!nb) break;
        if (want <= gcap) {
            old = nb;
            continue;
        }
        for (size_t i = 0; i < weft__R.gring; i++)
            nb[i] = gbuf[(weft__R.gfirst + i) & (gcap - 1)];
        old = gbuf;
        gbuf = nb;
        gcap = want;
        weft__R.gfirst = 0;
    }
    if (!weft__R.ghead && weft__R.gring + k <= gcap) {
        size_t at = weft__R.gfirst + weft__R.gring;
        for (uint32_t i = 0; i < n; i++)
            gbuf[(at + i) & (gcap - 1)] =
                atomic_load_explicit(&q->buf[(h + i) % RUNQ_SIZE], memory_order_relaxed);
        if (t) gbuf[(at + n) & (gcap - 1)] = t;
        weft__R.gring += k;
    } else {
        for (uint32_t i = 0; i <= n; i++) {
            weft__task *x = i < n ? atomic_load_explicit(&q->buf[(h + i) % RUNQ_SIZE],
                                                          memory_order_relaxed)
                                  : t;
            if (!x) break;
            x->next = NULL;
            if (weft__R.gtail)
                weft__R.gtail->next = x;
            else
                weft__R.ghead = x;
            weft__R.gtail = x;
        }
    }
    atomic_fetch_add(&weft__R.glen, (int64_t)k);
    weft__spin_unlock(&weft__R.glock);
    free(old);
}

static void wakep(void);

/* Owner only. When the ring is full, half of it moves to the global queue
 * (runq_spill, out of line: the common put is inlined into the switch paths). */
static __attribute__((noinline)) void runq_spill(weft__worker *w, weft__task *t) {
    weft__runq *q = &w->runq;
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (tl - h < RUNQ_SIZE) {
            atomic_store_explicit(&q->buf[tl % RUNQ_SIZE], t, memory_order_relaxed);
            atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
            return;
        }
        /* full: move the older half and t to the global queue. Claim the
         * slots first; only the owner overwrites slots, so [h, h+n) stays
         * intact while global_put copies them. */
        uint32_t n = (tl - h) / 2;
        if (!atomic_compare_exchange_strong_explicit(&q->head, &h, h + n, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        global_put(q, h, n, t);
        return;
    }
}

static inline __attribute__((always_inline)) void runq_put(weft__worker *w, weft__task *t) {
    if (WEFT_LIKELY(weft__runq_push(w, t))) return;
    runq_spill(w, t);
}

/* Solo: with a single worker no thread but the owner takes from its run
 * queue or run-next slot (steal_any needs a second worker, the monitor leaves
 * a solo worker's run-next alone, other threads queue globally), so the owner
 * takes and puts with plain loads and stores. A CAS or exchange is a locked
 * instruction, ~20 cycles and a store-buffer drain, on every switch: the
 * yield benchmark spends one, a channel ping-pong round trip four. */
static inline __attribute__((always_inline)) weft__task *runq_get(weft__worker *w) {
    weft__runq *q = &w->runq;
    if (w->solo) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
        if (atomic_load_explicit(&q->tail, memory_order_relaxed) == h) return NULL;
        weft__task *t = atomic_load_explicit(&q->buf[h % RUNQ_SIZE], memory_order_relaxed);
        atomic_store_explicit(&q->head, h + 1, memory_order_release);
        return t;
    }
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (tl == h) return NULL;
        weft__task *t = atomic_load_explicit(&q->buf[h % RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&q->head, &h, h + 1, memory_order_acq_rel,
                                                    memory_order_relaxed))
            return t;
    }
}

static bool runq_empty(weft__worker *w) {
    return atomic_load(&w->runq.head) == atomic_load(&w->runq.tail) &&
           atomic_load(&w->runnext) == NULL;
}

/* Steal half of victim's queue into w's (empty) queue; returns one to run. */
static weft__task *runq_steal(weft__worker *w, weft__worker *v, bool take_next) {
    weft__runq *q = &v->runq;
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_acquire);
        uint32_t n = tl - h;
        n -= n / 2;
        if (n == 0) {
            if (!take_next) return NULL;
            weft__task *t = atomic_load(&v->runnext);
            if (t && atomic_compare_exchange_strong(&v->runnext, &t, NULL)) {
                WEFT__STAT(WEFT__ST_STEAL_NEXT);
                /* its owner did not get to it: wake for hand-offs again */
                atomic_store_explicit(&v->handoff_local, 0, memory_order_relaxed);
                return t;
            }
            return NULL;
        }
        if (n > RUNQ_SIZE / 2) continue; /* inconsistent snapshot */
        uint32_t mt = atomic_load_explicit(&w->runq.tail, memory_order_relaxed);
        for (uint32_t i = 0; i < n; i++) {
            weft__task *t =
                atomic_load_explicit(&q->buf[(h + i) % RUNQ_SIZE], memory_order_relaxed);
            atomic_store_explicit(&w->runq.buf[(mt + i) % RUNQ_SIZE], t, memory_order_relaxed);
        }
        if (!atomic_compare_exchange_strong_explicit(&q->head, &h, h + n, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        weft__task *t =
            atomic_load_explicit(&w->runq.buf[(mt + n - 1) % RUNQ_SIZE], memory_order_relaxed);
        if (n > 1) atomic_store_explicit(&w->runq.tail, mt + n - 1, memory_order_release);
        WEFT__STAT(WEFT__ST_STEAL);
        return t;
    }
}

static weft__task *global_get(weft__worker *w) {
    if (atomic_load_explicit(&weft__R.glen, memory_order_relaxed) == 0) return NULL;
    weft__spin_lock(&weft__R.glock);
    int64_t len = atomic_load_explicit(&weft__R.glen, memory_order_relaxed);
    if (len == 0) {
        weft__spin_unlock(&weft__R.glock);
        return NULL;
    }
    /* take our share: one to run now, some more for the local queue */
    int64_t n = len / weft__R.nworkers + 1;
    if (n > RUNQ_SIZE / 2) n = RUNQ_SIZE / 2;
    weft__task *t;
    int64_t took = 1;
    if (weft__R.gring) {
        t = gbuf[weft__R.gfirst];
        /* the rest straight into our ring: only we push there, so the room
         * we see can only grow while we copy */
        weft__runq *q = &w->runq;
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint32_t room = RUNQ_SIZE - (tl - atomic_load_explicit(&q->head, memory_order_acquire));
        if (n > (int64_t)weft__R.gring) n = (int64_t)weft__R.gring;
        if (n - 1 > (int64_t)room) n = (int64_t)room + 1;
        for (; took < n; took++)
            atomic_store_explicit(&q->buf[(tl + took - 1) % RUNQ_SIZE],
                                  gbuf[(weft__R.gfirst + (size_t)took) & (gcap - 1)],
                                  memory_order_relaxed);
        atomic_store_explicit(&q->tail, tl + (uint32_t)(took - 1), memory_order_release);
        weft__R.gfirst = (weft__R.gfirst + (size_t)took) & (gcap - 1);
        weft__R.gring -= (size_t)took;
    } else {
        /* the overflow list (the ring could not grow): one at a time */
        t = weft__R.ghead;
        weft__R.ghead = t->next;
        if (!weft__R.ghead) weft__R.gtail = NULL;
        t->next = NULL;
    }
    atomic_fetch_sub(&weft__R.glen, took);
    weft__spin_unlock(&weft__R.glock);
    return t;
}

/* ---- waking idle workers -------------------------------------------------- */

void weft__worker_wake(weft__worker *w) {
    WEFT__STAT(WEFT__ST_WAKE);
    uint64_t one = 1;
    ssize_t r = write(w->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN: counter saturated, the worker will wake anyway */
}

/* Wake one sleeping worker to look for work, unless one is already looking. */
static void wakep(void) {
    if (atomic_load(&weft__R.nidle) == 0 || atomic_load(&weft__R.nspinning) != 0) return;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&weft__R.nspinning, &zero, 1)) return;
    for (int i = 0; i < weft__R.nworkers; i++) {
        weft__worker *v = &weft__R.workers[i];
        int one = 1;
        if (atomic_compare_exchange_strong(&v->sleeping, &one, 2)) {
            weft__worker_wake(v); /* it wakes up as the spinner */
            return;
        }
    }
    atomic_fetch_sub(&weft__R.nspinning, 1);
}

/* The idle path's part in a run-next hand-off (kept in this one function:
 * the wake-up policy for hand-offs is here and nowhere else).
 *
 * For a channel's hand-off (weft__ready_chan) the waker usually parks soon
 * after and t runs here at once (a channel ping-pong, a request and its
 * reply). Waking a sleeping worker for t then
 * buys nothing and costs a lot: the waker writes the sleeper's eventfd (a
 * syscall on the hot path), and the woken worker spins SPIN_NS reading this
 * worker's run queue and switch count (the lines the owner writes on every
 * switch) before it sleeps again, only to be woken by the next hand-off.
 * Measured with RT_WORKERS=2 on the ping-pong benchmark: one such cycle per
 * ~300 round trips, 2.5x the CPU per round trip of one worker.
 *
 * So once this worker has taken HANDOFF_QUIET hand-offs in a row itself,
 * a channel filling its run-next slot wakes nobody. Other wakers (a wait
 * group's last done, a mutex, an I/O completion) still wake a worker: for
 * the spawn benchmark on two workers, skipping the wake of its waiting
 * main task at each batch's end doubled the CPU per spawn (the other worker
 * was asleep, not spinning, when the next batch was queued). The waker that keeps running
 * instead is still covered: a worker that is awake anyway takes t after
 * STEAL_NEXT_NS (steal_any), and the monitor moves it within reach of the
 * others once this worker has not switched for ~1 ms (weft__sched_unstick).
 * Either taking t from us zeroes the count, so the next hand-off wakes a
 * worker again. Work that is queued (spawns, yields, I/O readiness, a task
 * pushed out of the slot) still wakes a worker as before. */
#define HANDOFF_QUIET 8
static inline void handoff_wakep(weft__worker *w) {
    if (atomic_load_explicit(&w->handoff_local, memory_order_relaxed) >= HANDOFF_QUIET) {
        WEFT__STAT(WEFT__ST_HANDOFF_SKIP);
        return;
    }
    wakep();
}

/* next: into w's run-next slot (else queue order); chan: a channel's
 * hand-off, whose waker usually parks at once (handoff_wakep) */
static void ready_on(weft__worker *w, weft__task *t, bool next, bool chan) {
    t->state = TASK_RUNNABLE;
    if (!w) {
        global_put(NULL, 0, 0, t);
        wakep();
        return;
    }
    if (next) {
        weft__task *old;
        if (w->solo) {
            old = atomic_load_explicit(&w->runnext, memory_order_relaxed);
            atomic_store_explicit(&w->runnext, t, memory_order_relaxed);
        } else {
            old = atomic_exchange(&w->runnext, t);
        }
        if (!old) {
            if (chan)
                handoff_wakep(w);
            else
                wakep();
            return;
        }
        t = old;
    }
    runq_put(w, t);
    wakep();
}

void weft__ready_from(weft__worker *w, weft__task *t) {
    /* from a task: the woken task runs next (hand-off); from the scheduler
     * loop (timers, I/O completions): queue order */
    ready_on(w, t, w && w->current != NULL, false);
}

void weft__ready_chan(weft__worker *w, weft__task *t) {
    ready_on(w, t, w && w->current != NULL, true);
}

void weft__ready(weft__task *t) { weft__ready_from(weft__worker_self(), t); }

/* ---- context switching ----------------------------------------------------- */

static inline __attribute__((always_inline)) void after_switch(weft__worker *w) {
    void (*h)(weft__worker *, void *, void *) = w->hook;
    if (h) {
        w->hook = NULL;
        h(w, w->hook_a, w->hook_b);
    }
}

/* Switch from the running context (task `from`, or the scheduler context if
 * NULL) to `to` (or the scheduler context if NULL). Returns in `from` when it
 * is resumed, with the resuming context's hook already run. */
static inline __attribute__((always_inline)) void switch_to(weft__worker *w, weft__task *from,
                                                          weft__task *to, bool exiting) {
    void **save = from ? &from->sp : &w->sched_sp;
    void *next_sp = to ? to->sp : w->sched_sp;
    __atomic_store_n(&w->current, to, __ATOMIC_RELAXED); /* read by the monitor */
    /* single writer: a plain increment, read by the monitor thread */
    atomic_store_explicit(&w->switches,
                          atomic_load_explicit(&w->switches, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (to) to->state = TASK_RUNNING;
#ifdef WEFT_ASAN
    void **fake = from ? &from->asan_fake : &w->asan_sched_fake;
    if (to)
        __sanitizer_start_switch_fiber(exiting ? NULL : fake, to->stack_lo, to->stack_size);
    else
        __sanitizer_start_switch_fiber(exiting ? NULL : fake, w->asan_sched_bottom,
                                       w->asan_sched_size);
#endif
#ifdef WEFT_TSAN
    __tsan_switch_to_fiber(to ? to->tsan_fiber : w->tsan_sched_fiber, 0);
#endif
    (void)exiting;
    weft__ctx_switch(save, next_sp);
    /* resumed: possibly on another worker */
    w = weft__worker_self();
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(from ? from->asan_fake : w->asan_sched_fake, NULL, NULL);
#endif
    after_switch(w);
}

/* Take the run-next task, if any (owner only). */
static inline __attribute__((always_inline)) weft__task *take_next(weft__worker *w) {
    weft__task *t = atomic_load_explicit(&w->runnext, memory_order_relaxed);
    if (!t) return NULL;
    if (w->solo) {
        atomic_store_explicit(&w->runnext, NULL, memory_order_relaxed);
        return t;
    }
    if (!atomic_compare_exchange_strong(&w->runnext, &t, NULL)) return NULL;
    /* one more hand-off taken here (handoff_wakep); saturating, owner-only
     * but for a thief's zeroing, so a plain load and store */
    uint32_t h = atomic_load_explicit(&w->handoff_local, memory_order_relaxed);
    if (h < HANDOFF_QUIET) atomic_store_explicit(&w->handoff_local, h + 1, memory_order_relaxed);
    return t;
}

/* Next task from the local queues, or NULL. Fairness: runnext is taken at
 * most 32 times in a row, and every 61st pick looks at the global queue
 * first, so a hot ping-pong pair cannot starve the queue. Inlined into each
 * caller (every switch goes through it): a count up and a compare where a
 * division by 61 was, and no call. */
static inline __attribute__((always_inline)) weft__task *next_local(weft__worker *w) {
    weft__task *t;
    if (WEFT_UNLIKELY(++w->gtick >= 61)) {
        w->gtick = 0;
        if ((t = global_get(w))) return t;
    }
    if (w->nexts < 32 && (t = take_next(w))) {
        w->nexts++;
        return t;
    }
    w->nexts = 0;
    if ((t = runq_get(w))) return t;
    if ((t = take_next(w))) return t;
    return global_get(w);
}

/* From a task: pick the next task directly, or go through the scheduler
 * loop (every 64th switch, so timers and I/O are polled, or when there is
 * nothing local to run). The switch count is the worker's own (the switch
 * to the scheduler context moves it on, so the next pick goes direct). */
static inline __attribute__((always_inline)) weft__task *pick_from_task(weft__worker *w) {
    if (WEFT_UNLIKELY((atomic_load_explicit(&w->switches, memory_order_relaxed) & 63) == 63))
        return NULL;
    return next_local(w);
}

/* ---- parking ----------------------------------------------------------------- */

void weft__wait_disarm(weft__task *t) {
    uint64_t ws = atomic_load(&t->wstate);
    atomic_store(&t->wstate, WS_MAKE(WS_SEQ(ws), 0, WS_IDLE));
}

bool weft__wake(weft__task *t, weft__seq seq, int result) {
    bool parked;
    if (!weft__wake_cas(t, seq, result, false, &parked)) return false;
    if (parked) weft__ready(t); /* else the park hook readies it */
    return true;
}

void weft__ready_chain(weft__task *chain) {
    while (chain) {
        weft__task *nx = chain->next;
        chain->next = NULL;
        weft__ready(chain);
        chain = nx;
    }
}

weft__waiter *weft__claim_waiter(weft__waiter **list, int result) {
    weft__waiter *wt;
    while ((wt = weft__wq_pop(list)))
        if (weft__claim(wt->task, wt->seq, result)) return wt;
    return NULL;
}

static void park_hook(weft__worker *w, void *a, void *b) {
    weft__task *t = a;
    void **ub = b;
    void (*unlock)(void *) = (void (*)(void *))ub[0];
    void *arg = ub[1];
    uint64_t ws = atomic_load(&t->wstate);
    bool woken = true;
    while (WS_STATE(ws) == WS_ARMED) {
        if (atomic_compare_exchange_weak(&t->wstate, &ws,
                                         WS_MAKE(WS_SEQ(ws), WS_NC(ws), WS_PARKED))) {
            woken = false;
            break;
        }
    }
    /* cancel stores the flag, then CASes wstate; we CASed wstate, now read
     * the flag: one of the two sees the other */
    bool parked;
    if (!woken && !WS_NC(ws) && atomic_load(&t->canceled) &&
        weft__wake_cas(t, WS_SEQ(ws), WEFT_ECANCELED, true, &parked))
        woken = true;
    if (unlock) unlock(arg);
    if (woken) ready_on(w, t, false, false);
}

void weft__spin_unlock_cb(void *lock) { weft__spin_unlock(lock); }

void weft__spin_lock_slow(uint32_t *l) {
    for (;;) {
        int n = 0;
        while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
            if (++n < 64) {
                __builtin_ia32_pause();
            } else {
                sched_yield();
                n = 0;
            }
        }
        if (weft__spin_try(l)) return;
    }
}

/* The after-switch hook of weft__park_handoff(): no CAS. The wait is ARMED
 * and nobody but its owner changes an ARMED wait of this kind (rt_int.h,
 * "The hand-off park"), so a release store publishes PARKED (after the
 * switch saved t->sp), then the channel's lock is released: a waker that
 * takes the lock next sees PARKED and may ready t at once. */
static inline __attribute__((always_inline)) void handoff_publish(weft__task *t, uint32_t *lock) {
    uint64_t ws = atomic_load_explicit(&t->wstate, memory_order_relaxed);
    WEFT_ASSERT(WS_STATE(ws) == WS_ARMED);
    /* WS_MAKE(WS_SEQ(ws), WS_NC(ws), WS_PARKED): the same word with the
     * state bits replaced, which the compiler did not see through the seq's
     * mask and shift (callgrind: 8 instructions, now 2) */
    atomic_store_explicit(&t->wstate, (ws & ~3ull) | WS_PARKED, memory_order_release);
    weft__spin_unlock(lock);
}
static void handoff_hook(weft__worker *w, void *a, void *b) {
    (void)w;
    handoff_publish(a, b);
}

static __attribute__((noinline, noreturn)) void smashed(weft__task *t) {
    weft_log_error("stack overflow in task \"%s\" (id %llu): canary overwritten", t->name,
                   (unsigned long long)t->id);
    abort();
}

/* The two parks differ only in the hook the next context runs. */
static inline __attribute__((always_inline)) int park_with(weft__worker *w, weft__seq seq,
                            void (*hook)(weft__worker *, void *, void *), void *hook_b,
                            const char *reason, const void *obj) {
    weft__task *t = w->current;
    t->wait_reason = reason;
    t->wait_obj = obj;
    t->state = TASK_PARKED;
    if (WEFT_UNLIKELY(weft__stack_smashed(t))) smashed(t);
    weft__task *next = pick_from_task(w);
    if (hook == handoff_hook && w->solo) {
        /* Solo: t is published PARKED and the lock released before the
         * switch, with no hook. A waker on another thread (a thread that is
         * not a worker, a canceler) may claim t at once, but can only queue
         * it (globally): no thread but this one runs tasks, and this one
         * picked `next` above, before t could be woken, so it resumes t only
         * after the switch has saved t's stack pointer. */
        handoff_publish(t, hook_b);
    } else {
        w->hook = hook;
        w->hook_a = t;
        w->hook_b = hook_b;
    }
    switch_to(w, t, next, false);
    t->wait_reason = NULL;
    t->wait_obj = NULL;
    uint64_t ws = atomic_load_explicit(&t->wstate, memory_order_acquire);
    /* kept in the plain build: one compare on a word this path loads anyway;
     * a task resumed without a winning wake would otherwise run on with a
     * result nobody gave it */
    WEFT_ASSERT(WS_STATE(ws) == WS_WOKEN);
    /* no waker can act on a WOKEN wait (weft__wake_cas needs ARMED or PARKED), so
     * a plain store will do: a seq_cst one is a locked instruction. The WOKEN
     * word kept only the seq's low bits: the whole seq goes back (the next
     * wait_begin counts on from it). */
#ifdef WEFT__LOCK_OWNER /* sanitizer and debug builds: the plain one saves the compare */
    WEFT_ASSERT((WS_SEQ(ws) & WS_SEQ_LO) == (seq & WS_SEQ_LO));
#endif
    atomic_store_explicit(&t->wstate, WS_MAKE(seq, 0, WS_IDLE), memory_order_relaxed);
    return WS_RESULT(ws);
}

int weft__park(weft__seq seq, void (*unlock)(void *), void *arg, const char *reason,
               const void *obj) {
    void *ub[2] = {(void *)unlock, arg};
    return park_with(weft__worker_self(), seq, park_hook, ub, reason, obj);
}

int weft__park_handoff(weft__worker *w, weft__seq seq, uint32_t *lock, const char *reason,
                       const void *obj) {
    return park_with(w, seq, handoff_hook, lock, reason, obj);
}

int weft__wait_on(uint32_t *lock, weft__waiter **list, weft__waiter *wt, int64_t deadline,
                  const char *reason, const void *obj) {
    WEFT_ASSERT_HELD(lock);
    weft__task *t = weft__task_self();
    weft__seq seq;
    int rc = weft__wait_begin(t, deadline, 0, &seq);
    if (rc) {
        weft__spin_unlock(lock);
        return rc;
    }
    wt->task = t;
    wt->seq = seq;
    wt->err = 0;
    weft__wq_push(list, wt);
    weft__wait_timer(t, seq, deadline);
    rc = weft__park(seq, weft__spin_unlock_cb, lock, reason, obj);
    weft__wait_timer_cancel(t);
    if (rc < 0) {
        weft__spin_lock(lock);
        weft__wq_remove(list, wt);
        weft__spin_unlock(lock);
    }
    return rc;
}

static void yield_hook(weft__worker *w, void *a, void *b) {
    weft__task *t = a;
    t->state = TASK_RUNNABLE;
    runq_put(w, t);
}

/* weft_yield() but for its solo rotation (below). */
static __attribute__((noinline)) int yield_general(weft__worker *w, weft__task *t) {
    weft__runq *q = &w->runq;
    if (w->solo &&
        (atomic_load_explicit(&q->head, memory_order_relaxed) !=
             atomic_load_explicit(&q->tail, memory_order_relaxed) ||
         atomic_load_explicit(&w->runnext, memory_order_relaxed)) &&
        (atomic_load_explicit(&w->switches, memory_order_relaxed) & 63) != 63) {
        /* Solo, with another task at hand (so the pick below is not t) and
         * no poll due: t goes to the back of the queue before it is switched
         * out, with no after-switch hook, since no other thread takes from a
         * solo worker's queue (see runq_get) and this thread runs nothing
         * between here and the switch that saves t's stack pointer. */
        t->state = TASK_RUNNABLE;
        runq_put(w, t);
        switch_to(w, t, next_local(w), false);
        return 0;
    }
    /* NULL: through the scheduler loop, which picks us again if alone */
    weft__task *next = pick_from_task(w);
    w->hook = yield_hook;
    w->hook_a = t;
    switch_to(w, t, next, false);
    return 0;
}

int weft_yield(void) {
    weft__worker *w = weft__worker_self();
    weft__task *t = w ? w->current : NULL;
    if (!t) return WEFT_ENOTASK;
    if (atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;
    weft__runq *q = &w->runq;
    uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (w->solo && h != tl && tl - h < RUNQ_SIZE &&
        !atomic_load_explicit(&w->runnext, memory_order_relaxed) && w->gtick < 60 &&
        (atomic_load_explicit(&w->switches, memory_order_relaxed) & 63) != 63) {
        /* The solo rotation, what yield_general's solo case comes to when
         * the run-next slot is empty, the queue has room and no look at the
         * global queue is due: t to the back of the queue, its head to run
         * (next_local's pick, with the same counts). One load of each end. */
        w->gtick++;
        w->nexts = 0;
        t->state = TASK_RUNNABLE;
        atomic_store_explicit(&q->buf[tl % RUNQ_SIZE], t, memory_order_relaxed);
        atomic_store_explicit(&q->tail, tl + 1, memory_order_relaxed);
        weft__task *next = atomic_load_explicit(&q->buf[h % RUNQ_SIZE], memory_order_relaxed);
        atomic_store_explicit(&q->head, h + 1, memory_order_relaxed);
        switch_to(w, t, next, false);
        return 0;
    }
    return yield_general(w, t);
}

void weft__yield_sched(void) {
    weft__worker *w = weft__worker_self();
    weft__task *t = w->current;
    w->hook = yield_hook;
    w->hook_a = t;
    switch_to(w, t, NULL, false);
}

/* ---- task start and exit (the switching half; task.c has the rest) ---------- */

/* A new task: to the back of the spawner's queue, like a yield, so a
 * spawning loop keeps running and the spawned tasks are stealable; from
 * outside a task, to the global queue. */
void weft__ready_new_any(weft__worker *w, weft__task *t) {
    if (w && w->current) {
        t->state = TASK_RUNNABLE;
        runq_put(w, t);
        if (!w->solo) wakep(); /* solo: there is no other worker to wake */
    } else {
        ready_on(w, t, false, false);
    }
}

static void exit_hook(weft__worker *w, void *a, void *b) { weft__stack_put(w, (weft__task *)a); }

/* Entered from weft__task_trampoline on the task's own stack. */
__attribute__((noreturn)) void weft__task_main(void) {
    weft__worker *w = weft__worker_self();
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    after_switch(w);
    weft__task *t = w->current;
    weft__task_run(t);
    t->state = TASK_DONE;
    w = weft__worker_self();
    /* the scheduler loop notices when this was the last one (live_tasks) */
    weft__count_bump(&w->ended);
    weft__task *next = next_local(w);
    /* the slot goes back to this worker's own cache at once when it has
     * room: nothing takes from that cache before this thread's next spawn,
     * which comes after the switch off t's stack. Else (a spill to the
     * shared list, where another worker could take it) after the switch. */
    if (!weft__stack_put_here(w, t, true)) {
        w->hook = exit_hook;
        w->hook_a = t;
    }
    switch_to(w, t, next, true);
    __builtin_unreachable();
}

/* Wake t's current wait with WEFT_ECANCELED, unless it is a nocancel wait
 * (the caller has set t->canceled first: see park_hook for the other half). */
void weft__wake_canceled(weft__task *t) {
    uint64_t ws = atomic_load(&t->wstate);
    /* An ARMED wait is left to its owner (rt_int.h, "The hand-off park"):
     * wait until it parks or drops the wait. Its owner is running on a
     * worker and leaves ARMED within a few hundred instructions, taking no
     * lock a canceler holds (group, task-ref), so this ends; the yield is for
     * an owner whose thread the OS took off its CPU. */
    for (int n = 0; WS_STATE(ws) == WS_ARMED; ws = atomic_load(&t->wstate)) {
        if (++n < 64) {
            __builtin_ia32_pause();
        } else {
            sched_yield();
            n = 0;
        }
    }
    bool parked;
    /* only a PARKED word holds the wait's whole seq; an IDLE one has no wait
     * to wake, a WOKEN one is taken (and the next wait sees canceled) */
    if (WS_STATE(ws) == WS_PARKED &&
        weft__wake_cas(t, WS_SEQ(ws), WEFT_ECANCELED, true, &parked) && parked)
        weft__ready(t);
}

/* ---- the scheduler loop ----------------------------------------------------- */

/* Run-next is the hand-off slot: its owner is about to run it. A thief takes
 * it only when the owner has not switched for STEAL_NEXT_NS since the thief
 * first saw it there (the waker kept running), or the monitor flagged the
 * owner as stuck. */
#define STEAL_NEXT_NS 20000
static weft__task *steal_any(weft__worker *w) {
    int n = weft__R.nworkers;
    if (n < 2) return NULL;
    int64_t now = 0;
    uint32_t start = weft__rand(w) % (uint32_t)n;
    for (int i = 0; i < n; i++) {
        weft__worker *v = &weft__R.workers[(start + (uint32_t)i) % (uint32_t)n];
        if (v == w) continue;
        bool take_next = atomic_load_explicit(&v->stuck, memory_order_relaxed);
        if (!take_next && atomic_load_explicit(&v->runnext, memory_order_relaxed)) {
            uint64_t sw = atomic_load_explicit(&v->switches, memory_order_relaxed);
            if (!now) now = weft_now_ns();
            if (w->seen_sw[v->id] != sw || !w->seen_t[v->id]) {
                w->seen_sw[v->id] = sw;
                w->seen_t[v->id] = now;
            } else if (now - w->seen_t[v->id] > STEAL_NEXT_NS) {
                take_next = true;
            }
        }
        weft__task *t = runq_steal(w, v, take_next);
        if (t) return t;
    }
    return NULL;
}

/* The last look before sleeping, after this worker announced it sleeps.
 * Run-next slots count: a waker that filled one after our last steal attempt
 * may have seen us still awake and not woken anyone (the two sides' seq_cst
 * accesses guarantee one of us sees the other). */
static bool any_work(void) {
    if (atomic_load(&weft__R.glen) > 0) return true;
    for (int i = 0; i < weft__R.nworkers; i++) {
        weft__worker *v = &weft__R.workers[i];
        if (atomic_load(&v->runq.head) != atomic_load(&v->runq.tail) || atomic_load(&v->runnext))
            return true;
    }
    return false;
}

/* Sums of monotonic counters: two equal collects in a row mean none moved
 * between them, so the difference is the number of live tasks at that point.
 * The worker that ends the last task always reads a quiet pair (nothing can
 * move after it), so the runtime's end is never missed. */
static void collect(uint64_t *sp, uint64_t *en) {
    uint64_t a = atomic_load_explicit(&weft__R.spawned_ext, memory_order_acquire), b = 0;
    for (int i = 0; i < weft__R.nworkers; i++) {
        weft__worker *v = &weft__R.workers[i];
        b += atomic_load_explicit(&v->ended, memory_order_acquire);
        a += atomic_load_explicit(&v->spawned, memory_order_acquire);
    }
    *sp = a;
    *en = b;
}

int64_t weft__live_tasks(void) {
    uint64_t s1, e1, s2, e2;
    collect(&s1, &e1);
    collect(&s2, &e2);
    if (s1 != s2 || e1 != e2) return -1;
    return (int64_t)(s1 - e1);
}

static bool finished(void) {
    return atomic_load_explicit(&weft__R.running, memory_order_acquire) == 0;
}

void weft__sched_stop(void) {
    atomic_store(&weft__R.running, 0);
    for (int i = 0; i < weft__R.nworkers; i++) weft__worker_wake(&weft__R.workers[i]);
}

static void stop_spinning(weft__worker *w) {
    if (w->spinning) {
        w->spinning = 0;
        atomic_fetch_sub(&weft__R.nspinning, 1);
    }
}

static int timeout_ms(weft__worker *w) {
    int64_t next = atomic_load(&w->tnext);
    if (next == INT64_MAX) return -1;
    int64_t d = next - weft_now();
    if (d < 0) d = 0;
    return d > INT_MAX ? INT_MAX : (int)d;
}

/* Some worker has a task in its run-next slot and has not switched since we
 * first saw it there: keep spinning until steal_any may take it, since no
 * one else would wake us for it. */
static bool stalled_handoff(weft__worker *w) {
    for (int i = 0; i < weft__R.nworkers; i++) {
        weft__worker *v = &weft__R.workers[i];
        if (v == w || !atomic_load_explicit(&v->runnext, memory_order_relaxed)) continue;
        if (w->seen_t[i] &&
            w->seen_sw[i] == atomic_load_explicit(&v->switches, memory_order_relaxed))
            return true;
    }
    return false;
}

/* An idle worker spins looking for work before it sleeps, so bursts of
 * wake-ups find it awake (no eventfd write) and a hand-off left in a busy
 * worker's run-next slot can be taken. The budget adapts (each worker its
 * own, between SPIN_MIN_NS and SPIN_NS): a spin that found work doubles it,
 * one that ended in sleep halves it, so it settles where about half the
 * spins pay. Under steady light load (work every few hundred microseconds)
 * a fixed 50 us spin found nothing ~90 % of the time and was most of a
 * server's CPU: the GC case's readstates at 2,000 req/s spent ~50 of its
 * ~73 us per request spinning (docs/gc-case.md). Busy, the spins pay and
 * the budget stays at SPIN_NS. */
#define SPIN_NS 50000
#define SPIN_MIN_NS 3000

void weft__sched_loop(weft__worker *w) {
    int64_t spin_until = 0, spin_ns = SPIN_NS;
    for (;;) {
        if (finished()) break;
        weft__timers_run(w, weft_now());
        weft__R.io->poll(w, 0);
        weft__task *t = next_local(w);
        if (!t) t = steal_any(w);
        if (t) {
            if (w->spinning) {
                stop_spinning(w);
                wakep(); /* keep one spinner around while there is work */
            }
            /* found while spinning: the spin paid */
            if (spin_until && spin_ns < SPIN_NS) spin_ns *= 2;
            spin_until = 0;
            switch_to(w, NULL, t, false);
            continue;
        }
        if (atomic_load_explicit(&weft__R.main_spawned, memory_order_acquire) &&
            weft__live_tasks() == 0) {
            weft__sched_stop();
            break;
        }
        int64_t now = weft_now_ns();
        if (weft__stack_prepare(now)) {
            spin_until = 0; /* that was work: a fresh spin budget */
            continue;
        }
        if (!spin_until) spin_until = now + spin_ns;
        if (now < spin_until || stalled_handoff(w)) {
            for (int i = 0; i < 64; i++) __builtin_ia32_pause();
            continue;
        }
        spin_until = 0;
        if (spin_ns > SPIN_MIN_NS) spin_ns /= 2; /* the spin found nothing */
        stop_spinning(w);
        /* sleep: announce, re-check, block in the backend */
        atomic_store(&w->sleeping, 1);
        atomic_fetch_add(&weft__R.nidle, 1);
        if (any_work() || finished()) {
            int s = atomic_exchange(&w->sleeping, 0);
            atomic_fetch_sub(&weft__R.nidle, 1);
            if (s == 2) w->spinning = 1; /* a waker picked us as spinner meanwhile */
            spin_until = weft_now_ns();  /* no new spin budget: stalled_handoff decides */
            continue;
        }
        WEFT__STAT(WEFT__ST_SLEEP);
        int sleep_ms = timeout_ms(w), trim_ms = weft__stack_trim_due_ms(now);
        if (trim_ms >= 0 && (sleep_ms < 0 || trim_ms < sleep_ms)) sleep_ms = trim_ms;
        weft__R.io->poll(w, sleep_ms);
        int s = atomic_exchange(&w->sleeping, 0);
        atomic_fetch_sub(&weft__R.nidle, 1);
        if (s == 2) w->spinning = 1;
    }
    stop_spinning(w);
}

/* For the monitor (main.c), about a worker one task has held for over a
 * millisecond: if it has queued work, flag it stuck (so thieves may take its
 * run-next task), move its run-next task to the global queue and wake a
 * worker to take it. Returns whether it had queued work. */
bool weft__sched_unstick(weft__worker *w) {
    if (runq_empty(w)) return false;
    atomic_store_explicit(&w->stuck, 1, memory_order_relaxed);
    /* a solo worker's run-next is its own (no other worker could run it) */
    weft__task *t = w->solo ? NULL : atomic_load(&w->runnext);
    if (t && atomic_compare_exchange_strong(&w->runnext, &t, NULL)) {
        atomic_store_explicit(&w->handoff_local, 0, memory_order_relaxed); /* handoff_wakep */
        global_put(NULL, 0, 0, t);
    }
    wakep();
    return true;
}

/* ---- workers ------------------------------------------------------------------ */

int weft__worker_init(weft__worker *w) {
    weft__tls_worker = w;
    w->solo = weft__R.nworkers == 1;
    w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1) ^ (uint64_t)weft_now_ns();
    if (!w->rng) w->rng = 1;
#ifdef WEFT_TSAN
    w->tsan_sched_fiber = __tsan_get_current_fiber();
#endif
#ifdef WEFT_ASAN
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        pthread_attr_getstack(&attr, &addr, &size);
        w->asan_sched_bottom = addr;
        w->asan_sched_size = size;
        pthread_attr_destroy(&attr);
    }
#endif
    weft__debug_thread_init(w);
    return weft__R.io->init(w);
}

void weft__worker_fini(weft__worker *w) {
    weft__R.io->fini(w);
    weft__timers_free(w);
    weft__stack_cache_free(w);
    weft__debug_thread_fini(w);
    weft__tls_worker = NULL;
}

void *weft__worker_main(void *arg) {
    weft__worker *w = arg;
    int rc = weft__worker_init(w);
    if (rc) {
        weft_log_error("worker %d: I/O backend init failed: %s", w->id, weft_strerror(rc));
        abort();
    }
    weft__sched_loop(w);
    weft__worker_fini(w);
    return NULL;
}

/* ---- test hooks ------------------------------------------------------------------
 * For tests/unit/chan.c (wait_seq_*), which declares them itself: the tests
 * may not include this module's private header. They read and set the wait
 * sequence number of a task, and wake a task by seq as a stale waker would. */
void *weft__test_task_self(void) { return weft__task_self(); }
uint64_t weft__test_wait_seq(void *task) {
    return WS_SEQ(atomic_load(&((weft__task *)task)->wstate));
}
int weft__test_wait_state(void *task) {
    return (int)WS_STATE(atomic_load(&((weft__task *)task)->wstate));
}
/* The calling task's next wait gets seq + 1 (its word is IDLE: it runs). */
void weft__test_wait_seq_set(uint64_t seq) {
    weft__task *t = weft__task_self();
    WEFT_ASSERT(t && WS_STATE(atomic_load(&t->wstate)) == WS_IDLE);
    atomic_store(&t->wstate, WS_MAKE(seq, 0, WS_IDLE));
}
bool weft__test_wake(void *task, uint64_t seq, int result) {
    return weft__wake(task, seq, result);
}
