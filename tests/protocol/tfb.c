/*
 * tests/protocol/tfb.c — the TechEmpower app (apps/tfb) as the benchmark's
 * verifier sees it: exact response heads (Server, Date, Content-Type,
 * Content-Length, in that order, nothing else), the bodies of every test
 * type, /updates really writing, and a PostgreSQL outage answered with 503
 * and healed. The app takes its database from WEFT_TFB_DB and the checks
 * that read or stop PostgreSQL use WEFT_TEST_PG_DIR (scripts/test.sh sets
 * both); without them the database tests fail, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

#define ROW "\\{\"id\":[0-9]+,\"randomNumber\":[0-9]+\\}"
#define HEAD_JSON                                                                                  \
    "^HTTP/1.1 200 OK\nServer: weft\nDate: [^\n]+GMT\nContent-Type: application/json\n"            \
    "Content-Length: [0-9]+\n\n"

/* Fails the test unless the variables the database tests need are set. */
static int have_db(void) {
    if (getenv("WEFT_TFB_DB") && getenv("WEFT_TEST_PG_DIR")) return 1;
    test__fail(__FILE__, __LINE__,
               "WEFT_TFB_DB / WEFT_TEST_PG_DIR not set (scripts/test.sh starts a PostgreSQL)");
    return 0;
}

/* scripts/pg.sh CMD on the suite's cluster (quiet); its exit status. */
static int pg_sh(const char *cmd) {
    char line[1024];
    snprintf(line, sizeof line, "bash '%s/scripts/pg.sh' %s '%s' >/dev/null 2>&1", proto_repo_dir(),
             cmd, getenv("WEFT_TEST_PG_DIR"));
    return system(line);
}

TEST_PLAIN(tfb_plaintext_and_json_heads_exact) {
    proto_server s;
    if (proto_start(&s, "apps/tfb", NULL)) return;
    EXPECT(s.port, "GET", "/plaintext", NULL, 200,
           "^HTTP/1.1 200 OK\nServer: weft\nDate: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} "
           "[0-9:]{8} GMT\nContent-Type: text/plain\nContent-Length: 13\n\nHello, World!\n?$");
    EXPECT(s.port, "GET", "/json", NULL, 200,
           "^HTTP/1.1 200 OK\nServer: weft\nDate: [^\n]+GMT\nContent-Type: application/json\n"
           "Content-Length: 27\n\n\\{\"message\":\"Hello, World!\"\\}\n?$");
    ASSERT_STOPS_CLEANLY(&s);
}

TEST_PLAIN(tfb_db_queries_updates_cached_bodies) {
    if (!have_db()) return;
    proto_server s;
    if (proto_start(&s, "apps/tfb", NULL)) return;
    int p = s.port;
    EXPECT(p, "GET", "/db", NULL, 200, HEAD_JSON ROW "\n?$");
    EXPECT(p, "GET", "/queries?queries=20", NULL, 200, "^.*\n\\[(" ROW ",){19}" ROW "\\]\n?$");
    /* out of range or not a number: clamped to 1..500 */
    EXPECT(p, "GET", "/queries?queries=abc", NULL, 200, "^.*\n\\[" ROW "\\]\n?$");
    EXPECT(p, "GET", "/queries?queries=0", NULL, 200, "^.*\n\\[" ROW "\\]\n?$");
    EXPECT(p, "GET", "/queries", NULL, 200, "^.*\n\\[" ROW "\\]\n?$");
    EXPECT(p, "GET", "/queries?queries=1000", NULL, 200, "^.*\n\\[(" ROW ",){499}" ROW "\\]\n?$");
    EXPECT(p, "GET", "/updates?queries=20", NULL, 200,
           "^HTTP/1.1 200 OK\n(.*\n)*\n\\[(" ROW ",){19}" ROW "\\]\n?$");
    EXPECT(p, "GET", "/cached-queries?count=3", NULL, 200, "^.*\n\\[(" ROW ",){2}" ROW "\\]\n?$");
    ASSERT_STOPS_CLEANLY(&s);
}

TEST_PLAIN(tfb_fortunes_escaped_sorted_utf8) {
    if (!have_db()) return;
    proto_server s;
    if (proto_start(&s, "apps/tfb", NULL)) return;
    EXPECT(s.port, "GET", "/fortunes", NULL, 200,
           "^HTTP/1.1 200 OK\nServer: weft\nDate: [^\n]+GMT\nContent-Type: text/html; "
           "charset=utf-8\nContent-Length: [0-9]+\n\n<!DOCTYPE html><html><head><title>Fortunes"
           "</title></head><body><table><tr><th>id</th><th>message</th></tr><tr><td>11</td><td>"
           "&lt;script&gt;alert\\(&quot;This should not be displayed in a browser alert box.&quot;"
           "\\);&lt;/script&gt;</td></tr><tr><td>4</td><td>A bad random number generator: 1, 1, "
           "1, 1, 1, 4.33e\\+67, 1, 1, 1</td></tr><tr><td>5</td>(.*)<tr><td>0</td><td>Additional "
           "fortune added at request time.</td></tr>(.*)<tr><td>12</td><td>"
           "\xe3\x83\x95\xe3\x83\xac\xe3\x83\xbc\xe3\x83\xa0\xe3\x83\xaf\xe3\x83\xbc\xe3\x82\xaf"
           "\xe3\x81\xae\xe3\x83\x99\xe3\x83\xb3\xe3\x83\x81\xe3\x83\x9e\xe3\x83\xbc\xe3\x82\xaf"
           "</td></tr></table></body></html>\n?$");
    ASSERT_STOPS_CLEANLY(&s);
}

