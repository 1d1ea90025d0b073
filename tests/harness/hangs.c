/*
 * tests/harness/hangs.c — a self-test of the harness's per-test time limit
 * (tests/test_main.c), not part of the suite's counts: tests/scripts/harness.sh
 * runs it with a short WEFT_TEST_TIMEOUT and checks how it ends. Two tests
 * hang on purpose, neither failing an ASSERT: without a limit the binary
 * hung until scripts/test.sh's 600 s kill, and the summary never named them.
 *
 * hangs_in_a_task parks the test's main task for ever (the runner asks it
 * for a task dump before the kill). hangs_with_a_child_process forks a
 * process of its own that sleeps for ever and writes its pid to
 * $HANGS_PID_FILE: the runner kills the test's whole process group, so the
 * script can check that this grandchild is gone too.
 *
 * Expected last line: "hangs: 2 passed, 2 failed".
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

TEST(passes_before) { ASSERT_EQ(weft_workers() > 0, 1); }

TEST(hangs_in_a_task) {
    for (;;) weft_sleep(3600 * 1000);
}

TEST_PLAIN(hangs_with_a_child_process) {
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0)
        for (;;) pause();
    const char *path = getenv("HANGS_PID_FILE");
    if (path) {
        FILE *f = fopen(path, "w");
        ASSERT(f != NULL);
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
    for (;;) pause();
}

TEST(passes_after) { ASSERT_EQ(weft_workers() > 0, 1); }
