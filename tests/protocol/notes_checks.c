/*
 * tests/protocol/notes_checks.c — the notes API of examples/http_server,
 * checked request by request (21 requests, in this order), the same against
 * SQLite (tests/protocol/example_server.c) and PostgreSQL
 * (tests/protocol/example_server_pg.c). No id is assumed: a PostgreSQL table
 * outlives a run; "id" below is the one the latest 201 named in Location.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* created: UTC, millisecond precision, RFC 3339 */
#define TS                                                                                         \
    "\"created\":\"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z\""
/* a JSON response: status line, any headers, the body re, an optional newline */
#define JSON_RESP(status_line, body_re) "^HTTP/1.1 " status_line "\n(.*\n)*\n" body_re "\n?$"
#define SECOND "\"text\":\"second \\\\\"q\\\\\"\xc3\xbc\""

/* Checks the JSON content type of r; ends the caller on failure. */
static int json_type(const char *what, const proto_resp *r) {
    const char *ct = proto_hdr(r, "Content-Type");
    if (ct && strcmp(ct, "application/json") == 0) return 0;
    test__fail(__FILE__, __LINE__, "%s: Content-Type %s, want application/json", what,
               ct ? ct : "(none)");
    return -1;
}

/* A 201 with Location /notes/<id>: *id set. */
static int created_id(const char *what, const proto_resp *r, long long *id) {
    const char *loc = proto_hdr(r, "Location");
    char *end = NULL;
    if (loc && strncmp(loc, "/notes/", 7) == 0) *id = strtoll(loc + 7, &end, 10);
    if (!loc || !end || *end || *id <= 0) {
        test__fail(__FILE__, __LINE__, "%s: Location %s, want /notes/<id>", what,
                   loc ? loc : "(none)");
        return -1;
    }
    return 0;
}

/* EXPECT of proto.h, also requiring Content-Type: application/json. */
#define EXPECT_JSON(port, method, target, body, status, re)                                        \
    do {                                                                                           \
        proto_resp r__;                                                                            \
        EXPECT_KEEP(port, method, target, body, status, re, &r__);                                 \
        int bad__ = json_type(target, &r__);                                                       \
        proto_resp_free(&r__);                                                                     \
        if (bad__) return;                                                                         \
    } while (0)

