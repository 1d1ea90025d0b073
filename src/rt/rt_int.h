/*
 * rt_int.h — the runtime's internals, shared by the files of src/rt/.
 *
 * The life of a task
 * ------------------
 * A task is a stack slot cut from a large slab (stack.c). The top of the slot
 * holds the task control block (weft__task), the bottom page is a guard
 * installed with MADV_GUARD_INSTALL, and the stack grows down from the TCB.
 * Slabs are never unmapped, so a pointer to a TCB stays readable forever; a
 * late waker holding a stale pointer is fenced off by the wait sequence
 * number (below), not by the memory disappearing.
 *
 * Workers
 * -------
 * One OS thread per worker (the thread that called weft_main() is worker 0).
 * Each worker owns: a run queue (1024-slot ring, stealable), a "run next" slot
 * for the task it just woke, a timer heap, an I/O backend instance (its own
 * io_uring ring or epoll fd) and an eventfd that other threads write to wake
 * it when it sleeps. A worker's scheduler loop runs on the thread's own stack
 * ("scheduler context"); tasks switch directly to one another when the next
 * task is at hand, and through the scheduler context otherwise.
 *
 * Parking and waking (the one protocol every wait uses)
 * -----------------------------------------------------
 * t->wstate packs (seq:61 | nocancel:1 | state:2) while a wait is IDLE,
 * ARMED or PARKED, and (result:32 | seq's low 29 bits | nocancel | state)
 * once WOKEN: the result needs the high word only when no waker can match
 * any more, so a waker compares all 61 bits of the seq (it would take 2^61
 * waits of one task, decades at a wait per nanosecond, for an old seq to
 * come round again), and the owner writes its whole seq back when it moves
 * a WOKEN wait to IDLE (weft__park is given the seq for that). A task that
 * is about to wait calls weft__wait_begin(), which checks cancellation and
 * the deadline, bumps seq and sets ARMED; it then puts itself on whatever
 * lists it waits on (a channel's queue, a timer, an fd), remembering seq,
 * and calls weft__park(). Wakers call weft__wake(t, seq,
 * result): one CAS decides the single winner, so a timer, a channel and a
 * cancel racing for the same task never wake it twice, and a waker from an
 * older wait (seq mismatch) does nothing. The switch away completes before the
 * task becomes runnable: weft__park() switches first and the *next* context
 * runs the "after switch" hook, which releases the caller's lock (if any) and
 * moves ARMED -> PARKED. A waker that found ARMED marks the wait WOKEN and the
 * hook then readies the task itself; a waker that found PARKED readies it.
 * The exception is cancellation: weft__wake_canceled() waits for an ARMED
 * wait to be parked or dropped, and wakes it only then (see "The hand-off
 * park" below for why).
 * Lock-holding wakers (channels, sync) always see PARKED or WOKEN, because the
 * lock is released only after the state moved to PARKED. A wait armed with
 * nocancel (the task has cancellation masked: t->nocancel > 0, from
 * weft_nocancel_begin() or while its cleanups run) is woken by anything but
 * weft__cancel_task().
 *
 * The hand-off park (channels: weft__park_handoff)
 * ------------------------------------------------
 * The park hook's CAS (ARMED -> PARKED) is a locked instruction on every
 * park; a channel ping-pong parks twice per round trip. A channel wait
 * without a deadline goes without it, on three rules:
 *  1. Nobody but its owner changes an ARMED wait of this kind. Its possible
 *     wakers are channel wakers, which hold the channel's lock (and the hook
 *     releases it only after PARKED), and cancellation; there is no timer.
 *     weft__wake_canceled() never CASes an ARMED wait: it waits until the
 *     owner parks (or drops the wait) and then wakes a PARKED one. So the
 *     hook may publish PARKED with a plain release store.
 *  2. The hook no longer re-reads t->canceled, so the Dekker pair with a
 *     canceler (which stores canceled, a locked instruction, then loads
 *     wstate) needs another full barrier between the owner's ARMED store
 *     and its canceled load. The channel op arms *before* taking the
 *     channel's lock and reads canceled after: on x86-64 the lock's XCHG
 *     orders the earlier store before the later load (a port to a weaker
 *     CPU puts atomic_thread_fence(seq_cst) there: chan.c, prearm). Either
 *     the canceler's load sees ARMED (and wakes the wait once PARKED), or the
 *     owner's load sees canceled (and returns WEFT_ECANCELED unparked).
 *  3. An op that completes without parking drops its arming with a plain
 *     store back to IDLE, which rule 1 makes safe too; the seq it used is
 *     never listed anywhere, so no waker can name it.
 * What the exchange buys: one locked instruction fewer per blocking channel
 * op; a waker that is not a canceler never sees the difference.
 * On a single worker (w->solo) the parking task publishes PARKED and
 * releases the lock itself, after picking its successor and before its
 * switch, with no hook: a waker on another thread (not a worker, or a
 * canceler) can then claim it, but only queue it for this one worker, which
 * resumes it after the switch (sched.c, park_with).
 *
 * Files
 * -----
 * sched.c: the scheduler core (run queues, stealing, switching, parking and
 * waking, the scheduler loop, workers); task.c: spawn, the task's body and
 * cleanups, task queries, cancellation, groups, and the task half of
 * weft/impl.h; main.c: weft_main(), weft_shutdown(), the starvation monitor.
 * timer.c, stack.c, chan.c, sync.c, io*.c, blocking.c, debug.c as named.
 * Modules outside src/rt/ never include this header: what they need of the
 * runtime is in weft/impl.h.
 *
 * Thread-locals
 * -------------
 * A task may resume on another thread after any suspension, and compilers
 * cache the address of a __thread variable within a function. The runtime
 * therefore reads its worker pointer only through weft__worker_self(), a
 * volatile asm load from the thread pointer that cannot be cached across a
 * switch.
 */
