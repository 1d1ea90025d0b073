/*
 * stack.c — task stacks: slabs, guard pages, pools.
 *
 * A slab is one large anonymous mapping (MAP_NORESERVE, so nothing is
 * committed until touched) cut into equal slots of one size class (16 KiB
 * << c of stack, plus two pages: SLOT_EXTRA). A slot is [guard page |
 * stack ... | TCB]. Pages are committed only
 * when the task touches them, so a parked task with a shallow stack costs the
 * TCB's page plus the page or two its frames use.
 *
 * Guard pages: MADV_GUARD_INSTALL (Linux 6.13+) marks the page so any access
 * faults, without splitting the mapping, so a million guarded stacks still
 * cost a few thousand mappings (vm.max_map_count is typically 65530).
 * Fallback on older kernels: mprotect(PROT_NONE) per slot, which splits the
 * mapping in two per slot; we stop guarding once that would come near the
 * map limit and put a canary at the bottom of the stack instead, checked
 * each time the task parks (weft__stack_smashed() in weft__park()). The mode
 * in force is logged at debug level and shown by weft_dump_tasks().
 *
 * Fresh slots are carved BATCH at a time; one process_madvise(2) installs
 * the batch's guards and another commits the pages holding their TCBs, so a
 * spawn on a fresh slot makes no syscall of its own (init_slots()). Idle
 * workers carve ahead while spawns are carving (weft__stack_prepare()), and
 * once the burst is over give back the pages of the slots it left unused
 * (trim_ahead()), keeping the slots themselves, guards installed, for the
 * next burst.
 *
 * Slabs are never unmapped (see rt_int.h: stale TCB pointers stay readable).
 * Freed stacks go to a per-worker cache (no lock), overflow to a per-class
 * global list (spinlock). Their pages stay committed while pooled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rt_int.h"

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define NCLASS WEFT__NCLASS /* 16 KiB .. 64 MiB */
#define MIN_STACK (16u << 10)
#define SLAB_BYTES (256u << 20)
#define MAX_SLABS 65536
#define CACHE_MAX WEFT__CACHE_MAX
#define BATCH 16 /* slots a refill takes at once, and carves at once */
#define GUARD 4096u
#define CANARY WEFT__STACK_CANARY

typedef struct slab {
    char *base;
    size_t slot;           /* slot size */
    uint32_t n;            /* slots in the slab */
    _Atomic uint32_t used; /* slots carved so far */
} slab;

/* A worker's cache (struct weft__stack_cache, rt_int.h, with the spawn and
 * exit fast paths that use it). */

static bool cache_ready(weft__stack_cache *sc, int c) {
    if (!sc) return false;
    if (!sc->slot[c]) sc->slot[c] = malloc(CACHE_MAX * sizeof *sc->slot[c]);
    return sc->slot[c] != NULL;
}


static slab slabs[MAX_SLABS];
static _Atomic uint32_t nslabs;

#define AHEAD 256             /* idle workers carve until this many are free ... */
#define AHEAD_WINDOW 2000000  /* ... while a refill wanted more in the last 2 ms */
#define TRIM_AFTER 10000000   /* a burst is over 10 ms after its last refill */
/* Slots carved ahead and not yet used, on the ahead list or cold (their page
 * given back by trim_ahead), at most (weft__stack_prepare checks it under
 * the lock), so that trimming always has room for the whole ahead list. */
#define COLD_MAX (AHEAD + BATCH)

static struct {
    uint32_t lock;
    weft__task *free;        /* stacks tasks have used */
    weft__task *ahead;       /* slots idle workers carved ahead, never used yet */
    slab *cur;               /* slab being carved */
    _Atomic uint32_t nfree;  /* stacks on both lists (changed under the lock) */
    _Atomic uint32_t nahead; /* carved ahead with a page: listed, being carved or trimmed */
    _Atomic int64_t demand;  /* weft_now_ns() of the last refill of a burst (stack_get_slow) */
    uint32_t ncold;
    /* carved ahead and never used, with their TCB page given back: the TCB's
     * address, bit 0 set when the slot's guard is installed (TCBs are
     * 64-aligned). Reused before fresh slots are carved (revive_slots). */
    uintptr_t cold[COLD_MAX];
} classes[NCLASS];

