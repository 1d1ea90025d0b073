/*
 * fuzz/http_request.c — libFuzzer target for weft_http_parse_request().
 *
 * Beyond "does not crash": results are only > 0, WEFT_EAGAIN or WEFT_EPARSE
 * with a known status and a reason; a parsed head lies inside the input and
 * agrees with itself (head_len, path/query vs target, header count, framing);
 * a prefix of the input never contradicts the whole (an error on a prefix is
 * the same error on the whole, a head parsed from the whole is EAGAIN one byte
 * short of its end); and tight limits never accept what the defaults refuse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/http.h"

#define NH 100

typedef struct result {
    int rc, status;
    weft_http_request req;
} result;

static weft_http_header hdrs[NH];

static int inside(weft_str s, const char *b, size_t n) {
    return s.n == 0 ? (s.p >= b && s.p <= b + n) : (s.p >= b && s.p + s.n <= b + n);
}

/* Parses a heap copy of exactly n bytes, so ASan catches any over-read, and
 * checks the per-call invariants. Slices are checked before the copy goes. */
static result run(const uint8_t *data, size_t n, const weft_http_limits *lim, size_t max_hdrs) {
    char *b = malloc(n ? n : 1);
    if (n) memcpy(b, data, n);
    result res;
    const char *why = NULL;
    res.status = 0;
    memset(&res.req, 0, sizeof res.req);
    res.rc = weft_http_parse_request(b, n, &res.req, hdrs, max_hdrs, lim, &res.status, &why);
    weft_http_request *r = &res.req;
    if (res.rc == WEFT_EPARSE) {
        if (!why || !*why) abort();
        if (res.status != 400 && res.status != 414 && res.status != 417 && res.status != 431 &&
            res.status != 501 && res.status != 505)
            abort();
    } else if (res.rc > 0) {
        size_t h = (size_t)res.rc;
        if (r->head_len != h || h > n || h < 4) abort();
        if (memcmp(b + h - 4, "\r\n\r\n", 4) != 0) abort();
        if (r->nheaders > max_hdrs || r->headers != hdrs) abort();
        if (!inside(r->method, b, h) || !inside(r->target, b, h) || !inside(r->path, b, h) ||
            !inside(r->query, b, h))
            abort();
        if (r->method.n == 0 || r->target.n == 0 || r->method.p != b) abort();
        if (r->path.p != r->target.p) abort();
        if (r->path.n != r->target.n && r->path.n + 1 + r->query.n != r->target.n) abort();
        if (r->minor != 0 && r->minor != 1) abort();
        for (size_t i = 0; i < r->nheaders; i++) {
            weft_http_header *x = &r->headers[i];
            if (!inside(x->name, b, h) || !inside(x->value, b, h) || x->name.n == 0) abort();
            if (x->value.n && (x->value.p[0] == ' ' || x->value.p[x->value.n - 1] == '\t')) abort();
            for (size_t k = 0; k < x->value.n; k++)
                if (x->value.p[k] == '\r' || x->value.p[k] == '\n' || x->value.p[k] == 0) abort();
        }
        if (r->content_length < -1) abort();
        if (r->chunked && r->content_length != -1) abort();
        if (r->chunked && r->minor == 0) abort(); /* RFC 9112 §6.1: TE in 1.0 is refused */
        if (r->keep_alive != 0 && r->keep_alive != 1) abort();
    } else if (res.rc != WEFT_EAGAIN) {
        abort();
    }
    free(b);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    result full = run(data, size, NULL, NH);

    /* two split points: the middle, and one chosen by the data */
    size_t splits[2] = {size / 2, size ? (size_t)data[0] * 31 % (size + 1) : 0};
    for (int s = 0; s < 2; s++) {
        result pre = run(data, splits[s], NULL, NH);
        if (pre.rc == WEFT_EPARSE && (full.rc != WEFT_EPARSE || full.status != pre.status)) abort();
        if (pre.rc > 0 && pre.rc != full.rc) abort();
        if (full.rc == WEFT_EAGAIN && pre.rc != WEFT_EAGAIN) abort();
    }
    if (full.rc > 0) {
        size_t h = (size_t)full.rc;
        if (run(data, h, NULL, NH).rc != full.rc) abort();
        if (run(data, h - 1, NULL, NH).rc != WEFT_EAGAIN) abort();
    }

    /* tight limits: stay within them, and never accept what the defaults refuse */
    weft_http_limits tight = {64, 256, 4};
    result t = run(data, size, &tight, 8);
    if (t.rc > 0) {
        if (full.rc != t.rc || t.req.head_len > 256 || t.req.nheaders > 4) abort();
        const char *lf = memchr(data, '\n', size);
        if (!lf || (size_t)(lf - (const char *)data) + 1 > 64) abort();
    }
    if (full.rc == WEFT_EPARSE && t.rc > 0) abort();
    return 0;
}