#ifndef WEFT_RT_INT_H
#define WEFT_RT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/log.h"
#include "weft/impl.h"
#include "weft/rt.h"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

/* WEFT_ASSERT comes from weft/base.h. Checks that would cost the fast path
 * more than a branch (recording which thread holds a spinlock) are compiled
 * only where WEFT__LOCK_OWNER is set: the ASan and TSan builds every test
 * runs under, or -DWEFT_DEBUG. The plain -O2 build, the one benchmarked,
 * goes without them. */
#if (defined(WEFT_ASAN) || defined(WEFT_TSAN) || defined(WEFT_DEBUG)) && !defined(NDEBUG)
#define WEFT__LOCK_OWNER 1
#endif

/* For code that reads other threads' tasks on purpose, without locks: the
 * task dump, the monitor, io_uring's stale-remove check. The TCB and stack
 * memory never goes away (stack.c), but its contents may be another task's
 * by then, so neither TSan (race) nor ASan (stale redzones) may judge it. */
#if defined(__clang__)
#define WEFT_NO_TSAN __attribute__((no_sanitize("thread", "address")))
#elif defined(WEFT_TSAN) || defined(WEFT_ASAN)
#define WEFT_NO_TSAN __attribute__((no_sanitize_thread, no_sanitize_address))
#else
#define WEFT_NO_TSAN
#endif

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT_CACHELINE 64

typedef struct weft__task weft__task;
typedef struct weft__worker weft__worker;

/* ---- spinlock: held only for a few instructions, never across a switch ---
 * (weft__park releases the caller's lock after the switch, but on the same
 * thread, in the next context's after-switch hook). The lock word is 0 when
 * free; when held it is 1, or with WEFT__LOCK_OWNER the holding thread's tag,
 * so that WEFT_ASSERT_HELD(l) can check "the caller holds l" where code
 * relies on it, and unlocking a lock another thread holds is caught. */
#ifdef WEFT__LOCK_OWNER
extern __thread uint32_t weft__tls_lock_tag __attribute__((tls_model("initial-exec")));
uint32_t weft__lock_tag_new(void);
/* This thread's tag (never 0). A volatile asm read, like weft__worker_self():
 * a task that locks, parks and locks again on another thread must not reuse
 * a cached thread-local address. */
