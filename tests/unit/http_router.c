/*
 * tests/unit/http_router.c — the router, middleware and the request /
 * response helpers, through the in-process test client (weft_http_test,
 * weft_http_test_raw): the same parser, router, middleware chain and
 * response writer as on a socket, without sockets. Each test names the rule
 * it checks (the router contract in weft/http.h, or the RFC).
 */
#include "test.h"

#include <fcntl.h>
#include <stdarg.h>
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

static int count_header(const weft_http_test_response *r, const char *name) {
    int n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (weft_str_eq_nocase(r->headers[i].name, weft_str_c(name))) n++;
    return n;
}

/* What the middleware below did, in order (reset by a case with .log). */
static char mw_log[256];

/* ---- checking helpers ---------------------------------------------------------
 * They report a failure at the caller's line (HERE) and return -1; the
 * ASSERT_* macros around them then end the test, as ASSERT does. */

typedef struct loc {
    const char *file;
    int line;
} loc;
#define HERE ((loc){__FILE__, __LINE__})

/* A router with these routes; method NULL: fn is a middleware (MW). */
typedef struct route {
    const char *method, *pattern;
    weft_http_handler fn;
    void *ud;
} route;
#define MW(fn, ud) {NULL, NULL, (fn), (ud)}

/* The router, or NULL after reporting which registration failed. */
static weft_http_router *router_of(loc at, const route *rt, size_t n) {
    weft_http_router *r = weft_http_router_new();
    if (!r) {
        test__fail(at.file, at.line, "weft_http_router_new() == NULL");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = rt[i].method ? weft_http_route(r, rt[i].method, rt[i].pattern, rt[i].fn, rt[i].ud)
                              : weft_http_use(r, rt[i].fn, rt[i].ud);
        if (rc) {
            test__fail(at.file, at.line, "registering %s %s: %s",
                       rt[i].method ? rt[i].method : "middleware",
                       rt[i].pattern ? rt[i].pattern : "", weft_strerror(rc));
            weft_http_router_free(r);
            return NULL;
        }
    }
    return r;
}
#define ROUTER(...)                                                                                \
    router_of(HERE, (const route[]){__VA_ARGS__},                                                  \
              sizeof((const route[]){__VA_ARGS__}) / sizeof(route))

/* One request through weft_http_test and what its response must be; a field
 * left 0 / NULL is not checked. */
typedef struct rcase {
    const char *method; /* NULL: GET */
    const char *target, *headers, *body;
    int status;
    const char *want;      /* the whole body */
    const char *hdr[4][2]; /* headers that must be there with exactly this value */
    struct {
        const char *name;
        int n;
    } count[6];    /* headers that must appear n times (0: absent) */
    int bodyless;  /* no body: empty, and nothing after the head in what was written */
    const char *log; /* mw_log afterwards (reset before) */
} rcase;

static int case_fail(loc at, const rcase *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int case_fail(loc at, const rcase *k, const char *fmt, ...) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s %s: ", k->method ? k->method : "GET", k->target);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    test__fail(at.file, at.line, "%s", msg);
    return -1;
}

/* Runs k; 0 when the response is as k wants, else -1 after reporting each
 * difference. keep: the response is handed over (the caller frees it). */
static int check_case(loc at, weft_http_router *r, const rcase *k, weft_http_test_response *keep) {
    if (k->log) mw_log[0] = 0;
    weft_http_test_response res;
    int rc = weft_http_test(r, k->method ? k->method : "GET", k->target, k->headers, k->body, &res);
    if (rc) {
        weft_http_test_response_free(&res);
        return case_fail(at, k, "weft_http_test: %s", weft_strerror(rc));
    }
    int bad = 0;
    if (k->status && res.status != k->status)
        bad = case_fail(at, k, "status %d, want %d", res.status, k->status);
    if (k->want && !body_is(&res, k->want))
        bad = case_fail(at, k, "body \"%.*s\", want \"%s\"", (int)res.body.n,
                        res.body.p ? res.body.p : "", k->want);
    for (int i = 0; i < 4 && k->hdr[i][0]; i++)
        if (!hdr_is(&res, k->hdr[i][0], k->hdr[i][1])) {
            weft_str v = weft_http_test_header(&res, k->hdr[i][0]);
            bad = case_fail(at, k, "%s: \"%.*s\", want \"%s\"", k->hdr[i][0], (int)v.n,
                            v.p ? v.p : "(absent)", k->hdr[i][1]);
        }
    for (int i = 0; i < 6 && k->count[i].name; i++)
        if (count_header(&res, k->count[i].name) != k->count[i].n)
            bad = case_fail(at, k, "%d %s headers, want %d", count_header(&res, k->count[i].name),
                            k->count[i].name, k->count[i].n);
    if (k->bodyless && (res.body.n != 0 || res.raw.len < 4 ||
                        memcmp(res.raw.data + res.raw.len - 4, "\r\n\r\n", 4) != 0))
        bad = case_fail(at, k, "a body of %zu bytes, want none", res.body.n);
    if (k->log && strcmp(mw_log, k->log) != 0)
        bad = case_fail(at, k, "log \"%s\", want \"%s\"", mw_log, k->log);
    if (keep && !bad)
        *keep = res;
    else
        weft_http_test_response_free(&res);
    return bad;
}

