/*
 * weft/base.h — error codes, arena allocator, growable buffers and string
 * slices. Everything else in weft is built from these.
 *
 * Errors: every weft call that can fail returns a negative WEFT_E* code (0 or a
 * non-negative count on success). Codes that have an errno twin are exactly
 * -errno (WEFT_EINVAL == -EINVAL), so a failing syscall's errno passes through
 * without a translation table; codes with no errno twin live below
 * WEFT__ECUSTOM. weft_strerror() names every code, including unknown ones.
 */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes ------------------------------------------------------- */

enum {
    WEFT_OK = 0,
    WEFT_EPERM = -EPERM,
    WEFT_ENOENT = -ENOENT,
    WEFT_EINTR = -EINTR,
    WEFT_EIO = -EIO,
    WEFT_EBADF = -EBADF,
    WEFT_EAGAIN = -EAGAIN, /* a call with deadline 0 would have had to wait */
    WEFT_ENOMEM = -ENOMEM,
    WEFT_EACCES = -EACCES,
    WEFT_EBUSY = -EBUSY,
    WEFT_EEXIST = -EEXIST,
    WEFT_EINVAL = -EINVAL,
    WEFT_EMFILE = -EMFILE,
    WEFT_ENOSPC = -ENOSPC,
    WEFT_EPIPE = -EPIPE,
    WEFT_ERANGE = -ERANGE,
    WEFT_ENOSYS = -ENOSYS,
    WEFT_ENOTSUP = -ENOTSUP,
    WEFT_EADDRINUSE = -EADDRINUSE,
    WEFT_ECONNABORTED = -ECONNABORTED,
    WEFT_ECONNRESET = -ECONNRESET,
    WEFT_ENOTCONN = -ENOTCONN,
    WEFT_ETIMEDOUT = -ETIMEDOUT, /* the call's deadline passed */
    WEFT_ECONNREFUSED = -ECONNREFUSED,
    WEFT_ECANCELED = -ECANCELED, /* the calling task (or its group) was cancelled */

    WEFT__ECUSTOM = -10000,
    WEFT_ECLOSED = -10001,   /* channel closed (send), or closed and drained (recv) */
    WEFT_ESHUTDOWN = -10002, /* the runtime is shutting down / not running */
    WEFT_ENOTASK = -10003,   /* a task-only call was made outside a weft task */
    WEFT_ELIMIT = -10004,    /* a configured limit was reached */
    WEFT_EPARSE = -10005,    /* malformed input */
    WEFT_EDB = -10006,       /* the database refused the statement (see weft_db_err) */
};

/* Human-readable name for a WEFT_E* code (or any -errno). Never NULL; the
 * string is static. Unknown codes give "unknown error". */
const char *weft_strerror(int code);

/* ---- invariants -------------------------------------------------------------
 * WEFT_ASSERT(cond): a checked precondition or invariant, SQLite's assert().
 * Unless NDEBUG is defined, a false cond logs "assertion failed: <cond>
 * (<file>:<line>)" at ERROR level and aborts the process; with NDEBUG it
 * compiles to nothing (cond is not evaluated, but still type-checked, so a
 * variable used only by an assert does not become "unused"). weft's own
 * builds (plain, ASan, TSan, fuzz) leave NDEBUG undefined: an assert on a
 * hot path must cost no more than the branch it is, or be written under a
 * debug-only macro instead (rt_int.h, WEFT__LOCK_OWNER). Not for input
 * checks: bad input gets an error code, never an abort. */