/* /updates must really change rows: what the app answered is what the
 * table holds, five times. */
TEST_PLAIN(tfb_updates_persist) {
    if (!have_db()) return;
    proto_server s;
    if (proto_start(&s, "apps/tfb", NULL)) return;
    for (int i = 0; i < 5; i++) {
        proto_resp r;
        EXPECT_KEEP(s.port, "GET", "/updates?queries=1", NULL, 200, "^.*\n\\[" ROW "\\]\n?$", &r);
        long id = 0, num = -1;
        const char *b = strstr(r.body, "\"id\":");
        if (b) sscanf(b, "\"id\":%ld,\"randomNumber\":%ld", &id, &num);
        char cmd[1024], got[64] = "";
        snprintf(
            cmd, sizeof cmd,
            "bash '%s/scripts/pg.sh' psql '%s' -tAc 'SELECT randomnumber FROM world WHERE id = "
            "%ld' 2>&1",
            proto_repo_dir(), getenv("WEFT_TEST_PG_DIR"), id);
        FILE *f = popen(cmd, "r");
        if (f) {
            if (!fgets(got, sizeof got, f)) got[0] = 0;
            pclose(f);
        }
        got[strcspn(got, "\n")] = 0;
        int same = id > 0 && num >= 0 && atol(got) == num && got[0];
        if (!same) test__fail(__FILE__, __LINE__, "answered %s, the table holds '%s'", r.body, got);
        proto_resp_free(&r);
        if (!same) break;
    }
    ASSERT_STOPS_CLEANLY(&s);
}

/* PostgreSQL goes away under the app: every database route answers 503 with
 * a reason (no hang, no crash) while /plaintext goes on; once it is back the
 * app reconnects by itself and /db answers 200 again (the pool retries with
 * back-off up to 2 s; allowed: 10 s). */
TEST_PLAIN(tfb_db_outage_503_then_heals) {
    if (!have_db()) return;
    proto_server s;
    if (proto_start(&s, "apps/tfb", NULL)) return;
    ASSERT_EQ(pg_sh("stop"), 0);
    static const char *const db_paths[] = {"/db", "/queries?queries=5", "/fortunes",
                                           "/updates?queries=5"};
    int ok = 1;
    for (size_t i = 0; i < 4 && ok; i++) {
        proto_resp r;
        if (proto_req(s.port, "GET", db_paths[i], NULL, &r)) {
            ok = 0;
            break;
        }
        if (proto_check_at(__FILE__, __LINE__, db_paths[i], &r, 503, "^.*database error: .*$"))
            ok = 0;
        proto_resp_free(&r);
    }
    if (ok) {
        proto_resp r;
        if (proto_req(s.port, "GET", "/plaintext", NULL, &r) == 0) {
            if (proto_check_at(__FILE__, __LINE__, "/plaintext with the database down", &r, 200,
                               NULL))
                ok = 0;
            proto_resp_free(&r);
        } else {
            ok = 0;
        }
    }
    /* back up in every case: later tests need it */
    int started = pg_sh("start");
    if (started != 0) test__fail(__FILE__, __LINE__, "PostgreSQL did not start again: %d", started);
    if (ok && started == 0) {
        int status = 0;
        for (int i = 0; i < 100 && status != 200; i++) {
            proto_resp r;
            if (proto_req(s.port, "GET", "/db", NULL, &r)) break;
            status = r.status;
            proto_resp_free(&r);
            if (status != 200) nanosleep(&(struct timespec){0, 100000000}, NULL);
        }
        if (status != 200)
            test__fail(__FILE__, __LINE__, "/db answered %d 10 s after PostgreSQL came back",
                       status);
    }
    ASSERT_STOPS_CLEANLY(&s);
}

/* The apps allocate through mimalloc (Makefile MALLOC=mimalloc) unless built
 * with sanitizers, which keep their own allocator (or with MALLOC=system). */
TEST_PLAIN(tfb_allocator_is_the_one_the_build_chose) {
    char *out = NULL;
    int rc = proto_run("apps/tfb", (const char *const[]){"--help", NULL},
                       (const char *const[]){"MIMALLOC_VERBOSE=1", NULL}, 20, &out);
    int banner = out && (strncmp(out, "mimalloc: ", 10) == 0 || strstr(out, "\nmimalloc: "));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    int want = 0;
#else
    int want = strcmp(TEST_APP_MALLOC, "mimalloc") == 0;
#endif
    if (banner != want)
        test__fail(__FILE__, __LINE__,
                   "MIMALLOC_VERBOSE=1 tfb --help (exit %d): mimalloc banner %s, want %s: %.120s",
                   rc, banner ? "present" : "absent", want ? "present" : "absent", out ? out : "");
    free(out);
}