static inline uint32_t weft__lock_tag(void) {
    uint32_t v;
    __asm__ volatile("movq weft__tls_lock_tag@gottpoff(%%rip), %%rax\n\tmovl %%fs:(%%rax), %0"
                     : "=r"(v)
                     :
                     : "rax");
    return v ? v : weft__lock_tag_new();
}
#define WEFT_ASSERT_HELD(l)                                                                        \
    (__atomic_load_n((l), __ATOMIC_RELAXED) == weft__lock_tag()                                    \
         ? (void)0                                                                                 \
         : weft__assert_fail("the caller holds " #l, __FILE__, __LINE__))
#else
#define WEFT_ASSERT_HELD(l) ((void)sizeof(l))
#endif

/* Acquire: the plain build swaps in 1 (a failed swap writes 1 over 1); with
 * owners a failed attempt must not overwrite the holder's tag, so it takes
 * the lock with a compare-and-swap from 0 instead. */
static inline bool weft__spin_try(uint32_t *l) {
#ifdef WEFT__LOCK_OWNER
    uint32_t free_ = 0;
    return __atomic_compare_exchange_n(l, &free_, weft__lock_tag(), false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
#else
    return !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);
#endif
}
/* The contended half of weft__spin_lock, out of line: inlined, its loop and
 * its call kept the fast paths' values in the stack frame instead of
 * registers (callgrind: a channel op spilled and reloaded several). */
void weft__spin_lock_slow(uint32_t *l);
static inline void weft__spin_lock(uint32_t *l) {
    if (WEFT_LIKELY(weft__spin_try(l))) return;
    weft__spin_lock_slow(l);
}
static inline void weft__spin_unlock(uint32_t *l) {
    WEFT_ASSERT_HELD(l);
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* ---- wait state: seq:61 | nocancel:1 | state:2 (IDLE, ARMED, PARKED);
 * result:32 | seq & WS_SEQ_LO:29 | nocancel:1 | state:2 (WOKEN) ----------- */
enum { WS_IDLE = 0, WS_ARMED = 1, WS_PARKED = 2, WS_WOKEN = 3 };
typedef uint64_t weft__seq; /* a wait's sequence number, 61 bits used */
#define WS_SEQ_MASK ((1ull << 61) - 1)
#define WS_SEQ_LO 0x1fffffffull
#define WS_STATE(w) ((uint32_t)(w)&3u)
#define WS_NC(w) (((uint32_t)(w) >> 2) & 1u)
/* the whole seq of an IDLE, ARMED or PARKED word (of a WOKEN one: garbage) */
#define WS_SEQ(w) ((uint64_t)(w) >> 3)
/* the result of a WOKEN word */
#define WS_RESULT(w) ((int32_t)((uint64_t)(w) >> 32))
#define WS_MAKE(seq, nc, st)                                                                       \
    ((((uint64_t)(seq)&WS_SEQ_MASK) << 3) | ((uint64_t)(nc) << 2) | (uint64_t)(st))
#define WS_MAKE_WOKEN(res, seq, nc)                                                                \
    (((uint64_t)(uint32_t)(res) << 32) | (((uint64_t)(seq)&WS_SEQ_LO) << 3) |                      \
     ((uint64_t)(nc) << 2) | (uint64_t)WS_WOKEN)

/* A task waiting on a list (channel queues, sync primitives, groups, fds).
 * Lives in the waiting task's frame. Lists are circular and doubly linked
 * from a single head pointer, so a public struct needs only a void *. */
typedef struct weft__waiter {
    struct weft__waiter *next, *prev;
    weft__task *task;
    weft__seq seq;
    int idx; /* select: case index (the wake result); 0 for plain ops */
    int err; /* OUT: 0 or WEFT_ECLOSED, written by the waker after claiming */
    int events;
    void *val; /* channel element source (send) or destination (recv) */
} weft__waiter;

static inline void weft__wq_push(weft__waiter **head, weft__waiter *w) {
    weft__waiter *h = *head;
    if (!h) {
        w->next = w->prev = w;
        *head = w;
    } else {
        w->prev = h->prev;
        w->next = h;
        h->prev->next = w;
        h->prev = w;
    }
}
static inline void weft__wq_remove(weft__waiter **head, weft__waiter *w) {
    if (!w->next) return; /* not linked */
    if (w->next == w) {
        *head = NULL;
    } else {
        w->prev->next = w->next;
        w->next->prev = w->prev;
        if (*head == w) *head = w->next;
    }
    w->next = w->prev = NULL;
}
static inline weft__waiter *weft__wq_pop(weft__waiter **head) {
    weft__waiter *w = *head;
    if (w) weft__wq_remove(head, w);
    return w;
}

/* Task life states, for dumps. */
enum { TASK_FREE = 0, TASK_RUNNABLE, TASK_RUNNING, TASK_PARKED, TASK_DONE };

typedef struct weft__defer {
    void (*fn)(void *);
    void *arg;
} weft__defer;

#define WEFT__DEFER_INLINE 4

/* A timer entry in a worker's heap (lives in the waiting task's frame or TCB). */
typedef struct weft__timer {
    int64_t when;                          /* absolute ms */
    int32_t idx;                           /* heap index, -1 when not in a heap */
    weft__seq seq;                         /* wait seq to wake */
    weft__task *task;                      /* task to wake with WEFT_ETIMEDOUT */
    weft__worker *owner;                   /* heap it is in */
} weft__timer;

struct weft__task {
    /* Line 0 and 1 (the TCB is 64-byte aligned): what a spawn writes and a
     * switch reads. A spawn on a recycled stack writes no other line of the
     * TCB: the fields below keep their idle values between tasks (set when
     * the slot is carved, restored by the task's exit). */
    void *sp;         /* saved stack pointer (weft__ctx_switch stores/loads it) */
    weft__task *next; /* global queue / free list link */
    _Atomic uint64_t wstate;
    _Atomic int canceled;
    int state;    /* TASK_*, for dumps (racy reads are fine) */
    int nocancel; /* >0: suspending calls ignore cancellation (cleanups, weft_nocancel_begin) */
    int ndefer;   /* idle: 0 */
    weft_fn fn;
    void *arg;
    uint64_t id;
    char name[32];
    weft_group *group;
    weft__defer *defers; /* defers_inline or a malloc'd array; idle: defers_inline */
    int defer_cap;       /* idle: WEFT__DEFER_INLINE */
    /* Set when the slot is carved. Both in line 1: a spawn reads guarded
     * (the canary of an unguarded stack) and an exit reads size_class, and
     * neither should cost a miss on a third line of the TCB. */
    int16_t size_class;
    int16_t guarded; /* guard page installed */
    char *stack_lo;  /* lowest usable byte (above the guard) */
    /* Line 2 on */
    size_t stack_size; /* usable bytes from stack_lo to the TCB */
    const char *wait_reason; /* what it is parked on, for dumps; idle: NULL */
    const void *wait_obj;
    weft__task *gnext, *gprev;
    weft__timer timer; /* the task's deadline timer (one wait at a time); idle: idx -1 */
    weft__defer defers_inline[WEFT__DEFER_INLINE];
#ifdef WEFT_TSAN
    void *tsan_fiber;
#endif
#ifdef WEFT_ASAN
    void *asan_fake;
#endif
};
_Static_assert(offsetof(struct weft__task, name) + 32 <= 128 &&
                   offsetof(struct weft__task, stack_lo) + 8 <= 128 &&
                   offsetof(struct weft__task, guarded) + 2 <= 128 &&
                   offsetof(struct weft__task, size_class) + 2 <= 128,
               "the fields a spawn and an exit touch fit the TCB's first two cache lines");

/* ---- run queue (per worker) --------------------------------------------- */
#define RUNQ_SIZE 1024
typedef struct weft__runq {
    _Atomic uint32_t head; /* consumers CAS */
    _Atomic uint32_t tail; /* owner only */
    weft__task *_Atomic buf[RUNQ_SIZE];
} weft__runq;

/* ---- I/O backend (io_uring.c / io_epoll.c behind one interface) --------- */
typedef struct weft__io_ops {
    const char *name;
    int (*init)(weft__worker *w);
    void (*fini)(weft__worker *w);
    /* Park the calling task until fd has events, the deadline passes or the
     * task is cancelled. Returns ready events (> 0) or a negative code. */
    int (*wait_fd)(weft__worker *w, int fd, int events, int64_t deadline);
    /* Reap completions and ready their tasks; block up to timeout_ms (-1 = no
     * limit, 0 = don't block) when nothing is pending. Returns tasks readied. */
    int (*poll)(weft__worker *w, int timeout_ms);
    /* weft_send_async() on the calling worker's ring (weft/impl.h); NULL
     * when the backend has none (epoll) */
    int (*send)(weft__worker *w, int fd, const void *buf, size_t n, weft_send_done_fn *done,
                void *ud);
} weft__io_ops;

extern const weft__io_ops weft__io_uring_ops;
extern const weft__io_ops weft__io_epoll_ops;
int weft__io_uring_probe(void);

/* ---- worker -------------------------------------------------------------- */
struct weft__worker {
    weft__runq runq;
    weft__task *_Atomic runnext;
    _Alignas(WEFT_CACHELINE) int id;
    pthread_t thread;
    void *sched_sp;      /* scheduler context's saved sp */
    weft__task *current; /* running task, NULL in the scheduler context */
    /* the after-switch hook, set by the context that switches away */
    void (*hook)(weft__worker *w, void *a, void *b);
    void *hook_a, *hook_b;
    uint32_t gtick;            /* picks since the last look at the global queue (next_local) */
    uint64_t id_next, id_end;  /* block of task ids reserved by this worker */
    uint32_t nexts;            /* consecutive runnext picks (fairness) */
    /* the only worker: nobody steals, so the owner's run queue and run-next
     * operations need no locked instruction (sched.c, "Solo") */
    int solo;
    /* run-next hand-offs this worker took itself, in a row (saturating;
     * sched.c, handoff_wakep): written by the owner, zeroed by a thief or
     * the monitor that had to take one */
    _Atomic uint32_t handoff_local;
    _Atomic uint64_t switches; /* for the starvation monitor */
    /* tasks spawned on / ended on this worker: written by the owner only
     * (no locked instruction on spawn and exit), summed by weft__live_tasks() */
    _Atomic uint64_t spawned, ended;
    _Atomic int stuck;         /* monitor: one task has held this worker > 1 ms */
    int spinning;
    _Atomic int sleeping;
    int wakefd; /* eventfd other threads write to wake this worker */
    uint64_t rng;
    /* timers */
    uint32_t tlock;
    weft__timer **theap;
    int tlen, tcap;
    _Atomic int64_t tnext; /* earliest timer, INT64_MAX if none */
    /* I/O backend state */
    void *io;
    /* stack caches per size class */
    struct weft__stack_cache *scache;
    /* sanitizer state of the scheduler context */
#ifdef WEFT_TSAN
    void *tsan_sched_fiber;
#endif
#ifdef WEFT_ASAN
    const void *asan_sched_bottom;
    size_t asan_sched_size;
    void *asan_sched_fake;
#endif
    uint64_t *seen_sw; /* per victim: switch count when first seen with a run-next */
    int64_t *seen_t;   /* ... and when (steal_any) */
    void *altstack;
};

/* ---- what the fast paths rely on, checked by the compiler ----------------- */

/* Every switch, park, wake and wait_begin touches these task fields: they
 * share the TCB's first cache line (the slot's TCB is 64-aligned, stack.c). */
_Static_assert(offsetof(weft__task, nocancel) + sizeof(int) <= WEFT_CACHELINE,
               "sp, next, wstate, canceled, state and nocancel must fit the TCB's first line");
/* A waiter lives in the waiting task's frame, next to what it waits for. */
_Static_assert(sizeof(weft__waiter) <= WEFT_CACHELINE, "a waiter must fit one cache line");
/* The wait state word: one 64-bit CAS decides every wake. */
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(uint64_t) == 8, "wstate is one word");
_Static_assert(WS_STATE(WS_MAKE(WS_SEQ_MASK, 1, WS_PARKED)) == WS_PARKED &&
                   WS_NC(WS_MAKE(WS_SEQ_MASK, 1, WS_PARKED)) == 1 &&
                   WS_SEQ(WS_MAKE(WS_SEQ_MASK, 1, WS_PARKED)) == WS_SEQ_MASK &&
                   WS_SEQ(WS_MAKE(WS_SEQ_MASK + 1, 0, WS_ARMED)) == 0 &&
                   WS_STATE(WS_MAKE_WOKEN(-1, WS_SEQ_MASK, 1)) == WS_WOKEN &&
                   WS_NC(WS_MAKE_WOKEN(-1, WS_SEQ_MASK, 1)) == 1 &&
                   (WS_SEQ(WS_MAKE_WOKEN(-1, WS_SEQ_MASK, 1)) & WS_SEQ_LO) == WS_SEQ_LO &&
                   WS_RESULT(WS_MAKE_WOKEN(-1, WS_SEQ_MASK, 1)) == -1 &&
                   WS_RESULT(WS_MAKE_WOKEN(WEFT_ECANCELED, 0, 0)) == WEFT_ECANCELED,
               "the wstate fields must not overlap");
/* weft__claim builds the WOKEN word from the PARKED one's low 32 bits. */
_Static_assert(((WS_MAKE(WS_SEQ_MASK, 1, WS_PARKED) & 0xffffffffull) | WS_WOKEN) ==
                   (WS_MAKE_WOKEN(0, WS_SEQ_MASK, 1) & 0xffffffffull),
               "a PARKED word's low 32 bits are a WOKEN word's, but for the state");
/* Run queue positions are free-running uint32_t: slot = pos % RUNQ_SIZE
 * stays right across the wrap at 2^32 only for a power of two. */
_Static_assert(RUNQ_SIZE > 0 && (RUNQ_SIZE & (RUNQ_SIZE - 1)) == 0,
               "RUNQ_SIZE must be a power of two");
/* Thieves write the head, the owner the tail and the slots: the worker's own
 * fields start on a fresh line. */
_Static_assert(offsetof(weft__worker, id) % WEFT_CACHELINE == 0,
               "the worker's private fields must not share the run queue's last line");

/* ---- scheduler counters (-DWEFT_SCHED_STATS only) --------------------------
 * Where a second worker's cost comes from: how often workers are woken
 * through their eventfd, steal, take a run-next task from another worker,
 * go to sleep, and how often a run-next hand-off skipped its wake-up
 * (sched.c, handoff_wakep). Relaxed adds on shared counters: a debugging
 * build only, printed to stderr when weft_main() returns. The plain build
 * compiles them to nothing. */
#ifdef WEFT_SCHED_STATS
enum { WEFT__ST_WAKE, WEFT__ST_STEAL, WEFT__ST_STEAL_NEXT, WEFT__ST_SLEEP,
       WEFT__ST_HANDOFF_SKIP, WEFT__ST_N };
extern _Atomic uint64_t weft__sched_stats[WEFT__ST_N];
#define WEFT__STAT(k) atomic_fetch_add_explicit(&weft__sched_stats[k], 1, memory_order_relaxed)
void weft__sched_stats_print(void);
#else
#define WEFT__STAT(k) ((void)0)
#define weft__sched_stats_print() ((void)0)
#endif

/* ---- runtime-wide state -------------------------------------------------- */
typedef struct weft__rt {
    weft__worker *workers;
    int nworkers;
    size_t stack_size;
    int starve_ms;
    const weft__io_ops *io;
    _Atomic int running;
    _Atomic int shutting_down;
    _Atomic uint64_t spawned_ext; /* tasks spawned from threads that are not workers */
    _Atomic int main_spawned;     /* the live count means something only from then on */
    _Atomic uint64_t next_id;
    /* global run queue (sched.c): a ring of gring tasks from gfirst, then
     * an overflow list ghead..gtail; glen counts both */
    uint32_t glock;
    size_t gfirst, gring;
    weft__task *ghead, *gtail;
    _Atomic int64_t glen;
    /* idle workers */
    _Atomic int nidle;
    _Atomic int nspinning;
    pthread_t sysmon;
    _Atomic int sysmon_stop;
    int blocking_max;
} weft__rt;

extern weft__rt weft__R;

/* sched.c */
extern __thread weft__worker *weft__tls_worker __attribute__((tls_model("initial-exec")));

/* The worker running the caller. A volatile asm read of the thread pointer:
 * the compiler may not reuse the value across a switch (after which the task
 * can be on another thread), as it would the address of a __thread. */
static inline weft__worker *weft__worker_self(void) {
    weft__worker *w;
    __asm__ volatile("movq weft__tls_worker@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0" : "=r"(w));
    return w;
}
static inline weft__task *weft__task_self(void) {
    weft__worker *w = weft__worker_self();
    return w ? w->current : NULL;
}
/* Count a spawn on w (NULL: a thread that is not a worker) or an end on w.
 * Owner-only counters: a plain load and store, no locked instruction. */
static inline void weft__count_bump(_Atomic uint64_t *c) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_release);
}
static inline void weft__count_spawn(weft__worker *w) {
    if (w)
        weft__count_bump(&w->spawned);
    else
        atomic_fetch_add(&weft__R.spawned_ext, 1);
}
/* Live tasks, from a consistent snapshot of the counters: -1 if they moved
 * while being read (so the caller cannot tell). */
