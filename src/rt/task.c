/*
 * task.c — tasks: spawn, the body's run and its defers, task queries,
 * cancellation and groups.
 *
 * The switching half of a task's start and exit (weft__task_main, the exit
 * hook, queueing a new task) is the scheduler's, in sched.c.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_int.h"
#include "weft/impl.h"

#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* ---- spawn, run, exit ------------------------------------------------------- */

static void group_join(weft_group *g, weft__task *t);
static void group_leave(weft_group *g, weft__task *t);

/* Ids come from the global counter in blocks of 1024 per worker: unique,
 * never reused, one atomic per 1024 spawns. */
static inline uint64_t next_task_id(weft__worker *w) {
    if (!w) return atomic_fetch_add_explicit(&weft__R.next_id, 1, memory_order_relaxed);
    if (w->id_next == w->id_end) {
        w->id_next = atomic_fetch_add_explicit(&weft__R.next_id, 1024, memory_order_relaxed);
        w->id_end = w->id_next + 1024;
    }
    return w->id_next++;
}

/* Fill in a new task on the stack slot t and queue it. */
static inline __attribute__((always_inline)) int go_start(weft__worker *w, weft__task *t,
                                                          weft_fn fn, void *arg,
                                                          const weft_task_opts *opts) {
    /* ndefer, defers, defer_cap, wait_reason and timer.idx hold their idle
     * values (rt_int.h): only the first two lines of the TCB are written */
    t->fn = fn;
    t->arg = arg;
    t->id = next_task_id(w);
    atomic_store_explicit(&t->canceled, 0, memory_order_relaxed);
    t->nocancel = 0;
    t->group = NULL;
    if (opts && opts->name) {
        strncpy(t->name, opts->name, sizeof t->name - 1);
        t->name[sizeof t->name - 1] = 0;
    } else {
        t->name[0] = 0;
    }
    /* initial frame for weft__ctx_switch: 6 registers, trampoline, zeros.
     * The registers are left as they are: the trampoline clears rbp and
     * weft__task_main, a C function that never returns, reads no other
     * callee-saved register before writing it. So the frame's stores fall in
     * the one cache line below the (64-byte aligned) TCB. */
    uintptr_t top = ((uintptr_t)t) & ~(uintptr_t)15;
    void **sp = (void **)(top - 72);
    sp[6] = (void *)weft__task_trampoline;
    sp[7] = NULL;
    sp[8] = NULL;
    t->sp = sp;
#ifdef WEFT_TSAN
    /* one fiber per stack slot, kept across tasks: creating one per task
     * costs TSan a thread state each time */
    if (!t->tsan_fiber) t->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef WEFT_ASAN
    t->asan_fake = NULL;
#endif
    if (opts && opts->group) {
        weft_group *g = opts->group;
        weft__spin_lock(&g->lock);
        if (g->canceled) {
            weft__spin_unlock(&g->lock);
            weft__stack_put(w, t);
            return WEFT_ECANCELED;
        }
        group_join(g, t);
        weft__spin_unlock(&g->lock);
    }
    weft__count_spawn(w);
    weft__ready_new(w, t);
    return 0;
}

/* Why a spawn is refused now, or 0. */
static inline int go_refused(weft_fn fn) {
    if (!fn) return WEFT_EINVAL;
    if (!atomic_load_explicit(&weft__R.running, memory_order_acquire) ||
        atomic_load_explicit(&weft__R.shutting_down, memory_order_relaxed))
        return WEFT_ESHUTDOWN;
    return 0;
}

int weft_go_opts(weft_fn fn, void *arg, const weft_task_opts *opts) {
    int rc = go_refused(fn);
    if (rc) return rc;
    /* weft_main() checked the default against the same minimum */
    size_t ss = weft__R.stack_size;
    if (opts && opts->stack_size) ss = opts->stack_size < (16u << 10) ? 16u << 10 : opts->stack_size;
    weft__worker *w = weft__worker_self();
    weft__task *t = weft__stack_get(w, ss);
    if (!t) return WEFT_ENOMEM;
    return go_start(w, t, fn, arg, opts);
}