int weft__stack_guard_mode = -1;
static long mprotect_budget; /* fallback: slots we may still guard with mprotect */
static long mprotect_used;   /* ... and those guarded so far (slabs live forever) */
static int pm_fd = -1, pm_pid, pm_off; /* process_madvise on ourselves, see init_slots() */

/* The default stack size (weft__stack_init) and its class; set before any
 * worker runs. */
size_t weft__stack_default_bytes;
int weft__stack_default_class;

static size_t tcb_bytes(void) { return (sizeof(weft__task) + 63) & ~(size_t)63; }

/* Slots are large powers of two, so TCBs at the very top of each would all
 * fall in the same cache sets and evict each other when many tasks are hot.
 * Each slot's TCB sits 0..15 cache lines lower (its "colour"), which still
 * leaves most of the top page for the first frames. */
#define COLOURS 16
static char *tcb_of(char *slot_base, size_t slot, size_t k) {
    return slot_base + slot - tcb_bytes() - (k % COLOURS) * 64;
}

/* A slot of class c is (16 KiB << c) of stack plus SLOT_EXTRA for the guard,
 * the TCB and its colour, so a stack size that is a power of two (the
 * 256 KiB default) gets a slot of that size plus two pages, not one of twice
 * the size: half the address space and half the page-table pages per task
 * (a million parked tasks: ~129,000 page-table pages instead of ~250,000). */
#define SLOT_EXTRA (2 * GUARD)
_Static_assert(sizeof(weft__task) + 63 + (COLOURS - 1) * 64 + GUARD <= SLOT_EXTRA,
               "the guard, the TCB and its colour must fit SLOT_EXTRA");
static size_t slot_bytes(int c) { return ((size_t)MIN_STACK << c) + SLOT_EXTRA; }

/* The smallest class whose stack part holds size bytes: ceil(log2(size)) -
 * 14, by counting leading zeros. */
static int size_class(size_t size) {
    if (size <= MIN_STACK) return 0;
    int c = 64 - __builtin_clzll((unsigned long long)(size - 1)) - 14;
    return c < NCLASS ? c : -1;
}

/* WEFT_STACK_GUARD=mprotect|canary forces a fallback (to test them on a
 * kernel that has MADV_GUARD_INSTALL); WEFT_STACK_GUARD_BUDGET caps the
 * mprotect budget (to test running out of it). */
static void probe_guard(void) {
    const char *force = getenv("WEFT_STACK_GUARD");
    int mode = 2;
    if (force && !strcmp(force, "mprotect")) mode = 1;
    if (force && !strcmp(force, "canary")) mode = 0;
    if (mode == 2) {
        char *p = mmap(NULL, 2 * GUARD, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED || madvise(p, GUARD, MADV_GUARD_INSTALL) != 0) mode = 1;
        if (p != MAP_FAILED) munmap(p, 2 * GUARD);
    }
    if (mode == 1) {
        long maxmap = 65530;
        FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
        if (f) {
            if (fscanf(f, "%ld", &maxmap) != 1) maxmap = 65530;
            fclose(f);
        }
        /* each mprotect'ed guard adds ~2 mappings; keep a margin for the
         * rest of the process (libraries, malloc arenas, sockets' buffers). */
        mprotect_budget = (maxmap - 8192) / 2;
        const char *cap = getenv("WEFT_STACK_GUARD_BUDGET");
        if (cap && atol(cap) >= 0 && atol(cap) < mprotect_budget) mprotect_budget = atol(cap);
        mprotect_budget -= mprotect_used;
        if (mprotect_budget < 0) mprotect_budget = 0;
    }
    weft__stack_guard_mode = mode;
}