int64_t weft__live_tasks(void);
/* Make t runnable (on this worker if called from one, else globally). */
void weft__ready(weft__task *t);
/* weft__ready() for a caller that knows its worker w (NULL: not a worker):
 * from a task, t becomes w's run-next task. */
void weft__ready_from(weft__worker *w, weft__task *t);
/* weft__ready_from() for a channel's hand-off to its partner: the wake-up
 * of an idle worker may be left out (sched.c, handoff_wakep). */
void weft__ready_chan(weft__worker *w, weft__task *t);
/* weft__ready_chan() for a caller that is a task running on worker w, with
 * the channel hand-off's common case inline: a task on the only worker
 * readies its partner into an empty run-next slot (no other thread reads the
 * slot, and no worker is left to wake: sched.c, "Solo"). */
static inline void weft__ready_here(weft__worker *w, weft__task *t) {
    if (w->solo && !atomic_load_explicit(&w->runnext, memory_order_relaxed)) {
        t->state = TASK_RUNNABLE;
        atomic_store_explicit(&w->runnext, t, memory_order_relaxed);
        return;
    }
    weft__ready_chan(w, t);
}
/* Start a wait: checks cancellation (unless nocancel), deadline 0 (EAGAIN) and
 * a passed deadline (ETIMEDOUT), then arms t. Returns 0 and the wait's seq in
 * *seq, or the code to return at once (t is then not armed). */