/* The common spawn: from a task, a stack from its worker's cache. Anything
 * else goes the general way (weft_go_opts, checking again), by a tail call:
 * the fast path then makes no call after which it needs a value, so it
 * saves no callee-saved register (callgrind, spawn_ns: weft_go's own
 * instructions 93 -> 79 per spawn). */
int weft_go(weft_fn fn, void *arg) {
    int rc = go_refused(fn);
    if (rc) return rc;
    weft__worker *w = weft__worker_self();
    weft__task *t = w ? weft__stack_pop_default(w) : NULL;
    if (WEFT_UNLIKELY(!t)) return weft_go_opts(fn, arg, NULL);
    return go_start(w, t, fn, arg, NULL);
}

static void run_defers(weft__task *t) {
    t->nocancel++;
    while (t->ndefer > 0) {
        weft__defer d = t->defers[--t->ndefer];
        d.fn(d.arg);
    }
    if (t->defers != t->defers_inline) {
        free(t->defers);
        t->defers = t->defers_inline; /* the idle values (rt_int.h) */
        t->defer_cap = WEFT__DEFER_INLINE;
    }
    t->nocancel--;
}

void weft__task_finish(weft__task *t) {
    if (t->ndefer || t->defers != t->defers_inline) run_defers(t);
    if (t->group) group_leave(t->group, t);
}

int weft_defer(void (*fn)(void *), void *arg) {
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (!fn) return WEFT_EINVAL;
    if (t->ndefer == t->defer_cap) {
        int cap = t->defer_cap * 2;
        weft__defer *d = malloc(sizeof *d * (size_t)cap);
        if (!d) return WEFT_ENOMEM;
        memcpy(d, t->defers, sizeof *d * (size_t)t->ndefer);
        if (t->defers != t->defers_inline) free(t->defers);
        t->defers = d;
        t->defer_cap = cap;
    }
    t->defers[t->ndefer++] = (weft__defer){fn, arg};
    return 0;
}

int weft_undefer(void (*fn)(void *), void *arg) {
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    for (int i = t->ndefer - 1; i >= 0; i--) {
        if (t->defers[i].fn != fn || t->defers[i].arg != arg) continue;
        memmove(&t->defers[i], &t->defers[i + 1], sizeof *t->defers * (size_t)(t->ndefer - i - 1));
        t->ndefer--;
        return 0;
    }
    return WEFT_ENOENT;
}

const char *weft_task_name(void) {
    weft__task *t = weft__task_self();
    return t ? t->name : NULL;
}
uint64_t weft_task_id(void) {
    weft__task *t = weft__task_self();
    return t ? t->id : 0;
}
int weft_canceled(void) {
    weft__task *t = weft__task_self();
    return t ? atomic_load(&t->canceled) : 0;
}
int weft_in_task(void) { return weft__task_self() != NULL; }

/* ---- cancellation and groups ----------------------------------------------- */

void weft__cancel_task(weft__task *t) {
    atomic_store(&t->canceled, 1);
    weft__wake_canceled(t);
}

void weft_group_init(weft_group *g) {
    if (g) memset(g, 0, sizeof *g);
}

/* The caller holds g->lock. */
static void group_join(weft_group *g, weft__task *t) {
    WEFT_ASSERT_HELD(&g->lock);
    weft__task *h = g->tasks;
    t->group = g;
    t->gprev = NULL;
    t->gnext = h;
    if (h) h->gprev = t;
    g->tasks = t;
    g->count++;
}

static void group_leave(weft_group *g, weft__task *t) {
    weft__spin_lock(&g->lock);
    if (t->gprev)
        t->gprev->gnext = t->gnext;
    else
        g->tasks = t->gnext;
    if (t->gnext) t->gnext->gprev = t->gprev;
    t->group = NULL;
    weft__task *chain = NULL;
    if (--g->count == 0) {
        weft__waiter *wt;
        while ((wt = weft__claim_waiter((weft__waiter **)&g->waiters, 0)))
            weft__chain(&chain, wt->task);
    }
    weft__spin_unlock(&g->lock);
    weft__ready_chain(chain); /* the group may be gone once they run */
}

int weft_group_go(weft_group *g, weft_fn fn, void *arg, const char *name) {
    if (!g) return WEFT_EINVAL;
    weft_task_opts o = {.name = name, .group = g};
    return weft_go_opts(fn, arg, &o);
}