int weft__stack_init(size_t default_size) {
    if (pm_fd >= 0 && pm_pid != getpid()) { /* forked: the pidfd is the parent's */
        close(pm_fd);
        pm_fd = -1;
    }
    if (pm_fd < 0 && !pm_off) {
        pm_pid = getpid();
        pm_fd = (int)syscall(SYS_pidfd_open, pm_pid, 0);
        if (pm_fd < 0) pm_off = 1;
    }
    probe_guard(); /* each run: the mode applies to slots carved from now on */
    if (size_class(default_size) < 0) return WEFT_EINVAL;
    weft__stack_default_class = size_class(default_size);
    weft__stack_default_bytes = default_size;
    static int logged;
    if (!logged) {
        logged = 1;
        static const char *names[] = {"canary", "mprotect", "MADV_GUARD_INSTALL"};
        weft_log_debug("stacks: guard pages via %s", names[weft__stack_guard_mode]);
    }
    return 0;
}

/* Callers hold their class's lock only: two classes may make a slab at the
 * same time, and both took the same slabs[] entry (TSan: tests/unit/task's
 * deep_recursion_within_stack_limits, a large class beside the default one
 * at start). The table's own lock; rare (one mmap per slab). */
static uint32_t slabs_lock;

static slab *slab_new(int c) {
    size_t slot = slot_bytes(c);
    size_t bytes = slot > SLAB_BYTES ? slot : SLAB_BYTES;
    weft__spin_lock(&slabs_lock);
    uint32_t idx = atomic_load(&nslabs);
    char *p = idx >= MAX_SLABS ? MAP_FAILED
                               : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    slab *s = NULL;
    if (p != MAP_FAILED) {
        s = &slabs[idx];
        s->base = p;
        s->slot = slot;
        s->n = (uint32_t)(bytes / slot);
        atomic_store(&s->used, 0);
        atomic_store_explicit(&nslabs, idx + 1, memory_order_release); /* publish for walkers */
    }
    weft__spin_unlock(&slabs_lock);
    return s;
}

/* process_madvise(2) on our own pid: one syscall installs the guards (or
 * commits the top pages) of a whole batch of slots, where madvise(2) takes a
 * syscall per slot. The pidfd is opened by weft__stack_init (before any
 * worker runs) and kept; after a fork the child opens its own. Where the
 * kernel refuses (before 6.13, or a seccomp filter), we go back to a madvise
 * per slot for the guards and let the top pages fault in when touched. */

static long pm_advise(struct iovec *iov, int n, int advice) {
    if (__atomic_load_n(&pm_off, __ATOMIC_RELAXED) || pm_fd < 0) return -1;
    long r = syscall(SYS_process_madvise, pm_fd, iov, (size_t)n, advice, 0u);
    if (r < 0 && (errno == EINVAL || errno == ENOSYS || errno == EPERM || errno == EBADF))
        __atomic_store_n(&pm_off, 1, __ATOMIC_RELAXED);
    return r;
}

/* Reserve up to `want` fresh slots of class c from its current slab (a new
 * one if it is used up): slots [*first, *first + n) of the slab returned,
 * NULL if out of address space. Class lock held. The slots count as carved
 * at once (walkers read their TCBs as zeros, TASK_FREE, until init_slots). */
static slab *reserve(int c, int want, uint32_t *first, int *n) {
    slab *s = classes[c].cur;
    if (!s || atomic_load(&s->used) == s->n) {
        s = slab_new(c);
        if (!s) return NULL;
        classes[c].cur = s;
    }
    uint32_t f = atomic_load(&s->used);
    int k = want;
    if ((uint32_t)k > s->n - f) k = (int)(s->n - f);
    atomic_store_explicit(&s->used, f + (uint32_t)k, memory_order_release);
    *first = f;
    *n = k;
    return s;
}

static uint32_t mprotect_lock; /* the mprotect fallback's budget */

/* A fresh TCB at t for the slot at base: the idle values (rt_int.h), all
 * but guarded. */
static void tcb_init(weft__task *t, char *base, int c) {
    memset(t, 0, sizeof *t);
    t->defers = t->defers_inline;
    t->defer_cap = WEFT__DEFER_INLINE;
    t->timer.idx = -1;
    t->stack_lo = base + GUARD;
    t->stack_size = (size_t)((char *)t - t->stack_lo);
    t->size_class = (int16_t)c;
}

