/*
 * tests/unit/http_router.c — the router, middleware and the request /
 * response helpers, through the in-process test client (weft_http_test,
 * weft_http_test_raw): the same parser, router, middleware chain and
 * response writer as on a socket, without sockets. Each test names the rule
 * it checks (the router contract in weft/http.h, or the RFC).
 */
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/http.h"
#include "weft/json.h"

/* Responds "<tag>" plus every param as " name=value" (for the routes below). */
static int h_tag(weft_http_ctx *c, void *ud) {
    weft_buf *b = weft_http_body_buf(c);
    weft_http_set_content_type(c, "text/plain");
    int rc = weft_buf_appends(b, (const char *)ud);
    static const char *names[] = {"id", "x", "a", "b", "c", "rest", "r", "name", "path"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !rc; i++) {
        weft_str v = weft_http_param(c, names[i]);
        if (v.p) rc = weft_buf_printf(b, " %s=%.*s", names[i], (int)v.n, v.p);
    }
    return rc;
}

static int body_is(const weft_http_test_response *r, const char *s) {
    return r->body.n == strlen(s) && memcmp(r->body.p ? r->body.p : "", s, r->body.n) == 0;
}

static int hdr_is(const weft_http_test_response *r, const char *name, const char *v) {
    weft_str h = weft_http_test_header(r, name);
    return h.p && weft_str_eq(h, weft_str_c(v));
}

/* Runs method target through r; returns the status (or the negative error)
 * and copies the body, NUL-terminated, into out. */
static int req(weft_http_router *r, const char *method, const char *target, const char *headers,
               const char *body, char *out, size_t outn) {
    weft_http_test_response res;
    int rc = weft_http_test(r, method, target, headers, body, &res);
    if (rc) {
        weft_http_test_response_free(&res);
        return rc;
    }
    if (out) snprintf(out, outn, "%.*s", (int)res.body.n, res.body.p ? res.body.p : "");
    int st = res.status;
    weft_http_test_response_free(&res);
    return st;
}

#define GET(r, target, out) req((r), "GET", (target), NULL, NULL, (out), sizeof(out))

/* ---- matching -------------------------------------------------------------- */

TEST(route_literal_beats_param_beats_rest) {
    /* "Literal segments win over {param}, which wins over {rest...}" */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/a/b", h_tag, "lit"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/a/{x}", h_tag, "param"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/a/{rest...}", h_tag, "rest"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/", h_tag, "root"), 0);
    char b[256];
    ASSERT_EQ(GET(r, "/a/b", b), 200);
    ASSERT_STREQ(b, "lit");
    ASSERT_EQ(GET(r, "/a/c", b), 200);
    ASSERT_STREQ(b, "param x=c");
    ASSERT_EQ(GET(r, "/a/b/c", b), 200); /* lit and param dead-end: rest */
    ASSERT_STREQ(b, "rest rest=b/c");
    ASSERT_EQ(GET(r, "/a/c/d/e", b), 200);
    ASSERT_STREQ(b, "rest rest=c/d/e");
    ASSERT_EQ(GET(r, "/a/", b), 200); /* an empty segment is no {param}; the rest is "" */
    ASSERT_STREQ(b, "rest rest=");
    ASSERT_EQ(GET(r, "/a", b), 200); /* {rest...} may be empty */
    ASSERT_STREQ(b, "rest rest=");
    ASSERT_EQ(GET(r, "/", b), 200);
    ASSERT_STREQ(b, "root");
    ASSERT_EQ(GET(r, "/b", b), 404);
    ASSERT_EQ(GET(r, "/a/b?q=1", b), 200); /* the query is not part of the path */
    ASSERT_STREQ(b, "lit");
    weft_http_router_free(r);
}

TEST(route_backtracks_out_of_dead_ends) {
    /* a more specific branch that dead-ends gives way to the next one, with
     * the params of the abandoned branch dropped */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/u/new/profile", h_tag, "new-profile"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/u/{id}/settings", h_tag, "settings"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/p/{a}/{b}/z", h_tag, "abz"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/p/{a}/q/x/y", h_tag, "aqxy"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/p/{rest...}", h_tag, "prest"), 0);
    char b[256];
    ASSERT_EQ(GET(r, "/u/new/profile", b), 200);
    ASSERT_STREQ(b, "new-profile");
    ASSERT_EQ(GET(r, "/u/new/settings", b), 200); /* literal "new" dead-ends */
    ASSERT_STREQ(b, "settings id=new");
    ASSERT_EQ(GET(r, "/u/7/settings", b), 200);
    ASSERT_STREQ(b, "settings id=7");
    ASSERT_EQ(GET(r, "/u/7/profile", b), 404);
    ASSERT_EQ(GET(r, "/p/1/2/z", b), 200);
    ASSERT_STREQ(b, "abz a=1 b=2");
    ASSERT_EQ(GET(r, "/p/1/q/x/y", b), 200);
    ASSERT_STREQ(b, "aqxy a=1");
    ASSERT_EQ(GET(r, "/p/1/q/z", b), 200); /* literal q dead-ends: {b} = q */
    ASSERT_STREQ(b, "abz a=1 b=q");
    ASSERT_EQ(GET(r, "/p/1/q/x", b), 200); /* q/x has no handler, {b}/x no z: rest */
    ASSERT_STREQ(b, "prest rest=1/q/x");
    ASSERT_EQ(GET(r, "/p/1/2/y", b), 200); /* both param levels dead-end: rest */
    ASSERT_STREQ(b, "prest rest=1/2/y");
    weft_http_router_free(r);
}

