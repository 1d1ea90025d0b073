/*
 * tests/unit/http_parse.c — src/http/parse.c and src/http/chunked.c: the
 * request-head parser and the chunked decoder, one test per RFC 9112 rule.
 * All plain tests: the wire layer needs no runtime.
 */
#include "test.h"

#include <stdlib.h>

#include "weft/http.h"

#define MAXH 128
static weft_http_header hdrs[MAXH];

/* Parses s from a heap copy of exactly its length (so ASan sees any
 * over-read). Returns the parser's result; status and reason filled on WEFT_EPARSE. */
static int parse_n(const char *s, size_t n, weft_http_request *r, const weft_http_limits *lim,
                   int *st, const char **why) {
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    *st = 0;
    *why = NULL;
    int rc = weft_http_parse_request(copy, n, r, hdrs, MAXH, lim, st, why);
    /* slices point into copy: keep them valid by re-pointing into s */
    if (rc > 0) {
#define REPOINT(x) ((x).p = s + ((x).p - copy))
        REPOINT(r->method), REPOINT(r->target), REPOINT(r->path), REPOINT(r->query);
        for (size_t i = 0; i < r->nheaders; i++) REPOINT(hdrs[i].name), REPOINT(hdrs[i].value);
#undef REPOINT
    }
    free(copy);
    return rc;
}

static int parse_s(const char *s, weft_http_request *r, int *st, const char **why) {
    return parse_n(s, strlen(s), r, NULL, st, why);
}

/* The status a malformed head is refused with (0 if it was not refused). */
static int status_of_lim(const char *s, const weft_http_limits *lim) {
    weft_http_request r;
    int st;
    const char *why;
    int rc = parse_n(s, strlen(s), &r, lim, &st, &why);
    if (rc != WEFT_EPARSE) return 0;
    if (!why || !*why) return -1; /* a reason is mandatory */
    return st;
}
static int status_of(const char *s) { return status_of_lim(s, NULL); }

static int str_is(weft_str a, const char *b) { return weft_str_eq(a, weft_str_c(b)); }

/* ---- valid requests ------------------------------------------------------ */

TEST_PLAIN(valid_get_with_headers) {
    const char *s = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent:  weft-test \t\r\nAccept: */*\r\n\r\n";
    weft_http_request r;
    int st;
    const char *why;
    int rc = parse_s(s, &r, &st, &why);
    ASSERT_EQ(rc, (int)strlen(s));
    ASSERT_EQ(r.head_len, strlen(s));
    ASSERT(str_is(r.method, "GET"));
    ASSERT(str_is(r.target, "/a/b?x=1&y=2"));
    ASSERT(str_is(r.path, "/a/b"));
    ASSERT(str_is(r.query, "x=1&y=2"));
    ASSERT_EQ(r.minor, 1);
    ASSERT_EQ(r.nheaders, 3);
    ASSERT(str_is(r.headers[0].name, "Host"));
    ASSERT(str_is(r.headers[0].value, "example.com"));
    ASSERT(str_is(r.headers[1].name, "User-Agent"));
    ASSERT(str_is(r.headers[1].value, "weft-test"));
    ASSERT(str_is(r.headers[2].value, "*/*"));
    ASSERT_EQ(r.content_length, -1);
    ASSERT_EQ(r.chunked, 0);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_EQ(r.expect_continue, 0);
}

TEST_PLAIN(valid_post_content_length) {
    const char *s = "POST /submit HTTP/1.1\r\nHost: h\r\ncontent-length: 11\r\n"
                    "Expect: 100-Continue\r\n\r\nhello world";
    weft_http_request r;
    int st;
    const char *why;
    int rc = parse_s(s, &r, &st, &why);
    ASSERT_EQ(rc, (int)(strlen(s) - 11));
    ASSERT(str_is(r.method, "POST"));
    ASSERT(str_is(r.path, "/submit"));
    ASSERT_EQ(r.query.n, 0);
    ASSERT_EQ(r.content_length, 11);
    ASSERT_EQ(r.expect_continue, 1);
    ASSERT_EQ(r.chunked, 0);
}

