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
 * FAILED "timed out after N s" and goes on with the next.
 *
 * WEFT_TEST_JOBS=N (make check sets it) runs up to N forked tests at once,
 * each writing to a temporary file that is printed, with its result line,
 * in the tests' order once it ends: the output reads as a serial run's.
 * Most slow tests wait (on windows, deadlines, a peer), not compute, so a
 * file's wall time drops to about its slowest test. The default is 1, what
 * `make test` and CI run: tests that bound a time see no neighbours. */
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
           "             killed (default %d; 0: no limit)\n"
           "  WEFT_TEST_JOBS=N: run up to N forked tests at once (default 1), output in order\n",
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

/* The forked tests' process groups while they run (0: a free slot), for
 * the signal handler below; MAX_JOBS bounds WEFT_TEST_JOBS. */
#define MAX_JOBS 16
static volatile sig_atomic_t child_pgid[MAX_JOBS];

static void track_child(pid_t pid, int on) {
    for (int i = 0; i < MAX_JOBS; i++) {
        if (on ? child_pgid[i] == 0 : child_pgid[i] == pid) {
            child_pgid[i] = on ? pid : 0;
            return;
        }
    }
}

/* SIGINT/SIGTERM/SIGHUP to the parent (Ctrl-C, scripts/test.sh's `timeout`):
 * each child leads its own process group, so the signal no longer reaches it
 * with the parent's group; kill them, then die of the signal as before. */
static void on_stop_signal(int sig) {
    for (int i = 0; i < MAX_JOBS; i++)
        if (child_pgid[i] > 0) kill(-(pid_t)child_pgid[i], SIGKILL);
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

/* Forks a child that runs tc, its stdout and stderr on out (-1: this
 * process's); its pid, or -1 (printed) when fork failed. */
static pid_t start_child(test_case *tc, int out) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        in_child = 1;
        default_stop_signals();
        setpgid(0, 0); /* its own group: a timeout kills what it started too */
        if (out >= 0 && (dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)) _exit(1);
        exit(run_here(tc)); /* atexit work and, under ASan, the leak check: per test */
    }
    setpgid(pid, pid); /* here too, so the group exists before a kill can name it */
    track_child(pid, 1);
    return pid;
}

/* The child pid of tc ran past its limit: ask a runtime test for its
 * tasks (on its stderr, to show where it hangs), kill its group, reap it. */
static void kill_timed_out(test_case *tc, pid_t pid, int pidfd, long timeout_s, int to) {
    int st;
    dprintf(to, "    FAIL %s: timed out after %ld s; killed (WEFT_TEST_TIMEOUT sets the limit)\n",
            tc->name, timeout_s);
    int ended = 0;
    if (tc->in_runtime) {
        kill(pid, SIGQUIT);
        ended = wait_child(pid, pidfd, DUMP_GRACE_MS, &st);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL); /* should the group not exist */
    if (ended == 0) wait_child(pid, -1, -1, &st);
}

/* After the child pid of tc ended (ended 1, status st) or was killed
 * (ended <= 0): kills what it left running; 1 if it failed, saying how on
 * fd to when the child could not. */
static int judge_child(test_case *tc, pid_t pid, int ended, int st, int to) {
    kill(-pid, SIGKILL); /* whatever the test started and left running dies with it */
    track_child(pid, 0);
    if (ended <= 0) return 1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFSIGNALED(st))
        dprintf(to, "    FAIL %s: killed by signal %d (%s)\n", tc->name, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WEXITSTATUS(st) != 1) /* 1: a failure the child reported itself */
        dprintf(to, "    FAIL %s: exited with status %d (a sanitizer report or exit() in the test?)\n",
                tc->name, WEXITSTATUS(st));
    return 1;
}

/* Runs tc in a child process; 1 if it failed (the child says why, or this
 * says how it ended when the child could not). */
static int run_forked(test_case *tc, long timeout_s) {
    pid_t pid = start_child(tc, -1);
    if (pid < 0) {
        fprintf(stderr, "(the test runs in this process)\n");
        return run_here(tc);
    }
    int st = 0, ended;
    if (timeout_s > 0) {
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        ended = wait_child(pid, pidfd, timeout_s * 1000, &st);
        if (ended == 0) kill_timed_out(tc, pid, pidfd, timeout_s, STDERR_FILENO);
        if (pidfd >= 0) close(pidfd);
    } else {
        ended = wait_child(pid, -1, -1, &st);
    }
    return judge_child(tc, pid, ended, st, STDERR_FILENO);
}

