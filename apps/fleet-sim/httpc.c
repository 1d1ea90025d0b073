/*
 * apps/fleet-sim/httpc.c — the keep-alive client (httpc.h).
 */
#include "httpc.h"

#include <string.h>

#include "weft/http.h"
#include "weft/rt.h"

static int tchar(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Does the comma-separated list v hold token t (any case)? */
static int has_token(weft_str v, const char *t) {
    weft_str want = weft_str_c(t);
    while (v.n) {
        weft_str item;
        v = weft_str_cut(v, ',', &item);
        if (weft_str_eq_nocase(weft_str_trim(item), want)) return 1;
    }
    return 0;
}

int httpc_parse_head(const char *p, size_t n, size_t max, httpc_resp *out, const char **why) {
    memset(out, 0, sizeof *out);
    out->content_length = -1;
    int conn_close = 0, conn_keep = 0;
    size_t pos = 0;
    for (int line = 0;; line++) {
        /* find this line's end, refusing bare CR, bare LF and NUL on the way */
        size_t i = pos;
        for (; i < n && i < max; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (ch == '\n') return *why = "bare LF in the response head", WEFT_EPARSE;
            if (ch == 0) return *why = "NUL in the response head", WEFT_EPARSE;
            if (ch == '\r') {
                if (i + 1 >= n) break;
                if (p[i + 1] != '\n') return *why = "bare CR in the response head", WEFT_EPARSE;
                break;
            }
        }
        if (i + 1 >= n || i >= max) {
            if (n >= max || i >= max) return *why = "response head too large", WEFT_ELIMIT;
            return 0;
        }
        weft_str l = {p + pos, i - pos};
        size_t next = i + 2;
        if (line == 0) {
            /* HTTP/1.x SSS[ reason] */
            if (l.n < 12 || memcmp(l.p, "HTTP/1.", 7) != 0 || (l.p[7] != '0' && l.p[7] != '1') ||
                l.p[8] != ' ')
                return *why = "status line is not HTTP/1.x", WEFT_EPARSE;
            out->minor = l.p[7] - '0';
            int st = 0;
            for (int k = 9; k < 12; k++) {
                if (l.p[k] < '0' || l.p[k] > '9')
                    return *why = "status code is not 3 digits", WEFT_EPARSE;
                st = st * 10 + (l.p[k] - '0');
            }
            if (st < 100 || (l.n > 12 && l.p[12] != ' '))
                return *why = "status code is not 3 digits", WEFT_EPARSE;
            out->status = st;
        } else if (l.n == 0) {
            if (out->chunked && out->content_length >= 0)
                return *why = "both Content-Length and chunked", WEFT_EPARSE;
            out->keep_alive = out->minor == 1 ? !conn_close : conn_keep && !conn_close;
            if (out->content_length < 0 && !out->chunked && out->status >= 200 &&
                out->status != 204 && out->status != 304)
                out->keep_alive = 0; /* the body runs until the server closes */
            return (int)next;
        } else {
            size_t k = 0;
            while (k < l.n && tchar((unsigned char)l.p[k])) k++;
            if (k == 0 || k >= l.n || l.p[k] != ':')
                return *why = "header line without a name and ':'", WEFT_EPARSE;
            weft_str name = {l.p, k}, value = weft_str_trim((weft_str){l.p + k + 1, l.n - k - 1});
            if (weft_str_eq_nocase(name, WEFT_STR("Content-Length"))) {
                /* 1*DIGIT below 10^15, far inside int64_t; httpc_roundtrip
                 * then refuses a body above HTTPC_BODY_MAX */
                uint64_t v = 0;
                if (weft_str_to_u64(value, &v) || v >= 1000000000000000u)
                    return *why = "bad Content-Length", WEFT_EPARSE;
                if (out->content_length >= 0 && out->content_length != (int64_t)v)
                    return *why = "differing Content-Length", WEFT_EPARSE;
                out->content_length = (int64_t)v;
            } else if (weft_str_eq_nocase(name, WEFT_STR("Transfer-Encoding"))) {
                /* chunked must be the last coding; we ask for no other */
                weft_str v = value, last = value;
                while (v.n) {
                    weft_str item;
                    v = weft_str_cut(v, ',', &item);
                    last = weft_str_trim(item);
                }
                if (!weft_str_eq_nocase(last, WEFT_STR("chunked")))
                    return *why = "Transfer-Encoding other than chunked", WEFT_EPARSE;
                out->chunked = 1;
            } else if (weft_str_eq_nocase(name, WEFT_STR("Connection"))) {
                conn_close |= has_token(value, "close");
                conn_keep |= has_token(value, "keep-alive");
            }
        }
        pos = next;
    }
}

void httpc_init(httpc_conn *c, const char *host, int port) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    size_t n = strlen(host);
    if (n >= sizeof c->host) n = sizeof c->host - 1;
    memcpy(c->host, host, n);
    c->port = port;
    weft_buf_init(&c->in, HTTPC_HEAD_MAX + HTTPC_BODY_MAX + 4096);
}

