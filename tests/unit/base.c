/*
 * tests/unit/base.c — src/base: errors, arena, buffers, string slices, log.
 * All plain tests: nothing here needs a runtime.
 */
#include "test.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define HAVE_ASAN 1
#endif

/* ---- errors ------------------------------------------------------------ */

TEST_PLAIN(err_custom_codes) {
    ASSERT_STREQ(weft_strerror(WEFT_ECLOSED), "channel closed");
    ASSERT_STREQ(weft_strerror(WEFT_ESHUTDOWN), "runtime shut down or not running");
    ASSERT_STREQ(weft_strerror(WEFT_ENOTASK), "not called from a weft task");
    ASSERT_STREQ(weft_strerror(WEFT_ELIMIT), "limit reached");
    ASSERT_STREQ(weft_strerror(WEFT_EPARSE), "malformed input");
    ASSERT_STREQ(weft_strerror(WEFT_OK), "success");
}

TEST_PLAIN(err_errno_codes) {
    ASSERT_STREQ(weft_strerror(WEFT_ETIMEDOUT), "operation timed out");
    ASSERT_STREQ(weft_strerror(WEFT_ECANCELED), "operation canceled");
    ASSERT_STREQ(weft_strerror(WEFT_EINVAL), "invalid argument");
    ASSERT_STREQ(weft_strerror(WEFT_ENOMEM), "out of memory");
    ASSERT_STREQ(weft_strerror(WEFT_EAGAIN), "resource temporarily unavailable");
    ASSERT_STREQ(weft_strerror(WEFT_ECONNRESET), "connection reset by peer");
    ASSERT_STREQ(weft_strerror(WEFT_ERANGE), "result out of range");
    /* An errno weft has no name for comes from the C library. */
    ASSERT_STREQ(weft_strerror(-EXDEV), strerrordesc_np(EXDEV));
    ASSERT_STREQ(weft_strerror(-ENOTDIR), strerrordesc_np(ENOTDIR));
}

TEST_PLAIN(err_every_named_code_has_a_message) {
    static const int codes[] = {
        WEFT_EPERM,     WEFT_ENOENT,    WEFT_EINTR,        WEFT_EIO,          WEFT_EBADF,
        WEFT_EAGAIN,    WEFT_ENOMEM,    WEFT_EACCES,       WEFT_EBUSY,        WEFT_EEXIST,
        WEFT_EINVAL,    WEFT_EMFILE,    WEFT_ENOSPC,       WEFT_EPIPE,        WEFT_ERANGE,
        WEFT_ENOSYS,    WEFT_ENOTSUP,   WEFT_EADDRINUSE,   WEFT_ECONNABORTED, WEFT_ECONNRESET,
        WEFT_ENOTCONN,  WEFT_ETIMEDOUT, WEFT_ECONNREFUSED, WEFT_ECANCELED,    WEFT_ECLOSED,
        WEFT_ESHUTDOWN, WEFT_ENOTASK,   WEFT_ELIMIT,       WEFT_EPARSE,       WEFT_EDB,
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = weft_strerror(codes[i]);
        ASSERT(s != NULL);
        ASSERT(s[0] != '\0');
        if (strcmp(s, "unknown error") == 0) {
            test__fail(__FILE__, __LINE__, "code %d has no message", codes[i]);
            return;
        }
    }
}

TEST_PLAIN(err_unknown_codes) {
    static const int codes[] = {1,     42,     INT_MAX, INT_MIN,      -4000,
                                -9999, -10000, -10007,  -10000 - 100, WEFT__ECUSTOM};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        ASSERT_STREQ(weft_strerror(codes[i]), "unknown error");
}

/* ---- arena ------------------------------------------------------------- */

TEST_PLAIN(arena_alignment_many_sizes) {
    weft_arena a;
    weft_arena_init(&a, 256); /* small chunks: many chunk boundaries */
    enum { N = 500 };
    unsigned char *ptrs[N];
    size_t sizes[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(i * 7 + 1) % 301; /* 0..300, odd and even, some > chunk */
        ptrs[i] = weft_arena_alloc(&a, sizes[i]);
        ASSERT(ptrs[i] != NULL);
        ASSERT_EQ((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], (unsigned char)i, sizes[i]);
        total += sizes[i];
    }
    ASSERT_EQ(a.used, total);
    /* Nothing overlapped: every block still holds its own byte. */
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++) ASSERT_EQ(ptrs[i][j], (unsigned char)i);
    weft_arena_free(&a);
    ASSERT(a.head == NULL);
    ASSERT_EQ(a.used, 0);
}