/* The page holding a TCB: the slot's top page (slots are whole pages, and a
 * TCB's colour keeps it within the top 1,024 bytes). */
static char *top_page(const weft__task *t) {
    uintptr_t end = (uintptr_t)t + tcb_bytes();
    return (char *)(((end + 4095) & ~(uintptr_t)4095) - 4096);
}

/* Make reserved slots usable and chain them through ->next on *out; no lock
 * held, so a worker preparing slots ahead (weft__stack_prepare) and one
 * spawning can each do their own at once. The slots' guard pages are
 * installed, and the pages holding their TCBs committed, in one syscall each
 * for the whole batch: measured on this project's VM (1M slots, 256 KiB
 * apart) 0.35 s against 0.61 s for the guards one by one, and 1.2 s of
 * system time against 1.5 s for faulting the TCB pages in one by one. */
static void init_slots(slab *s, int c, uint32_t first, int n, weft__task **out) {
    struct iovec guard[BATCH], top[BATCH];
    for (int k = 0; k < n; k++) {
        char *base = s->base + (size_t)(first + (uint32_t)k) * s->slot;
        guard[k] = (struct iovec){base, GUARD};
        top[k] = (struct iovec){base + s->slot - 4096, 4096};
    }
    int guarded = 0; /* slots [0, guarded) of the batch have their guard */
    if (weft__stack_guard_mode == 2) {
        long r = pm_advise(guard, n, MADV_GUARD_INSTALL);
        if (r > 0) guarded = (int)(r / GUARD);
    }
    pm_advise(top, n, MADV_POPULATE_WRITE); /* failure: they fault in later */
    for (int k = n - 1; k >= 0; k--) {
        uint32_t i = first + (uint32_t)k;
        char *base = s->base + (size_t)i * s->slot;
        weft__task *t = (weft__task *)tcb_of(base, s->slot, i);
        tcb_init(t, base, c);
        if (weft__stack_guard_mode == 2) {
            t->guarded = (int16_t)(k < guarded || madvise(base, GUARD, MADV_GUARD_INSTALL) == 0);
        } else if (weft__stack_guard_mode == 1) {
            weft__spin_lock(&mprotect_lock);
            if (mprotect_budget > 0) {
                t->guarded = (int16_t)(mprotect(base, GUARD, PROT_NONE) == 0);
                if (t->guarded) mprotect_used++;
                if (t->guarded && --mprotect_budget == 0)
                    weft_log_warn("stacks: mapping budget used up; new stacks get a canary, "
                                  "not a guard page (kernel lacks MADV_GUARD_INSTALL)");
            }
            weft__spin_unlock(&mprotect_lock);
        }
        t->next = *out;
        *out = t;
    }
}

/* Counters changed under the class lock and read without it. */
static void count_add(_Atomic uint32_t *v, int d) {
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + (uint32_t)d,
                          memory_order_relaxed);
}
static void nfree_add(int c, int d) { count_add(&classes[c].nfree, d); }

/* Make n cold slots of class c usable again (their TCB pages were given
 * back: they read as zeros) and chain them on *out, as init_slots does for
 * fresh ones: their guards are still installed, so only the TCB pages are
 * committed, in one syscall. No lock held. */
static void revive_slots(int c, const uintptr_t *cold, int n, weft__task **out) {
    struct iovec top[BATCH];
    for (int k = 0; k < n; k++)
        top[k] = (struct iovec){top_page((weft__task *)(cold[k] & ~(uintptr_t)1)), 4096};
    pm_advise(top, n, MADV_POPULATE_WRITE); /* failure: they fault in below */
    for (int k = 0; k < n; k++) {
        weft__task *t = (weft__task *)(cold[k] & ~(uintptr_t)1);
        tcb_init(t, (char *)top[k].iov_base + 4096 - slot_bytes(c), c);
        t->guarded = (int16_t)(cold[k] & 1);
        t->next = *out;
        *out = t;
    }
}