void proto_notes_checks(int port) {
    char re[1024], loc[64], target[128];
    long long id = 0;
    proto_resp r;

    /* 1. create: 201, Location /notes/<id>, the note back */
    EXPECT_KEEP(port, "POST", "/notes", "{\"text\":\"first\"}", 201, NULL, &r);
    if (created_id("POST /notes", &r, &id) || json_type("POST /notes", &r)) {
        proto_resp_free(&r);
        return;
    }
    snprintf(re, sizeof re, JSON_RESP("201 Created", "\\{\"id\":%lld,\"text\":\"first\"," TS "\\}"),
             id);
    if (proto_check_at(__FILE__, __LINE__, "POST /notes", &r, 201, re)) {
        proto_resp_free(&r);
        return;
    }
    proto_resp_free(&r);

    /* 2. escapes and \u in the text come back as JSON escapes and UTF-8; an
     * unknown member is ignored */
    EXPECT_KEEP(port, "POST", "/notes", "{\"text\":\"second \\\"q\\\"\\u00fc\",\"extra\":1}", 201,
                NULL, &r);
    if (created_id("POST /notes (2)", &r, &id) || json_type("POST /notes (2)", &r)) {
        proto_resp_free(&r);
        return;
    }
    snprintf(re, sizeof re, JSON_RESP("201 Created", "\\{\"id\":%lld," SECOND "," TS "\\}"), id);
    if (proto_check_at(__FILE__, __LINE__, "POST /notes (2)", &r, 201, re)) {
        proto_resp_free(&r);
        return;
    }
    proto_resp_free(&r);
    snprintf(loc, sizeof loc, "/notes/%lld", id);

    /* 3. read it back */
    snprintf(re, sizeof re, JSON_RESP("200 OK", "\\{\"id\":%lld," SECOND "," TS "\\}"), id);
    EXPECT_JSON(port, "GET", loc, NULL, 200, re);

    /* 4. newest first */
    snprintf(re, sizeof re,
             JSON_RESP("200 OK", "\\[\\{\"id\":%lld," SECOND "," TS
                                 "\\},\\{\"id\":[1-9][0-9]*,\"text\":\"first\"," TS "\\}\\]"),
             id);
    EXPECT_JSON(port, "GET", "/notes?limit=2", NULL, 200, re);

    /* 5. paging with before= */
    snprintf(target, sizeof target, "/notes?before=%lld&limit=1", id);
    EXPECT_JSON(port, "GET", target, NULL, 200,
                JSON_RESP("200 OK", "\\[\\{\"id\":[1-9][0-9]*,\"text\":\"first\"," TS "\\}\\]"));

    /* 6. limit=0 is taken as 1 */
    snprintf(re, sizeof re, JSON_RESP("200 OK", "\\[\\{\"id\":%lld," SECOND "," TS "\\}\\]"), id);
    EXPECT_JSON(port, "GET", "/notes?limit=0", NULL, 200, re);

    /* 7-10. bad query parameters and ids */
    EXPECT_JSON(port, "GET", "/notes?limit=abc", NULL, 400,
                JSON_RESP("400 Bad Request", "\\{\"error\":\"limit must be an integer\"\\}"));
    EXPECT_JSON(port, "GET", "/notes?before=-1", NULL, 400,
                JSON_RESP("400 Bad Request",
                          "\\{\"error\":\"before must be a positive integer \\(a note id\\)\"\\}"));
    EXPECT_JSON(
        port, "GET", "/notes/abc", NULL, 400,
        JSON_RESP("400 Bad Request", "\\{\"error\":\"the note id must be a positive integer\"\\}"));
    EXPECT_JSON(port, "GET", "/notes/9223372036854775807", NULL, 404,
                JSON_RESP("404 Not Found", "\\{\"error\":\"no such note\"\\}"));

    /* 11-16. bad bodies */
    EXPECT_JSON(port, "POST", "/notes", "{\"text\":", 400,
                JSON_RESP("400 Bad Request", "\\{\"error\":\"invalid JSON at byte 8: [^\"]+\"\\}"));
    EXPECT_JSON(port, "POST", "/notes", "[\"text\"]", 400,
                JSON_RESP("400 Bad Request", "\\{\"error\":\"the body must be a JSON object\"\\}"));
    EXPECT_JSON(port, "POST", "/notes", "{\"txt\":\"hi\"}", 400,
                JSON_RESP("400 Bad Request", "\\{\"error\":\"\\\\\"text\\\\\" is required\"\\}"));
    EXPECT_JSON(
        port, "POST", "/notes", "{\"text\":42}", 400,
        JSON_RESP("400 Bad Request", "\\{\"error\":\"\\\\\"text\\\\\" must be a string\"\\}"));
    EXPECT_JSON(
        port, "POST", "/notes", "{\"text\":\" \"}", 400,
        JSON_RESP("400 Bad Request", "\\{\"error\":\"\\\\\"text\\\\\" must not be empty\"\\}"));
    char long_body[1100];
    memcpy(long_body, "{\"text\":\"", 9);
    memset(long_body + 9, 'x', 1001);
    memcpy(long_body + 1010, "\"}", 3);
    EXPECT_JSON(port, "POST", "/notes", long_body, 400,
                JSON_RESP("400 Bad Request",
                          "\\{\"error\":\"\\\\\"text\\\\\" is longer than 1000 bytes\"\\}"));

    /* 17-20. delete: 204 without a body, then gone */
    EXPECT(port, "DELETE", loc, NULL, 204, "^HTTP/1.1 204 No Content\n([^\n]+\n)*\n$");
    EXPECT_JSON(port, "GET", loc, NULL, 404,
                JSON_RESP("404 Not Found", "\\{\"error\":\"no such note\"\\}"));
    EXPECT_JSON(port, "DELETE", loc, NULL, 404,
                JSON_RESP("404 Not Found", "\\{\"error\":\"no such note\"\\}"));
    EXPECT_JSON(
        port, "DELETE", "/notes/abc", NULL, 400,
        JSON_RESP("400 Bad Request", "\\{\"error\":\"the note id must be a positive integer\"\\}"));

    /* 21. the list no longer has it */
    EXPECT_JSON(port, "GET", "/notes?limit=1", NULL, 200,
                JSON_RESP("200 OK", "\\[\\{\"id\":[1-9][0-9]*,\"text\":\"first\"," TS "\\}\\]"));
}
