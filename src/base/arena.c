/*
 * src/base/arena.c — bump allocator freed in one step.
 *
 * An arena is a singly linked list of malloc'd chunks, newest first. Each
 * chunk is a header followed by its usable bytes; `pos` is the next free byte
 * and `end` the end of the chunk. a->head is the chunk we bump from, so the
 * fast path is: round n up to 16, compare with end - pos, bump.
 *
 *   head -> [hdr|used......|free   ] -> [hdr|big alloc] -> [hdr|used.....] -> NULL
 *
 * Two kinds of chunk:
 *  - standard: cap == a->chunk_size, allocated when the head is full;
 *    pushed at the head.
 *  - dedicated: one allocation larger than chunk_size, sized to fit and born
 *    full. It is linked *behind* the head so the head keeps serving small
 *    allocations.
 *
 * weft_arena_reset() keeps the oldest standard chunk (the one the arena's
 * first small allocation came from), so a request arena that stays within one
 * chunk never calls malloc in steady state, and frees all the others.
 *
 * Under ASan, a chunk's free bytes are poisoned and each allocation unpoisons
 * exactly the n bytes it hands out, so overruns past n, and any use of arena
 * memory after reset or free, are reported.
 */
#include "weft/base.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang before it defined the GCC macro */
#define WEFT_ASAN 1
#endif
#endif

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16
#define ARENA_MAX ((size_t)1 << 30) /* largest single allocation: 1 GiB */
#define DEFAULT_CHUNK 4096

struct weft_arena_chunk {
    weft_arena_chunk *next;
    char *pos;  /* next free byte, 16-aligned */
    char *end;  /* one past the last usable byte */
    size_t cap; /* usable bytes after the header */
};

/* The usable bytes start right after the header; malloc gives max_align_t
 * alignment, so both must be multiples of 16 for the result to be. */
static_assert(sizeof(weft_arena_chunk) % ALIGN == 0, "chunk header must keep 16-alignment");
static_assert(_Alignof(max_align_t) >= ALIGN, "malloc must return 16-aligned memory");

static inline char *chunk_data(weft_arena_chunk *c) { return (char *)(c + 1); }

static inline size_t round_up(size_t n) { return (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1); }

void weft_arena_init(weft_arena *a, size_t chunk_size) {
    if (chunk_size == 0) chunk_size = DEFAULT_CHUNK;
    if (chunk_size > ARENA_MAX) chunk_size = ARENA_MAX;
    a->head = NULL;
    a->chunk_size = round_up(chunk_size);
    a->used = 0;
}

static weft_arena_chunk *chunk_new(size_t cap) {
    /* cap <= ARENA_MAX + 15, so this cannot overflow. */
    weft_arena_chunk *c = malloc(sizeof(*c) + cap);
    if (!c) return NULL;
    c->next = NULL;
    c->pos = chunk_data(c);
    c->end = c->pos + cap;
    c->cap = cap;
    POISON(c->pos, cap);
    return c;
}

static void chunk_free(weft_arena_chunk *c) {
    UNPOISON(chunk_data(c), c->cap);
    free(c);
}

static __attribute__((noinline)) void *alloc_slow(weft_arena *a, size_t n) {
    if (n > ARENA_MAX) return NULL;
    /* A zeroed struct (never initialised) still works. */
    if (a->chunk_size == 0) weft_arena_init(a, 0);
    /* n == 0 takes 16 bytes so every allocation is a distinct pointer. */
    size_t sz = round_up(n ? n : 1);
    weft_arena_chunk *c = a->head;
    if (c && sz <= (size_t)(c->end - c->pos)) goto bump; /* only n == 0 gets here */

    if (sz > a->chunk_size) {
        weft_arena_chunk *big = chunk_new(sz);
        if (!big) return NULL;
        big->pos = big->end;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        UNPOISON(chunk_data(big), n);
        a->used += n;
        return chunk_data(big);
    }

    c = chunk_new(a->chunk_size);
    if (!c) return NULL;
    c->next = a->head;
    a->head = c;
bump:;
    char *p = c->pos;
    c->pos = p + sz;
    UNPOISON(p, n);
    a->used += n;
    return p;
}

void *weft_arena_alloc(weft_arena *a, size_t n) {
    weft_arena_chunk *c = a->head;
    /* n - 1 < ARENA_MAX rejects n == 0 and n > 1 GiB with one compare; both
     * go to the slow path, as does a missing or full chunk. */
    if (__builtin_expect(c != NULL && n - 1 < ARENA_MAX, 1)) {
        size_t sz = round_up(n);
        if (__builtin_expect(sz <= (size_t)(c->end - c->pos), 1)) {
            char *p = c->pos;
            c->pos = p + sz;
            a->used += n;
            UNPOISON(p, n);
            return p;
        }
    }
    return alloc_slow(a, n);
}

void *weft_arena_calloc(weft_arena *a, size_t n) {
    void *p = weft_arena_alloc(a, n);
    /* Memory kept across a reset is dirty, so always clear. */
    if (p && n) memset(p, 0, n);
    return p;
}

char *weft_arena_strndup(weft_arena *a, const char *s, size_t n) {
    if (n >= ARENA_MAX) return NULL; /* also keeps n + 1 from wrapping */
    char *p = weft_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void weft_arena_reset(weft_arena *a) {
    weft_arena_chunk *keep = NULL;
    weft_arena_chunk *c = a->head;
    while (c) {
        weft_arena_chunk *next = c->next;
        /* Standard chunks further down the list are older; the oldest one
         * wins and the younger ones are freed. */
        if (c->cap == a->chunk_size) {
            if (keep) chunk_free(keep);
            keep = c;
        } else {
            chunk_free(c);
        }
        c = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->pos = chunk_data(keep);
        POISON(keep->pos, keep->cap);
    }
    a->head = keep;
    a->used = 0;
}

void weft_arena_free(weft_arena *a) {
    weft_arena_chunk *c = a->head;
    while (c) {
        weft_arena_chunk *next = c->next;
        chunk_free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}