static inline int weft__wait_begin(weft__task *t, int64_t deadline, int nocancel,
                                   weft__seq *seqp) {
    nocancel |= t->nocancel; /* cleanups run with cancellation masked */
    if (!nocancel && atomic_load_explicit(&t->canceled, memory_order_relaxed))
        return WEFT_ECANCELED;
    if (deadline == 0) return WEFT_EAGAIN;
    if (deadline > 0 && deadline <= weft_now()) return WEFT_ETIMEDOUT;
    uint64_t ws = atomic_load_explicit(&t->wstate, memory_order_relaxed);
    weft__seq seq = (WS_SEQ(ws) + 1) & WS_SEQ_MASK;
    /* a plain store: a cancel that raced with the check above is caught by
     * the park hook, whose CAS is the full barrier of the Dekker pair */
    atomic_store_explicit(&t->wstate, WS_MAKE(seq, nocancel ? 1 : 0, WS_ARMED),
                          memory_order_release);
    *seqp = seq;
    return 0;
}
/* Undo a wait_begin() that will not park after all. */
void weft__wait_disarm(weft__task *t);
/* Wake t's wait seq with result. Exactly one waker wins; false if the wait
 * was already woken or is not the one named. nocancel waits are woken too
 * (only weft__cancel_task respects nocancel). */
