/*
 * tests/protocol/example_server.c — examples/http_server as a user meets it:
 * the real binary on an ephemeral port, its notes in a fresh SQLite file,
 * requests over real sockets, then SIGTERM and exit status 0. The same notes
 * checks run against PostgreSQL in tests/protocol/example_server_pg.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/* Removes an SQLite file and its companions. */
static void remove_db(const char *path) {
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char f[512];
        snprintf(f, sizeof f, "%s%s", path, sfx[i]);
        unlink(f);
    }
}

/* A fresh SQLite path (nothing there yet) in path[0..n). */
static void fresh_db(char *path, size_t n, const char *tag) {
    snprintf(path, n, "%s/weft-proto-%s-%d.sqlite",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", tag, (int)getpid());
    remove_db(path);
}

TEST_PLAIN(example_routes_health_hello_add_echo_404) {
    char db[400];
    fresh_db(db, sizeof db, "routes");
    proto_server s;
    if (proto_start(&s, "examples/http_server", (const char *const[]){"--sqlite", db, NULL}))
        return;
    int p = s.port;
    EXPECT(p, "GET", "/health", NULL, 200,
           "^HTTP/1.1 200 OK\n(.*\n)*Content-Type: "
           "application/json\n(.*\n)*\n\\{\"status\":\"ok\".*$");
    /* a percent-encoded UTF-8 path parameter, and the timing middleware */
    EXPECT(p, "GET", "/hello/w%C3%B6rld", NULL, 200,
           "^.*X-Response-Time: [0-9.]+ms\n(.*\n)*\nHello, w\xc3\xb6rld!\n?$");
    EXPECT(p, "GET", "/add?a=2&b=40", NULL, 200, "^.*\n\\{\"sum\":42\\}\n?$");
    EXPECT(p, "GET", "/add?a=x", NULL, 400, "^HTTP/1.1 400 Bad Request\n.*$");
    EXPECT(p, "POST", "/echo", "{\"k\":[1,2.5,\"v\"]}", 200,
           "^.*\n\\{\"received\":\\{\"k\":\\[1,2.5,\"v\"\\]\\},\"bytes\":17\\}\n?$");
    EXPECT(p, "GET", "/nope", NULL, 404, "^HTTP/1.1 404 Not Found\n.*$");
    EXPECT(p, "GET", "/health", NULL, 200,
           "^.*\n\\{\"status\":\"ok\",[^\n]*\"store\":\"sqlite\"\\}\n?$");
    ASSERT_STOPS_CLEANLY(&s);
    remove_db(db);
}

TEST_PLAIN(example_notes_on_sqlite) {
    char db[400];
    fresh_db(db, sizeof db, "notes");
    proto_server s;
    if (proto_start(&s, "examples/http_server", (const char *const[]){"--sqlite", db, NULL}))
        return;
    proto_notes_checks(s.port);
    ASSERT_STOPS_CLEANLY(&s);
    remove_db(db);
}

/* The SQLite file survives a restart: a note created before SIGTERM reads
 * back the same after; and ids are not reused (AUTOINCREMENT): after
 * deleting the newest note, the next one gets a higher id. */
TEST_PLAIN(example_notes_persist_across_restart_ids_not_reused) {
    char db[400], loc[64];
    fresh_db(db, sizeof db, "persist");
    const char *const args[] = {"--sqlite", db, NULL};
    proto_server s;
    proto_resp r;
    if (proto_start(&s, "examples/http_server", args)) return;
    EXPECT_KEEP(s.port, "POST", "/notes", "{\"text\":\"kept across restarts\"}", 201, NULL, &r);
    const char *l = proto_hdr(&r, "Location");
    long long first = l && strncmp(l, "/notes/", 7) == 0 ? atoll(l + 7) : 0;
    char *before = strdup(r.body);
    proto_resp_free(&r);
    ASSERT_GT(first, 0);
    ASSERT_STOPS_CLEANLY(&s);

    if (proto_start(&s, "examples/http_server", args)) return;
    snprintf(loc, sizeof loc, "/notes/%lld", first);
    EXPECT_KEEP(s.port, "GET", loc, NULL, 200, NULL, &r);
    int same = strcmp(r.body, before) == 0;
    if (!same) test__fail(__FILE__, __LINE__, "created %s, after the restart %s", before, r.body);
    proto_resp_free(&r);
    free(before);
    if (!same) return;
    EXPECT(s.port, "DELETE", loc, NULL, 204, NULL);
    EXPECT_KEEP(s.port, "POST", "/notes", "{\"text\":\"next\"}", 201, NULL, &r);
    l = proto_hdr(&r, "Location");
    long long next = l && strncmp(l, "/notes/", 7) == 0 ? atoll(l + 7) : 0;
    proto_resp_free(&r);
    ASSERT_GT(next, first); /* id `first` deleted: the next note must not get it again */
    ASSERT_STOPS_CLEANLY(&s);
    remove_db(db);
}
