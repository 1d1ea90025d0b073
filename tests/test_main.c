/* tests/test_main.c — registry and runner for tests/test.h. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>

static test_case *head, **tail = &head;
static int cur_failed;

void test__register(test_case *tc) {
    *tail = tc;
    tail = &tc->next;
}

void test__fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cur_failed = 1;
}

int test__failed(void) { return cur_failed; }

long test_scale(long n) {
#if defined(__SANITIZE_THREAD__)
    n /= 250; /* TSan tracks each task as a thread: 8128 at most at once */
#elif defined(__SANITIZE_ADDRESS__)
    n /= 10;
#endif
    return n < 1 ? 1 : n;
}

static void run_in_task(void *arg) {
    ((test_case *)arg)->fn();
    /* a failed ASSERT returns early and may leave tasks parked: cancel them
     * so the runtime (and the suite) does not hang on a failure */
    if (cur_failed) weft_shutdown();
}

static void usage(const char *prog) {
    printf("usage: %s [--list] [TEST...]\n"
           "  no TEST: run every test of this binary in order; TEST: run those named\n"
           "  --list: print the test names, one a line, and run nothing\n",
           prog);
}

/* The test named name, or NULL. */
static test_case *find(const char *name) {
    for (test_case *tc = head; tc; tc = tc->next)
        if (strcmp(tc->name, name) == 0) return tc;
    return NULL;
}

static int selected(test_case *tc, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], tc->name) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (strcmp(argv[1], "--list") == 0 || strcmp(argv[1], "-l") == 0)) {
        for (test_case *tc = head; tc; tc = tc->next) printf("%s\n", tc->name);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(prog);
        return 0;
    }
    /* every name must exist: a typo must not pass as "0 passed, 0 failed" */
    int unknown = 0;
    for (int i = 1; i < argc; i++) {
        if (!find(argv[i])) {
            fprintf(stderr, "%s: no test named '%s' (%s --list names them)\n", prog, argv[i],
                    argv[0]);
            unknown++;
        }
    }
    if (unknown) {
        printf("%s: 0 passed, %d failed\n", prog, unknown);
        return 2;
    }
    for (test_case *tc = head; tc; tc = tc->next) {
        if (!selected(tc, argc, argv)) continue;
        cur_failed = 0;
        int64_t t0 = weft_now_ns();
        if (tc->in_runtime) {
            int rc = weft_main(run_in_task, tc, NULL);
            if (rc != 0) test__fail(__FILE__, __LINE__, "weft_main: %s", weft_strerror(rc));
        } else {
            tc->fn();
        }
        double ms = (double)(weft_now_ns() - t0) / 1e6;
        printf("  %s %-40s %8.1f ms\n", cur_failed ? "FAIL" : "ok  ", tc->name, ms);
        if (cur_failed)
            failed++;
        else
            passed++;
    }
    printf("%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : 0;
}