TEST(route_trailing_slash_is_distinct) {
    /* "/t" and "/t/" are different paths (RFC 3986 §6.2.4 does not make them
     * equal) */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/t", h_tag, "no-slash"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/d/", h_tag, "slash"), 0);
    char b[64];
    ASSERT_EQ(GET(r, "/t", b), 200);
    ASSERT_STREQ(b, "no-slash");
    ASSERT_EQ(GET(r, "/t/", b), 404);
    ASSERT_EQ(GET(r, "/d/", b), 200);
    ASSERT_STREQ(b, "slash");
    ASSERT_EQ(GET(r, "/d", b), 404);
    ASSERT_EQ(weft_http_route(r, "GET", "/t/", h_tag, "t-slash"), 0);
    ASSERT_EQ(GET(r, "/t/", b), 200);
    ASSERT_STREQ(b, "t-slash");
    ASSERT_EQ(GET(r, "/t", b), 200);
    ASSERT_STREQ(b, "no-slash");
    weft_http_router_free(r);
}

TEST(route_params_are_percent_decoded) {
    /* "Route parameter by name, percent-decoded"; '+' is not a space in a
     * path; an encoded '/' stays inside its segment; a malformed escape
     * leaves the raw value */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/users/{name}", h_tag, "u"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/f/{path...}", h_tag, "f"), 0);
    char b[256];
    ASSERT_EQ(GET(r, "/users/J%C3%B6rg%20K", b), 200);
    ASSERT_STREQ(b, "u name=J\xc3\xb6rg K");
    ASSERT_EQ(GET(r, "/users/a+b", b), 200);
    ASSERT_STREQ(b, "u name=a+b");
    ASSERT_EQ(GET(r, "/users/a%2Fb", b), 200);
    ASSERT_STREQ(b, "u name=a/b");
    ASSERT_EQ(GET(r, "/f/x%20y/z", b), 200);
    ASSERT_STREQ(b, "f path=x y/z");
    ASSERT_EQ(GET(r, "/users/%zz", b), 200);
    ASSERT_STREQ(b, "u name=%zz");
    ASSERT_EQ(GET(r, "/users/ab%4", b), 200);
    ASSERT_STREQ(b, "u name=ab%4");
    weft_http_router_free(r);
}

static int h_method(weft_http_ctx *c, void *ud) {
    weft_str m = weft_http_method(c);
    weft_buf *b = weft_http_body_buf(c);
    return weft_buf_printf(b, "%s %.*s", (const char *)ud, (int)m.n, m.p);
}

TEST(route_404_and_405_with_allow) {
    /* RFC 9110 §15.5.5 / §15.5.6: no such path -> 404; path known, method
     * not -> 405 with Allow listing the methods, HEAD included when GET is */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/r", h_method, "get"), 0);
    ASSERT_EQ(weft_http_route(r, "POST", "/r", h_method, "post"), 0);
    ASSERT_EQ(weft_http_route(r, "DELETE", "/only-delete", h_method, "del"), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "PUT", "/r", NULL, "x", &res), 0);
    ASSERT_EQ(res.status, 405);
    weft_str allow = weft_http_test_header(&res, "Allow");
    char a[128];
    snprintf(a, sizeof a, "%.*s", (int)allow.n, allow.p ? allow.p : "");
    weft_http_test_response_free(&res);
    ASSERT_STREQ(a, "GET, POST, HEAD");
    ASSERT_EQ(weft_http_test(r, "GET", "/only-delete", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 405);
    ASSERT(hdr_is(&res, "Allow", "DELETE")); /* no GET, so no HEAD */
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/nothing", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 404);
    ASSERT(body_is(&res, "not found\n"));
    ASSERT_EQ(weft_http_test_header(&res, "Allow").p, NULL);
    weft_http_test_response_free(&res);
    weft_http_router_free(r);
}

TEST(route_custom_not_found) {
    /* weft_http_router_not_found replaces the 404 handler; NULL restores it */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    weft_http_router_not_found(r, h_method, "custom");
    char b[64];
    ASSERT_EQ(GET(r, "/x", b), 200);
    ASSERT_STREQ(b, "custom GET");
    weft_http_router_not_found(r, NULL, NULL);
    ASSERT_EQ(GET(r, "/x", b), 404);
    weft_http_router_free(r);
}

TEST(route_head_falls_back_to_get) {
    /* "HEAD falls back to the GET route (the body is dropped)"; RFC 9110
     * §9.3.2: same Content-Length; an explicit HEAD route wins */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/g", h_method, "get"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/h", h_method, "get"), 0);
    ASSERT_EQ(weft_http_route(r, "HEAD", "/h", h_method, "head"), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "HEAD", "/g", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(hdr_is(&res, "Content-Length", "8")); /* "get HEAD" */
    ASSERT_EQ(res.body.n, 0);
    /* nothing after the head in what was written */
    ASSERT(res.raw.len >= 4 && memcmp(res.raw.data + res.raw.len - 4, "\r\n\r\n", 4) == 0);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "HEAD", "/h", NULL, NULL, &res), 0);
    ASSERT(hdr_is(&res, "Content-Length", "9")); /* "head HEAD" from its own route */
    weft_http_test_response_free(&res);
    /* and through test_raw: HEAD then GET pipelined, the GET's body intact */
    weft_buf out;
    weft_buf_init(&out, 0);
    const char raw[] = "HEAD /g HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(weft_http_test_raw(r, NULL, raw, sizeof raw - 1, &out), 0);
    const char *second = strstr(out.data, "\r\n\r\nHTTP/1.1 200");
    int ok = second && strlen(second) >= 8 && strcmp(out.data + out.len - 7, "get GET") == 0;
    weft_buf_free(&out);
    ASSERT(ok);
    weft_http_router_free(r);
}

