/*
 * tests/harness/dead_stack.c — a self-test of the harness (tests/test_main.c),
 * not part of the suite's counts: tests/scripts/harness.sh runs it and checks
 * how it ends. It fails on purpose.
 *
 * fails_with_a_server_running is the hazard the harness used to have: a test
 * starts a server task, then an ASSERT fails and returns from the test before
 * the lines that stop the server. The server, like the test servers of
 * tests/unit/ws_conn.c, keeps accepting until told to stop and treats every
 * failed accept (WEFT_ECANCELED included) as "try again"; the old runner's
 * weft_shutdown() could not end it, so the binary spun until the suite's
 * timeout instead of failing. Now the failed ASSERT ends the test's process.
 * (The server's state is on the heap here, not on the test's stack as in
 * ws_conn.c, so that the old behaviour is a certain hang rather than reads of
 * a dead stack.)
 *
 * The tests around it check that the runner goes on and counts exactly: the
 * expected last line is "dead_stack: 2 passed, 2 failed".
 */
#include <signal.h>
#include <stdlib.h>

#include "test.h"

TEST(passes_before) { ASSERT_EQ(weft_workers() > 0, 1); }

typedef struct srv {
    int lfd;
    atomic_int stop, accepted;
} srv;

static void accept_loop(void *arg) {
    srv *s = arg;
    while (!atomic_load(&s->stop)) {
        int fd = weft_accept(s->lfd, NULL, NULL, weft_deadline_in(100));
        if (fd >= 0) {
            atomic_fetch_add(&s->accepted, 1);
            weft_close(fd);
        }
    }
}

TEST(fails_with_a_server_running) {
    srv *s = calloc(1, sizeof *s);
    ASSERT(s != NULL);
    s->lfd = weft_tcp_listen("127.0.0.1", 0, 16, 0);
    ASSERT(s->lfd >= 0);
    int port = weft_sock_port(s->lfd);
    ASSERT_EQ(weft_go(accept_loop, s), 0);
    int fd = weft_tcp_connect("127.0.0.1", port, weft_deadline_in(5000));
    ASSERT(fd >= 0);
    weft_close(fd);
    ASSERT_EQ(1 + 1, 3); /* the deliberate failure: the server is still running */
    atomic_store(&s->stop, 1); /* never reached */
}

TEST_PLAIN(dies_of_a_signal) { raise(SIGSEGV); }

TEST(passes_after) { ASSERT_EQ(weft_workers() > 0, 1); }