/* A burst of spawns is over (no refill drew on fresh slots in TRIM_AFTER): give
 * back the pages of the slots carved ahead for it that no task used, up to
 * AHEAD + BATCH - 1 committed pages per class that would otherwise stay
 * resident for the life of the process (park1m: ~1.2 of its 4,097.5 B per
 * task). Only never-used slots: no stale pointer to their TCB exists, so
 * their wait sequence may start again from zero. Their guards stay. */
static int trim_ahead(int c) {
    uintptr_t cold[COLD_MAX];
    int n = 0;
    weft__spin_lock(&classes[c].lock);
    while (classes[c].ahead) {
        WEFT_ASSERT(classes[c].ncold + (uint32_t)n < COLD_MAX); /* see COLD_MAX */
        weft__task *t = classes[c].ahead;
        classes[c].ahead = t->next;
        cold[n++] = (uintptr_t)t | (t->guarded ? 1u : 0u);
    }
    nfree_add(c, -n);
    weft__spin_unlock(&classes[c].lock);
    /* off both lists: nobody else can reach them while their pages go.
     * Still counted in nahead until they are cold (see COLD_MAX). */
    for (int k = 0; k < n; k++)
        madvise(top_page((weft__task *)(cold[k] & ~(uintptr_t)1)), 4096, MADV_DONTNEED);
    weft__spin_lock(&classes[c].lock);
    memcpy(classes[c].cold + classes[c].ncold, cold, (size_t)n * sizeof *cold);
    classes[c].ncold += (uint32_t)n;
    count_add(&classes[c].nahead, -n);
    weft__spin_unlock(&classes[c].lock);
    return n;
}

/* For an idle worker (the scheduler loop, before it spins): while spawns of
 * some class have been carving fresh slots in the last AHEAD_WINDOW, carve
 * one batch of that class ahead onto its ahead list, up to AHEAD free (cold
 * slots first: their guards are already in). A burst of spawns on one worker
 * (1M parked tasks) then shares the kernel's page work with the idle workers
 * instead of doing all of it alone. Once the burst is over, the slots it
 * left unused give their pages back (trim_ahead). Returns whether it did
 * any of this. */
bool weft__stack_prepare(int64_t now) {
    for (int c = 0; c < NCLASS; c++) {
        int64_t d = atomic_load_explicit(&classes[c].demand, memory_order_relaxed);
        if (!d) continue;
        if (now - d > TRIM_AFTER) {
            if (!atomic_load_explicit(&classes[c].nahead, memory_order_relaxed)) continue;
            if (trim_ahead(c)) return true;
            continue; /* all still being carved: trimmed next time */
        }
        if (now - d > AHEAD_WINDOW ||
            atomic_load_explicit(&classes[c].nfree, memory_order_relaxed) >= AHEAD)
            continue;
        uint32_t first = 0;
        int n = 0;
        uintptr_t cold[BATCH];
        slab *s = NULL;
        weft__spin_lock(&classes[c].lock);
        while (n < BATCH && classes[c].ncold) cold[n++] = classes[c].cold[--classes[c].ncold];
        uint32_t unused = atomic_load_explicit(&classes[c].nahead, memory_order_relaxed);
        if (!n && unused + classes[c].ncold + BATCH <= COLD_MAX) s = reserve(c, BATCH, &first, &n);
        count_add(&classes[c].nahead, n); /* counted from now: see COLD_MAX */
        nfree_add(c, n);
        weft__spin_unlock(&classes[c].lock);
        if (!n) continue;
        weft__task *list = NULL, *last = NULL;
        if (s)
            init_slots(s, c, first, n, &list);
        else
            revive_slots(c, cold, n, &list);
        for (last = list; last->next; last = last->next)
            ;
        weft__spin_lock(&classes[c].lock);
        last->next = classes[c].ahead;
        classes[c].ahead = list;
        weft__spin_unlock(&classes[c].lock);
        return true;
    }
    return false;
}

int weft__stack_trim_due_ms(int64_t now) {
    int64_t due = -1;
    for (int c = 0; c < NCLASS; c++) {
        int64_t d = atomic_load_explicit(&classes[c].demand, memory_order_relaxed);
        if (!d || !atomic_load_explicit(&classes[c].nahead, memory_order_relaxed)) continue;
        int64_t ms = (d + TRIM_AFTER - now) / 1000000 + 1; /* past the window, not on it */
        if (ms < 1) ms = 1;
        if (due < 0 || ms < due) due = ms;
    }
    return (int)due;
}