TEST_PLAIN(valid_post_chunked) {
    const char *s = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n";
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_EQ(parse_s(s, &r, &st, &why), (int)strlen(s));
    ASSERT_EQ(r.chunked, 1);
    ASSERT_EQ(r.content_length, -1);
}

TEST_PLAIN(valid_head_empty_value_and_obs_text) {
    const char *s = "HEAD / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Sp:   \r\nX-Utf8: caf\xc3\xa9\r\n\r\n";
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_EQ(parse_s(s, &r, &st, &why), (int)strlen(s));
    ASSERT(str_is(r.method, "HEAD"));
    ASSERT_EQ(r.nheaders, 4);
    ASSERT_EQ(r.headers[1].value.n, 0);
    ASSERT_EQ(r.headers[2].value.n, 0);
    ASSERT(str_is(r.headers[3].value, "caf\xc3\xa9"));
}

TEST_PLAIN(duplicate_identical_content_length_ok) {
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(
        parse_s("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r, &st, &why),
        0);
    ASSERT_EQ(r.content_length, 5);
    ASSERT_GT(parse_s("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.content_length, 7);
}

TEST_PLAIN(content_length_max_int64_ok) {
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(
        parse_s("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.content_length, INT64_MAX);
}

TEST_PLAIN(http11_keep_alive_default_on_unless_close) {
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_s("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_GT(parse_s("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.keep_alive, 0);
}

TEST_PLAIN(http10_keep_alive_default_off) {
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_s("GET / HTTP/1.0\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.minor, 0);
    ASSERT_EQ(r.keep_alive, 0);
    ASSERT_GT(parse_s("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_GT(parse_s("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r, &st, &why), 0);
    ASSERT_EQ(r.keep_alive, 0);
}

TEST_PLAIN(expect_other_than_100_continue_417) {
    /* RFC 9110 §10.1.1: an expectation the server cannot meet -> 417 */
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n"), 417);
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_s("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n\r\n", &r, &st, &why),
              0);
    ASSERT_EQ(r.expect_continue, 1);
}

TEST_PLAIN(host_missing_or_duplicate_400) {
    /* RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0 */
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_s("GET / HTTP/1.0\r\n\r\n", &r, &st, &why), 0);
}

TEST_PLAIN(pipelined_requests_in_one_buffer) {
    const char *s = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                    "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /three?q HTTP/1.0\r\n\r\n";
    size_t len = strlen(s), off = 0;
    const char *paths[] = {"/one", "/two", "/three"};
    for (int k = 0; k < 3; k++) {
        weft_http_request r;
        int st;
        const char *why;
        int rc = weft_http_parse_request(s + off, len - off, &r, hdrs, MAXH, NULL, &st, &why);
        ASSERT_GT(rc, 0);
        ASSERT_EQ(r.head_len, (size_t)rc);
        ASSERT(str_is(r.path, paths[k]));
        off += r.head_len + (r.content_length > 0 ? (size_t)r.content_length : 0);
    }
    ASSERT_EQ(off, len);
}

static const char *valid_reqs[] = {
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  weft \t\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    "HEAD /x HTTP/1.0\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
};

TEST_PLAIN(every_split_position_gives_eagain_then_success) {
    for (size_t v = 0; v < sizeof valid_reqs / sizeof *valid_reqs; v++) {
        const char *s = valid_reqs[v];
        size_t n = strlen(s);
        weft_http_request full;
        int st;
        const char *why;
        ASSERT_EQ(parse_n(s, n, &full, NULL, &st, &why), (int)n);
        for (size_t k = 0; k < n; k++) {
            weft_http_request r;
            int rc = parse_n(s, k, &r, NULL, &st, &why);
            if (rc != WEFT_EAGAIN) {
                test__fail(__FILE__, __LINE__, "request %zu prefix %zu: rc %d status %d (%s)", v, k,
                           rc, st, why ? why : "");
                return;
            }
        }
    }
}

/* ---- request line -------------------------------------------------------- */

TEST_PLAIN(invalid_method_token_400) {
    ASSERT_EQ(status_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ASSERT_EQ(status_of(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ASSERT_EQ(status_of("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_PLAIN(double_space_in_request_line_400) {
    ASSERT_EQ(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_PLAIN(target_control_or_non_ascii_byte_400) {
    ASSERT_EQ(status_of("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_PLAIN(http09_request_line_400) { ASSERT_EQ(status_of("GET /\r\n\r\n"), 400); }

TEST_PLAIN(bad_version_syntax_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / http/1.1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/11\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/a.1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/10.1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / FOO\r\n\r\n"), 400);
}

TEST_PLAIN(unsupported_version_505) {
    ASSERT_EQ(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
    ASSERT_EQ(status_of("GET / HTTP/1.2\r\n\r\n"), 505);
    ASSERT_EQ(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
}

TEST_PLAIN(bare_lf_in_request_line_400) { ASSERT_EQ(status_of("GET / HTTP/1.1\n\r\n"), 400); }

TEST_PLAIN(bare_cr_in_request_line_400) { ASSERT_EQ(status_of("GET / HTTP/1.1\rX\r\n"), 400); }

TEST_PLAIN(uri_over_limit_414) {
    weft_http_limits lim = {64, 0, 0};
    char s[256];
    memset(s, 0, sizeof s);
    strcpy(s, "GET /");
    memset(s + 5, 'a', 100);
    /* incomplete but already longer than max_line */
    ASSERT_EQ(status_of_lim(s, &lim), 414);
    strcat(s, " HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(status_of_lim(s, &lim), 414);
    /* exactly at the limit (line incl. CRLF == max_line) is fine */
    char t[128];
    memset(t, 0, sizeof t);
    strcpy(t, "GET /");
    memset(t + 5, 'b', 64 - 5 - 11);
    strcat(t, " HTTP/1.1\r\nHost: h\r\n\r\n");
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_n(t, strlen(t), &r, &lim, &st, &why), 0);
    t[5] = 'c';
    memmove(t + 6, t + 5, strlen(t + 5) + 1); /* one byte longer */
    ASSERT_EQ(status_of_lim(t, &lim), 414);
}

TEST_PLAIN(default_max_line_8k_414) {
    size_t n = 9000;
    char *s = malloc(n + 1);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', n - 5);
    s[n] = 0;
    int st = status_of(s);
    free(s);
    ASSERT_EQ(st, 414);
}

/* ---- header fields -------------------------------------------------------- */

TEST_PLAIN(rejects_obs_fold_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\n Host: h\r\n\r\n"), 400);
}

TEST_PLAIN(whitespace_before_colon_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nHost : h\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nHost\t: h\r\n\r\n"), 400);
}

TEST_PLAIN(invalid_header_name_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400);
}

TEST_PLAIN(bare_cr_in_header_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\rX"), 400);
}

TEST_PLAIN(bare_lf_in_header_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\n"), 400);
}

TEST_PLAIN(nul_in_header_400) {
    const char s[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_ERR(parse_n(s, sizeof s - 1, &r, NULL, &st, &why), WEFT_EPARSE);
    ASSERT_EQ(st, 400);
    ASSERT(why != NULL);
}

TEST_PLAIN(control_byte_in_header_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n"), 400);
}

/* The request-target and field values are skipped 8 bytes at a time: every
 * position of a special byte relative to the words must still count. */
TEST_PLAIN(word_wise_scan_finds_every_special_byte) {
    char buf[256];
    weft_http_request r;
    int st;
    const char *why;
    for (int pad = 0; pad < 20; pad++) {
        char a[32], t[32];
        memset(a, 'a', (size_t)pad);
        a[pad] = 0;
        /* trailing blanks after a long value are not part of it */
        snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: %sz \t  \t     \r\n\r\n", a);
        ASSERT_GT(parse_s(buf, &r, &st, &why), 0);
        ASSERT_EQ(r.headers[1].value.n, (size_t)pad + 1);
        /* a '?' at any offset splits path and query */
        memset(t, 'p', (size_t)pad);
        t[pad] = 0;
        snprintf(buf, sizeof buf, "GET /%s?q=%s HTTP/1.1\r\nHost: h\r\n\r\n", t, a);
        ASSERT_GT(parse_s(buf, &r, &st, &why), 0);
        ASSERT_EQ(r.path.n, (size_t)pad + 1);
        ASSERT_EQ(r.query.n, (size_t)pad + 2);
        /* a non-ASCII, DEL or control byte at any offset is refused */
        static const char bad[] = {'\x80', '\x7f', '\x01', '\xff'};
        for (size_t k = 0; k < sizeof bad; k++) {
            snprintf(buf, sizeof buf, "GET /%s%cxxxxxxxxx HTTP/1.1\r\nHost: h\r\n\r\n", t, bad[k]);
            ASSERT_EQ(status_of(buf), 400);
            if (bad[k] == '\x80' || bad[k] == '\xff') continue; /* obs-text is fine in values */
            snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: %s%cxxxxxxxxx\r\n\r\n", a,
                     bad[k]);
            ASSERT_EQ(status_of(buf), 400);
        }
        /* a bare LF inside a long value */
        snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: %s\nxxxxxxxxxxx\r\n\r\n", a);
        ASSERT_EQ(status_of(buf), 400);
    }
}

TEST_PLAIN(htab_in_header_value_ok) {
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_s("GET / HTTP/1.1\r\nHost: h\r\nX:\ta\tb\t\r\n\r\n", &r, &st, &why), 0);
    ASSERT(str_is(r.headers[1].value, "a\tb"));
}

TEST_PLAIN(too_many_headers_431) {
    weft_http_limits lim = {0, 0, 4};
    const char *s3 = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    const char *s4 = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_n(s3, strlen(s3), &r, &lim, &st, &why), 0);
    ASSERT_EQ(status_of_lim(s4, &lim), 431);
    /* caller storage smaller than the limit also gives 431 */
    weft_http_header three[3];
    ASSERT_ERR(weft_http_parse_request(s3, strlen(s3), &r, three, 3, NULL, &st, &why), WEFT_EPARSE);
    ASSERT_EQ(st, 431);
}

TEST_PLAIN(head_over_limit_431) {
    weft_http_limits lim = {0, 73, 0};
    const char *s =
        "GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    ASSERT_EQ(status_of_lim(s, &lim), 431);
    /* incomplete but already over the limit */
    ASSERT_EQ(
        status_of_lim("GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                      &lim),
        431);
    /* exactly at the limit is fine */
    weft_http_request r;
    int st;
    const char *why;
    const char *ok = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    ASSERT_EQ(strlen(ok), 73);
    ASSERT_EQ(parse_n(ok, strlen(ok), &r, &lim, &st, &why), 73);
}

/* ---- framing semantics ---------------------------------------------------- */

TEST_PLAIN(invalid_content_length_400) {
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n"), 400);
}

TEST_PLAIN(content_length_overflow_400) {
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400);
}

TEST_PLAIN(differing_duplicate_content_length_400) {
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
    ASSERT_EQ(status_of("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n"), 400);
}

TEST_PLAIN(content_length_with_transfer_encoding_400) {
    ASSERT_EQ(
        status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400);
    ASSERT_EQ(
        status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
        400);
}

TEST_PLAIN(te_not_final_chunked_501) {
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 501);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                        "Transfer-Encoding: identity\r\n\r\n"),
              501);
}

TEST_PLAIN(te_split_over_fields_final_chunked_ok) {
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_GT(parse_s("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                      "transfer-encoding: Chunked\r\n\r\n",
                      &r, &st, &why),
              0);
    ASSERT_EQ(r.chunked, 1);
}

TEST_PLAIN(te_chunked_twice_400) {
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"),
              400);
}

TEST_PLAIN(te_empty_400) {
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , \r\n\r\n"), 400);
}

TEST_PLAIN(te_invalid_coding_400) {
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chu nked\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;a=b\r\n\r\n"), 400);
}

TEST_PLAIN(invalid_connection_option_400) {
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nConnection: clo se\r\n\r\n"), 400);
}

TEST_PLAIN(every_refusal_has_a_reason) {
    /* status_of() returns -1 when *reason was left unset */
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/3.0\r\n\r\n"), 505);
}

/* ---- chunked decoder ------------------------------------------------------ */

/* Decodes in[0..n) in one call (whole) or one byte per call; the output is
 * appended to out (cap bytes). Returns the final rc; *used = input consumed. */
static int dechunk(const char *in, size_t n, int bytewise, char *out, size_t *outlen, size_t *used,
                   const char **why, weft_http_chunked *dec) {
    weft_http_chunked local;
    weft_http_chunked *d = dec ? dec : &local;
    if (!dec) weft_http_chunked_init(d);
    *outlen = 0;
    *used = 0;
    *why = NULL;
    int rc = 0;
    size_t step = bytewise ? 1 : n;
    while (*used < n && rc == 0) {
        size_t k = n - *used < step ? n - *used : step;
        char *tmp = malloc(k);
        memcpy(tmp, in + *used, k);
        size_t len = k, cons = 0;
        rc = weft_http_chunked_decode(d, tmp, &len, &cons, why);
        if (len > cons) abort();
        memcpy(out + *outlen, tmp, len);
        *outlen += len;
        *used += cons;
        free(tmp);
        if (rc == 0 && cons != k) return -999; /* must take all input while incomplete */
    }
    return rc;
}

static int chunked_status(const char *in) {
    char out[512];
    size_t olen, used;
    const char *why;
    int a = dechunk(in, strlen(in), 0, out, &olen, &used, &why, NULL);
    if (a == WEFT_EPARSE && !why) return -1;
    int b = dechunk(in, strlen(in), 1, out, &olen, &used, &why, NULL);
    if (a != b) return -2; /* the split must not change the outcome */
    return a;
}

TEST_PLAIN(chunked_whole_and_bytewise) {
    const char *in = "5\r\nhello\r\n6;name=val;x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
    for (int bw = 0; bw < 2; bw++) {
        char out[128];
        size_t olen, used;
        const char *why;
        int rc = dechunk(in, strlen(in), bw, out, &olen, &used, &why, NULL);
        ASSERT_EQ(rc, 1);
        ASSERT_EQ(olen, 11);
        ASSERT_MEMEQ(out, "hello world", 11);
        ASSERT_EQ(used, strlen(in) - 4); /* "NEXT" belongs to the next request */
    }
}

TEST_PLAIN(chunked_no_trailer_uppercase_hex_and_leading_zeros) {
    char big[64 + 32];
    strcpy(big, "00A\r\n0123456789\r\n1a\r\n");
    for (int i = 0; i < 26; i++) big[strlen("00A\r\n0123456789\r\n1a\r\n") + i] = (char)('a' + i);
    big[strlen("00A\r\n0123456789\r\n1a\r\n") + 26] = 0;
    strcat(big, "\r\n0\r\n\r\n");
    for (int bw = 0; bw < 2; bw++) {
        char out[128];
        size_t olen, used;
        const char *why;
        ASSERT_EQ(dechunk(big, strlen(big), bw, out, &olen, &used, &why, NULL), 1);
        ASSERT_EQ(olen, 36);
        ASSERT_MEMEQ(out, "0123456789abcdefghijklmnopqrstuvwxyz", 36);
        ASSERT_EQ(used, strlen(big));
    }
}

TEST_PLAIN(chunked_incomplete_returns_0) {
    char out[64];
    size_t olen, used;
    const char *why;
    ASSERT_EQ(dechunk("5\r\nhel", 6, 0, out, &olen, &used, &why, NULL), 0);
    ASSERT_EQ(olen, 3);
    ASSERT_EQ(dechunk("0\r\nX: y\r\n", 9, 0, out, &olen, &used, &why, NULL), 0);
}

TEST_PLAIN(chunked_bws_before_extension_ok) {
    ASSERT_EQ(chunked_status("1 ;a\r\nx\r\n0\r\n\r\n"), 1);
}

TEST_PLAIN(bare_lf_in_chunk_line_400) {
    ASSERT_EQ(chunked_status("5\nhello\r\n0\r\n\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("5;ext\nhello\r\n0\r\n\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("\n"), WEFT_EPARSE);
}

TEST_PLAIN(bare_cr_in_chunk_line_400) {
    ASSERT_EQ(chunked_status("5\rhello\r\n0\r\n\r\n"), WEFT_EPARSE);
}

TEST_PLAIN(invalid_chunk_size_400) {
    ASSERT_EQ(chunked_status("g\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("-1\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("0x5\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status(" 5\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("5 \r\nhello\r\n"), WEFT_EPARSE);
}

TEST_PLAIN(chunk_size_overflow_400) {
    ASSERT_EQ(chunked_status("7fffffffffffffff\r\n"), 0); /* INT64_MAX is representable */
    ASSERT_EQ(chunked_status("8000000000000000\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("fffffffffffffffffffff\r\n"), WEFT_EPARSE);
}

TEST_PLAIN(missing_crlf_after_chunk_data_400) {
    ASSERT_EQ(chunked_status("5\r\nhelloX\r\n0\r\n\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("5\r\nhello\rX0\r\n\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("5\r\nhello\n0\r\n\r\n"), WEFT_EPARSE);
}

TEST_PLAIN(chunk_extension_over_limit_400) {
    weft_http_chunked d;
    weft_http_chunked_init(&d);
    d.max_ext = 8;
    char out[64];
    size_t olen, used;
    const char *why;
    const char *ok = "1;abcdefg\r\nx\r\n0\r\n\r\n"; /* 8 extension bytes incl. ';' */
    ASSERT_EQ(dechunk(ok, strlen(ok), 1, out, &olen, &used, &why, &d), 1);
    weft_http_chunked_init(&d);
    d.max_ext = 8;
    const char *bad = "1;abcdefgh\r\nx\r\n0\r\n\r\n";
    ASSERT_EQ(dechunk(bad, strlen(bad), 1, out, &olen, &used, &why, &d), WEFT_EPARSE);
    ASSERT(why != NULL);
}

TEST_PLAIN(control_byte_in_chunk_extension_400) {
    ASSERT_EQ(chunked_status("1;a\x01\r\nx\r\n0\r\n\r\n"), WEFT_EPARSE);
}

TEST_PLAIN(trailer_over_limit_400) {
    weft_http_chunked d;
    weft_http_chunked_init(&d);
    d.max_trailer = 16;
    char out[64];
    size_t olen, used;
    const char *why;
    const char *bad = "0\r\nX-Trailer: abcdefgh\r\n\r\n";
    ASSERT_EQ(dechunk(bad, strlen(bad), 0, out, &olen, &used, &why, &d), WEFT_EPARSE);
    weft_http_chunked_init(&d);
    d.max_trailer = 16;
    const char *ok = "0\r\nX: abcdefgh\r\n\r\n"; /* 13 + 2 bytes */
    ASSERT_EQ(dechunk(ok, strlen(ok), 0, out, &olen, &used, &why, &d), 1);
}

TEST_PLAIN(bare_cr_or_lf_in_trailer_400) {
    ASSERT_EQ(chunked_status("0\r\nX: a\nY: b\r\n\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("0\r\nX: a\rb\r\n\r\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("0\r\n\n"), WEFT_EPARSE);
    ASSERT_EQ(chunked_status("0\r\n\rX"), WEFT_EPARSE);
}

TEST_PLAIN(nul_in_trailer_400) {
    const char in[] = "0\r\nX: a\0b\r\n\r\n";
    char out[64];
    size_t olen, used;
    const char *why;
    ASSERT_EQ(dechunk(in, sizeof in - 1, 0, out, &olen, &used, &why, NULL), WEFT_EPARSE);
}

TEST_PLAIN(chunked_decoder_stays_done_and_failed) {
    weft_http_chunked d;
    weft_http_chunked_init(&d);
    char b1[] = "0\r\n\r\nGET";
    size_t len = 8, cons = 0;
    const char *why;
    ASSERT_EQ(weft_http_chunked_decode(&d, b1, &len, &cons, &why), 1);
    ASSERT_EQ(cons, 5);
    ASSERT_EQ(len, 0);
    char b2[] = "abc";
    len = 3;
    ASSERT_EQ(weft_http_chunked_decode(&d, b2, &len, &cons, &why), 1);
    ASSERT_EQ(cons, 0);
    weft_http_chunked_init(&d);
    char b3[] = "z";
    len = 1;
    ASSERT_EQ(weft_http_chunked_decode(&d, b3, &len, &cons, &why), WEFT_EPARSE);
    len = 1;
    ASSERT_EQ(weft_http_chunked_decode(&d, b2, &len, &cons, &why), WEFT_EPARSE);
}

/* Content-Length goes through weft_str_to_u64: 1*DIGIT, int64 range, and
 * each refusal names its reason (overflow is not "invalid"). */
TEST_PLAIN(content_length_edges_and_reasons) {
    static const struct {
        const char *cl;
        int64_t want; /* -1: refused */
        const char *why;
    } cases[] = {
        {"0", 0, NULL},
        {"000", 0, NULL},
        {"0009223372036854775807", INT64_MAX, NULL},
        {"9223372036854775807 ,9223372036854775807", INT64_MAX, NULL},
        {"9223372036854775808", -1, "Content-Length overflow"},
        {"18446744073709551615", -1, "Content-Length overflow"},
        {"18446744073709551616", -1, "Content-Length overflow"},
        {"99999999999999999999999", -1, "Content-Length overflow"},
        {"5, 99999999999999999999999", -1, "Content-Length overflow"},
        {"+1", -1, "invalid Content-Length"},
        {"-0", -1, "invalid Content-Length"},
        {"1-2", -1, "invalid Content-Length"},
        {",5", -1, "invalid Content-Length"},
        {"5,,5", -1, "invalid Content-Length"},
        {"99999999999999999999999x", -1, "Content-Length overflow"}, /* digits first */
        {"5, 6", -1, "differing Content-Length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n",
                 cases[i].cl);
        weft_http_request r;
        int st = 0;
        const char *why = NULL;
        int rc = parse_s(req, &r, &st, &why);
        if (cases[i].want >= 0) {
            if (rc <= 0 || r.content_length != cases[i].want) {
                test__fail(__FILE__, __LINE__, "Content-Length: %s -> rc %d, length %lld",
                           cases[i].cl, rc, (long long)r.content_length);
                return;
            }
        } else if (rc != WEFT_EPARSE || st != 400 || !why || strcmp(why, cases[i].why) != 0) {
            test__fail(__FILE__, __LINE__, "Content-Length: %s -> rc %d, %d \"%s\", want 400 \"%s\"",
                       cases[i].cl, rc, st, why ? why : "(null)", cases[i].why);
            return;
        }
    }
}