TEST_PLAIN(arena_zero_and_absurd_sizes) {
    weft_arena a;
    weft_arena_init(&a, 0);
    ASSERT_EQ(a.chunk_size, 4096);
    void *z1 = weft_arena_alloc(&a, 0); /* empty arena: slow path */
    void *z2 = weft_arena_alloc(&a, 0); /* chunk present: still valid */
    ASSERT(z1 != NULL);
    ASSERT(z2 != NULL);
    ASSERT(z1 != z2);
    ASSERT_EQ((uintptr_t)z2 % 16, 0);
    ASSERT(weft_arena_alloc(&a, ((size_t)1 << 30) + 1) == NULL);
    ASSERT(weft_arena_alloc(&a, SIZE_MAX) == NULL);
    ASSERT(weft_arena_alloc(&a, SIZE_MAX - 7) == NULL); /* would wrap when rounded */
    ASSERT(weft_arena_calloc(&a, SIZE_MAX) == NULL);
    ASSERT(weft_arena_strndup(&a, "x", SIZE_MAX) == NULL);
    ASSERT_EQ(a.used, 0);
    /* The arena still works after refusing. */
    char *p = weft_arena_alloc(&a, 5);
    ASSERT(p != NULL);
    memcpy(p, "abcde", 5);
    weft_arena_free(&a);
}

TEST_PLAIN(arena_large_allocations) {
    weft_arena a;
    weft_arena_init(&a, 256);
    char *s1 = weft_arena_alloc(&a, 16);
    ASSERT(s1 != NULL);
    /* Larger than a chunk: gets its own chunk, sized to fit. */
    char *big = weft_arena_alloc(&a, 100000);
    ASSERT(big != NULL);
    ASSERT_EQ((uintptr_t)big % 16, 0);
    memset(big, 0x5a, 100000);
    /* ...and the small allocations carry on in the chunk they were using. */
    char *s2 = weft_arena_alloc(&a, 16);
    ASSERT(s2 == s1 + 16);
    /* Exactly chunk_size fits a standard chunk. */
    char *full = weft_arena_alloc(&a, 256);
    ASSERT(full != NULL);
    memset(full, 1, 256);
    char *big2 = weft_arena_calloc(&a, 5000);
    ASSERT(big2 != NULL);
    for (size_t i = 0; i < 5000; i++) ASSERT_EQ(big2[i], 0);
    ASSERT_EQ(big[99999], 0x5a);
    ASSERT_EQ(a.used, 16 + 100000 + 16 + 256 + 5000);
    weft_arena_free(&a);
}

TEST_PLAIN(arena_large_first) {
    /* A big allocation into an empty arena must not make the next small one
     * fail or overlap it. */
    weft_arena a;
    weft_arena_init(&a, 128);
    char *big = weft_arena_alloc(&a, 1000);
    ASSERT(big != NULL);
    memset(big, 7, 1000);
    char *s = weft_arena_alloc(&a, 8);
    ASSERT(s != NULL);
    ASSERT(s + 8 <= big || s >= big + 1000);
    memset(s, 9, 8);
    ASSERT_EQ(big[999], 7);
    /* Reset keeps the standard chunk, not the oversized one. */
    weft_arena_reset(&a);
    ASSERT(weft_arena_alloc(&a, 8) == s);
    weft_arena_free(&a);
}

TEST_PLAIN(arena_reset_reuses_memory) {
    weft_arena a;
    weft_arena_init(&a, 512);
    char *first = weft_arena_alloc(&a, 10);
    ASSERT(first != NULL);
    for (int i = 0; i < 100; i++) ASSERT(weft_arena_alloc(&a, 100) != NULL); /* ~20 chunks */
    ASSERT(weft_arena_alloc(&a, 10000) != NULL);
    ASSERT_GT(a.used, 10000);
    for (int round = 0; round < 3; round++) {
        weft_arena_reset(&a);
        ASSERT_EQ(a.used, 0);
        ASSERT(a.head != NULL);
#ifdef HAVE_ASAN
        /* Use after reset is caught. */
        ASSERT(__asan_address_is_poisoned(first));
#endif
        char *p = weft_arena_alloc(&a, 10);
        ASSERT(p == first);
#ifdef HAVE_ASAN
        ASSERT(!__asan_address_is_poisoned(first + 9));
        ASSERT(__asan_address_is_poisoned(first + 10)); /* overrun is caught */
#endif
        for (int i = 0; i < 20; i++) ASSERT(weft_arena_alloc(&a, 200) != NULL);
    }
    weft_arena_free(&a);
}

TEST_PLAIN(arena_calloc_zeroes_reused_memory) {
    weft_arena a;
    weft_arena_init(&a, 1024);
    unsigned char *p = weft_arena_alloc(&a, 300);
    ASSERT(p != NULL);
    memset(p, 0xab, 300);
    weft_arena_reset(&a);
    unsigned char *q = weft_arena_calloc(&a, 300);
    ASSERT(q == p); /* same memory, now cleared */
    for (int i = 0; i < 300; i++) ASSERT_EQ(q[i], 0);
    ASSERT(weft_arena_calloc(&a, 0) != NULL);
    weft_arena_free(&a);
}