#ifdef NDEBUG
#define WEFT_ASSERT(cond) ((void)sizeof(!(cond)))
#else
#define WEFT_ASSERT(cond)                                                                          \
    (__builtin_expect(!!(cond), 1) ? (void)0 : weft__assert_fail(#cond, __FILE__, __LINE__))
#endif
/* What a failed WEFT_ASSERT calls: logs and aborts; never returns. */
void weft__assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* ---- arena: bump allocator freed in one step ------------------------------
 * Memory comes from chunks; weft_arena_reset() keeps the first chunk for reuse
 * (a request's arena costs no malloc in steady state) and frees the rest.
 * Not thread-safe: an arena belongs to one task at a time. */
typedef struct weft_arena_chunk weft_arena_chunk;
typedef struct weft_arena {
    weft_arena_chunk *head; /* private */
    size_t chunk_size;      /* read-only: default size of a new chunk */
    size_t used;            /* read-only: bytes handed out since last reset */
} weft_arena;

/* Initialise an arena whose chunks are chunk_size bytes (0 = 4096). No
 * allocation happens until the first weft_arena_alloc(). */
void weft_arena_init(weft_arena *a, size_t chunk_size);
/* n bytes aligned to 16 (max_align_t), or NULL when out of memory or n is
 * absurd (> 1 GiB). The memory lives until reset/free. */
void *weft_arena_alloc(weft_arena *a, size_t n);
/* Like weft_arena_alloc() but zeroed. */
void *weft_arena_calloc(weft_arena *a, size_t n);
/* Copy n bytes into the arena and NUL-terminate; NULL on out of memory. */
char *weft_arena_strndup(weft_arena *a, const char *s, size_t n);
/* Drop everything allocated; keeps one chunk for reuse. */
void weft_arena_reset(weft_arena *a);
/* Release all memory. The arena may be re-initialised afterwards. */
void weft_arena_free(weft_arena *a);

/* ---- growable byte buffer -------------------------------------------------
 * data[0..len) is content; the buffer keeps data NUL-terminated when cap > 0
 * so it can be printed, but the NUL is not counted in len. */
typedef struct weft_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited; growing past max fails with WEFT_ELIMIT */
} weft_buf;

void weft_buf_init(weft_buf *b, size_t max);
/* Make room for n more bytes. 0, WEFT_ENOMEM or WEFT_ELIMIT. */
int weft_buf_reserve(weft_buf *b, size_t n);
int weft_buf_append(weft_buf *b, const void *p, size_t n);
int weft_buf_appendc(weft_buf *b, char c);
int weft_buf_appends(weft_buf *b, const char *s);
int weft_buf_printf(weft_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int weft_buf_vprintf(weft_buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes (n > len clears). */
void weft_buf_consume(weft_buf *b, size_t n);
void weft_buf_clear(weft_buf *b);
void weft_buf_free(weft_buf *b);

/* ---- string slices ---------------------------------------------------------
 * A pointer and a length into memory someone else owns (a read buffer, an
 * arena). Never NUL-terminated by contract. */
typedef struct weft_str {
    const char *p;
    size_t n;
} weft_str;

#define WEFT_STR(lit) ((weft_str){(lit), sizeof(lit) - 1})
weft_str weft_str_c(const char *s); /* from a C string (NULL gives empty) */
int weft_str_eq(weft_str a, weft_str b);
int weft_str_eq_nocase(weft_str a, weft_str b); /* ASCII case-insensitive */
int weft_str_has_prefix(weft_str s, weft_str prefix);
weft_str weft_str_trim(weft_str s); /* strip ASCII space and tab both ends */
/* Split at the first byte c: *head gets what precedes it, the return value
 * what follows. When c is absent *head = s and the result is empty with
 * p == NULL. */
weft_str weft_str_cut(weft_str s, char c, weft_str *head);
/* Parse a whole slice as a decimal int64. 0, WEFT_EPARSE (empty, sign only,
 * non-digit) or WEFT_ERANGE (overflow). Leading '+'/'-' accepted. */
int weft_str_to_i64(weft_str s, int64_t *out);
/* The reverse: v's decimal text into out, no NUL, at most WEFT_I64_TEXT_MAX
 * bytes ("-9223372036854775808"); returns its length. */
#define WEFT_I64_TEXT_MAX 20
size_t weft_i64_to_text(char *out, int64_t v);

#ifdef __cplusplus
}
#endif
#endif
