/*
 * src/http/testclient.c — the in-process test client: a request goes
 * through the same parser, router, middleware and response writer as on a
 * socket (weft__http_process with fd = -1), and the bytes the server would
 * have sent are parsed back into status, headers and a de-chunked body.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "weft/rt.h"

int weft_http_test_raw(weft_http_router *r, const weft_http_config *cfg, const char *raw,
                       size_t n, weft_buf *out) {
    if (!r || !out || (!raw && n)) return WEFT_EINVAL;
    if (!weft_in_task()) return WEFT_ENOTASK;
    weft__http_cfg ec;
    weft__http_cfg_resolve(&ec, cfg);
    weft__http_conn *c = malloc(sizeof *c);
    if (!c) return WEFT_ENOMEM;
    weft__http_conn_init(c, &ec, r);
    c->sink = out;
    int rc = weft_buf_append(&c->in, raw, n);
    if (rc == 0) {
        rc = weft__http_process(c);
        /* a partial request at the end: what a server does at end of stream */
        if (rc == 1 && c->in_off < c->in.len) {
            rc = 0;
        }
        int f = weft__http_flush(c);
        rc = rc < 0 ? rc : f;
    }
    weft__http_conn_release(c);
    free(c);
    return rc < 0 ? rc : 0;
}

/* Parse one response from b[0..n): status, headers, body (Content-Length
 * or chunked). Returns bytes used or -1. */
static long parse_response(const char *b, size_t n, int head_req, weft_http_test_response *res) {
    const char *end = b + n;
    if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0) return -1;
    res->status = atoi(b + 9);
    const char *p = memchr(b, '\n', n);
    if (!p) return -1;
    p++;
    res->nheaders = 0;
    int64_t cl = -1;
    int chunked = 0;
    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) return -1;
        size_t ll = (size_t)(eol - p);
        if (ll == 1 && p[0] == '\r') {
            p = eol + 1;
            break;
        }
        const char *colon = memchr(p, ':', ll);
        if (!colon) return -1;
        weft_str name = {p, (size_t)(colon - p)};
        weft_str val = weft_str_trim((weft_str){colon + 1, (size_t)(eol - 1 - colon - 1)});
        if (res->nheaders < sizeof res->headers / sizeof res->headers[0])
            res->headers[res->nheaders++] = (weft_http_header){name, val};
        if (weft_str_eq_nocase(name, WEFT_STR("Content-Length"))) weft_str_to_i64(val, &cl);
        if (weft_str_eq_nocase(name, WEFT_STR("Transfer-Encoding"))) chunked = 1;
        p = eol + 1;
    }
    /* a response to HEAD has no body, whatever its Content-Length says */
    int bodyless = head_req || res->status < 200 || res->status == 204 || res->status == 304;
    if (bodyless) {
        res->body = (weft_str){p, 0};
        return p - b;
    }
    if (chunked) {
        /* decode into a copy kept in raw after the response bytes */
        weft_http_chunked d;
        weft_http_chunked_init(&d);
        size_t len = (size_t)(end - p), consumed;
        char *tmp = malloc(len + 1);
        if (!tmp) return -1;
        memcpy(tmp, p, len);
        int r = weft_http_chunked_decode(&d, tmp, &len, &consumed, NULL);
        if (r != 1) {
            free(tmp);
            return -1;
        }
        size_t at = res->raw.len;
        if (weft_buf_append(&res->raw, tmp, len)) {
            free(tmp);
            return -1;
        }
        free(tmp);
        res->body = (weft_str){(const char *)(uintptr_t)at, len}; /* fixed up by the caller */
        return (p - b) + (long)consumed;
    }
    if (cl < 0) cl = end - p; /* close-delimited */
    if (cl > end - p) return -1;
    res->body = (weft_str){p, (size_t)cl};
    return (p - b) + cl;
}

int weft_http_test(weft_http_router *r, const char *method, const char *target,
                   const char *headers, const char *body, weft_http_test_response *res) {
    if (!r || !method || !target || !res) return WEFT_EINVAL;
    memset(res, 0, sizeof *res);
    weft_buf req;
    weft_buf_init(&req, 0);
    size_t bl = body ? strlen(body) : 0;
    int rc = weft_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: test\r\n%s", method, target,
                             headers ? headers : "");
    if (!rc && body && !(headers && strstr(headers, "Transfer-Encoding")))
        rc = weft_buf_printf(&req, "Content-Length: %zu\r\n", bl);
    rc = rc ? rc : weft_buf_append(&req, "\r\n", 2);
    rc = rc ? rc : weft_buf_append(&req, body ? body : "", bl);
    weft_buf_init(&res->raw, 0);
    if (!rc) rc = weft_http_test_raw(r, NULL, req.data, req.len, &res->raw);
    weft_buf_free(&req);
    if (rc) return rc;
    size_t resp_len = res->raw.len;
    /* make room first so the pointers taken below stay valid */
    if (weft_buf_reserve(&res->raw, resp_len + 1)) return WEFT_ENOMEM;
    long used = parse_response(res->raw.data, resp_len, strcmp(method, "HEAD") == 0, res);
    if (used < 0) return WEFT_EPARSE;
    if (res->raw.len > resp_len) { /* chunked: body was appended after the response */
        size_t at = (size_t)(uintptr_t)res->body.p;
        res->body.p = res->raw.data + at;
        /* headers still point into raw.data: reserve above kept it in place */
    }
    return 0;
}

weft_str weft_http_test_header(const weft_http_test_response *res, const char *name) {
    weft_str n = weft_str_c(name);
    for (size_t i = 0; i < res->nheaders; i++)
        if (weft_str_eq_nocase(res->headers[i].name, n)) return res->headers[i].value;
    return (weft_str){NULL, 0};
}

void weft_http_test_response_free(weft_http_test_response *res) {
    if (res) weft_buf_free(&res->raw);
}