static int check_cases(loc at, weft_http_router *r, const rcase *k, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= check_case(at, r, &k[i], NULL);
    return bad;
}

/* GET target -> status and (unless NULL) exactly this body. */
typedef struct get_case {
    const char *target;
    int status;
    const char *want;
} get_case;

static int check_gets(loc at, weft_http_router *r, const get_case *g, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= check_case(at, r, &(rcase){.target = g[i].target, .status = g[i].status,
                                          .want = g[i].want},
                          NULL);
    return bad;
}

/* ASSERT_CASE(r, .target = "/x", .status = 200, ...): one rcase;
 * ASSERT_CASE_KEEP: the same, the response left in *res_;
 * ASSERT_CASES(r, {...}, {...}): a table of them;
 * ASSERT_GETS(r, {"/x", 200, "body"}, ...): a table of get_cases. */
#define ASSERT_CASE(r, ...)                                                                        \
    do {                                                                                           \
        if (check_case(HERE, (r), &(const rcase){__VA_ARGS__}, NULL)) return;                      \
    } while (0)
#define ASSERT_CASE_KEEP(r, res_, ...)                                                             \
    do {                                                                                           \
        if (check_case(HERE, (r), &(const rcase){__VA_ARGS__}, (res_))) return;                    \
    } while (0)
#define ASSERT_CASES(r, ...)                                                                       \
    do {                                                                                           \
        const rcase k__[] = {__VA_ARGS__};                                                         \
        if (check_cases(HERE, (r), k__, sizeof k__ / sizeof k__[0])) return;                       \
    } while (0)
#define ASSERT_GETS(r, ...)                                                                        \
    do {                                                                                           \
        const get_case g__[] = {__VA_ARGS__};                                                      \
        if (check_gets(HERE, (r), g__, sizeof g__ / sizeof g__[0])) return;                        \
    } while (0)

/* weft_http_test_raw of the string raw into *out (initialized here). */
static int raw_through(weft_http_router *r, const weft_http_config *cfg, const char *raw,
                      weft_buf *out) {
    weft_buf_init(out, 0);
    return weft_http_test_raw(r, cfg, raw, strlen(raw), out);
}

/* ---- matching -------------------------------------------------------------- */

TEST(route_literal_beats_param_beats_rest) {
    /* "Literal segments win over {param}, which wins over {rest...}" */
    weft_http_router *r =
        ROUTER({"GET", "/a/b", h_tag, "lit"}, {"GET", "/a/{x}", h_tag, "param"},
               {"GET", "/a/{rest...}", h_tag, "rest"}, {"GET", "/", h_tag, "root"});
    ASSERT(r);
    ASSERT_GETS(r, {"/a/b", 200, "lit"}, {"/a/c", 200, "param x=c"},
                {"/a/b/c", 200, "rest rest=b/c"}, /* lit and param dead-end: rest */
                {"/a/c/d/e", 200, "rest rest=c/d/e"},
                {"/a/", 200, "rest rest="}, /* an empty segment is no {param}; the rest is "" */
                {"/a", 200, "rest rest="},  /* {rest...} may be empty */
                {"/", 200, "root"}, {"/b", 404, NULL},
                {"/a/b?q=1", 200, "lit"}); /* the query is not part of the path */
    weft_http_router_free(r);
}