TEST(route_star_method_matches_any) {
    /* "method "*" matches any method"; a specific method still wins; "*" is
     * not listed in Allow and there is no 405 */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "*", "/any", h_method, "star"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/any", h_method, "get"), 0);
    char b[64];
    ASSERT_EQ(req(r, "DELETE", "/any", NULL, NULL, b, sizeof b), 200);
    ASSERT_STREQ(b, "star DELETE");
    ASSERT_EQ(req(r, "PATCH", "/any", NULL, "x", b, sizeof b), 200);
    ASSERT_STREQ(b, "star PATCH");
    ASSERT_EQ(GET(r, "/any", b), 200);
    ASSERT_STREQ(b, "get GET");
    weft_http_router_free(r);
}

TEST(route_registration_errors) {
    /* WEFT_EEXIST: same method + pattern twice, or two different {names} at
     * one position; WEFT_EINVAL: malformed patterns and arguments */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/a/{id}", h_tag, "x"), 0);
    ASSERT_ERR(weft_http_route(r, "GET", "/a/{id}", h_tag, "x"), WEFT_EEXIST);
    ASSERT_EQ(weft_http_route(r, "POST", "/a/{id}", h_tag, "x"), 0); /* other method: fine */
    ASSERT_EQ(weft_http_route(r, "GET", "/a/{id}/more", h_tag, "x"), 0); /* same name: fine */
    ASSERT_ERR(weft_http_route(r, "GET", "/a/{name}/x", h_tag, "x"), WEFT_EEXIST);
    ASSERT_EQ(weft_http_route(r, "GET", "/r/{rest...}", h_tag, "x"), 0);
    ASSERT_ERR(weft_http_route(r, "GET", "/r/{other...}", h_tag, "x"), WEFT_EEXIST);
    ASSERT_EQ(weft_http_route(r, "*", "/s", h_tag, "x"), 0);
    ASSERT_ERR(weft_http_route(r, "*", "/s", h_tag, "x"), WEFT_EEXIST);
    static const char *bad[] = {
        "", "a/b", "/a/{", "/a/}", "/{}", "/{a b}", "/{rest...}/x", "/a{b}", "/{...}",
        "/x/{a/b}", "/{a.b}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = weft_http_route(r, "GET", bad[i], h_tag, "x");
        if (rc != WEFT_EINVAL) fprintf(stderr, "    pattern \"%s\": %s\n", bad[i], weft_strerror(rc));
        ASSERT_ERR(rc, WEFT_EINVAL);
    }
    ASSERT_ERR(weft_http_route(r, "GET", "/ok", NULL, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_http_route(r, "", "/ok", h_tag, "x"), WEFT_EINVAL);
    ASSERT_ERR(weft_http_route(NULL, "GET", "/ok", h_tag, "x"), WEFT_EINVAL);
    /* the failed registrations left the earlier routes working */
    char b[64];
    ASSERT_EQ(GET(r, "/a/5", b), 200);
    ASSERT_STREQ(b, "x id=5");
    weft_http_router_free(r);
}

/* ---- middleware ------------------------------------------------------------ */

static char mw_log[256];

static void logs(const char *s) { strncat(mw_log, s, sizeof mw_log - strlen(mw_log) - 1); }

static int mw_named(weft_http_ctx *c, void *ud) {
    const char *name = ud;
    char b[32];
    snprintf(b, sizeof b, "%s< ", name);
    logs(b);
    int rc = weft_http_next(c);
    snprintf(b, sizeof b, "%s> ", name);
    logs(b);
    return rc;
}

static int h_logged(weft_http_ctx *c, void *ud) {
    (void)ud;
    logs("H ");
    return weft_http_text(c, 200, "ok");
}

TEST(middleware_runs_in_registration_order_around_handler) {
    /* "code before the call runs before, code after runs after", in order of
     * registration, also for 404 and 405 answers */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_use(r, mw_named, "1"), 0);
    ASSERT_EQ(weft_http_use(r, mw_named, "2"), 0);
    ASSERT_EQ(weft_http_use(r, mw_named, "3"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/x", h_logged, NULL), 0);
    char b[64];
    mw_log[0] = 0;
    ASSERT_EQ(GET(r, "/x", b), 200);
    ASSERT_STREQ(mw_log, "1< 2< 3< H 3> 2> 1> ");
    mw_log[0] = 0;
    ASSERT_EQ(GET(r, "/missing", b), 404);
    ASSERT_STREQ(mw_log, "1< 2< 3< 3> 2> 1> ");
    mw_log[0] = 0;
    ASSERT_EQ(req(r, "POST", "/x", NULL, "", b, sizeof b), 405);
    ASSERT_STREQ(mw_log, "1< 2< 3< 3> 2> 1> ");
    weft_http_router_free(r);
}

static int mw_twice(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_next(c);
    int rc2 = weft_http_next(c); /* a second next() after the handler: no-op */
    return rc ? rc : rc2;
}

TEST(middleware_second_next_is_a_no_op) {
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_use(r, mw_twice, NULL), 0);
    ASSERT_EQ(weft_http_use(r, mw_named, "in"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/x", h_logged, NULL), 0);
    char b[64];
    mw_log[0] = 0;
    ASSERT_EQ(GET(r, "/x", b), 200);
    ASSERT_STREQ(b, "ok");
    ASSERT_STREQ(mw_log, "in< H in> ");
    weft_http_router_free(r);
}

static int mw_auth(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str a = weft_http_get_header(c, "authorization");
    if (!a.p || !weft_str_eq(a, WEFT_STR("Bearer s3cret"))) {
        weft_http_add_header(c, "WWW-Authenticate", "Bearer");
        return weft_http_error(c, 401, "unauthorized");
    }
    static char user[] = "alice";
    weft_http_set_data(c, user); /* handed to the handler */
    return weft_http_next(c);
}

static int h_whoami(weft_http_ctx *c, void *ud) {
    (void)ud;
    logs("H ");
    const char *u = weft_http_data(c);
    return weft_http_text(c, 200, u ? u : "(none)");
}

TEST(middleware_short_circuit_and_data_handoff) {
    /* not calling next() short-circuits (the handler never runs); data set
     * by middleware reaches the handler, and does not leak into the next
     * request */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_use(r, mw_auth, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/me", h_whoami, NULL), 0);
    weft_http_test_response res;
    mw_log[0] = 0;
    ASSERT_EQ(weft_http_test(r, "GET", "/me", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 401);
    ASSERT(hdr_is(&res, "WWW-Authenticate", "Bearer"));
    ASSERT(hdr_is(&res, "Content-Type", "application/json"));
    ASSERT(body_is(&res, "{\"error\":\"unauthorized\"}\n"));
    weft_http_test_response_free(&res);
    ASSERT_STREQ(mw_log, "");
    ASSERT_EQ(weft_http_test(r, "GET", "/me", "Authorization: Bearer s3cret\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(body_is(&res, "alice"));
    weft_http_test_response_free(&res);
    ASSERT_STREQ(mw_log, "H ");
    weft_http_router_free(r);
    /* per-request: a second pipelined request without the middleware setting
     * it sees NULL */
    r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/me", h_whoami, NULL), 0);
    weft_buf out;
    weft_buf_init(&out, 0);
    const char raw[] = "GET /me HTTP/1.1\r\nHost: x\r\n\r\nGET /me HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(weft_http_test_raw(r, NULL, raw, sizeof raw - 1, &out), 0);
    const char *first = strstr(out.data, "(none)");
    int ok = first && strstr(first + 1, "(none)");
    weft_buf_free(&out);
    ASSERT(ok);
    weft_http_router_free(r);
}

static int mw_noop(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_next(c);
}

TEST(middleware_limit) {
    /* "WEFT_ELIMIT (over 16)" */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    for (int i = 0; i < 16; i++) ASSERT_EQ(weft_http_use(r, mw_noop, NULL), 0);
    ASSERT_ERR(weft_http_use(r, mw_noop, NULL), WEFT_ELIMIT);
    ASSERT_ERR(weft_http_use(r, NULL, NULL), WEFT_EINVAL);
    ASSERT_EQ(weft_http_route(r, "GET", "/", h_logged, NULL), 0);
    char b[16];
    ASSERT_EQ(GET(r, "/", b), 200);
    weft_http_router_free(r);
}

/* ---- request helpers ---------------------------------------------------------- */

static int h_query(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_buf *b = weft_http_body_buf(c);
    static const char *keys[] = {"a", "b", "c", "d", "e", "f", "g", "sp ace", "missing"};
    int rc = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !rc; i++) {
        weft_str v = weft_http_query(c, keys[i]);
        if (v.p)
            rc = weft_buf_printf(b, "%s=[%.*s];", keys[i], (int)v.n, v.p);
        else
            rc = weft_buf_printf(b, "%s=NULL;", keys[i]);
    }
    weft_str raw = weft_http_raw_query(c);
    return rc ? rc : weft_buf_printf(b, "raw=%.*s", (int)raw.n, raw.p);
}

TEST(request_query_parsing) {
    /* weft_http_query: first occurrence, %XX and '+' decoded; an empty value
     * is "" (present), a key without '=' too; a malformed escape makes the
     * value unusable (absent) */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/q", h_query, NULL), 0);
    char b[512];
    ASSERT_EQ(GET(r, "/q?a=1&b=hello+world&c=%41%42%2b&a=2&d=&e&f=%zz&g=50%25&sp+ace=%C3%A9", b),
              200);
    ASSERT_STREQ(b, "a=[1];b=[hello world];c=[AB+];d=[];e=[];f=NULL;g=[50%];sp ace=[\xc3\xa9];"
                    "missing=NULL;raw=a=1&b=hello+world&c=%41%42%2b&a=2&d=&e&f=%zz&g=50%25&sp+ace=%C3%A9");
    ASSERT_EQ(GET(r, "/q", b), 200);
    ASSERT_STREQ(b, "a=NULL;b=NULL;c=NULL;d=NULL;e=NULL;f=NULL;g=NULL;sp ace=NULL;missing=NULL;raw=");
    weft_http_router_free(r);
}

static int h_form(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str a = weft_http_form(c, "a"), b = weft_http_form(c, "b"), q = weft_http_query(c, "a");
    weft_buf *o = weft_http_body_buf(c);
    return weft_buf_printf(o, "a=%s%.*s b=%s%.*s q=%.*s", a.p ? "" : "NULL", (int)a.n,
                           a.p ? a.p : "", b.p ? "" : "NULL", (int)b.n, b.p ? b.p : "", (int)q.n,
                           q.p ? q.p : "");
}

TEST(request_form_parsing) {
    /* weft_http_form: application/x-www-form-urlencoded bodies (with or
     * without parameters on the type), decoded like the query; other types
     * give nothing; the query is separate */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "POST", "/f", h_form, NULL), 0);
    char b[256];
    ASSERT_EQ(req(r, "POST", "/f?a=fromquery",
                  "Content-Type: application/x-www-form-urlencoded\r\n",
                  "a=hello+w%C3%B6rld&b=%26x%3D", b, sizeof b),
              200);
    ASSERT_STREQ(b, "a=hello w\xc3\xb6rld b=&x= q=fromquery");
    ASSERT_EQ(req(r, "POST", "/f", "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8\r\n",
                  "b=2", b, sizeof b),
              200);
    ASSERT_STREQ(b, "a=NULL b=2 q=");
    ASSERT_EQ(req(r, "POST", "/f", "Content-Type: text/plain\r\n", "a=1", b, sizeof b), 200);
    ASSERT_STREQ(b, "a=NULL b=NULL q=");
    ASSERT_EQ(req(r, "POST", "/f", NULL, "a=1", b, sizeof b), 200);
    ASSERT_STREQ(b, "a=NULL b=NULL q=");
    /* a chunked form body works the same */
    ASSERT_EQ(req(r, "POST", "/f",
                  "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n",
                  "4\r\na=xy\r\n0\r\n\r\n", b, sizeof b),
              200);
    ASSERT_STREQ(b, "a=xy b=NULL q=");
    weft_http_router_free(r);
}

static int h_cookie(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_buf *o = weft_http_body_buf(c);
    static const char *names[] = {"a", "b", "c", "d", "flag", "missing"};
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !rc; i++) {
        weft_str v = weft_http_cookie(c, names[i]);
        rc = v.p ? weft_buf_printf(o, "%s=[%.*s] ", names[i], (int)v.n, v.p)
                 : weft_buf_printf(o, "%s=NULL ", names[i]);
    }
    return rc;
}

TEST(request_cookies) {
    /* RFC 6265 §5.4: "name=value" pairs separated by "; ", quotes stripped,
     * the first '=' splits, several Cookie headers all count */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/c", h_cookie, NULL), 0);
    char b[256];
    ASSERT_EQ(req(r, "GET", "/c", "Cookie: a=1; b=\"quoted\";c=x=y; flag\r\nCookie: d=4\r\n", NULL,
                  b, sizeof b),
              200);
    ASSERT_STREQ(b, "a=[1] b=[quoted] c=[x=y] d=[4] flag=NULL missing=NULL ");
    ASSERT_EQ(GET(r, "/c", b), 200);
    ASSERT_STREQ(b, "a=NULL b=NULL c=NULL d=NULL flag=NULL missing=NULL ");
    weft_http_router_free(r);
}

/* ---- response helpers ---------------------------------------------------------- */

static int h_error(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_error(c, 422, "bad \"x\"\n");
}
static int h_error_default(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_error(c, 503, NULL);
}
static int h_redirect(weft_http_ctx *c, void *ud) {
    (void)ud;
    if (weft_http_redirect(c, 200, "/nope") != WEFT_EINVAL) return WEFT_EIO;
    if (weft_http_redirect(c, 302, "/bad\r\nX: y") != WEFT_EINVAL) return WEFT_EIO;
    return weft_http_redirect(c, 308, "/new?x=1");
}
static int h_cookie_set(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_set_cookie(c, "sid", "abc123", "Path=/; HttpOnly; Max-Age=3600");
    if (!rc) rc = weft_http_set_cookie(c, "plain", "v", NULL);
    if (!rc && weft_http_set_cookie(c, "bad name", "v", NULL) != WEFT_EINVAL) rc = WEFT_EIO;
    if (!rc && weft_http_set_cookie(c, "n", "v;x", NULL) != WEFT_EINVAL) rc = WEFT_EIO;
    if (!rc && weft_http_set_cookie(c, "n", "v\r\nX: y", NULL) != WEFT_EINVAL) rc = WEFT_EIO;
    return rc ? rc : weft_http_text(c, 200, "");
}
static int h_headers(weft_http_ctx *c, void *ud) {
    (void)ud;
    static const char *owned[] = {"Content-Length", "transfer-encoding", "Date", "Connection"};
    for (size_t i = 0; i < 4; i++)
        if (weft_http_add_header(c, owned[i], "1") != WEFT_EINVAL) return WEFT_EIO;
    if (weft_http_add_header(c, "X-A", "a\r\nInjected: 1") != WEFT_EINVAL) return WEFT_EIO;
    if (weft_http_add_header(c, "X-A\r\nB", "a") != WEFT_EINVAL) return WEFT_EIO;
    if (weft_http_add_header(c, "X:A", "a") != WEFT_EINVAL) return WEFT_EIO;
    if (weft_http_add_header(c, "", "a") != WEFT_EINVAL) return WEFT_EIO;
    int rc = weft_http_add_header(c, "X-Custom", "one");
    if (!rc) rc = weft_http_add_header(c, "X-Custom", "two");
    if (!rc) rc = weft_http_add_header(c, "content-type", "image/png"); /* replaces, no dup */
    if (!rc) rc = weft_http_append(c, "ab", 2);
    if (!rc) rc = weft_http_append(c, "cd", 2);
    if (!rc) weft_http_set_status(c, 203);
    return rc;
}

static int count_header(const weft_http_test_response *r, const char *name) {
    int n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (weft_str_eq_nocase(r->headers[i].name, weft_str_c(name))) n++;
    return n;
}

TEST(response_error_redirect_cookie_headers) {
    /* weft_http_error: {"error":msg} as application/json (escaped); redirect:
     * the status + Location, empty body, only 3xx redirect codes;
     * set_cookie: "name=value; attrs", refusing unsafe bytes; add_header
     * refuses the headers the server owns and CR/LF */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/error", h_error, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/error503", h_error_default, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/redirect", h_redirect, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/cookie", h_cookie_set, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/headers", h_headers, NULL), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "GET", "/error", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 422);
    ASSERT(hdr_is(&res, "Content-Type", "application/json"));
    ASSERT(body_is(&res, "{\"error\":\"bad \\\"x\\\"\\n\"}\n"));
    ASSERT(memcmp(res.raw.data, "HTTP/1.1 422 Unprocessable Content\r\n", 36) == 0);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/error503", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 503);
    ASSERT(body_is(&res, "{\"error\":\"Service Unavailable\"}\n"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/redirect", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 308);
    ASSERT(hdr_is(&res, "Location", "/new?x=1"));
    ASSERT_EQ(count_header(&res, "Location"), 1);
    ASSERT(hdr_is(&res, "Content-Length", "0"));
    ASSERT_EQ(res.body.n, 0);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/cookie", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT_EQ(count_header(&res, "Set-Cookie"), 2);
    ASSERT(hdr_is(&res, "Set-Cookie", "sid=abc123; Path=/; HttpOnly; Max-Age=3600"));
    ASSERT(strstr(res.raw.data, "\r\nSet-Cookie: plain=v\r\n"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/headers", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 203);
    ASSERT_EQ(count_header(&res, "X-Custom"), 2);
    ASSERT_EQ(count_header(&res, "Content-Type"), 1);
    ASSERT(hdr_is(&res, "Content-Type", "image/png"));
    ASSERT_EQ(count_header(&res, "Content-Length"), 1);
    ASSERT_EQ(count_header(&res, "Date"), 1);
    ASSERT_EQ(count_header(&res, "Injected"), 0);
    ASSERT(body_is(&res, "abcd"));
    weft_http_test_response_free(&res);
    weft_http_router_free(r);
}

static int h_json(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_json *doc;
    weft_json_error err;
    if (weft_http_body_json(c, &doc, &err)) {
        char msg[128];
        snprintf(msg, sizeof msg, "bad json at %zu: %s", err.offset, err.msg);
        return weft_http_error(c, 400, msg);
    }
    int64_t n;
    if (weft_json_int(weft_json_get(doc, "n"), &n)) return weft_http_error(c, 422, "n");
    weft_str s = weft_json_str(weft_json_get(doc, "s"));
    weft_json_enc *e = weft_http_json_begin(c, 201);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("n"));
    weft_json_enc_int(e, n + 1);
    weft_json_enc_key(e, WEFT_STR("s"));
    weft_json_enc_str(e, s);
    weft_json_enc_key(e, WEFT_STR("echo"));
    weft_json_enc_value(e, doc);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static int h_json_incomplete(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    return weft_http_json_end(c); /* unbalanced: WEFT_EINVAL -> 500 */
}

TEST(response_json_in_and_out) {
    /* weft_http_body_json parses the body into the request arena;
     * weft_http_json_begin/end writes application/json; an incomplete
     * document is an error (-> 500) */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "POST", "/j", h_json, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/bad", h_json_incomplete, NULL), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "POST", "/j", "Content-Type: application/json\r\n",
                             "{\"n\": 41, \"s\": \"h\\u00e9\", \"a\": [1, true, null]}", &res),
              0);
    ASSERT_EQ(res.status, 201);
    ASSERT(hdr_is(&res, "Content-Type", "application/json"));
    ASSERT(body_is(&res, "{\"n\":42,\"s\":\"h\xc3\xa9\",\"echo\":{\"n\":41,\"s\":\"h\xc3\xa9\","
                         "\"a\":[1,true,null]}}"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "POST", "/j", NULL, "{\"n\": }", &res), 0);
    ASSERT_EQ(res.status, 400);
    ASSERT(res.body.n > 20 && memcmp(res.body.p, "{\"error\":\"bad json at 6: ", 24) == 0);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "POST", "/j", NULL, NULL, &res), 0); /* empty body */
    ASSERT_EQ(res.status, 400);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/bad", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 500);
    weft_http_test_response_free(&res);
    weft_http_router_free(r);
}

static int h_fail(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_http_add_header(c, "X-Partial", "1");
    weft_http_set_cookie(c, "s", "1", NULL);
    weft_http_text(c, 201, "half");
    return WEFT_EIO;
}

static int h_stream(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_http_append(c, "pre-", 4); /* buffered before the first write: sent first */
    int rc = weft_http_write(c, "one,", 4);
    if (!rc) rc = weft_http_write(c, "two", 3);
    return rc;
}

TEST(response_handler_error_is_500) {
    /* "a negative code ... the server then answers 500 if nothing was sent
     * yet": the handler's status, headers and body are dropped */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/fail", h_fail, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/stream", h_stream, NULL), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "GET", "/fail", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 500);
    ASSERT_EQ(count_header(&res, "X-Partial"), 0);
    ASSERT_EQ(count_header(&res, "Set-Cookie"), 0);
    ASSERT(body_is(&res, "internal server error\n"));
    weft_http_test_response_free(&res);
    /* streaming through the test client: chunked and decoded */
    ASSERT_EQ(weft_http_test(r, "GET", "/stream", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(hdr_is(&res, "Transfer-Encoding", "chunked"));
    ASSERT(body_is(&res, "pre-one,two"));
    weft_http_test_response_free(&res);
    weft_http_router_free(r);
}

TEST(request_absolute_form_target_is_routed_by_path) {
    /* RFC 9112 §3.2.2: a server must accept absolute-form; routing uses its
     * path (and "/" when it has none) */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/users/{id}", h_tag, "user"), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/", h_tag, "root"), 0);
    char b[64];
    ASSERT_EQ(GET(r, "http://example.com/users/7?x=1", b), 200);
    ASSERT_STREQ(b, "user id=7");
    ASSERT_EQ(GET(r, "http://example.com:8080/users/8", b), 200);
    ASSERT_STREQ(b, "user id=8");
    ASSERT_EQ(GET(r, "http://example.com", b), 200);
    ASSERT_STREQ(b, "root");
    ASSERT_EQ(GET(r, "http://example.com/nope", b), 404);
    weft_http_router_free(r);
}

TEST(request_pipelined_through_test_raw) {
    /* weft_http_test_raw: pipelined requests answered in order into one
     * buffer; a trailing partial request is not answered */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/n/{x}", h_tag, "n"), 0);
    weft_buf out;
    weft_buf_init(&out, 0);
    const char raw[] = "GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /n/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /n/3 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /n/4 HTTP/1.1\r\nHo";
    ASSERT_EQ(weft_http_test_raw(r, NULL, raw, sizeof raw - 1, &out), 0);
    const char *p1 = strstr(out.data, "n x=1"), *p2 = strstr(out.data, "n x=2"),
               *p3 = strstr(out.data, "n x=3"), *p4 = strstr(out.data, "n x=4");
    int n200 = 0;
    for (const char *p = out.data; (p = strstr(p, "HTTP/1.1 200")); p++) n200++;
    weft_buf_free(&out);
    ASSERT(p1 && p2 && p3 && p1 < p2 && p2 < p3);
    ASSERT(!p4);
    ASSERT_EQ(n200, 3);
    /* limits from the config apply */
    weft_http_config cfg = {.limits = {.max_headers = 1}};
    weft_buf_init(&out, 0);
    const char two[] = "GET /n/1 HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n";
    ASSERT_EQ(weft_http_test_raw(r, &cfg, two, sizeof two - 1, &out), 0);
    int is431 = out.len > 12 && memcmp(out.data, "HTTP/1.1 431", 12) == 0;
    weft_buf_free(&out);
    ASSERT(is431);
    weft_http_router_free(r);
}

/* ---- files ----------------------------------------------------------------------- */

static char file_dir[64], file_path[128];
static const char file_body[] = "abcdefghijklmnopqrstuvwxyz";

static int h_file(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_send_file(c, file_path);
    if (rc == WEFT_ENOENT) return weft_http_text(c, 404, "no file\n");
    return rc;
}

static int h_missing_file(weft_http_ctx *c, void *ud) {
    (void)ud;
    char p[160];
    snprintf(p, sizeof p, "%s/does-not-exist.txt", file_dir);
    int rc = weft_http_send_file(c, p);
    if (rc == WEFT_ENOENT) return weft_http_text(c, 404, "no file\n");
    return rc == 0 ? WEFT_EIO : rc;
}

static int h_static(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_static(c, file_dir, weft_http_param(c, "path"));
    if (rc == WEFT_ENOENT) return weft_http_text(c, 404, "refused\n");
    return rc;
}

static int make_files(void) {
    snprintf(file_dir, sizeof file_dir, "/tmp/weft-files-XXXXXX");
    if (!mkdtemp(file_dir)) return -1;
    snprintf(file_path, sizeof file_path, "%s/letters.txt", file_dir);
    FILE *f = fopen(file_path, "w");
    if (!f) return -1;
    fputs(file_body, f);
    fclose(f);
    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", file_dir);
    if (mkdir(sub, 0700)) return -1;
    snprintf(sub, sizeof sub, "%s/sub/page.html", file_dir);
    f = fopen(sub, "w");
    if (!f) return -1;
    fputs("<p>hi</p>", f);
    fclose(f);
    return 0;
}

static void remove_files(void) {
    char p[160];
    snprintf(p, sizeof p, "%s/sub/page.html", file_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub", file_dir);
    rmdir(p);
    unlink(file_path);
    rmdir(file_dir);
}

TEST(files_send_file_etag_range_head) {
    /* weft_http_send_file: Content-Type from the extension, ETag +
     * Last-Modified; RFC 9110 §13.1.2 If-None-Match -> 304 (weak compare);
     * §14 a single Range -> 206 + Content-Range, unsatisfiable -> 416 with
     * "bytes * /size", several ranges ignored; HEAD -> headers only */
    ASSERT_EQ(make_files(), 0);
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/file", h_file, NULL), 0);
    ASSERT_EQ(weft_http_route(r, "GET", "/missing", h_missing_file, NULL), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "GET", "/file", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(body_is(&res, file_body));
    ASSERT(hdr_is(&res, "Content-Type", "text/plain; charset=utf-8"));
    ASSERT(hdr_is(&res, "Content-Length", "26"));
    ASSERT(hdr_is(&res, "Accept-Ranges", "bytes"));
    ASSERT(weft_http_test_header(&res, "Last-Modified").n == 29);
    weft_str et = weft_http_test_header(&res, "ETag");
    ASSERT(et.p && et.n > 2 && et.n < 60 && et.p[0] == '"' && et.p[et.n - 1] == '"');
    char etag[64];
    snprintf(etag, sizeof etag, "%.*s", (int)et.n, et.p);
    weft_http_test_response_free(&res);

    char h[256];
    snprintf(h, sizeof h, "If-None-Match: %s\r\n", etag);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", h, NULL, &res), 0);
    ASSERT_EQ(res.status, 304);
    ASSERT_EQ(res.body.n, 0);
    ASSERT(hdr_is(&res, "ETag", etag));
    ASSERT_EQ(count_header(&res, "Content-Length"), 0);
    ASSERT(memcmp(res.raw.data + res.raw.len - 4, "\r\n\r\n", 4) == 0); /* no body bytes */
    weft_http_test_response_free(&res);
    snprintf(h, sizeof h, "If-None-Match: \"other\", W/%s\r\n", etag);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", h, NULL, &res), 0);
    ASSERT_EQ(res.status, 304);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "If-None-Match: \"other\"\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    weft_http_test_response_free(&res);

    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: bytes=2-5\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 206);
    ASSERT(body_is(&res, "cdef"));
    ASSERT(hdr_is(&res, "Content-Range", "bytes 2-5/26"));
    ASSERT(hdr_is(&res, "Content-Length", "4"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: bytes=-3\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 206);
    ASSERT(body_is(&res, "xyz"));
    ASSERT(hdr_is(&res, "Content-Range", "bytes 23-25/26"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: bytes=20-\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 206);
    ASSERT(body_is(&res, "uvwxyz"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: bytes=24-999\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 206);
    ASSERT(body_is(&res, "yz"));
    ASSERT(hdr_is(&res, "Content-Range", "bytes 24-25/26"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: bytes=26-\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 416);
    ASSERT(hdr_is(&res, "Content-Range", "bytes */26"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: bytes=0-1,4-5\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(body_is(&res, file_body));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/file", "Range: items=0-1\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    weft_http_test_response_free(&res);

    ASSERT_EQ(weft_http_test(r, "HEAD", "/file", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(hdr_is(&res, "Content-Length", "26"));
    ASSERT(hdr_is(&res, "ETag", etag));
    ASSERT_EQ(res.body.n, 0);
    ASSERT(memcmp(res.raw.data + res.raw.len - 4, "\r\n\r\n", 4) == 0);
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "HEAD", "/file", "Range: bytes=0-9\r\n", NULL, &res), 0);
    ASSERT_EQ(res.status, 206);
    ASSERT(hdr_is(&res, "Content-Length", "10"));
    ASSERT_EQ(res.body.n, 0);
    weft_http_test_response_free(&res);

    ASSERT_EQ(weft_http_test(r, "GET", "/missing", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 404);
    ASSERT(body_is(&res, "no file\n"));
    weft_http_test_response_free(&res);
    weft_http_router_free(r);
    remove_files();
}

TEST(files_static_refuses_dot_dot_and_directories) {
    /* weft_http_static: root/<rel>, refusing ".." segments (also percent-
     * encoded, since params are decoded), NULs and directories -> 404 */
    ASSERT_EQ(make_files(), 0);
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/static/{path...}", h_static, NULL), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "GET", "/static/letters.txt", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(body_is(&res, file_body));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/static/sub/page.html", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(hdr_is(&res, "Content-Type", "text/html; charset=utf-8"));
    ASSERT(body_is(&res, "<p>hi</p>"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(weft_http_test(r, "GET", "/static//sub/page.html", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200); /* a leading '/' stays under root */
    weft_http_test_response_free(&res);
    static const char *refused[] = {
        "/static/../letters.txt",      "/static/sub/../letters.txt", "/static/sub/../../etc/passwd",
        "/static/%2e%2e/letters.txt",  "/static/sub/%2E%2E",         "/static/letters.txt%00",
        "/static/sub",                 "/static/",                   "/static/nope.txt",
        "/static/sub/..",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ASSERT_EQ(weft_http_test(r, "GET", refused[i], NULL, NULL, &res), 0);
        if (res.status != 404) fprintf(stderr, "    %s: %d\n", refused[i], res.status);
        ASSERT_EQ(res.status, 404);
        weft_http_test_response_free(&res);
    }
    weft_http_router_free(r);
    remove_files();
}

TEST(test_client_argument_checks) {
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    weft_http_test_response res;
    ASSERT_ERR(weft_http_test(NULL, "GET", "/", NULL, NULL, &res), WEFT_EINVAL);
    ASSERT_ERR(weft_http_test(r, NULL, "/", NULL, NULL, &res), WEFT_EINVAL);
    weft_buf out;
    weft_buf_init(&out, 0);
    ASSERT_ERR(weft_http_test_raw(r, NULL, NULL, 5, &out), WEFT_EINVAL);
    ASSERT_ERR(weft_http_test_raw(r, NULL, "", 0, NULL), WEFT_EINVAL);
    ASSERT_EQ(weft_http_test_raw(r, NULL, "", 0, &out), 0);
    ASSERT_EQ(out.len, 0);
    weft_buf_free(&out);
    weft_http_router_free(r);
}

TEST_PLAIN(test_client_needs_a_task) {
    weft_http_router *r = weft_http_router_new();
    weft_buf out;
    weft_buf_init(&out, 0);
    int rc = weft_http_test_raw(r, NULL, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, &out);
    weft_buf_free(&out);
    weft_http_router_free(r);
    ASSERT_ERR(rc, WEFT_ENOTASK);
}