/* The spawn and exit fast paths (a pop from / push onto the worker's cache)
 * are kept apart from the refills and spills below, which take a lock and
 * loop: compiled together, every spawn and every exit paid the slow path's
 * five callee-saved register saves and restores (callgrind, spawn_ns). */
static __attribute__((noinline)) weft__task *stack_get_slow(weft__stack_cache *sc, int c) {
    weft__task *t = NULL;
    bool cache = cache_ready(sc, c);
    weft__spin_lock(&classes[c].lock);
    /* refill the worker's cache in one go: one lock per BATCH spawns */
    int want = cache ? BATCH : 1, got = 0;
    weft__task *list = NULL;
    for (; got < want && classes[c].free; got++) {
        weft__task *x = classes[c].free;
        classes[c].free = x->next;
        x->next = list;
        list = x;
    }
    int ahead = 0; /* then slots carved ahead, then cold ones, then fresh ones */
    for (; got < want && classes[c].ahead; got++, ahead++) {
        weft__task *x = classes[c].ahead;
        classes[c].ahead = x->next;
        x->next = list;
        list = x;
    }
    count_add(&classes[c].nahead, -ahead);
    nfree_add(c, -got);
    uintptr_t cold[BATCH];
    int ncold = 0;
    while (got + ncold < want && classes[c].ncold)
        cold[ncold++] = classes[c].cold[--classes[c].ncold];
    uint32_t first = 0;
    int n = 0;
    slab *s = got + ncold < want ? reserve(c, want - got - ncold, &first, &n) : NULL;
    /* a burst is on while refills draw on slots never used before (or
     * leave few free): idle workers carve ahead for it, and trim what is
     * left TRIM_AFTER after the last such refill */
    bool burst = ahead || ncold || s ||
                 atomic_load_explicit(&classes[c].nfree, memory_order_relaxed) < AHEAD;
    weft__spin_unlock(&classes[c].lock);
    if (burst && sc) atomic_store_explicit(&classes[c].demand, weft_now_ns(), memory_order_relaxed);
    if (ncold) revive_slots(c, cold, ncold, &list);
    if (s && n) init_slots(s, c, first, n, &list);
    t = list;
    if (t) list = t->next;
    while (list) {
        sc->slot[c][sc->n[c]++] = list;
        list = list->next;
    }
    return t;
}

weft__task *weft__stack_get_any(weft__worker *w, size_t size) {
    /* nearly every spawn asks for the default size: its class is computed once */
    int c = size == weft__stack_default_bytes ? weft__stack_default_class : size_class(size);
    if (c < 0) return NULL;
    weft__stack_cache *sc = w ? w->scache : NULL;
    weft__task *t;
    if (WEFT_LIKELY(sc && sc->n[c])) {
        int n = --sc->n[c];
        t = sc->slot[c][n];
        if (n) weft__prefetch_tcb(sc->slot[c][n - 1]);
    } else {
        t = stack_get_slow(sc, c);
        if (!t) return NULL;
    }
    t->next = NULL;
#ifdef WEFT_ASAN
    /* a finished task returned from every frame but the few at the top it
     * left through the exit switch: clear their redzones only, so reuse does
     * not commit shadow memory for the whole stack */
    size_t top = t->stack_size < (16u << 10) ? t->stack_size : (16u << 10);
    ASAN_UNPOISON_MEMORY_REGION((char *)t - top, top);
#endif
    if (!t->guarded) *(uint64_t *)t->stack_lo = CANARY;
    return t;
}