TEST(route_backtracks_out_of_dead_ends) {
    /* a more specific branch that dead-ends gives way to the next one, with
     * the params of the abandoned branch dropped */
    weft_http_router *r = ROUTER(
        {"GET", "/u/new/profile", h_tag, "new-profile"},
        {"GET", "/u/{id}/settings", h_tag, "settings"}, {"GET", "/p/{a}/{b}/z", h_tag, "abz"},
        {"GET", "/p/{a}/q/x/y", h_tag, "aqxy"}, {"GET", "/p/{rest...}", h_tag, "prest"});
    ASSERT(r);
    ASSERT_GETS(r, {"/u/new/profile", 200, "new-profile"},
                {"/u/new/settings", 200, "settings id=new"}, /* literal "new" dead-ends */
                {"/u/7/settings", 200, "settings id=7"}, {"/u/7/profile", 404, NULL},
                {"/p/1/2/z", 200, "abz a=1 b=2"}, {"/p/1/q/x/y", 200, "aqxy a=1"},
                {"/p/1/q/z", 200, "abz a=1 b=q"},      /* literal q dead-ends: {b} = q */
                {"/p/1/q/x", 200, "prest rest=1/q/x"}, /* q/x has no handler, {b}/x no z: rest */
                {"/p/1/2/y", 200, "prest rest=1/2/y"}); /* both param levels dead-end: rest */
    weft_http_router_free(r);
}

TEST(route_trailing_slash_is_distinct) {
    /* "/t" and "/t/" are different paths (RFC 3986 §6.2.4 does not make them
     * equal) */
    weft_http_router *r = ROUTER({"GET", "/t", h_tag, "no-slash"}, {"GET", "/d/", h_tag, "slash"});
    ASSERT(r);
    ASSERT_GETS(r, {"/t", 200, "no-slash"}, {"/t/", 404, NULL}, {"/d/", 200, "slash"},
                {"/d", 404, NULL});
    ASSERT_EQ(weft_http_route(r, "GET", "/t/", h_tag, "t-slash"), 0);
    ASSERT_GETS(r, {"/t/", 200, "t-slash"}, {"/t", 200, "no-slash"});
    weft_http_router_free(r);
}

TEST(route_params_are_percent_decoded) {
    /* "Route parameter by name, percent-decoded"; '+' is not a space in a
     * path; an encoded '/' stays inside its segment; a malformed escape
     * leaves the raw value */
    weft_http_router *r =
        ROUTER({"GET", "/users/{name}", h_tag, "u"}, {"GET", "/f/{path...}", h_tag, "f"});
    ASSERT(r);
    ASSERT_GETS(r, {"/users/J%C3%B6rg%20K", 200, "u name=J\xc3\xb6rg K"},
                {"/users/a+b", 200, "u name=a+b"}, {"/users/a%2Fb", 200, "u name=a/b"},
                {"/f/x%20y/z", 200, "f path=x y/z"}, {"/users/%zz", 200, "u name=%zz"},
                {"/users/ab%4", 200, "u name=ab%4"});
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
    weft_http_router *r = ROUTER({"GET", "/r", h_method, "get"}, {"POST", "/r", h_method, "post"},
                                 {"DELETE", "/only-delete", h_method, "del"});
    ASSERT(r);
    ASSERT_CASES(r,
                 {.method = "PUT", .target = "/r", .body = "x", .status = 405,
                  .hdr = {{"Allow", "GET, POST, HEAD"}}},
                 /* no GET, so no HEAD */
                 {.target = "/only-delete", .status = 405, .hdr = {{"Allow", "DELETE"}}},
                 {.target = "/nothing", .status = 404, .want = "not found\n",
                  .count = {{"Allow", 0}}});
    weft_http_router_free(r);
}

TEST(route_custom_not_found) {
    /* weft_http_router_not_found replaces the 404 handler; NULL restores it */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    weft_http_router_not_found(r, h_method, "custom");
    ASSERT_GETS(r, {"/x", 200, "custom GET"});
    weft_http_router_not_found(r, NULL, NULL);
    ASSERT_GETS(r, {"/x", 404, NULL});
    weft_http_router_free(r);
}