TEST_PLAIN(arena_strndup) {
    weft_arena a;
    weft_arena_init(&a, 64);
    char *s = weft_arena_strndup(&a, "hello world", 5);
    ASSERT_STREQ(s, "hello");
    char *e = weft_arena_strndup(&a, "ignored", 0);
    ASSERT_STREQ(e, "");
    char *n = weft_arena_strndup(&a, NULL, 0);
    ASSERT_STREQ(n, "");
    /* Embedded NULs are copied; the terminator is added after n bytes. */
    char *b = weft_arena_strndup(&a, "a\0b", 3);
    ASSERT(b != NULL);
    ASSERT_MEMEQ(b, "a\0b\0", 4);
    /* Longer than a chunk. */
    char longs[200];
    memset(longs, 'q', sizeof(longs));
    char *l = weft_arena_strndup(&a, longs, sizeof(longs));
    ASSERT(l != NULL);
    ASSERT_EQ(strlen(l), sizeof(longs));
    ASSERT_STREQ(s, "hello"); /* earlier copies untouched */
    weft_arena_free(&a);
}

TEST_PLAIN(arena_zeroed_struct_and_reinit) {
    weft_arena a = {0}; /* never initialised: still usable */
    char *p = weft_arena_alloc(&a, 33);
    ASSERT(p != NULL);
    ASSERT_EQ(a.chunk_size, 4096);
    weft_arena_free(&a);
    weft_arena_reset(&a); /* reset of an empty arena is harmless */
    ASSERT(a.head == NULL);
    weft_arena_init(&a, 100); /* rounded up to the alignment */
    ASSERT_EQ(a.chunk_size, 112);
    ASSERT(weft_arena_alloc(&a, 112) != NULL);
    weft_arena_free(&a);
}

/* ---- buffers ----------------------------------------------------------- */

TEST_PLAIN(buf_growth) {
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT(b.data == NULL);
    ASSERT_EQ(weft_buf_append(&b, "", 0), 0);
    ASSERT_EQ(weft_buf_appendc(&b, 'x'), 0);
    ASSERT_EQ(b.cap, 64);
    ASSERT_STREQ(b.data, "x");
    size_t last_cap = b.cap;
    for (int i = 1; i < 1000; i++) {
        ASSERT_EQ(weft_buf_appendc(&b, (char)('a' + i % 26)), 0);
        ASSERT_GT(b.cap, b.len);
        ASSERT_EQ(b.data[b.len], '\0');
        if (b.cap != last_cap) {
            ASSERT_EQ(b.cap, last_cap * 2);
            last_cap = b.cap;
        }
    }
    ASSERT_EQ(b.len, 1000);
    ASSERT_EQ(b.cap, 1024);
    ASSERT_EQ(strlen(b.data), 1000);
    for (int i = 1; i < 1000; i++) ASSERT_EQ(b.data[i], (char)('a' + i % 26));
    /* A large append jumps straight to a big enough power of two. */
    char chunk[5000];
    memset(chunk, 'z', sizeof(chunk));
    ASSERT_EQ(weft_buf_append(&b, chunk, sizeof(chunk)), 0);
    ASSERT_EQ(b.len, 6000);
    ASSERT_EQ(b.cap, 8192);
    ASSERT_EQ(weft_buf_appends(&b, "end"), 0);
    ASSERT_MEMEQ(b.data + 6000, "end", 4);
    /* reserve makes room without changing content. */
    ASSERT_EQ(weft_buf_reserve(&b, 10000), 0);
    ASSERT_GE(b.cap, b.len + 10000 + 1);
    ASSERT_EQ(b.len, 6003);
    ASSERT_ERR(weft_buf_reserve(&b, SIZE_MAX), WEFT_ENOMEM);
    ASSERT_ERR(weft_buf_reserve(&b, SIZE_MAX - b.len), WEFT_ENOMEM);
    ASSERT_EQ(b.len, 6003);
    weft_buf_free(&b);
    ASSERT(b.data == NULL);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.cap, 0);
}

TEST_PLAIN(buf_printf) {
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_buf_printf(&b, "%d-%s", 42, "x"), 0);
    ASSERT_STREQ(b.data, "42-x");
    ASSERT_EQ(b.len, 4);
    /* Output far larger than the room: second vsnprintf. */
    char big[10000];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(weft_buf_printf(&b, "[%s|%05d]", big, 7), 0);
    ASSERT_EQ(b.len, 4 + 1 + 9999 + 7);
    ASSERT_MEMEQ(b.data, "42-x[kkk", 8);
    ASSERT_STREQ(b.data + b.len - 7, "|00007]");
    ASSERT_EQ(strlen(b.data), b.len);
    /* Empty output on an empty buffer. */
    weft_buf_free(&b);
    ASSERT_EQ(weft_buf_printf(&b, "%s", ""), 0);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.data, "");
    /* Output that exactly fills the room must still go through reserve. */
    weft_buf_clear(&b);
    ASSERT_EQ(b.cap, 64);
    ASSERT_EQ(weft_buf_printf(&b, "%064d", 1), 0);
    ASSERT_EQ(b.len, 64);
    ASSERT_GT(b.cap, 64);
    ASSERT_EQ(strlen(b.data), 64);
    weft_buf_free(&b);
}