bool weft__wake(weft__task *t, weft__seq seq, int result);
/* The one CAS that decides a wake: ARMED or PARKED wait `seq` -> WOKEN with
 * `result`. cancel: leave a nocancel wait alone. *was_parked tells the winner
 * whether it must ready t (PARKED) or the park hook will (ARMED). Inline:
 * every channel hand-off and lock release goes through it. */
static inline bool weft__wake_cas(weft__task *t, weft__seq seq, int result, bool cancel,
                                  bool *was_parked) {
    uint64_t ws = atomic_load(&t->wstate);
    for (;;) {
        uint32_t st = WS_STATE(ws);
        /* the state first: a WOKEN word holds no whole seq */
        if ((st != WS_ARMED && st != WS_PARKED) || WS_SEQ(ws) != (seq & WS_SEQ_MASK)) return false;
        if (cancel && WS_NC(ws)) return false;
        uint64_t nw = WS_MAKE_WOKEN(result, seq, WS_NC(ws));
        if (atomic_compare_exchange_weak(&t->wstate, &ws, nw)) {
            *was_parked = st == WS_PARKED;
            return true;
        }
    }
}
/* For wakers holding the lock the waiter is listed under (so the task is
 * PARKED, never ARMED): claim the wake without readying, so data can be
 * copied into the waiter first; then call weft__ready(). */
static inline bool weft__claim(weft__task *t, weft__seq seq, int result) {
    uint64_t ws = atomic_load_explicit(&t->wstate, memory_order_relaxed);
    /* the one claimable word: PARKED with this seq, either nocancel bit. So
     * one masked compare and one CAS, no loop: a PARKED word changes only to
     * WOKEN (a timer or canceler won), and then it is not ours to claim. */
    uint64_t parked = WS_MAKE(seq, 0, WS_PARKED);
#ifdef WEFT__LOCK_OWNER
    /* a waker holding the waiter's lock never sees its wait ARMED (above) */
    WEFT_ASSERT(!(WS_STATE(ws) == WS_ARMED && WS_SEQ(ws) == (seq & WS_SEQ_MASK)));
#endif
    if ((ws & ~4ull) != parked) return false;
    /* WS_MAKE_WOKEN(result, seq, WS_NC(ws)), built from ws: its low word is
     * already the seq's low bits and the nocancel bit, and PARKED | 3 is
     * WOKEN (fewer instructions than from seq: callgrind, pingpong_ns) */
    return atomic_compare_exchange_strong(
        &t->wstate, &ws, ((uint64_t)(uint32_t)result << 32) | (uint32_t)ws | WS_WOKEN);
}
/* Park the current task (armed by wait_begin, which gave it seq). unlock(arg),
 * if given, runs after the task has switched out. Returns the wake result. */
int weft__park(weft__seq seq, void (*unlock)(void *), void *arg, const char *reason,
               const void *obj);
/* Park a channel wait armed by its owner before it took *lock (see "The
 * hand-off park" above): the hook stores PARKED without a CAS and releases
 * *lock. Only for waits without a timer whose canceled flag was read after
 * the lock was taken. w is the caller's worker. */
int weft__park_handoff(weft__worker *w, weft__seq seq, uint32_t *lock, const char *reason,
                       const void *obj);
/* Park on a list guarded by a spinlock the caller holds: the common wait of
 * sync.c and groups. Appends wt, arms the deadline, parks, and on a
 * timeout/cancel unlinks wt. The lock is released on return. */