static __attribute__((noinline)) void stack_put_slow(weft__stack_cache *sc, weft__task *t, int c) {
    if (sc && sc->n[c] < CACHE_MAX && cache_ready(sc, c)) { /* the cache's first use */
        sc->slot[c][sc->n[c]++] = t;
        return;
    }
    weft__spin_lock(&classes[c].lock);
    t->next = classes[c].free;
    classes[c].free = t;
    nfree_add(c, 1);
    /* spill the older half of the cache too, so a worker that only frees
     * (the other spawns) does not take the lock for every task */
    if (sc && sc->slot[c]) {
        int keep = CACHE_MAX / 2, n = sc->n[c];
        if (n > keep) {
            for (int i = 0; i < n - keep; i++) {
                weft__task *x = sc->slot[c][i];
                x->next = classes[c].free;
                classes[c].free = x;
            }
            nfree_add(c, n - keep);
            memmove(sc->slot[c], sc->slot[c] + (n - keep), (size_t)keep * sizeof *sc->slot[c]);
            sc->n[c] = keep;
        }
    }
    weft__spin_unlock(&classes[c].lock);
}

void weft__stack_put(weft__worker *w, weft__task *t) {
    if (weft__stack_put_here(w, t, false)) return;
    t->state = TASK_FREE;
    weft__stack_check_idle(t);
    stack_put_slow(w ? w->scache : NULL, t, t->size_class);
}

weft__stack_cache *weft__stack_cache_new(void) { return calloc(1, sizeof(weft__stack_cache)); }

void weft__stack_cache_free(weft__worker *w) {
    if (!w->scache) return;
    for (int c = 0; c < NCLASS; c++) {
        weft__spin_lock(&classes[c].lock);
        for (int i = 0; i < w->scache->n[c]; i++) {
            weft__task *x = w->scache->slot[c][i];
            x->next = classes[c].free;
            classes[c].free = x;
        }
        nfree_add(c, w->scache->n[c]);
        weft__spin_unlock(&classes[c].lock);
        w->scache->n[c] = 0;
        free(w->scache->slot[c]);
        w->scache->slot[c] = NULL;
    }
}

WEFT_NO_TSAN weft__task *weft__stack_owner(const void *addr, int *in_guard) {
    const char *a = addr;
    uint32_t n = atomic_load_explicit(&nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        slab *s = &slabs[i];
        if (a < s->base || a >= s->base + (size_t)s->n * s->slot) continue;
        size_t k = (size_t)(a - s->base) / s->slot;
        char *base = s->base + k * s->slot;
        if (in_guard) *in_guard = a < base + GUARD;
        if (k >= atomic_load(&s->used)) return NULL;
        return (weft__task *)tcb_of(base, s->slot, k);
    }
    return NULL;
}

WEFT_NO_TSAN void weft__stack_foreach(void (*fn)(weft__task *t, void *arg), void *arg) {
    uint32_t n = atomic_load_explicit(&nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        slab *s = &slabs[i];
        uint32_t used = atomic_load_explicit(&s->used, memory_order_acquire);
        for (uint32_t k = 0; k < used; k++) {
            weft__task *t = (weft__task *)tcb_of(s->base + (size_t)k * s->slot, s->slot, k);
            if (t->state != TASK_FREE) fn(t, arg);
        }
    }
}

/* ---- test hook -------------------------------------------------------------
 * For tests/unit/task.c, which declares it itself (tests may not include
 * this module's private header): of the size class holding stack_size, the
 * slots carved ahead and not used yet, with their page (*ahead: on the
 * ahead list or being carved for it) and without it (*cold: trimmed), and
 * how many of the latter still have their TCB page resident (mincore). */
void weft__test_stack_ahead(size_t stack_size, unsigned *ahead, unsigned *cold,
                            unsigned *cold_resident) {
    int c = size_class(stack_size);
    *ahead = *cold = *cold_resident = 0;
    if (c < 0) return;
    weft__spin_lock(&classes[c].lock);
    *ahead = atomic_load_explicit(&classes[c].nahead, memory_order_relaxed);
    *cold = classes[c].ncold;
    for (uint32_t i = 0; i < classes[c].ncold; i++) {
        unsigned char in = 0;
        char *page = top_page((weft__task *)(classes[c].cold[i] & ~(uintptr_t)1));
        if (mincore(page, 4096, &in) == 0 && (in & 1)) ++*cold_resident;
    }
    weft__spin_unlock(&classes[c].lock);
}
