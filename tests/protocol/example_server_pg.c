/*
 * tests/protocol/example_server_pg.c — examples/http_server with its notes in
 * PostgreSQL: the conninfo in WEFT_TEST_PG (scripts/test.sh starts one; the
 * tests fail, saying so, without it). The same 21 notes checks as on SQLite.
 */
#include <stdlib.h>

#include "proto.h"

/* WEFT_TEST_PG, or NULL after failing the test. */
static const char *pg(void) {
    const char *c = getenv("WEFT_TEST_PG");
    if (!c || !*c)
        test__fail(__FILE__, __LINE__,
                   "WEFT_TEST_PG is not set (scripts/test.sh starts a PostgreSQL)");
    return c && *c ? c : NULL;
}

TEST_PLAIN(example_health_says_postgresql) {
    const char *c = pg();
    if (!c) return;
    proto_server s;
    if (proto_start(&s, "examples/http_server", (const char *const[]){"--pg", c, NULL})) return;
    EXPECT(s.port, "GET", "/health", NULL, 200,
           "^.*\n\\{\"status\":\"ok\",[^\n]*\"store\":\"postgresql\"\\}\n?$");
    ASSERT_STOPS_CLEANLY(&s);
}

TEST_PLAIN(example_notes_on_postgresql) {
    const char *c = pg();
    if (!c) return;
    proto_server s;
    if (proto_start(&s, "examples/http_server", (const char *const[]){"--pg", c, NULL})) return;
    proto_notes_checks(s.port);
    ASSERT_STOPS_CLEANLY(&s);
}