int httpc_connect(httpc_conn *c, int64_t deadline) {
    httpc_close(c);
    int fd = weft_tcp_connect(c->host, c->port, deadline);
    if (fd < 0) return fd;
    c->fd = fd;
    return 0;
}

void httpc_close(httpc_conn *c) {
    if (c->fd >= 0) weft_close(c->fd);
    c->fd = -1;
    weft_buf_clear(&c->in);
}

void httpc_free(httpc_conn *c) {
    httpc_close(c);
    weft_buf_free(&c->in);
}

/* Read more bytes into c->in. > 0, or WEFT_ECLOSED at end of file, or the error. */
static int fill(httpc_conn *c, int64_t deadline) {
    int rc = weft_buf_reserve(&c->in, 4096);
    if (rc < 0) return rc;
    ssize_t r = weft_read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, deadline);
    if (r == 0) return WEFT_ECLOSED;
    if (r < 0) return (int)r;
    c->in.len += (size_t)r;
    c->in.data[c->in.len] = 0;
    return (int)r;
}

static int body_add(weft_buf *body, const char *p, size_t n) {
    if (!body) return 0;
    if (body->len + n > HTTPC_BODY_MAX) return WEFT_ELIMIT;
    return weft_buf_append(body, p, n);
}

static int read_response(httpc_conn *c, httpc_resp *resp, weft_buf *body, int64_t deadline,
                         const char **why) {
    int rc;
    for (;;) { /* skip 1xx interim answers */
        int h;
        while ((h = httpc_parse_head(c->in.data, c->in.len, HTTPC_HEAD_MAX, resp, why)) == 0)
            if ((rc = fill(c, deadline)) < 0) return rc;
        if (h < 0) return h;
        weft_buf_consume(&c->in, (size_t)h);
        if (resp->status >= 200) break;
    }
    if (resp->status == 204 || resp->status == 304) return 0;
    if (resp->chunked) {
        weft_http_chunked d;
        weft_http_chunked_init(&d);
        for (;;) {
            size_t len = c->in.len, used = 0;
            const char *reason = NULL;
            int done = weft_http_chunked_decode(&d, c->in.data, &len, &used, &reason);
            if (done < 0) return *why = reason ? reason : "bad chunked body", WEFT_EPARSE;
            if ((rc = body_add(body, c->in.data, len)) < 0)
                return *why = "response body too large", rc;
            weft_buf_consume(&c->in, used);
            if (done == 1) return 0;
            if ((rc = fill(c, deadline)) < 0) return rc;
        }
    }
    if (resp->content_length >= 0) {
        if (resp->content_length > HTTPC_BODY_MAX)
            return *why = "response body too large", WEFT_ELIMIT;
        size_t want = (size_t)resp->content_length;
        while (c->in.len < want)
            if ((rc = fill(c, deadline)) < 0) return rc;
        if ((rc = body_add(body, c->in.data, want)) < 0) return rc;
        weft_buf_consume(&c->in, want);
        return 0;
    }
    for (;;) { /* until the server closes */
        if ((rc = body_add(body, c->in.data, c->in.len)) < 0)
            return *why = "response body too large", rc;
        weft_buf_clear(&c->in);
        if ((rc = fill(c, deadline)) == WEFT_ECLOSED) return 0;
        if (rc < 0) return rc;
    }
}

int httpc_roundtrip(httpc_conn *c, const void *req, size_t n, httpc_resp *resp, weft_buf *body,
                    int64_t deadline, const char **why) {
    *why = NULL;
    if (c->fd < 0) return WEFT_EINVAL;
    if (body) weft_buf_clear(body);
    weft_buf_clear(&c->in); /* one request at a time: nothing of an earlier answer is left */
    ssize_t w = weft_write_all(c->fd, req, n, deadline);
    int rc = w < 0 ? (int)w : read_response(c, resp, body, deadline, why);
    if (rc < 0 || !resp->keep_alive) httpc_close(c);
    return rc;
}