int weft__wait_on(uint32_t *lock, weft__waiter **list, weft__waiter *wt, int64_t deadline,
                  const char *reason, const void *obj);
void weft__spin_unlock_cb(void *lock);
/* Wakers that hold the lock of the object a task waits on must not touch the
 * object after the task can run: a woken task may return and free it (a wait
 * group on its stack, a one-shot reply channel). So they claim under the lock
 * and chain the task through t->next (free while it is parked), and ready the
 * chain after unlocking. */
static inline void weft__chain(weft__task **chain, weft__task *t) {
    t->next = *chain;
    *chain = t;
}
void weft__ready_chain(weft__task *chain);
/* Pop waiters until one can be claimed (lock held); returns it or NULL. */
weft__waiter *weft__claim_waiter(weft__waiter **list, int result);
/* Wake t's current wait with WEFT_ECANCELED unless it is a nocancel wait;
 * the caller has stored t->canceled first (weft__cancel_task). */
void weft__wake_canceled(weft__task *t);
/* Owner only: t to the tail of w's run queue if it has room (true), else
 * nothing done (sched.c's runq_put then moves half the queue out). */
static inline bool weft__runq_push(weft__worker *w, weft__task *t) {
    weft__runq *q = &w->runq;
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (WEFT_UNLIKELY(tl - h >= RUNQ_SIZE)) return false;
    atomic_store_explicit(&q->buf[tl % RUNQ_SIZE], t, memory_order_relaxed);
    atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
    return true;
}
/* Queue a task just made by weft_go_opts(): behind the spawner's local
 * queue when called from a task on worker w, else on the global queue. */
void weft__ready_new_any(weft__worker *w, weft__task *t);
/* ... inline for a task on a solo worker with room in its queue (nobody to
 * wake), the common spawn. */
static inline void weft__ready_new(weft__worker *w, weft__task *t) {
    if (WEFT_LIKELY(w && w->solo && w->current)) {
        t->state = TASK_RUNNABLE;
        if (WEFT_LIKELY(weft__runq_push(w, t))) return;
    }
    weft__ready_new_any(w, t);
}
/* The scheduler loop of worker w; returns once the runtime has stopped. */
void weft__sched_loop(weft__worker *w);
/* Stop every scheduler loop (the last task ended, or weft_main() failed). */
void weft__sched_stop(void);
/* Monitor: w has been held by one task for over 1 ms; move its queued work
 * within reach of the other workers. Returns whether it had any. */
bool weft__sched_unstick(weft__worker *w);
/* Per-thread worker setup and teardown; weft__worker_main is the body of
 * the threads of workers 1..n-1 (worker 0 is the weft_main() caller). */
int weft__worker_init(weft__worker *w);
void weft__worker_fini(weft__worker *w);
void *weft__worker_main(void *arg);

/* task.c */
/* After the body: t's defers (with cancellation masked) and leaving its
 * group. */
void weft__task_finish(weft__task *t);
/* The task's life from its first instruction to its last: the body, then
 * (most tasks have neither defers nor a group) weft__task_finish. */
static inline void weft__task_run(weft__task *t) {
    t->fn(t->arg);
    if (WEFT_UNLIKELY(t->ndefer || t->defers != t->defers_inline || t->group))
        weft__task_finish(t);
}
/* Mark t canceled and wake its current wait unless that wait is nocancel. */
void weft__cancel_task(weft__task *t);
uint32_t weft__rand(weft__worker *w);
void weft__worker_wake(weft__worker *w);
/* Yield that ignores cancellation; goes through the scheduler loop. */
void weft__yield_sched(void);

/* timer.c */
void weft__timer_add(weft__worker *w, weft__timer *tm);
void weft__timer_del(weft__timer *tm);
/* Fire due timers; returns the next deadline (ms) or INT64_MAX. */
int64_t weft__timers_run(weft__worker *w, int64_t now);
void weft__timers_free(weft__worker *w);
/* Arm the task's timer for the current wait if deadline > 0 (seq from arm). */
static inline void weft__wait_timer(weft__task *t, weft__seq seq, int64_t deadline) {
    if (deadline <= 0) return;
    t->timer.when = deadline;
    t->timer.seq = seq;
    t->timer.task = t;
    weft__timer_add(weft__worker_self(), &t->timer);
}
static inline void weft__wait_timer_cancel(weft__task *t) {
    if (t->timer.owner) weft__timer_del(&t->timer);
}

/* stack.c */
int weft__stack_init(size_t default_size);
/* A worker's cache of free stacks: a LIFO array per size class (allocated
 * on first use), not a list through the TCBs, so that taking one does not
 * wait for a cache miss on the TCB to learn the next, and the next can be
 * prefetched while the caller fills this one in. Its two fast paths (a
 * spawn's pop, an exit's push) are inline below: every spawn and exit
 * takes them. */
#define WEFT__NCLASS 13
#define WEFT__CACHE_MAX 1024
struct weft__stack_cache {
    weft__task **slot[WEFT__NCLASS];
    int n[WEFT__NCLASS];
};
typedef struct weft__stack_cache weft__stack_cache;
/* the default stack size and its class (set by weft__stack_init) */
extern size_t weft__stack_default_bytes;
extern int weft__stack_default_class;
/* Any size, any cache state (weft__stack_get's slow path). */
weft__task *weft__stack_get_any(weft__worker *w, size_t size);
/* The lines a spawn writes: the initial frame just below the TCB and the
 * TCB's first two lines. */
