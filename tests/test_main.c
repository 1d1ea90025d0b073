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
 * from the function it is in, as it always did.
 *
 * A forked test has a time limit (test_timeout_s(); WEFT_TEST_TIMEOUT=secs,
 * 0 = none): a test that hangs without failing would otherwise hang its
 * binary until scripts/test.sh's 600 s kill, and the summary would never
 * name it. On expiry the parent asks a runtime test for a task dump
 * (SIGQUIT, src/rt/debug.c), then kills the child's process group (the
 * child leads one, so the servers it started die with it), counts the test
 * FAILED "timed out after N s" and goes on with the next. */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Default per-test limit (s). The slowest tests take seconds, a few
 * stress tests tens of seconds under TSan; the sanitizer builds get more. */
#if defined(__SANITIZE_THREAD__)
#define DEFAULT_TIMEOUT_S 360
#elif defined(__SANITIZE_ADDRESS__)
#define DEFAULT_TIMEOUT_S 240
#else
#define DEFAULT_TIMEOUT_S 120
#endif
/* After the task-dump request, how long the child may take to print it (ms). */
#define DUMP_GRACE_MS 1000

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
           "             not each in a child process of its own (and with no time limit)\n"
           "  WEFT_TEST_TIMEOUT=SECS: a forked test still running after SECS fails and is\n"
           "             killed (default %d; 0: no limit)\n",
           prog, DEFAULT_TIMEOUT_S);
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

/* The forked test's process group while it runs (0 when none), for the
 * signal handler below. */
static volatile sig_atomic_t child_pgid;

/* SIGINT/SIGTERM/SIGHUP to the parent (Ctrl-C, scripts/test.sh's `timeout`):
 * the child leads its own process group, so the signal no longer reaches it
 * with the parent's group; kill it, then die of the signal as before. */
static void on_stop_signal(int sig) {
    if (child_pgid > 0) kill(-(pid_t)child_pgid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void forward_stop_signals(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

/* The child inherits the parent's handlers: back to the defaults. */
static void default_stop_signals(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}

/* The per-test limit in seconds (0: none): WEFT_TEST_TIMEOUT, else the default. */
static long test_timeout_s(void) {
    const char *e = getenv("WEFT_TEST_TIMEOUT");
    if (!e || !*e) return DEFAULT_TIMEOUT_S;
    char *end;
    errno = 0;
    long v = strtol(e, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "WEFT_TEST_TIMEOUT=%s is not a number of seconds; using %d\n", e,
                DEFAULT_TIMEOUT_S);
        return DEFAULT_TIMEOUT_S;
    }
    return v;
}

/* Waits up to ms (< 0: for ever) for pid to end; 1 and its status in *st
 * if it ended, 0 if it still runs, -1 on an error (printed). pidfd is a
 * pidfd_open() of pid, or -1 (then it polls every 10 ms). */
static int wait_child(pid_t pid, int pidfd, int64_t ms, int *st) {
    int64_t until = ms < 0 ? -1 : weft_now_ns() + ms * 1000000;
    for (;;) {
        pid_t r = waitpid(pid, st, ms < 0 ? 0 : WNOHANG);
        if (r == pid) return 1;
        if (r < 0 && errno != EINTR) {
            perror("waitpid");
            return -1;
        }
        if (r < 0 || ms < 0) continue; /* EINTR */
        int64_t left = (until - weft_now_ns()) / 1000000;
        if (left <= 0) return 0;
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            poll(&p, 1, left > 1000 ? 1000 : (int)left + 1); /* readable when pid ends */
        } else {
            usleep(left > 10 ? 10000 : (useconds_t)left * 1000);
        }
    }
}

/* Runs tc in a child process; 1 if it failed (the child says why, or this
 * says how it ended when the child could not). */
static int run_forked(test_case *tc, long timeout_s) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork (the test runs in this process)");
        return run_here(tc);
    }
    if (pid == 0) {
        in_child = 1;
        default_stop_signals();
        setpgid(0, 0); /* its own group: a timeout kills what it started too */
        exit(run_here(tc)); /* atexit work and, under ASan, the leak check: per test */
    }
    setpgid(pid, pid); /* here too, so the group exists before a kill can name it */
    child_pgid = pid;
    int st = 0, ended;
    if (timeout_s > 0) {
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        ended = wait_child(pid, pidfd, timeout_s * 1000, &st);
        if (ended == 0) {
            fprintf(stderr, "    FAIL %s: timed out after %ld s; killed (WEFT_TEST_TIMEOUT sets the limit)\n",
                    tc->name, timeout_s);
            if (tc->in_runtime) { /* its tasks, on its stderr, to show where it hangs */
                kill(pid, SIGQUIT);
                ended = wait_child(pid, pidfd, DUMP_GRACE_MS, &st);
            }
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL); /* should the group not exist */
            if (ended == 0) wait_child(pid, -1, -1, &st);
            ended = 0; /* failed, whatever the kill made of its status */
        }
        if (pidfd >= 0) close(pidfd);
    } else {
        ended = wait_child(pid, -1, -1, &st);
    }
    /* whatever the test started and left running dies with it */
    kill(-pid, SIGKILL);
    child_pgid = 0;
    if (ended <= 0) return 1;
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
    long timeout_s = test_timeout_s();
    if (forking) forward_stop_signals();
    for (test_case *tc = head; tc; tc = tc->next) {
        if (!selected(tc, argc, argv)) continue;
        int64_t t0 = weft_now_ns();
        int bad = forking ? run_forked(tc, timeout_s) : run_here(tc);
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