TEST_PLAIN(buf_max_limit) {
    weft_buf b;
    weft_buf_init(&b, 10);
    ASSERT_EQ(weft_buf_appends(&b, "hello"), 0);
    ASSERT_ERR(weft_buf_appends(&b, "world!"), WEFT_ELIMIT);
    ASSERT_EQ(b.len, 5);
    ASSERT_STREQ(b.data, "hello");
    ASSERT_EQ(weft_buf_appends(&b, "world"), 0); /* exactly max */
    ASSERT_STREQ(b.data, "helloworld");
    ASSERT_LE(b.cap, 11);
    ASSERT_ERR(weft_buf_appendc(&b, '!'), WEFT_ELIMIT);
    ASSERT_ERR(weft_buf_printf(&b, "%d", 1), WEFT_ELIMIT);
    ASSERT_ERR(weft_buf_reserve(&b, 1), WEFT_ELIMIT);
    ASSERT_ERR(weft_buf_reserve(&b, SIZE_MAX), WEFT_ELIMIT);
    ASSERT_EQ(b.len, 10);
    ASSERT_STREQ(b.data, "helloworld");
    /* Consuming makes room again. */
    weft_buf_consume(&b, 5);
    ASSERT_EQ(weft_buf_appends(&b, "!!!!!"), 0);
    ASSERT_STREQ(b.data, "world!!!!!");
    weft_buf_free(&b);
    ASSERT_EQ(b.max, 10); /* kept for reuse */

    /* A printf that overflows the current room and then hits the limit must
     * not leave the first attempt's bytes behind the NUL. */
    weft_buf_init(&b, 100);
    char s60[61];
    memset(s60, 's', 60);
    s60[60] = '\0';
    ASSERT_EQ(weft_buf_appends(&b, s60), 0);
    ASSERT_EQ(b.cap, 64);
    ASSERT_ERR(weft_buf_printf(&b, "%050d", 3), WEFT_ELIMIT);
    ASSERT_EQ(b.len, 60);
    ASSERT_EQ(strlen(b.data), 60);
    ASSERT_EQ(weft_buf_printf(&b, "%030d", 3), 0); /* grows within the limit */
    ASSERT_EQ(b.len, 90);
    ASSERT_LE(b.cap, 101);
    ASSERT_EQ(b.data[89], '3');
    weft_buf_free(&b);

    /* max = SIZE_MAX must not wrap the capacity clamp. */
    weft_buf_init(&b, SIZE_MAX);
    ASSERT_EQ(weft_buf_appends(&b, "ok"), 0);
    ASSERT_EQ(b.cap, 64);
    weft_buf_free(&b);
}

TEST_PLAIN(buf_consume_and_clear) {
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_buf_consume(&b, 3); /* on an empty, unallocated buffer */
    weft_buf_clear(&b);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(weft_buf_appends(&b, "abcdef"), 0);
    weft_buf_consume(&b, 0);
    ASSERT_STREQ(b.data, "abcdef");
    weft_buf_consume(&b, 2);
    ASSERT_EQ(b.len, 4);
    ASSERT_STREQ(b.data, "cdef");
    weft_buf_consume(&b, 4);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.data, "");
    ASSERT_EQ(weft_buf_appends(&b, "xyz"), 0);
    weft_buf_consume(&b, 100);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.data, "");
    ASSERT_EQ(weft_buf_appends(&b, "again"), 0);
    size_t cap = b.cap;
    weft_buf_clear(&b);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.cap, cap); /* clear keeps the memory */
    ASSERT_STREQ(b.data, "");
    weft_buf_free(&b);
}

/* ---- string slices ----------------------------------------------------- */