TEST(route_head_falls_back_to_get) {
    /* "HEAD falls back to the GET route (the body is dropped)"; RFC 9110
     * §9.3.2: same Content-Length; an explicit HEAD route wins */
    weft_http_router *r = ROUTER({"GET", "/g", h_method, "get"}, {"GET", "/h", h_method, "get"},
                                 {"HEAD", "/h", h_method, "head"});
    ASSERT(r);
    ASSERT_CASES(r,
                 /* "get HEAD"; nothing after the head in what was written */
                 {.method = "HEAD", .target = "/g", .status = 200,
                  .hdr = {{"Content-Length", "8"}}, .bodyless = 1},
                 /* "head HEAD" from its own route */
                 {.method = "HEAD", .target = "/h", .hdr = {{"Content-Length", "9"}}});
    /* and through test_raw: HEAD then GET pipelined, the GET's body intact */
    weft_buf out;
    ASSERT_EQ(raw_through(r, NULL,
                          "HEAD /g HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n",
                          &out),
              0);
    const char *second = strstr(out.data, "\r\n\r\nHTTP/1.1 200");
    int ok = second && strlen(second) >= 8 && strcmp(out.data + out.len - 7, "get GET") == 0;
    weft_buf_free(&out);
    ASSERT(ok);
    weft_http_router_free(r);
}

TEST(route_star_method_matches_any) {
    /* "method "*" matches any method"; a specific method still wins; "*" is
     * not listed in Allow and there is no 405 */
    weft_http_router *r = ROUTER({"*", "/any", h_method, "star"}, {"GET", "/any", h_method, "get"});
    ASSERT(r);
    ASSERT_CASES(
        r, {.method = "DELETE", .target = "/any", .status = 200, .want = "star DELETE"},
        {.method = "PATCH", .target = "/any", .body = "x", .status = 200, .want = "star PATCH"},
        {.target = "/any", .status = 200, .want = "get GET"});
    weft_http_router_free(r);
}

TEST(route_registration_errors) {
    /* WEFT_EEXIST: same method + pattern twice, or two different {names} at
     * one position; WEFT_EINVAL: malformed patterns and arguments */
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    static const struct {
        const char *method, *pattern;
        int rc;
    } regs[] = {
        {"GET", "/a/{id}", 0},
        {"GET", "/a/{id}", WEFT_EEXIST},
        {"POST", "/a/{id}", 0},        /* other method: fine */
        {"GET", "/a/{id}/more", 0},    /* same name: fine */
        {"GET", "/a/{name}/x", WEFT_EEXIST},
        {"GET", "/r/{rest...}", 0},
        {"GET", "/r/{other...}", WEFT_EEXIST},
        {"*", "/s", 0},
        {"*", "/s", WEFT_EEXIST},
        /* malformed patterns */
        {"GET", "", WEFT_EINVAL},          {"GET", "a/b", WEFT_EINVAL},
        {"GET", "/a/{", WEFT_EINVAL},      {"GET", "/a/}", WEFT_EINVAL},
        {"GET", "/{}", WEFT_EINVAL},       {"GET", "/{a b}", WEFT_EINVAL},
        {"GET", "/{rest...}/x", WEFT_EINVAL}, {"GET", "/a{b}", WEFT_EINVAL},
        {"GET", "/{...}", WEFT_EINVAL},    {"GET", "/x/{a/b}", WEFT_EINVAL},
        {"GET", "/{a.b}", WEFT_EINVAL},
    };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        int rc = weft_http_route(r, regs[i].method, regs[i].pattern, h_tag, "x");
        if (rc != regs[i].rc)
            fprintf(stderr, "    %s \"%s\": %s\n", regs[i].method, regs[i].pattern,
                    weft_strerror(rc));
        ASSERT_ERR(rc, regs[i].rc);
    }
    ASSERT_ERR(weft_http_route(r, "GET", "/ok", NULL, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_http_route(r, "", "/ok", h_tag, "x"), WEFT_EINVAL);
    ASSERT_ERR(weft_http_route(NULL, "GET", "/ok", h_tag, "x"), WEFT_EINVAL);
    /* the failed registrations left the earlier routes working */
    ASSERT_GETS(r, {"/a/5", 200, "x id=5"});
    weft_http_router_free(r);
}

