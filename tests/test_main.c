/* tests/test_main.c — registry and runner for tests/test.h.
 *
 * Each test runs in a child process of its own (fork, no exec): a failed
 * ASSERT ends that child at once, wherever it fails (the test's function, a
 * helper, another task or thread), so the servers and tasks a test started
 * with their state on its stack never outlive it; a crash or a sanitizer
 * report fails that test alone; the parent counts every test. The parent
 * itself never starts a runtime or a thread (fork from a single-threaded
 * process, which TSan supports). `--no-fork` (or WEFT_TEST_FORK=0) runs
 * every test in this process, for a debugger; a failed ASSERT then returns
 * from the function it is in, as it always did. */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static test_case *head, **tail = &head;
static int cur_failed;
static int in_child; /* this process runs one test for a parent */

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

void test__stop(void) {
    if (!in_child) return; /* --no-fork: the ASSERT returns */
    fflush(stdout);
    fflush(stderr);
    _exit(1); /* no cleanups, no leak check: the test failed */
}

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
    printf("usage: %s [--list] [--no-fork] [TEST...]\n"
           "  no TEST: run every test of this binary in order; TEST: run those named\n"
           "  --list: print the test names, one a line, and run nothing\n"
           "  --no-fork: run the tests in this process (for a debugger; also WEFT_TEST_FORK=0),\n"
           "             not each in a child process of its own\n",
           prog);
}

/* Runs tc here; 1 if it failed. */
static int run_here(test_case *tc) {
    cur_failed = 0;
    if (tc->in_runtime) {
        int rc = weft_main(run_in_task, tc, NULL);
        if (rc != 0) test__fail(__FILE__, __LINE__, "weft_main: %s", weft_strerror(rc));
    } else {
        tc->fn();
    }
    return cur_failed;
}

/* Runs tc in a child process; 1 if it failed (the child says why, or this
 * says how it ended when the child could not). */
static int run_forked(test_case *tc) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork (the test runs in this process)");
        return run_here(tc);
    }
    if (pid == 0) {
        in_child = 1;
        exit(run_here(tc)); /* atexit work and, under ASan, the leak check: per test */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "    FAIL %s: killed by signal %d (%s)\n", tc->name, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WEXITSTATUS(st) != 1) /* 1: a failure the child reported itself */
        fprintf(stderr, "    FAIL %s: exited with status %d (a sanitizer report or exit() in the test?)\n",
                tc->name, WEXITSTATUS(st));
    return 1;
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
    const char *fork_env = getenv("WEFT_TEST_FORK");
    int forking = !(fork_env && strcmp(fork_env, "0") == 0);
    if (argc >= 2 && strcmp(argv[1], "--no-fork") == 0) {
        forking = 0;
        argv[1] = argv[0];
        argv++, argc--;
    }
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
        int64_t t0 = weft_now_ns();
        int bad = forking ? run_forked(tc) : run_here(tc);
        double ms = (double)(weft_now_ns() - t0) / 1e6;
        printf("  %s %-40s %8.1f ms\n", bad ? "FAIL" : "ok  ", tc->name, ms);
        if (bad)
            failed++;
        else
            passed++;
    }
    printf("%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : 0;
}