static inline void weft__prefetch_tcb(const weft__task *t) {
    __builtin_prefetch((const char *)t - 64, 1, 3);
    __builtin_prefetch(t, 1, 3);
    __builtin_prefetch((const char *)t + 64, 1, 3);
}
#define WEFT__STACK_CANARY 0x5745465453544b21ull /* "WEFTSTK!" at stack_lo of unguarded stacks */
/* A stack of the default size (weft_config's stack_size, which weft_main()
 * hands to weft__stack_init) from worker w's cache, or NULL if that takes
 * more (an empty cache; the ASan build, whose slow path also clears the
 * reused stack's redzones): then weft__stack_get_any. */
static inline weft__task *weft__stack_pop_default(weft__worker *w) {
#ifndef WEFT_ASAN
    int c = weft__stack_default_class;
    weft__stack_cache *sc = w->scache;
    if (WEFT_LIKELY(sc && sc->n[c])) {
        int n = --sc->n[c];
        weft__task *t = sc->slot[c][n];
        if (n) weft__prefetch_tcb(sc->slot[c][n - 1]);
        t->next = NULL;
        if (!t->guarded) *(uint64_t *)t->stack_lo = WEFT__STACK_CANARY;
        return t;
    }
#endif
    return NULL;
}
/* A stack of `size` usable bytes for a new task on worker w (NULL: not a
 * worker), or NULL when out of memory. */
static inline weft__task *weft__stack_get(weft__worker *w, size_t size) {
    weft__task *t = w && size == weft__stack_default_bytes ? weft__stack_pop_default(w) : NULL;
    return t ? t : weft__stack_get_any(w, size);
}
/* The idle values (above, struct weft__task). Those in the TCB's first two
 * lines are checked in every build; the ones on its third line only in the
 * sanitizer and debug builds (which every test runs under): reading that
 * line cost the plain build a cache miss per exit. */
static inline void weft__stack_check_idle(const weft__task *t) {
    WEFT_ASSERT(t->ndefer == 0 && t->defers == t->defers_inline);
#ifdef WEFT__LOCK_OWNER
    WEFT_ASSERT(t->timer.idx == -1 && !t->wait_reason);
#endif
}
void weft__stack_put(weft__worker *w, weft__task *t);
/* weft__stack_put()'s fast path alone: into worker w's own cache if it has
 * room (true), else nothing done (false). Also for an exiting task, before
 * it switches off its stack (sched.c, weft__task_main): `exited` says the
 * caller has just seen the defer fields idle (weft__task_run's check, or
 * weft__task_finish, which leaves them so), and the plain build does not
 * read them again (callgrind, spawn_ns: 6 of ~226 instructions). */
static inline bool weft__stack_put_here(weft__worker *w, weft__task *t, bool exited) {
    int c = t->size_class;
    weft__stack_cache *sc = w ? w->scache : NULL;
    /* slot[c] is set once the cache has a slot array */
    if (WEFT_LIKELY(sc && sc->n[c] < WEFT__CACHE_MAX && sc->slot[c])) {
        t->state = TASK_FREE;
#ifndef WEFT__LOCK_OWNER
        if (!exited)
#endif
            weft__stack_check_idle(t);
        sc->slot[c][sc->n[c]++] = t;
        return true;
    }
    return false;
}
struct weft__stack_cache *weft__stack_cache_new(void);
void weft__stack_cache_free(weft__worker *w);
/* Idle worker: carve a batch of fresh stacks ahead for a class spawns are
 * carving from (see stack.c); returns whether it did. */
bool weft__stack_prepare(int64_t now_ns);
/* For a worker about to sleep: milliseconds until weft__stack_prepare has
 * the leftovers of a spawn burst to give back (-1: none pending), so that
 * they are not kept until something else wakes a worker. */
int weft__stack_trim_due_ms(int64_t now_ns);
static inline int weft__stack_smashed(weft__task *t) {
    return !t->guarded && *(uint64_t *)t->stack_lo != WEFT__STACK_CANARY;
}
/* For the overflow handler and dumps: the task owning addr, and whether addr
 * lies in its guard page. NULL if addr is in no stack slab. */
weft__task *weft__stack_owner(const void *addr, int *in_guard);
void weft__stack_foreach(void (*fn)(weft__task *t, void *arg), void *arg);
extern int weft__stack_guard_mode; /* 2 = MADV_GUARD_INSTALL, 1 = mprotect, 0 = canary */

/* switch_x86_64.S */
void weft__ctx_switch(void **save_sp, void *new_sp);
void weft__task_trampoline(void);
void weft__task_main(void) __attribute__((noreturn));

/* blocking.c */
int weft__blocking_start(int max_threads);
void weft__blocking_stop(void);

/* debug.c */
int weft__debug_install(void);
void weft__debug_thread_init(weft__worker *w);
void weft__debug_thread_fini(weft__worker *w);
void weft__debug_uninstall(void);

/* io.c: backend choice and the per-fd table shared by both backends */
int weft__io_select(weft_io_backend want, const weft__io_ops **out);
int weft__io_fdtab_init(void);
void weft__io_fdtab_free(void);

#endif
