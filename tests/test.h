/*
 * tests/test.h — the one test harness every weft test binary uses.
 *
 *   TEST(chan_close_drains) { ... ASSERT_EQ(weft_chan_len(c), 3); ... }
 *
 * Tests register themselves (constructor attribute); main() comes from
 * tests/test_main.c, which runs them in order (or only those named on the
 * command line), each in a fresh weft runtime unless the test is declared
 * with TEST_PLAIN. A failed ASSERT prints file:line and both sides, and ends
 * that test. The last line of output is "<binary>: N passed, N failed".
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

typedef struct test_case {
    const char *name;
    void (*fn)(void);
    int in_runtime; /* run fn as the main task of a fresh weft_main() */
    struct test_case *next;
} test_case;

void test__register(test_case *tc);
void test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test__failed(void);
/* Stress sizes shrink under sanitizers: TEST_SCALE(1000000) is 1M in a plain
 * build, 1/10 under ASan, 1/250 under TSan. */
long test_scale(long n);

#define TEST__DEFINE(name_, rt_)                                                                   \
    static void test_##name_(void);                                                                \
    static test_case tc_##name_ = {#name_, test_##name_, rt_, 0};                                  \
    __attribute__((constructor)) static void reg_##name_(void) { test__register(&tc_##name_); }    \
    static void test_##name_(void)

/* Runs inside a fresh runtime (the body is the main task). */
#define TEST(name_) TEST__DEFINE(name_, 1)
/* Runs on the plain main thread, no runtime. */
#define TEST_PLAIN(name_) TEST__DEFINE(name_, 0)

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test__fail(__FILE__, __LINE__, "ASSERT(%s)", #cond);                                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define ASSERT__CMP(a, b, op)                                                                      \
    do {                                                                                           \
        long long a__ = (long long)(a), b__ = (long long)(b);                                      \
        if (!(a__ op b__)) {                                                                       \
            test__fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, a__, b__);       \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT__CMP(a, b, ==)
#define ASSERT_NE(a, b) ASSERT__CMP(a, b, !=)
#define ASSERT_LT(a, b) ASSERT__CMP(a, b, <)
#define ASSERT_LE(a, b) ASSERT__CMP(a, b, <=)
#define ASSERT_GT(a, b) ASSERT__CMP(a, b, >)
#define ASSERT_GE(a, b) ASSERT__CMP(a, b, >=)
/* Compare a weft error code, printing both names. */
#define ASSERT_ERR(a, b)                                                                           \
    do {                                                                                           \
        long long a__ = (long long)(a), b__ = (long long)(b);                                      \
        if (a__ != b__) {                                                                          \
            test__fail(__FILE__, __LINE__, "%s == %s: %lld (%s) vs %lld (%s)", #a, #b, a__,        \
                       weft_strerror((int)a__), b__, weft_strerror((int)b__));                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a__ = (a), *b__ = (b);                                                         \
        if (!a__ || !b__ || strcmp(a__, b__) != 0) {                                               \
            test__fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,                   \
                       a__ ? a__ : "(null)", b__ ? b__ : "(null)");                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define ASSERT_MEMEQ(a, b, n)                                                                      \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            test__fail(__FILE__, __LINE__, "memcmp(%s, %s, %s) != 0", #a, #b, #n);                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