/* ---- middleware ------------------------------------------------------------ */

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
    weft_http_router *r = ROUTER(MW(mw_named, "1"), MW(mw_named, "2"), MW(mw_named, "3"),
                                 {"GET", "/x", h_logged, NULL});
    ASSERT(r);
    ASSERT_CASES(r, {.target = "/x", .status = 200, .log = "1< 2< 3< H 3> 2> 1> "},
                 {.target = "/missing", .status = 404, .log = "1< 2< 3< 3> 2> 1> "},
                 {.method = "POST", .target = "/x", .body = "", .status = 405,
                  .log = "1< 2< 3< 3> 2> 1> "});
    weft_http_router_free(r);
}

static int mw_twice(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_next(c);
    int rc2 = weft_http_next(c); /* a second next() after the handler: no-op */
    return rc ? rc : rc2;
}

TEST(middleware_second_next_is_a_no_op) {
    weft_http_router *r =
        ROUTER(MW(mw_twice, NULL), MW(mw_named, "in"), {"GET", "/x", h_logged, NULL});
    ASSERT(r);
    ASSERT_CASE(r, .target = "/x", .status = 200, .want = "ok", .log = "in< H in> ");
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
    weft_http_router *r = ROUTER(MW(mw_auth, NULL), {"GET", "/me", h_whoami, NULL});
    ASSERT(r);
    ASSERT_CASES(r,
                 {.target = "/me", .status = 401, .want = "{\"error\":\"unauthorized\"}\n",
                  .hdr = {{"WWW-Authenticate", "Bearer"}, {"Content-Type", "application/json"}},
                  .log = ""},
                 {.target = "/me", .headers = "Authorization: Bearer s3cret\r\n", .status = 200,
                  .want = "alice", .log = "H "});
    weft_http_router_free(r);
    /* per-request: a second pipelined request without the middleware setting
     * it sees NULL */
    r = ROUTER({"GET", "/me", h_whoami, NULL});
    ASSERT(r);
    weft_buf out;
    ASSERT_EQ(raw_through(r, NULL,
                          "GET /me HTTP/1.1\r\nHost: x\r\n\r\nGET /me HTTP/1.1\r\nHost: x\r\n\r\n",
                          &out),
              0);
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
    ASSERT_GETS(r, {"/", 200, NULL});
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
    weft_http_router *r = ROUTER({"GET", "/q", h_query, NULL});
    ASSERT(r);
    ASSERT_GETS(
        r,
        {"/q?a=1&b=hello+world&c=%41%42%2b&a=2&d=&e&f=%zz&g=50%25&sp+ace=%C3%A9", 200,
         "a=[1];b=[hello world];c=[AB+];d=[];e=[];f=NULL;g=[50%];sp ace=[\xc3\xa9];"
         "missing=NULL;raw=a=1&b=hello+world&c=%41%42%2b&a=2&d=&e&f=%zz&g=50%25&sp+ace=%C3%A9"},
        {"/q", 200,
         "a=NULL;b=NULL;c=NULL;d=NULL;e=NULL;f=NULL;g=NULL;sp ace=NULL;missing=NULL;raw="});
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
    weft_http_router *r = ROUTER({"POST", "/f", h_form, NULL});
    ASSERT(r);
    static const struct {
        const char *target, *headers, *body, *want;
    } forms[] = {
        {"/f?a=fromquery", "Content-Type: application/x-www-form-urlencoded\r\n",
         "a=hello+w%C3%B6rld&b=%26x%3D", "a=hello w\xc3\xb6rld b=&x= q=fromquery"},
        {"/f", "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8\r\n", "b=2",
         "a=NULL b=2 q="},
        {"/f", "Content-Type: text/plain\r\n", "a=1", "a=NULL b=NULL q="},
        {"/f", NULL, "a=1", "a=NULL b=NULL q="},
        /* a chunked form body works the same */
        {"/f", "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n",
         "4\r\na=xy\r\n0\r\n\r\n", "a=xy b=NULL q="},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        ASSERT_CASE(r, .method = "POST", .target = forms[i].target, .headers = forms[i].headers,
                    .body = forms[i].body, .status = 200, .want = forms[i].want);
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
    weft_http_router *r = ROUTER({"GET", "/c", h_cookie, NULL});
    ASSERT(r);
    ASSERT_CASES(r,
                 {.target = "/c",
                  .headers = "Cookie: a=1; b=\"quoted\";c=x=y; flag\r\nCookie: d=4\r\n",
                  .status = 200,
                  .want = "a=[1] b=[quoted] c=[x=y] d=[4] flag=NULL missing=NULL "},
                 {.target = "/c",
                  .status = 200,
                  .want = "a=NULL b=NULL c=NULL d=NULL flag=NULL missing=NULL "});
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

TEST(response_error_redirect_cookie_headers) {
    /* weft_http_error: {"error":msg} as application/json (escaped); redirect:
     * the status + Location, empty body, only 3xx redirect codes;
     * set_cookie: "name=value; attrs", refusing unsafe bytes; add_header
     * refuses the headers the server owns and CR/LF */
    weft_http_router *r = ROUTER(
        {"GET", "/error", h_error, NULL}, {"GET", "/error503", h_error_default, NULL},
        {"GET", "/redirect", h_redirect, NULL}, {"GET", "/cookie", h_cookie_set, NULL},
        {"GET", "/headers", h_headers, NULL});
    ASSERT(r);
    weft_http_test_response res;
    ASSERT_CASE_KEEP(r, &res, .target = "/error", .status = 422,
                     .want = "{\"error\":\"bad \\\"x\\\"\\n\"}\n",
                     .hdr = {{"Content-Type", "application/json"}});
    ASSERT(memcmp(res.raw.data, "HTTP/1.1 422 Unprocessable Content\r\n", 36) == 0);
    weft_http_test_response_free(&res);
    ASSERT_CASES(r,
                 {.target = "/error503", .status = 503,
                  .want = "{\"error\":\"Service Unavailable\"}\n"},
                 {.target = "/redirect", .status = 308, .want = "",
                  .hdr = {{"Location", "/new?x=1"}, {"Content-Length", "0"}},
                  .count = {{"Location", 1}}});
    ASSERT_CASE_KEEP(r, &res, .target = "/cookie", .status = 200, .count = {{"Set-Cookie", 2}},
                     .hdr = {{"Set-Cookie", "sid=abc123; Path=/; HttpOnly; Max-Age=3600"}});
    ASSERT(strstr(res.raw.data, "\r\nSet-Cookie: plain=v\r\n"));
    weft_http_test_response_free(&res);
    ASSERT_CASE(r, .target = "/headers", .status = 203, .want = "abcd",
                .hdr = {{"Content-Type", "image/png"}},
                .count = {{"X-Custom", 2}, {"Content-Type", 1}, {"Content-Length", 1}, {"Date", 1},
                          {"Injected", 0}});
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
    weft_http_router *r =
        ROUTER({"POST", "/j", h_json, NULL}, {"GET", "/bad", h_json_incomplete, NULL});
    ASSERT(r);
    ASSERT_CASE(r, .method = "POST", .target = "/j",
                .headers = "Content-Type: application/json\r\n",
                .body = "{\"n\": 41, \"s\": \"h\\u00e9\", \"a\": [1, true, null]}", .status = 201,
                .hdr = {{"Content-Type", "application/json"}},
                .want = "{\"n\":42,\"s\":\"h\xc3\xa9\",\"echo\":{\"n\":41,\"s\":\"h\xc3\xa9\","
                        "\"a\":[1,true,null]}}");
    weft_http_test_response res;
    ASSERT_CASE_KEEP(r, &res, .method = "POST", .target = "/j", .body = "{\"n\": }", .status = 400);
    ASSERT(res.body.n > 20 && memcmp(res.body.p, "{\"error\":\"bad json at 6: ", 24) == 0);
    weft_http_test_response_free(&res);
    ASSERT_CASES(r, {.method = "POST", .target = "/j", .status = 400}, /* empty body */
                 {.target = "/bad", .status = 500});
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
    weft_http_router *r =
        ROUTER({"GET", "/fail", h_fail, NULL}, {"GET", "/stream", h_stream, NULL});
    ASSERT(r);
    ASSERT_CASES(r,
                 {.target = "/fail", .status = 500, .want = "internal server error\n",
                  .count = {{"X-Partial", 0}, {"Set-Cookie", 0}}},
                 /* streaming through the test client: chunked and decoded */
                 {.target = "/stream", .status = 200, .want = "pre-one,two",
                  .hdr = {{"Transfer-Encoding", "chunked"}}});
    weft_http_router_free(r);
}

TEST(request_absolute_form_target_is_routed_by_path) {
    /* RFC 9112 §3.2.2: a server must accept absolute-form; routing uses its
     * path (and "/" when it has none) */
    weft_http_router *r =
        ROUTER({"GET", "/users/{id}", h_tag, "user"}, {"GET", "/", h_tag, "root"});
    ASSERT(r);
    ASSERT_GETS(r, {"http://example.com/users/7?x=1", 200, "user id=7"},
                {"http://example.com:8080/users/8", 200, "user id=8"},
                {"http://example.com", 200, "root"}, {"http://example.com/nope", 404, NULL});
    weft_http_router_free(r);
}

TEST(request_pipelined_through_test_raw) {
    /* weft_http_test_raw: pipelined requests answered in order into one
     * buffer; a trailing partial request is not answered */
    weft_http_router *r = ROUTER({"GET", "/n/{x}", h_tag, "n"});
    ASSERT(r);
    weft_buf out;
    ASSERT_EQ(raw_through(r, NULL,
                          "GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /n/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /n/3 HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /n/4 HTTP/1.1\r\nHo",
                          &out),
              0);
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
    ASSERT_EQ(raw_through(r, &cfg, "GET /n/1 HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n", &out), 0);
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

static int h_static_gz(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_static_gz(c, file_dir, weft_http_param(c, "path"));
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
    weft_http_router *r =
        ROUTER({"GET", "/file", h_file, NULL}, {"GET", "/missing", h_missing_file, NULL});
    ASSERT(r);
    weft_http_test_response res;
    ASSERT_CASE_KEEP(r, &res, .target = "/file", .status = 200, .want = file_body,
                     .hdr = {{"Content-Type", "text/plain; charset=utf-8"},
                             {"Content-Length", "26"},
                             {"Accept-Ranges", "bytes"}});
    ASSERT(weft_http_test_header(&res, "Last-Modified").n == 29);
    weft_str et = weft_http_test_header(&res, "ETag");
    ASSERT(et.p && et.n > 2 && et.n < 60 && et.p[0] == '"' && et.p[et.n - 1] == '"');
    char etag[64];
    snprintf(etag, sizeof etag, "%.*s", (int)et.n, et.p);
    weft_http_test_response_free(&res);

    char inm[256], inm_weak[256];
    snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
    snprintf(inm_weak, sizeof inm_weak, "If-None-Match: \"other\", W/%s\r\n", etag);
    ASSERT_CASES(
        r,
        /* no body bytes */
        {.target = "/file",
         .headers = inm,
         .status = 304,
         .bodyless = 1,
         .hdr = {{"ETag", etag}},
         .count = {{"Content-Length", 0}}},
        {.target = "/file", .headers = inm_weak, .status = 304},
        {.target = "/file", .headers = "If-None-Match: \"other\"\r\n", .status = 200},

        {.target = "/file",
         .headers = "Range: bytes=2-5\r\n",
         .status = 206,
         .want = "cdef",
         .hdr = {{"Content-Range", "bytes 2-5/26"}, {"Content-Length", "4"}}},
        {.target = "/file",
         .headers = "Range: bytes=-3\r\n",
         .status = 206,
         .want = "xyz",
         .hdr = {{"Content-Range", "bytes 23-25/26"}}},
        {.target = "/file", .headers = "Range: bytes=20-\r\n", .status = 206, .want = "uvwxyz"},
        {.target = "/file",
         .headers = "Range: bytes=24-999\r\n",
         .status = 206,
         .want = "yz",
         .hdr = {{"Content-Range", "bytes 24-25/26"}}},
        {.target = "/file",
         .headers = "Range: bytes=26-\r\n",
         .status = 416,
         .hdr = {{"Content-Range", "bytes */26"}}},
        {.target = "/file",
         .headers = "Range: bytes=0-1,4-5\r\n",
         .status = 200,
         .want = file_body},
        {.target = "/file", .headers = "Range: items=0-1\r\n", .status = 200},

        {.method = "HEAD",
         .target = "/file",
         .status = 200,
         .bodyless = 1,
         .hdr = {{"Content-Length", "26"}, {"ETag", etag}}},
        {.method = "HEAD",
         .target = "/file",
         .headers = "Range: bytes=0-9\r\n",
         .status = 206,
         .bodyless = 1,
         .hdr = {{"Content-Length", "10"}}},

        {.target = "/missing", .status = 404, .want = "no file\n"});
    weft_http_router_free(r);
    remove_files();
}

TEST(files_static_refuses_dot_dot_and_directories) {
    /* weft_http_static: root/<rel>, refusing ".." segments (also percent-
     * encoded, since params are decoded), NULs and directories -> 404 */
    ASSERT_EQ(make_files(), 0);
    weft_http_router *r = ROUTER({"GET", "/static/{path...}", h_static, NULL});
    ASSERT(r);
    ASSERT_CASES(r, {.target = "/static/letters.txt", .status = 200, .want = file_body},
                 {.target = "/static/sub/page.html", .status = 200, .want = "<p>hi</p>",
                  .hdr = {{"Content-Type", "text/html; charset=utf-8"}}},
                 /* a leading '/' stays under root */
                 {.target = "/static//sub/page.html", .status = 200});
    ASSERT_GETS(r, {"/static/../letters.txt", 404, NULL}, {"/static/sub/../letters.txt", 404, NULL},
                {"/static/sub/../../etc/passwd", 404, NULL},
                {"/static/%2e%2e/letters.txt", 404, NULL}, {"/static/sub/%2E%2E", 404, NULL},
                {"/static/letters.txt%00", 404, NULL}, {"/static/sub", 404, NULL},
                {"/static/", 404, NULL}, {"/static/nope.txt", 404, NULL},
                {"/static/sub/..", 404, NULL});
    weft_http_router_free(r);
    remove_files();
}

TEST(files_static_gz_sends_the_precompressed_variant) {
    /* weft_http_static_gz: root/<rel>.gz (when it and root/<rel> exist) for
     * a request that accepts gzip, typed as the original; Vary always */
    ASSERT_EQ(make_files(), 0);
    char gz[200];
    snprintf(gz, sizeof gz, "%s/sub/page.html.gz", file_dir);
    FILE *f = fopen(gz, "w");
    ASSERT(f);
    fputs("GZBYTES", f); /* the bytes are the client's business, not ours */
    fclose(f);
    weft_http_router *r = ROUTER({"GET", "/s/{path...}", h_static_gz, NULL});
    ASSERT(r);
    ASSERT_CASES(r,
                 {.target = "/s/sub/page.html", .headers = "Accept-Encoding: br, gzip\r\n", .status = 200,
                  .want = "GZBYTES",
                  .hdr = {{"Content-Type", "text/html; charset=utf-8"}, {"Content-Encoding", "gzip"},
                          {"Vary", "Accept-Encoding"}}},
                 {.target = "/s/sub/page.html", .headers = "Accept-Encoding: *;q=0.5\r\n", .status = 200,
                  .want = "GZBYTES"},
                 {.target = "/s/sub/page.html", .status = 200, .want = "<p>hi</p>",
                  .hdr = {{"Vary", "Accept-Encoding"}}},
                 {.target = "/s/sub/page.html", .headers = "Accept-Encoding: gzip;q=0, br\r\n", .status = 200,
                  .want = "<p>hi</p>"},
                 {.target = "/s/sub/page.html", .headers = "Accept-Encoding: deflate\r\n", .status = 200,
                  .want = "<p>hi</p>"},
                 /* no .gz beside it: the file itself */
                 {.target = "/s/letters.txt", .headers = "Accept-Encoding: gzip\r\n", .status = 200,
                  .want = file_body});
    ASSERT_GETS(r, {"/s/../letters.txt", 404, NULL}, {"/s/sub/%2e%2e/letters.txt", 404, NULL},
                {"/s/sub", 404, NULL}, {"/s/nope.html", 404, NULL});
    /* the file edited after it was compressed: the stale .gz is not sent */
    struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    ASSERT_EQ(utimensat(AT_FDCWD, gz, old, 0), 0);
    ASSERT_CASES(r, {.target = "/s/sub/page.html", .headers = "Accept-Encoding: gzip\r\n", .status = 200,
                     .want = "<p>hi</p>", .hdr = {{"Vary", "Accept-Encoding"}}});
    unlink(gz);
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
