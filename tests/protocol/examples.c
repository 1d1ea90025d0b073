/*
 * tests/protocol/examples.c — the small example programs (examples/, one .c each) run
 * as a user runs them: each must exit 0 and print the line its comment
 * promises. (examples/http_server has tests/protocol/example_server.c.)
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Runs <build>/examples/<name> args..., requires exit 0 and a line matching
 * line_re (a POSIX ERE for one whole line, without anchors). */
static void run_and_match(const char *name, const char *const *args, const char *line_re) {
    char bin[128], re[512];
    snprintf(bin, sizeof bin, "examples/%s", name);
    snprintf(re, sizeof re, "(^|\n)%s(\n|$)", line_re);
    char *out = NULL;
    int rc = proto_run(bin, args, NULL, 300, &out);
    if (rc != 0 || !proto_match(out, re))
        test__fail(__FILE__, __LINE__,
                   "%s: exit status %d, want 0 and a line /%s/; output ends: %s", name, rc, line_re,
                   out && strlen(out) > 400 ? out + strlen(out) - 400 : out);
    free(out);
}

TEST_PLAIN(example_worker_pool_sums_all_jobs) {
    run_and_match("worker_pool", NULL, "sum=420 jobs=20");
}

TEST_PLAIN(example_fanout_processes_each_item_once) {
#if defined(__SANITIZE_THREAD__)
    const char *n = "5000"; /* TSan tracks each task as a thread */
#else
    const char *n = "100000";
#endif
    char re[128];
    snprintf(re, sizeof re, "processed=%s unique=%s .*", n, n);
    run_and_match("fanout", (const char *const[]){n, NULL}, re);
}

/* The slow fetch times out at 100 ms; the example prints the time rounded
 * to a hundred, and a timer 50 ms late on a loaded machine (or under TSan)
 * prints ~200. The example's exit status (run_and_match wants 0) already
 * requires 100 to under 1000 ms, so the line may name any figure. */
TEST_PLAIN(example_fetch_timeout_cancels_the_slow_fetch) {
    run_and_match("fetch_timeout", NULL, ".*slow: timed out after ~[0-9]+ ms; fetcher cancelled.*");
}

/* The caller of fetch_with_deadline is cancelled while it waits: it cancels
 * its fetcher and waits for it, masked, before freeing the channel the
 * fetcher sends on (it used to return at once: the fetcher, never
 * cancelled, sent on the freed channel 300 ms later). */
TEST_PLAIN(example_fetch_timeout_cancelled_caller_reaps_its_fetcher) {
    run_and_match("fetch_timeout", NULL,
                  ".*caller cancelled: fetcher cancelled and gone before its channel was freed.*");
}

/* examples/health.c: the articles' /health service (make bench builds it
 * beside its Go and Rust versions): the exact JSON body, 404 elsewhere,
 * exit 0 after SIGTERM. */
TEST_PLAIN(example_health_answers_the_articles_json) {
    proto_server s;
    if (proto_start(&s, "examples/health", NULL)) return;
    EXPECT(s.port, "GET", "/health", NULL, 200,
           "^HTTP/1.1 200 OK\n.*Content-Type: application/json\n.*\n\n"
           "\\{\"message\":\"OK\",\"status\":200\\}$");
    EXPECT(s.port, "GET", "/nothing", NULL, 404, NULL);
    ASSERT_STOPS_CLEANLY(&s);
}