void weft_group_cancel(weft_group *g) {
    if (!g) return;
    weft__spin_lock(&g->lock);
    g->canceled = 1;
    for (weft__task *t = g->tasks; t; t = t->gnext) weft__cancel_task(t);
    weft__spin_unlock(&g->lock);
}

int weft_group_wait(weft_group *g, int64_t deadline) {
    if (!g) return WEFT_EINVAL;
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (atomic_load_explicit(&t->canceled, memory_order_relaxed) && !t->nocancel)
        return WEFT_ECANCELED;
    weft__spin_lock(&g->lock);
    if (g->count == 0) {
        g->canceled = 0; /* reusable */
        weft__spin_unlock(&g->lock);
        return 0;
    }
    weft__waiter wt = {0};
    int rc = weft__wait_on(&g->lock, (weft__waiter **)&g->waiters, &wt, deadline, "group wait", g);
    if (rc == 0) {
        weft__spin_lock(&g->lock);
        if (g->count == 0) g->canceled = 0;
        weft__spin_unlock(&g->lock);
    }
    return rc;
}

int64_t weft_group_count(weft_group *g) {
    if (!g) return 0;
    weft__spin_lock(&g->lock);
    int64_t n = g->count;
    weft__spin_unlock(&g->lock);
    return n;
}

/* ---- the module authors' tier (weft/impl.h) ------------------------------- */

int weft_nocancel_begin(void) {
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    int prev = t->nocancel;
    t->nocancel = prev + 1;
    return prev;
}

int weft_nocancel_end(int prev) {
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (prev < 0) return WEFT_EINVAL;
    t->nocancel = prev;
    return 0;
}

/* A reference is shared by the task (until its last cleanup) and by its
 * holder. `task` is cleared under `lock` by the task's own cleanup, which
 * runs before the task ends and its slot can be reused; a cancel takes the
 * same lock, so it either sees the task still running or sees NULL. */
struct weft_task_ref {
    uint32_t lock;
    _Atomic int refs;
    weft__task *task; /* NULL once the task has run its cleanups */
    uint64_t id;
};

static void task_ref_put(weft_task_ref *r) {
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) free(r);
}

/* The task's cleanup for a reference: it runs last of all (see below). */
static void task_ref_end(void *arg) {
    weft_task_ref *r = arg;
    weft__spin_lock(&r->lock);
    r->task = NULL;
    weft__spin_unlock(&r->lock);
    task_ref_put(r);
}

weft_task_ref *weft_task_ref_self(int *err) {
    weft__task *t = weft__task_self();
    int rc = 0;
    weft_task_ref *r = NULL;
    if (!t) {
        rc = WEFT_ENOTASK;
        goto out;
    }
    r = malloc(sizeof *r);
    if (!r) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    r->lock = 0;
    atomic_init(&r->refs, 2);
    r->task = t;
    r->id = t->id;
    /* At the bottom of the cleanup stack, so it runs after every cleanup
     * registered before or after it: "ended" means nothing of the task
     * runs any more. */
    if ((rc = weft_defer(task_ref_end, r))) {
        free(r);
        r = NULL;
        goto out;
    }
    weft__defer last = t->defers[t->ndefer - 1];
    memmove(&t->defers[1], &t->defers[0], sizeof *t->defers * (size_t)(t->ndefer - 1));
    t->defers[0] = last;
out:
    if (err) *err = rc;
    return r;
}

int weft_task_ref_cancel(weft_task_ref *r) {
    if (!r) return WEFT_EINVAL;
    weft__spin_lock(&r->lock);
    weft__task *t = r->task;
    if (t) weft__cancel_task(t);
    weft__spin_unlock(&r->lock);
    return t ? 0 : WEFT_ENOENT;
}

int weft_task_ref_ended(const weft_task_ref *r) {
    if (!r) return 1;
    weft_task_ref *m = (weft_task_ref *)r;
    weft__spin_lock(&m->lock);
    int ended = m->task == NULL;
    weft__spin_unlock(&m->lock);
    return ended;
}

uint64_t weft_task_ref_id(const weft_task_ref *r) { return r ? r->id : 0; }

void weft_task_ref_release(weft_task_ref *r) {
    if (r) task_ref_put(r);
}