#define ASSERT_SLICE(s, lit)                                                                       \
    do {                                                                                           \
        weft_str s__ = (s);                                                                        \
        if (!weft_str_eq(s__, WEFT_STR(lit))) {                                                    \
            test__fail(__FILE__, __LINE__, "%s == \"%s\": got \"%.*s\"", #s, lit, (int)s__.n,      \
                       s__.p ? s__.p : "");                                                        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

TEST_PLAIN(str_basics) {
    weft_str e = weft_str_c(NULL);
    ASSERT_EQ(e.n, 0);
    ASSERT(weft_str_eq(e, WEFT_STR("")));
    ASSERT_EQ(weft_str_c("abc").n, 3);
    ASSERT(weft_str_eq(weft_str_c("abc"), WEFT_STR("abc")));
    ASSERT(!weft_str_eq(WEFT_STR("abc"), WEFT_STR("abd")));
    ASSERT(!weft_str_eq(WEFT_STR("abc"), WEFT_STR("ab")));
    ASSERT(weft_str_eq((weft_str){NULL, 0}, WEFT_STR("")));
    /* Slices are not NUL-terminated: only n bytes count. */
    ASSERT(weft_str_eq((weft_str){"abcdef", 3}, WEFT_STR("abc")));
}

TEST_PLAIN(str_eq_nocase) {
    ASSERT(weft_str_eq_nocase(WEFT_STR("Content-Length"), WEFT_STR("content-LENGTH")));
    ASSERT(weft_str_eq_nocase(WEFT_STR(""), WEFT_STR("")));
    ASSERT(!weft_str_eq_nocase(WEFT_STR("Host"), WEFT_STR("Hos")));
    ASSERT(!weft_str_eq_nocase(WEFT_STR("Host"), WEFT_STR("Hose")));
    /* Only ASCII letters fold: '[' and '{' differ by 0x20 but are not letters. */
    ASSERT(!weft_str_eq_nocase(WEFT_STR("a["), WEFT_STR("A{")));
    ASSERT(!weft_str_eq_nocase(WEFT_STR("@"), WEFT_STR("`")));
    ASSERT(!weft_str_eq_nocase(WEFT_STR("\xc0"), WEFT_STR("\xe0")));
    ASSERT(weft_str_eq_nocase(WEFT_STR("\xc0Z"), WEFT_STR("\xc0z")));
}

TEST_PLAIN(str_has_prefix) {
    ASSERT(weft_str_has_prefix(WEFT_STR("GET / HTTP/1.1"), WEFT_STR("GET ")));
    ASSERT(weft_str_has_prefix(WEFT_STR("GET"), WEFT_STR("GET")));
    ASSERT(weft_str_has_prefix(WEFT_STR("GET"), WEFT_STR("")));
    ASSERT(weft_str_has_prefix(WEFT_STR(""), WEFT_STR("")));
    ASSERT(!weft_str_has_prefix(WEFT_STR("GE"), WEFT_STR("GET")));
    ASSERT(!weft_str_has_prefix(WEFT_STR("get /"), WEFT_STR("GET")));
}

TEST_PLAIN(str_trim) {
    ASSERT_SLICE(weft_str_trim(WEFT_STR("  \t a b \t")), "a b");
    ASSERT_SLICE(weft_str_trim(WEFT_STR("x")), "x");
    ASSERT_SLICE(weft_str_trim(WEFT_STR(" \t \t ")), "");
    ASSERT_SLICE(weft_str_trim(WEFT_STR("")), "");
    /* Only space and tab: CR/LF are not trimmed. */
    ASSERT_SLICE(weft_str_trim(WEFT_STR(" v\r\n")), "v\r\n");
    weft_str in = WEFT_STR("  mid  ");
    weft_str t = weft_str_trim(in);
    ASSERT(t.p == in.p + 2); /* a view into the same memory */
    ASSERT_EQ(t.n, 3);
}

TEST_PLAIN(str_cut) {
    weft_str head, rest;
    rest = weft_str_cut(WEFT_STR("key=value"), '=', &head);
    ASSERT_SLICE(head, "key");
    ASSERT_SLICE(rest, "value");

    rest = weft_str_cut(WEFT_STR("a=b=c"), '=', &head);
    ASSERT_SLICE(head, "a");
    ASSERT_SLICE(rest, "b=c");

    weft_str in = WEFT_STR("novalue");
    rest = weft_str_cut(in, '=', &head);
    ASSERT(head.p == in.p);
    ASSERT_EQ(head.n, in.n);
    ASSERT(rest.p == NULL);
    ASSERT_EQ(rest.n, 0);

    rest = weft_str_cut(WEFT_STR("=x"), '=', &head);
    ASSERT_SLICE(head, "");
    ASSERT_SLICE(rest, "x");

    /* Separator last: the result is empty but present (p != NULL). */
    rest = weft_str_cut(WEFT_STR("x="), '=', &head);
    ASSERT_SLICE(head, "x");
    ASSERT(rest.p != NULL);
    ASSERT_EQ(rest.n, 0);

    rest = weft_str_cut(WEFT_STR(""), '=', &head);
    ASSERT_EQ(head.n, 0);
    ASSERT(rest.p == NULL);

    /* Bytes past n are not searched. */
    rest = weft_str_cut((weft_str){"ab=c", 2}, '=', &head);
    ASSERT(rest.p == NULL);
    ASSERT_SLICE(head, "ab");

    /* High-bit separators work (no sign-extension trouble). */
    rest = weft_str_cut(WEFT_STR("a\xff"
                                 "b"),
                        '\xff', &head);
    ASSERT_SLICE(head, "a");
    ASSERT_SLICE(rest, "b");
}

TEST_PLAIN(str_to_i64) {
    static const struct {
        const char *in;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", 0, 0},
        {"-0", 0, 0},
        {"+0", 0, 0},
        {"7", 0, 7},
        {"+15", 0, 15},
        {"-15", 0, -15},
        {"000123", 0, 123},
        {"9223372036854775807", 0, INT64_MAX},
        {"+9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"-9223372036854775807", 0, -INT64_MAX},
        {"00009223372036854775807", 0, INT64_MAX},
        {"9223372036854775808", WEFT_ERANGE, 0},
        {"-9223372036854775809", WEFT_ERANGE, 0},
        {"9223372036854775810", WEFT_ERANGE, 0},
        {"18446744073709551615", WEFT_ERANGE, 0},
        {"18446744073709551616", WEFT_ERANGE, 0},
        {"99999999999999999999999999", WEFT_ERANGE, 0},
        {"", WEFT_EPARSE, 0},
        {"-", WEFT_EPARSE, 0},
        {"+", WEFT_EPARSE, 0},
        {"12a", WEFT_EPARSE, 0},
        {" 1", WEFT_EPARSE, 0},
        {"1 ", WEFT_EPARSE, 0},
        {"--1", WEFT_EPARSE, 0},
        {"+-1", WEFT_EPARSE, 0},
        {"0x10", WEFT_EPARSE, 0},
        {"1e3", WEFT_EPARSE, 0},
        {"99999999999999999999x", WEFT_EPARSE, 0}, /* malformed wins over range */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 12345;
        int rc = weft_str_to_i64(weft_str_c(cases[i].in), &v);
        if (rc != cases[i].rc) {
            test__fail(__FILE__, __LINE__, "to_i64(\"%s\") = %d (%s), want %d (%s)", cases[i].in,
                       rc, weft_strerror(rc), cases[i].rc, weft_strerror(cases[i].rc));
            return;
        }
        int64_t want = rc == 0 ? cases[i].want : 12345; /* untouched on error */
        if (v != want) {
            test__fail(__FILE__, __LINE__, "to_i64(\"%s\") -> %" PRId64 ", want %" PRId64,
                       cases[i].in, v, want);
            return;
        }
    }
    /* Only the slice's bytes are parsed. */
    int64_t v = 0;
    ASSERT_EQ(weft_str_to_i64((weft_str){"1234", 2}, &v), 0);
    ASSERT_EQ(v, 12);
    ASSERT_ERR(weft_str_to_i64((weft_str){NULL, 0}, &v), WEFT_EPARSE);
}

/* weft_str_to_u64: 1*DIGIT only, the whole uint64 range, the same error
 * order as weft_str_to_i64 (malformed before out of range). */
TEST_PLAIN(str_to_u64) {
    static const struct {
        const char *in;
        int rc;
        uint64_t want;
    } cases[] = {
        {"0", 0, 0},
        {"7", 0, 7},
        {"000123", 0, 123},
        {"999999999999999999", 0, 999999999999999999ull}, /* 18 digits: the fast path */
        {"1000000000000000000", 0, 1000000000000000000ull}, /* 19: the checked one */
        {"9223372036854775807", 0, INT64_MAX},
        {"9223372036854775808", 0, (uint64_t)INT64_MAX + 1},
        {"18446744073709551615", 0, UINT64_MAX},
        {"0018446744073709551615", 0, UINT64_MAX},
        {"18446744073709551616", WEFT_ERANGE, 0},
        {"18446744073709551620", WEFT_ERANGE, 0},
        {"99999999999999999999", WEFT_ERANGE, 0},
        {"99999999999999999999999999", WEFT_ERANGE, 0},
        {"", WEFT_EPARSE, 0},
        {"+1", WEFT_EPARSE, 0},
        {"-1", WEFT_EPARSE, 0},
        {"-0", WEFT_EPARSE, 0},
        {"+", WEFT_EPARSE, 0},
        {" 1", WEFT_EPARSE, 0},
        {"1 ", WEFT_EPARSE, 0},
        {"12a", WEFT_EPARSE, 0},
        {"1,2", WEFT_EPARSE, 0},
        {"0x10", WEFT_EPARSE, 0},
        {"99999999999999999999x", WEFT_EPARSE, 0}, /* malformed wins over range */
        {"/", WEFT_EPARSE, 0},                     /* '0' - 1 */
        {":", WEFT_EPARSE, 0},                     /* '9' + 1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int rc = weft_str_to_u64(weft_str_c(cases[i].in), &v);
        if (rc != cases[i].rc) {
            test__fail(__FILE__, __LINE__, "to_u64(\"%s\") = %d (%s), want %d (%s)", cases[i].in,
                       rc, weft_strerror(rc), cases[i].rc, weft_strerror(cases[i].rc));
            return;
        }
        uint64_t want = rc == 0 ? cases[i].want : 12345; /* untouched on error */
        if (v != want) {
            test__fail(__FILE__, __LINE__, "to_u64(\"%s\") -> %" PRIu64 ", want %" PRIu64,
                       cases[i].in, v, want);
            return;
        }
    }
    uint64_t v = 0;
    ASSERT_EQ(weft_str_to_u64((weft_str){"1234", 2}, &v), 0); /* only the slice */
    ASSERT_EQ(v, 12);
    ASSERT_ERR(weft_str_to_u64((weft_str){NULL, 0}, &v), WEFT_EPARSE);
}

/* weft_i64_to_text against snprintf, and back through weft_str_to_i64. */
TEST_PLAIN(i64_to_text) {
    int64_t vals[] = {0, 1, -1, 9, 10, -10, 99, 100, 12345, -2147483648LL, 4294967296LL,
                      INT64_MAX, INT64_MIN, INT64_MIN + 1};
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 1000 + (int)(sizeof vals / sizeof vals[0]); i++) {
        int64_t v;
        if (i < (int)(sizeof vals / sizeof vals[0])) {
            v = vals[i];
        } else { /* every magnitude: a random value shifted right 0..63 bits */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v = (int64_t)(x >> (x % 64));
            if (x & 1) v = -v;
        }
        char got[WEFT_I64_TEXT_MAX + 1] = {0}, want[32];
        size_t n = weft_i64_to_text(got, v);
        snprintf(want, sizeof want, "%" PRId64, v);
        ASSERT_EQ(n, strlen(want));
        ASSERT_STREQ(got, want);
        int64_t back = 0;
        ASSERT_EQ(weft_str_to_i64((weft_str){got, n}, &back), 0);
        ASSERT_EQ(back, v);
    }
}

/* ---- log --------------------------------------------------------------- */

/* Run weft_log calls with fd 2 pointed at a pipe; returns the bytes written
 * (NUL-terminated in out), or -1. Assertions happen after fd 2 is back. */
static int capture_begin(int *saved, int pipefd[2]) {
    fflush(stderr);
    if (pipe(pipefd) != 0) return -1;
    *saved = dup(2);
    if (*saved < 0 || dup2(pipefd[1], 2) < 0) return -1;
    return 0;
}

static ssize_t capture_end(int saved, int pipefd[2], char *out, size_t cap) {
    dup2(saved, 2);
    close(saved);
    close(pipefd[1]);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(pipefd[0], out + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap - 1) break;
    }
    close(pipefd[0]);
    out[n] = '\0';
    return (ssize_t)n;
}

static int is_digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

TEST_PLAIN(log_line_format) {
    weft_log_level old = weft_log_get_level();
    weft_log_set_level(WEFT_LOG_INFO);
    int saved, p[2];
    char before[16], after[16];
    time_t t0 = time(NULL);
    struct tm tm;
    strftime(before, sizeof(before), "%Y-%m-%d", gmtime_r(&t0, &tm));
    ASSERT_EQ(capture_begin(&saved, p), 0);
    errno = EBADF;
    weft_log_warn("hello %d", 42);
    int errno_after = errno;
    char out[8192];
    ssize_t n = capture_end(saved, p, out, sizeof(out));
    time_t t1 = time(NULL);
    strftime(after, sizeof(after), "%Y-%m-%d", gmtime_r(&t1, &tm));
    weft_log_set_level(old);

    ASSERT_EQ(errno_after, EBADF);
    /* "2026-11-22T06:20:01.123Z WARN hello 42\n" (no task: plain thread) */
    ASSERT_EQ(n, 24 + (ssize_t)strlen(" WARN hello 42\n"));
    ASSERT(is_digits(out, 4) && out[4] == '-' && is_digits(out + 5, 2) && out[7] == '-');
    ASSERT(is_digits(out + 8, 2) && out[10] == 'T' && is_digits(out + 11, 2));
    ASSERT(out[13] == ':' && is_digits(out + 14, 2) && out[16] == ':' && is_digits(out + 17, 2));
    ASSERT(out[19] == '.' && is_digits(out + 20, 3) && out[23] == 'Z');
    ASSERT(memcmp(out, before, 10) == 0 || memcmp(out, after, 10) == 0);
    ASSERT_STREQ(out + 24, " WARN hello 42\n");
}

TEST_PLAIN(log_levels) {
    weft_log_level old = weft_log_get_level();
    ASSERT(old >= WEFT_LOG_ERROR && old <= WEFT_LOG_DEBUG);
    weft_log_set_level(WEFT_LOG_WARN);
    ASSERT_EQ(weft_log_get_level(), WEFT_LOG_WARN);
    int saved, p[2];
    ASSERT_EQ(capture_begin(&saved, p), 0);
    weft_log_info("dropped");
    weft_log_debug("dropped %d", 1);
    weft_log_error("kept-error");
    weft_log_warn("kept-warn\n"); /* a trailing newline is not doubled */
    weft_log_set_level(WEFT_LOG_DEBUG);
    weft_log_debug("kept-debug");
    char out[8192];
    capture_end(saved, p, out, sizeof(out));
    weft_log_set_level((weft_log_level)99); /* clamped */
    ASSERT_EQ(weft_log_get_level(), WEFT_LOG_DEBUG);
    weft_log_set_level(old);

    ASSERT(strstr(out, "dropped") == NULL);
    ASSERT(strstr(out, " ERROR kept-error\n") != NULL);
    ASSERT(strstr(out, " WARN kept-warn\n") != NULL);
    ASSERT(strstr(out, "kept-warn\n\n") == NULL);
    ASSERT(strstr(out, " DEBUG kept-debug\n") != NULL);
    int lines = 0;
    for (char *c = out; *c; c++) lines += *c == '\n';
    ASSERT_EQ(lines, 3);
}

TEST_PLAIN(log_truncates_long_lines) {
    weft_log_level old = weft_log_get_level();
    weft_log_set_level(WEFT_LOG_INFO);
    static char msg[10001];
    memset(msg, 'm', sizeof(msg) - 1);
    int saved, p[2];
    ASSERT_EQ(capture_begin(&saved, p), 0);
    weft_log_info("%s", msg);
    char out[16384];
    ssize_t n = capture_end(saved, p, out, sizeof(out));
    weft_log_set_level(old);

    ASSERT_GT(n, 4000);
    ASSERT_LE(n, 4096); /* one atomic pipe write */
    ASSERT_STREQ(out + n - 5, "m...\n");
    ASSERT(memchr(out, '\n', (size_t)n - 1) == NULL);
}

/* The logger's context callback (weft_log_set_context): base/ prints what the
 * callback returns and knows nothing else about where a line comes from. */
static const char *ctx_fixed(void) { return "ctx-1"; }
static const char *ctx_none(void) { return NULL; }
static const char *ctx_long(void) {
    return "0123456789012345678901234567890123456789012345678901234567890123-cut";
}

TEST_PLAIN(log_context_callback) {
    weft_log_level old = weft_log_get_level();
    weft_log_context_fn old_ctx = weft_log_get_context();
    weft_log_set_level(WEFT_LOG_INFO);
    int saved, p[2];
    ASSERT_EQ(capture_begin(&saved, p), 0);
    weft_log_set_context(ctx_fixed);
    weft_log_warn("one");
    weft_log_set_context(ctx_none);
    weft_log_warn("two");
    weft_log_set_context(ctx_long);
    weft_log_warn("three");
    weft_log_set_context(NULL);
    weft_log_warn("four");
    char out[8192];
    capture_end(saved, p, out, sizeof(out));
    weft_log_set_context(old_ctx);
    weft_log_set_level(old);

    ASSERT(strstr(out, " WARN [ctx-1] one\n") != NULL);
    ASSERT(strstr(out, " WARN two\n") != NULL);
    ASSERT(strstr(out,
                  " WARN [0123456789012345678901234567890123456789012345678901234567890123] "
                  "three\n") != NULL);
    ASSERT(strstr(out, " WARN four\n") != NULL);
}

/* weft_main() installs the runtime's context: lines logged in a task carry
 * its name ("task" when it has none); lines from a plain thread carry none. */
static void log_in_named(void *arg) {
    (void)arg;
    weft_log_warn("from-named");
}
static void log_in_unnamed(void *arg) {
    (void)arg;
    weft_log_warn("from-unnamed");
}
static void *log_in_thread(void *arg) {
    (void)arg;
    weft_log_warn("from-thread");
    return NULL;
}

TEST(log_line_names_the_task) {
    weft_log_level old = weft_log_get_level();
    weft_log_set_level(WEFT_LOG_INFO);
    ASSERT(weft_log_get_context() != NULL);
    int saved, p[2];
    ASSERT_EQ(capture_begin(&saved, p), 0);
    weft_group g;
    weft_group_init(&g);
    int rc1 = weft_group_go(&g, log_in_named, NULL, "log-namer");
    int rc2 = weft_go_opts(log_in_unnamed, NULL, &(weft_task_opts){.group = &g});
    int rc3 = weft_group_wait(&g, weft_deadline_in(5000));
    pthread_t th;
    int rc4 = pthread_create(&th, NULL, log_in_thread, NULL);
    if (!rc4) pthread_join(th, NULL);
    char out[8192];
    capture_end(saved, p, out, sizeof(out));
    weft_log_set_level(old);

    ASSERT_EQ(rc1, 0);
    ASSERT_EQ(rc2, 0);
    ASSERT_EQ(rc3, 0);
    ASSERT_EQ(rc4, 0);
    ASSERT(strstr(out, " WARN [log-namer] from-named\n") != NULL);
    ASSERT(strstr(out, " WARN [task] from-unnamed\n") != NULL);
    ASSERT(strstr(out, " WARN from-thread\n") != NULL);
}

/* ---- WEFT_ASSERT ------------------------------------------------------------ */

#include <signal.h>
#include <sys/wait.h>

static int assert_false(void *arg) {
    int two = 2;
    WEFT_ASSERT(two + 2 == 5);
    return arg != NULL;
}
enum { ASSERT_FALSE_LINE = __LINE__ - 3 }; /* the WEFT_ASSERT above */
static int assert_true(void *arg) {
    int two = 2;
    WEFT_ASSERT(two + 2 == 4);
    return arg != NULL;
}

TEST_PLAIN(weft_assert_logs_and_aborts) {
#ifdef NDEBUG
    return; /* compiled out by design */
#endif
    char out[4096], want[128];
    int st = 0;
    ASSERT_EQ(test_run_child(assert_false, NULL, out, sizeof out, &st), 0);
    ASSERT(WIFSIGNALED(st));
    ASSERT_EQ(WTERMSIG(st), SIGABRT);
    snprintf(want, sizeof want, " ERROR assertion failed: two + 2 == 5 (tests/unit/base.c:%d)\n",
             (int)ASSERT_FALSE_LINE);
    ASSERT(strstr(out, want) != NULL);
    /* a true assertion does nothing */
    ASSERT_EQ(test_run_child(assert_true, NULL, out, sizeof out, &st), 0);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    ASSERT_STREQ(out, "");
}