static void print_result(test_case *tc, int bad, double ms) {
    printf("  %s %-40s %8.1f ms\n", bad ? "FAIL" : "ok  ", tc->name, ms);
}

/* WEFT_TEST_JOBS (1..MAX_JOBS; 1 when unset or not a number). */
static int test_jobs(void) {
    const char *e = getenv("WEFT_TEST_JOBS");
    if (!e || !*e) return 1;
    char *end;
    long v = strtol(e, &end, 10);
    if (*end || v < 1) {
        fprintf(stderr, "WEFT_TEST_JOBS=%s is not a positive number; running one test at a time\n", e);
        return 1;
    }
    return v > MAX_JOBS ? MAX_JOBS : (int)v;
}

typedef struct job {
    test_case *tc;
    pid_t pid;     /* 0 once ended */
    int out;       /* its output, a temporary file */
    int64_t t0;
    int done, bad;
    double ms;
} job;

/* Copies fd from its start to stdout. */
static void replay(int fd) {
    char buf[8192];
    ssize_t n;
    fflush(stdout);
    if (lseek(fd, 0, SEEK_SET) < 0) return;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
            if (w <= 0) return;
            off += w;
        }
    }
}

/* Runs the n tests in sel, up to jobs at once, and prints each one's
 * output and result in sel's order; adds them to *passed and *failed. */
static void run_parallel(test_case **sel, int n, int jobs, long timeout_s, int *passed, int *failed) {
    job *J = calloc((size_t)n, sizeof *J);
    if (!J) {
        perror("calloc");
        exit(2);
    }
    int next = 0, running = 0, printed = 0;
    while (printed < n) {
        while (running < jobs && next < n) {
            job *j = &J[next++];
            j->tc = sel[next - 1];
            j->t0 = weft_now_ns();
            FILE *f = tmpfile();
            j->out = f ? dup(fileno(f)) : -1;
            if (f) fclose(f);
            j->pid = j->out >= 0 ? start_child(j->tc, j->out) : -1;
            if (j->pid < 0) { /* no file or no fork: failed, and said so */
                if (j->out >= 0) dprintf(j->out, "    FAIL %s: could not start it\n", j->tc->name);
                j->pid = 0, j->done = 1, j->bad = 1;
                continue;
            }
            running++;
        }
        int ended_any = 0;
        for (int i = printed; i < next; i++) {
            job *j = &J[i];
            if (j->done) continue;
            int st = 0, ended = -1;
            pid_t r = waitpid(j->pid, &st, WNOHANG);
            if (r == j->pid) {
                ended = 1;
            } else if (timeout_s > 0 && weft_now_ns() - j->t0 > (int64_t)timeout_s * 1000000000) {
                kill_timed_out(j->tc, j->pid, -1, timeout_s, j->out);
                ended = 0;
            }
            if (ended < 0) continue;
            j->bad = judge_child(j->tc, j->pid, ended, st, j->out);
            j->ms = (double)(weft_now_ns() - j->t0) / 1e6;
            j->done = 1, j->pid = 0;
            running--, ended_any = 1;
        }
        for (; printed < next && J[printed].done; printed++) {
            job *j = &J[printed];
            if (j->out >= 0) {
                replay(j->out);
                close(j->out);
            }
            print_result(j->tc, j->bad, j->ms);
            if (j->bad)
                (*failed)++;
            else
                (*passed)++;
        }
        if (!ended_any && printed < n) usleep(2000);
    }
    free(J);
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
    int jobs = forking ? test_jobs() : 1;
    if (jobs > 1) {
        int n = 0;
        for (test_case *tc = head; tc; tc = tc->next) n += selected(tc, argc, argv);
        test_case **sel = calloc((size_t)n + 1, sizeof *sel);
        if (!sel) {
            perror("calloc");
            return 2;
        }
        n = 0;
        for (test_case *tc = head; tc; tc = tc->next)
            if (selected(tc, argc, argv)) sel[n++] = tc;
        run_parallel(sel, n, jobs, timeout_s, &passed, &failed);
        free(sel);
    }
    for (test_case *tc = head; tc && jobs == 1; tc = tc->next) {
        if (!selected(tc, argc, argv)) continue;
        int64_t t0 = weft_now_ns();
        int bad = forking ? run_forked(tc, timeout_s) : run_here(tc);
        print_result(tc, bad, (double)(weft_now_ns() - t0) / 1e6);
        if (bad)
            failed++;
        else
            passed++;
    }
    printf("%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : 0;
}
