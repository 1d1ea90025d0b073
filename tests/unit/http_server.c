/*
 * tests/unit/http_server.c — the HTTP/1.1 server over real sockets: a server
 * on 127.0.0.1 (ephemeral port), ::1 or a unix socket, served by a task,
 * talked to with raw bytes from the test's main task (and by curl). Each
 * test names the protocol rule (RFC 9112 / RFC 9110 or the documented
 * weft_http_config behaviour) it checks.
 *
 * The client side parses responses itself, strictly (CRLF line ends, exact
 * chunked framing), so it does not trust the server's own parser. Every
 * read has a deadline; the suite runs this binary with WEFT_IO=uring and
 * WEFT_IO=epoll.
 */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft/http.h"

#define IO_MS 5000 /* deadline of a client read that should succeed */

/* ======================================================================
 * Server fixture
 * ====================================================================== */

typedef struct tsrv {
    weft_http_router *r;
    weft_http_server *s;
    weft_group g;
    int port;
    _Atomic int serve_rc;
    _Atomic int64_t serve_end_ns;
} tsrv;

static void serve_task(void *a) {
    tsrv *t = a;
    int rc = weft_http_serve(t->s);
    atomic_store(&t->serve_end_ns, weft_now_ns());
    atomic_store(&t->serve_rc, rc);
}

/* Builds the server from t->r and cfg and starts weft_http_serve in a task. */
static int tsrv_start(tsrv *t, const weft_http_config *cfg) {
    atomic_init(&t->serve_rc, 12345);
    atomic_init(&t->serve_end_ns, 0);
    weft_group_init(&t->g);
    int err = 0;
    t->s = weft_http_server_new(cfg, t->r, &err);
    if (!t->s) return err ? err : WEFT_EINVAL;
    t->port = weft_http_server_port(t->s);
    return weft_group_go(&t->g, serve_task, t, "serve");
}

/* Stops the server, waits (bounded) for serve to return, frees everything.
 * weft_http_serve's result, or the join's error. */
static int tsrv_stop(tsrv *t) {
    weft_http_server_stop(t->s);
    int jr = test_join(&t->g, test_slack_ms(5000));
    int rc = jr ? jr : atomic_load(&t->serve_rc);
    weft_http_server_free(t->s);
    weft_http_router_free(t->r);
    t->s = NULL;
    t->r = NULL;
    return rc;
}

/* ---- handlers of the standard router ------------------------------------ */

static int h_hello(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_text(c, 200, "hello\n");
}

static int h_echo(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str b = weft_http_body(c);
    return weft_http_send(c, 200, "application/octet-stream", b.p, b.n);
}

static int h_n(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str n = weft_http_param(c, "n");
    weft_buf *b = weft_http_body_buf(c);
    weft_http_set_content_type(c, "text/plain");
    return weft_buf_printf(b, "n=%.*s", (int)n.n, n.p);
}

static int h_user(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str id = weft_http_param(c, "id");
    weft_buf *b = weft_http_body_buf(c);
    return weft_buf_printf(b, "user %.*s", (int)id.n, id.p);
}

static int h_users_post(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_text(c, 201, "created");
}

static int h_files(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str p = weft_http_param(c, "path");
    weft_buf *b = weft_http_body_buf(c);
    return weft_buf_printf(b, "file [%.*s]", (int)p.n, p.p);
}

#define BIG_LEN (4u << 20)
static int h_big(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_buf *b = weft_http_body_buf(c);
    int rc = weft_buf_reserve(b, BIG_LEN);
    if (rc) return rc;
    test_fill_pattern((unsigned char *)b->data, BIG_LEN, 7);
    b->len = BIG_LEN;
    b->data[b->len] = 0;
    weft_http_set_content_type(c, "application/octet-stream");
    return 0;
}

static int h_stream(weft_http_ctx *c, void *ud) {
    (void)ud;
    static const char *parts[] = {"alpha,", "beta,", "", "gamma-0123456789"};
    weft_http_set_content_type(c, "text/plain");
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        int rc = weft_http_write(c, parts[i], strlen(parts[i]));
        if (rc) return rc;
        weft_sleep(5); /* each chunk goes out on its own */
    }
    return 0;
}

/* Writes half a response, then fails: the server can only close. */
static int h_stream_fail(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_write(c, "partial", 7);
    if (rc) return rc;
    return WEFT_EIO;
}

static int h_fail(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_http_add_header(c, "X-Before-Failure", "1");
    weft_http_text(c, 202, "not this");
    return WEFT_EIO;
}

static int h_info(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_buf *b = weft_http_body_buf(c);
    weft_str m = weft_http_method(c);
    return weft_buf_printf(b, "%.*s minor=%d peer=%s", (int)m.n, m.p, weft_http_minor(c),
                           weft_http_peer(c));
}

static int h_form(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str a = weft_http_form(c, "a"), b = weft_http_form(c, "b");
    weft_buf *o = weft_http_body_buf(c);
    return weft_buf_printf(o, "a=[%.*s] b=[%.*s]", (int)a.n, a.p ? a.p : "", (int)b.n,
                           b.p ? b.p : "");
}

/* Slow handler: sleeps ud ms. Counts entries/exits for the shutdown tests. */
static _Atomic int slow_entered, slow_done;
static _Atomic int64_t slow_done_ns; /* weft_now_ns() when the last one woke */
static int h_slow(weft_http_ctx *c, void *ud) {
    atomic_fetch_add(&slow_entered, 1);
    int rc = weft_sleep((int64_t)(intptr_t)ud);
    atomic_store(&slow_done_ns, weft_now_ns());
    atomic_fetch_add(&slow_done, 1);
    if (rc) return rc;
    return weft_http_text(c, 200, "slept");
}

static weft_http_router *std_router(void) {
    weft_http_router *r = weft_http_router_new();
    if (!r) return NULL;
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/", h_hello, NULL);
    rc |= weft_http_route(r, "GET", "/hello", h_hello, NULL);
    rc |= weft_http_route(r, "POST", "/echo", h_echo, NULL);
    rc |= weft_http_route(r, "PUT", "/echo", h_echo, NULL);
    rc |= weft_http_route(r, "GET", "/n/{n}", h_n, NULL);
    rc |= weft_http_route(r, "GET", "/users/{id}", h_user, NULL);
    rc |= weft_http_route(r, "POST", "/users", h_users_post, NULL);
    rc |= weft_http_route(r, "GET", "/files/{path...}", h_files, NULL);
    rc |= weft_http_route(r, "GET", "/big", h_big, NULL);
    rc |= weft_http_route(r, "GET", "/stream", h_stream, NULL);
    rc |= weft_http_route(r, "GET", "/stream-fail", h_stream_fail, NULL);
    rc |= weft_http_route(r, "GET", "/fail", h_fail, NULL);
    rc |= weft_http_route(r, "*", "/info", h_info, NULL);
    rc |= weft_http_route(r, "POST", "/form", h_form, NULL);
    rc |= weft_http_route(r, "GET", "/slow", h_slow, (void *)(intptr_t)1000);
    rc |= weft_http_route(r, "GET", "/slower", h_slow, (void *)(intptr_t)5000);
    if (rc) {
        weft_http_router_free(r);
        return NULL;
    }
    return r;
}

/* Standard router + cfg (NULL: defaults). */
static int tsrv_std(tsrv *t, const weft_http_config *cfg) {
    memset(t, 0, sizeof *t);
    t->r = std_router();
    if (!t->r) return WEFT_ENOMEM;
    return tsrv_start(t, cfg);
}

/* ======================================================================
 * Raw client
 * ====================================================================== */

typedef struct cli {
    int fd;
    weft_buf in;   /* bytes received and not yet consumed */
    size_t max_rd; /* 0: 64 KiB per read */
    int slow_ms;   /* sleep this long before each read (a slow reader) */
} cli;

static void cli_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int cli_open_host(cli *c, const char *host, int port) {
    memset(c, 0, sizeof *c);
    weft_buf_init(&c->in, 0);
    c->fd = weft_tcp_connect(host, port, weft_deadline_in(IO_MS));
    if (c->fd < 0) return c->fd;
    cli_nodelay(c->fd);
    return 0;
}

static int cli_open(cli *c, int port) { return cli_open_host(c, "127.0.0.1", port); }

static void cli_close(cli *c) {
    if (c->fd >= 0) weft_close(c->fd);
    c->fd = -1;
    weft_buf_free(&c->in);
}

static int cli_sendn(cli *c, const void *p, size_t n) {
    ssize_t w = weft_write_all(c->fd, p, n, weft_deadline_in(IO_MS));
    return w < 0 ? (int)w : (w == (ssize_t)n ? 0 : WEFT_EIO);
}

static int cli_send(cli *c, const char *s) { return cli_sendn(c, s, strlen(s)); }

/* One read into c->in. >0 bytes, 0 end of stream, negative code. */
static ssize_t cli_fill(cli *c, int64_t deadline) {
    size_t want = c->max_rd ? c->max_rd : 65536;
    if (c->slow_ms) weft_sleep(c->slow_ms);
    int rc = weft_buf_reserve(&c->in, want);
    if (rc) return rc;
    ssize_t n = weft_read(c->fd, c->in.data + c->in.len, want, deadline);
    if (n > 0) {
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = 0;
    }
    return n;
}

/* Waits for the server to close: 1 on a clean end of stream with nothing
 * unread, 0 when bytes came instead, or the read's negative code
 * (WEFT_ETIMEDOUT: still open at the deadline; WEFT_ECONNRESET: reset). */
static int cli_eof(cli *c, int64_t ms) {
    if (c->in.len) return 0;
    int64_t dl = weft_deadline_in(ms);
    ssize_t n = cli_fill(c, dl);
    if (n == 0) return 1;
    return n > 0 ? 0 : (int)n;
}

/* Nothing arrives and the connection stays open for ms. */
static int cli_quiet(cli *c, int64_t ms) {
    if (c->in.len) return 0;
    return cli_fill(c, weft_deadline_in(ms)) == WEFT_ETIMEDOUT;
}

typedef struct resp {
    int status;
    int minor;
    char *head; /* status line .. empty line, NUL-terminated copy */
    size_t head_len;
    weft_buf body; /* de-chunked */
    int chunked;
    int64_t cl;   /* Content-Length, -1 when absent */
    int nchunks;  /* chunks seen (chunked) */
} resp;

static void resp_free(resp *r) {
    free(r->head);
    r->head = NULL;
    weft_buf_free(&r->body);
}

/* First header `name` of the response (case-insensitive), {NULL,0} if absent. */
static weft_str resp_hdr(const resp *r, const char *name) {
    weft_str want = weft_str_c(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        const char *line = p + 2, *eol = strstr(line, "\r\n");
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && weft_str_eq_nocase((weft_str){line, (size_t)(colon - line)}, want))
            return weft_str_trim((weft_str){colon + 1, (size_t)(eol - colon - 1)});
        p = eol;
    }
    return (weft_str){NULL, 0};
}

static int resp_hdr_count(const resp *r, const char *name) {
    weft_str want = weft_str_c(name);
    int n = 0;
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        const char *line = p + 2, *eol = strstr(line, "\r\n");
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && weft_str_eq_nocase((weft_str){line, (size_t)(colon - line)}, want)) n++;
        p = eol;
    }
    return n;
}

static int hdr_is(const resp *r, const char *name, const char *value) {
    weft_str v = resp_hdr(r, name);
    return v.p && weft_str_eq_nocase(v, weft_str_c(value));
}

static int body_is(const resp *r, const char *s) {
    return r->body.len == strlen(s) &&
           memcmp(r->body.data ? r->body.data : "", s, r->body.len) == 0;
}

/* Is bytes [from, from+n) of c->in available? reads until it is. */
static int cli_need(cli *c, size_t n, int64_t dl) {
    while (c->in.len < n) {
        ssize_t k = cli_fill(c, dl);
        if (k == 0) return WEFT_EPIPE; /* closed mid-response */
        if (k < 0) return (int)k;
    }
    return 0;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Reads one response (head_req: it answers a HEAD, so no body). 0;
 * WEFT_ECLOSED when the connection ended before any byte of it; WEFT_EPIPE
 * when it ended in the middle; WEFT_EPARSE when the bytes are not a
 * well-formed HTTP/1.1 response; or the read's code (WEFT_ETIMEDOUT). */
static int cli_resp_dl(cli *c, resp *r, int head_req, int64_t dl) {
    memset(r, 0, sizeof *r);
    weft_buf_init(&r->body, 0);
    r->cl = -1;
    char *end;
    for (;;) {
        end = c->in.len ? strstr(c->in.data, "\r\n\r\n") : NULL;
        if (end) break;
        ssize_t k = cli_fill(c, dl);
        if (k == 0) return c->in.len ? WEFT_EPIPE : WEFT_ECLOSED;
        if (k < 0) return (int)k;
    }
    size_t hl = (size_t)(end - c->in.data) + 4;
    r->head = malloc(hl + 1);
    if (!r->head) return WEFT_ENOMEM;
    memcpy(r->head, c->in.data, hl);
    r->head[hl] = 0;
    r->head_len = hl;
    for (size_t i = 0; i < hl; i++) /* CRLF only */
        if (r->head[i] == '\n' && (i == 0 || r->head[i - 1] != '\r')) return WEFT_EPARSE;
    if (hl < 17 || memcmp(r->head, "HTTP/1.", 7) != 0 || r->head[8] != ' ' ||
        r->head[12] != ' ')
        return WEFT_EPARSE;
    r->minor = r->head[7] - '0';
    for (int i = 9; i < 12; i++)
        if (r->head[i] < '0' || r->head[i] > '9') return WEFT_EPARSE;
    r->status = atoi(r->head + 9);
    /* every header line has a colon */
    for (const char *p = strstr(r->head, "\r\n"); p[2] != '\r';) {
        const char *line = p + 2, *eol = strstr(line, "\r\n");
        if (!memchr(line, ':', (size_t)(eol - line))) return WEFT_EPARSE;
        p = eol;
    }
    weft_str te = resp_hdr(r, "Transfer-Encoding"), cl = resp_hdr(r, "Content-Length");
    if (te.p && !weft_str_eq_nocase(te, WEFT_STR("chunked"))) return WEFT_EPARSE;
    if (te.p && cl.p) return WEFT_EPARSE;
    if (cl.p && (weft_str_to_i64(cl, &r->cl) || r->cl < 0)) return WEFT_EPARSE;
    r->chunked = te.p != NULL;
    size_t pos = hl;
    int bodyless = head_req || r->status < 200 || r->status == 204 || r->status == 304;
    int rc = 0;
    if (bodyless) {
        /* nothing */
    } else if (r->chunked) {
        for (;;) {
            char *eol;
            while (!(eol = strstr(c->in.data + pos, "\r\n")))
                if ((rc = cli_need(c, c->in.len + 1, dl))) return rc;
            uint64_t sz = 0;
            const char *q = c->in.data + pos;
            if (q == eol) return WEFT_EPARSE;
            for (; q < eol; q++) {
                int h = hexval(*q);
                if (h < 0 || sz > (UINT64_MAX >> 4)) return WEFT_EPARSE; /* no extensions sent */
                sz = sz * 16 + (uint64_t)h;
            }
            pos = (size_t)(eol - c->in.data) + 2;
            if (sz == 0) {
                if ((rc = cli_need(c, pos + 2, dl))) return rc;
                if (memcmp(c->in.data + pos, "\r\n", 2) != 0) return WEFT_EPARSE; /* no trailers */
                pos += 2;
                break;
            }
            if ((rc = cli_need(c, pos + sz + 2, dl))) return rc;
            if (memcmp(c->in.data + pos + sz, "\r\n", 2) != 0) return WEFT_EPARSE;
            if (weft_buf_append(&r->body, c->in.data + pos, sz)) return WEFT_ENOMEM;
            r->nchunks++;
            pos += sz + 2;
        }
    } else if (r->cl >= 0) {
        if ((rc = cli_need(c, pos + (size_t)r->cl, dl))) return rc;
        if (weft_buf_append(&r->body, c->in.data + pos, (size_t)r->cl)) return WEFT_ENOMEM;
        pos += (size_t)r->cl;
    } else {
        /* close-delimited */
        for (;;) {
            ssize_t k = cli_fill(c, dl);
            if (k == 0) break;
            if (k < 0) return (int)k;
        }
        if (weft_buf_append(&r->body, c->in.data + pos, c->in.len - pos)) return WEFT_ENOMEM;
        pos = c->in.len;
    }
    weft_buf_consume(&c->in, pos);
    return 0;
}

static int cli_resp(cli *c, resp *r) { return cli_resp_dl(c, r, 0, weft_deadline_in(IO_MS)); }
static int cli_resp_head(cli *c, resp *r) {
    return cli_resp_dl(c, r, 1, weft_deadline_in(IO_MS));
}
/* ======================================================================
 * Checking helpers: they report a failure at the caller's line (HERE) and
 * return -1; the ASSERT_* macros around them then end the test, as ASSERT
 * does.
 * ====================================================================== */

typedef struct loc {
    const char *file;
    int line;
} loc;
#define HERE ((loc){__FILE__, __LINE__})

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
#define GET_N(n) "GET /n/" #n " HTTP/1.1\r\nHost: x\r\n\r\n"

/* What the next response must be; a field left 0 / NULL is not checked. */
typedef struct rwant {
    int rc;          /* what reading it returns: 0, or e.g. WEFT_EPIPE (then nothing else) */
    int head;        /* it answers a HEAD: no body to read */
    int64_t read_ms; /* deadline of the read (0: IO_MS) */
    int status;
    const char *body;    /* exactly this body */
    const char *prefix;  /* the body starts with this */
    size_t len;          /* body length */
    int some_body;       /* a body of at least one byte */
    int64_t cl;          /* Content-Length */
    int chunked;         /* 1: chunked, -1: not */
    int nchunks;         /* chunks seen */
    const char *hdr[3][2]; /* headers with these values (hdr_is) */
    const char *absent[2]; /* headers that must not be there */
    int eof;               /* then the server closes cleanly (within IO_MS) */
    int quiet_ms;          /* then nothing comes and the connection stays open this long */
    int64_t min_ms, max_ms; /* from sending to the whole response: at least / under */
} rwant;

static int fail_at(loc at, const char *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(loc at, const char *req, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* names the request by its first line */
    int n = req ? (int)strcspn(req, "\r\n") : 0;
    test__fail(at.file, at.line, "%.*s%s%s", n > 60 ? 60 : n, req ? req : "", req ? ": " : "",
               msg);
    return -1;
}

/* Sends req (unless NULL) on c and reads the next response, checked against
 * w. keep: the response is handed over (the caller frees it). */
static int expect(loc at, cli *c, const char *req, const rwant *w, resp *keep) {
    int64_t t0 = weft_now_ns();
    int rc = req ? cli_send(c, req) : 0;
    if (rc) return fail_at(at, req, "send: %s", weft_strerror(rc));
    resp r;
    rc = cli_resp_dl(c, &r, w->head, weft_deadline_in(w->read_ms ? w->read_ms : IO_MS));
    int64_t ms = test_ms_since(t0);
    if (rc != w->rc || rc) {
        resp_free(&r);
        return rc == w->rc ? 0
                           : fail_at(at, req, "response: %s, want %s", weft_strerror(rc),
                                     w->rc ? weft_strerror(w->rc) : "one");
    }
    int bad = 0;
    if (w->status && r.status != w->status)
        bad = fail_at(at, req, "status %d, want %d", r.status, w->status);
    if (w->body && !body_is(&r, w->body))
        bad = fail_at(at, req, "body \"%.80s\" (%zu bytes), want \"%s\"",
                      r.body.data ? r.body.data : "", r.body.len, w->body);
    if (w->prefix && (r.body.len < strlen(w->prefix) ||
                      memcmp(r.body.data, w->prefix, strlen(w->prefix)) != 0))
        bad = fail_at(at, req, "body \"%.80s\", want it to start with \"%s\"",
                      r.body.data ? r.body.data : "", w->prefix);
    if (w->len && r.body.len != w->len)
        bad = fail_at(at, req, "body of %zu bytes, want %zu", r.body.len, w->len);
    if (w->some_body && r.body.len == 0) bad = fail_at(at, req, "no body, want one");
    if (w->cl && r.cl != w->cl)
        bad = fail_at(at, req, "Content-Length %" PRId64 ", want %" PRId64, r.cl, w->cl);
    if (w->chunked && r.chunked != (w->chunked > 0))
        bad = fail_at(at, req, "chunked %d, want %d", r.chunked, w->chunked > 0);
    if (w->nchunks && r.nchunks != w->nchunks)
        bad = fail_at(at, req, "%d chunks, want %d", r.nchunks, w->nchunks);
    for (int i = 0; i < 3 && w->hdr[i][0]; i++)
        if (!hdr_is(&r, w->hdr[i][0], w->hdr[i][1])) {
            weft_str v = resp_hdr(&r, w->hdr[i][0]);
            bad = fail_at(at, req, "%s: \"%.*s\", want \"%s\"", w->hdr[i][0], (int)v.n,
                          v.p ? v.p : "(absent)", w->hdr[i][1]);
        }
    for (int i = 0; i < 2 && w->absent[i]; i++)
        if (resp_hdr_count(&r, w->absent[i]) != 0)
            bad = fail_at(at, req, "has %s, want none", w->absent[i]);
    if (w->min_ms && ms < w->min_ms)
        bad = fail_at(at, req, "took %" PRId64 " ms, want at least %" PRId64, ms, w->min_ms);
    if (w->max_ms && ms >= w->max_ms)
        bad = fail_at(at, req, "took %" PRId64 " ms, want under %" PRId64, ms, w->max_ms);
    if (keep && !bad)
        *keep = r;
    else
        resp_free(&r);
    if (w->eof && (rc = cli_eof(c, IO_MS)) != 1)
        bad = fail_at(at, req, "not closed by the server: %d (%s)", rc, weft_strerror(rc));
    if (w->quiet_ms && !cli_quiet(c, w->quiet_ms))
        bad = fail_at(at, req, "not quiet for %d ms", w->quiet_ms);
    return bad;
}

/* expect() on a fresh connection to port, closed afterwards. */
static int expect_once(loc at, int port, const char *req, const rwant *w, resp *keep) {
    cli c;
    int rc = cli_open(&c, port);
    if (rc) return fail_at(at, req, "connect: %s", weft_strerror(rc));
    rc = expect(at, &c, req, w, keep);
    cli_close(&c);
    return rc;
}

/* The server closes c cleanly, at least min_ms and under max_ms from now. */
static int expect_close(loc at, cli *c, int64_t min_ms, int64_t max_ms) {
    int64_t t0 = weft_now_ns();
    int e = cli_eof(c, IO_MS);
    int64_t ms = test_ms_since(t0);
    if (e != 1) return fail_at(at, NULL, "not closed by the server: %d (%s)", e, weft_strerror(e));
    if (ms < min_ms || ms >= max_ms)
        return fail_at(at, NULL, "closed after %" PRId64 " ms, want %" PRId64 " to under %" PRId64,
                       ms, min_ms, max_ms);
    return 0;
}

/* ASSERT_RESP(&c, req, .status = 200, ...): expect(); req NULL: only read.
 * ASSERT_RESP_KEEP(&c, req, &r, ...): the same, the response left in r.
 * ASSERT_ONCE(port, req, ...): on a connection of its own.
 * ASSERT_REFUSED(port, req, status): an error response with a body and
 * "Connection: close", then the close. */
#define ASSERT_RESP(c, req, ...)                                                                   \
    do {                                                                                           \
        if (expect(HERE, (c), (req), &(const rwant){__VA_ARGS__}, NULL)) return;                   \
    } while (0)
#define ASSERT_RESP_KEEP(c, req, r, ...)                                                           \
    do {                                                                                           \
        if (expect(HERE, (c), (req), &(const rwant){__VA_ARGS__}, (r))) return;                    \
    } while (0)
#define ASSERT_ONCE(port, req, ...)                                                                \
    do {                                                                                           \
        if (expect_once(HERE, (port), (req), &(const rwant){__VA_ARGS__}, NULL)) return;           \
    } while (0)
#define ASSERT_REFUSED(port, req, st)                                                              \
    ASSERT_ONCE((port), (req), .status = (st), .some_body = 1, .hdr = {{"Connection", "close"}},   \
                .eof = 1)
#define ASSERT_CLOSES(c, min_ms, max_ms)                                                           \
    do {                                                                                           \
        if (expect_close(HERE, (c), (min_ms), (max_ms))) return;                                   \
    } while (0)

/* ---- fixture shorthands ------------------------------------------------------ */

/* The standard server with cfg (NULL: defaults) and a connection c to it. */
static int serve_and_open(tsrv *t, const weft_http_config *cfg, cli *c) {
    int rc = tsrv_std(t, cfg);
    return rc ? rc : cli_open(c, t->port);
}

/* Closes c, then tsrv_stop(t)'s result. */
static int close_and_stop(tsrv *t, cli *c) {
    cli_close(c);
    return tsrv_stop(t);
}

/* Sends p[0..n) cut in two at every k in turn (the server reading the first
 * part alone), check(at, c) reading the answers each time; 0, or -1 after
 * reporting the cut that failed. */
static int send_split_everywhere(loc at, cli *c, const char *p, size_t n,
                                 int (*check)(loc at, cli *c)) {
    for (size_t k = 1; k < n; k++) {
        int rc = cli_sendn(c, p, k);
        weft_sleep(1);
        if (!rc) rc = cli_sendn(c, p + k, n - k);
        if (rc) return fail_at(at, p, "send split at %zu: %s", k, weft_strerror(rc));
        if (check(at, c)) return fail_at(at, p, "split at %zu", k);
    }
    return 0;
}

/* Polls the server's open connection count until it is n (until_n) or is
 * not n (!until_n), at most IO_MS; the last count seen. */
static uint64_t wait_connections(tsrv *t, uint64_t n, int until_n) {
    int64_t until = weft_deadline_in(IO_MS);
    weft_http_stats st;
    do {
        weft_sleep(5);
        weft_http_server_stats(t->s, &st);
    } while ((st.connections == n) != until_n && weft_now() < until);
    return st.connections;
}

/* The server's stats once they count n requests, or after IO_MS. The
 * server counts a request after it has written the response, so a client
 * that has read the response can read the count before it moved. */
static weft_http_stats stats_after_requests(tsrv *t, uint64_t n) {
    int64_t until = weft_deadline_in(IO_MS);
    weft_http_stats st;
    weft_http_server_stats(t->s, &st);
    while (st.requests < n && weft_now() < until) {
        weft_sleep(1);
        weft_http_server_stats(t->s, &st);
    }
    return st;
}

/* Zeroes the /slow counters. */
static void slow_reset(void) {
    atomic_store(&slow_entered, 0);
    atomic_store(&slow_done, 0);
    atomic_store(&slow_done_ns, 0);
}

/* Waits (at most IO_MS) for a /slow handler to start; how many have. */
static int slow_wait_entered(void) {
    int64_t until = weft_deadline_in(IO_MS);
    while (!atomic_load(&slow_entered) && weft_now() < until) weft_sleep(1);
    return atomic_load(&slow_entered);
}

/* ======================================================================
 * Keep-alive and connection management (RFC 9112 §9.3)
 * ====================================================================== */

TEST(keepalive_persistent_by_default_in_http11) {
    /* RFC 9112 §9.3: HTTP/1.1 connections persist unless "close" is signalled */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    for (int i = 0; i < 5; i++) {
        char req[128], body[16];
        snprintf(req, sizeof req, "GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        snprintf(body, sizeof body, "n=%d", i);
        resp r;
        ASSERT_RESP_KEEP(&c, req, &r, .status = 200, .body = body, .cl = (int64_t)strlen(body),
                         .absent = {"Connection"},
                         .hdr = {{"Server", "weft"}, {"Content-Type", "text/plain"}});
        ASSERT_EQ(r.minor, 1);
        ASSERT_EQ(resp_hdr_count(&r, "Date"), 1);
        weft_str date = resp_hdr(&r, "Date"); /* IMF-fixdate, RFC 9110 §5.6.7 */
        ASSERT_EQ(date.n, 29);
        ASSERT(date.p[3] == ',' && memcmp(date.p + 25, " GMT", 4) == 0);
        resp_free(&r);
    }
    weft_http_stats st = stats_after_requests(&t, 5);
    ASSERT_EQ(st.accepted, 1);
    ASSERT_EQ(st.requests, 5);
    ASSERT_EQ(st.connections, 1);
    ASSERT(cli_quiet(&c, 50)); /* still open, nothing unsolicited */
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(keepalive_connection_close_is_honoured) {
    /* RFC 9112 §9.6: a request with "Connection: close" gets a response
     * with "Connection: close" and then the server closes */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    ASSERT_ONCE(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                .status = 200, .body = "hello\n", .hdr = {{"Connection", "close"}}, .eof = 1);
    /* a token list containing close counts too */
    ASSERT_ONCE(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n",
                .hdr = {{"Connection", "close"}}, .eof = 1);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(keepalive_http10_closes_by_default) {
    /* RFC 9112 §9.3: HTTP/1.0 without keep-alive is not persistent */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    ASSERT_ONCE(t.port, "GET /info HTTP/1.0\r\n\r\n", .status = 200,
                .prefix = "GET minor=0 peer=127.0.0.1:", .hdr = {{"Connection", "close"}},
                .eof = 1);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(keepalive_http10_keep_alive_token_persists) {
    /* RFC 9112 §9.3 / RFC 2068 §19.7.1: a 1.0 request with "Connection:
     * keep-alive" stays open and the response says "Connection: keep-alive" */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    for (int i = 0; i < 3; i++) /* a 1.0 client needs Content-Length to find the end */
        ASSERT_RESP(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", .status = 200,
                    .hdr = {{"Connection", "keep-alive"}}, .cl = 6, .body = "hello\n");
    ASSERT(cli_quiet(&c, 50));
    /* and a plain 1.0 request on it then closes */
    ASSERT_RESP(&c, "GET /hello HTTP/1.0\r\n\r\n", .hdr = {{"Connection", "close"}}, .eof = 1);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(connection_limit_closes_extra_connections) {
    /* weft_http_config.max_connections: over it, new connections are closed */
    tsrv t;
    cli a, b;
    ASSERT_EQ(serve_and_open(&t, &(weft_http_config){.max_connections = 1}, &a), 0);
    ASSERT_RESP(&a, GET_HELLO, .status = 200); /* a is established and counted */
    ASSERT_EQ(cli_open(&b, t.port), 0);
    int e = cli_eof(&b, IO_MS);
    ASSERT(e == 1 || e == WEFT_ECONNRESET);
    cli_close(&b);
    ASSERT_RESP(&a, GET_HELLO, .status = 200);
    ASSERT_EQ(close_and_stop(&t, &a), 0);
}

/* ======================================================================
 * Pipelining (RFC 9112 §9.3.2: responses in the order of the requests)
 * ====================================================================== */

TEST(pipeline_16_requests_in_one_write_answered_in_order) {
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    weft_buf req;
    weft_buf_init(&req, 0);
    for (int i = 0; i < 16; i++)
        weft_buf_printf(&req, "GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    int sent = cli_sendn(&c, req.data, req.len);
    weft_buf_free(&req);
    ASSERT_EQ(sent, 0);
    for (int i = 0; i < 16; i++) {
        char body[16];
        snprintf(body, sizeof body, "n=%d", i);
        ASSERT_RESP(&c, NULL, .status = 200, .body = body);
    }
    ASSERT(cli_quiet(&c, 50)); /* exactly 16 */
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* A mixed batch: GET, POST with a Content-Length body, chunked PUT, HEAD,
 * GET. The expected bodies, in order. */
static const char mixed_batch[] = "GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                                  "hello world"
                                  "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
                                  "HEAD /n/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /n/3 HTTP/1.1\r\nHost: x\r\n\r\n";

static int check_mixed(loc at, cli *c) {
    static const char *want[] = {"n=1", "hello world", "abcde", "", "n=3"};
    for (int i = 0; i < 5; i++) /* HEAD: the GET's length, no body */
        if (expect(at, c, NULL,
                   &(const rwant){
                       .status = 200, .body = want[i], .head = i == 3, .cl = i == 3 ? 3 : 0},
                   NULL))
            return -1;
    return 0;
}

TEST(pipeline_mixed_get_post_chunked_head) {
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_EQ(cli_sendn(&c, mixed_batch, sizeof mixed_batch - 1), 0);
    ASSERT_EQ(check_mixed(HERE, &c), 0);
    ASSERT(cli_quiet(&c, 50));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(pipeline_split_at_every_byte_boundary) {
    /* message framing must not depend on how the bytes are cut into reads */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    size_t n = sizeof mixed_batch - 1;
    ASSERT_EQ(send_split_everywhere(HERE, &c, mixed_batch, n, check_mixed), 0);
    weft_http_stats st = stats_after_requests(&t, 5 * (n - 1));
    ASSERT_EQ(st.accepted, 1);
    ASSERT_EQ(st.requests, 5 * (n - 1));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* ======================================================================
 * Partial reads and slow peers
 * ====================================================================== */

TEST(partial_request_dribbled_one_byte_at_a_time) {
    /* a head and body arriving one byte per segment are reassembled */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n12345"
                       "GET /n/9 HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i < sizeof req - 1; i++) {
        ASSERT_EQ(cli_sendn(&c, req + i, 1), 0);
        if (i % 4 == 0) weft_sleep(1);
    }
    ASSERT_RESP(&c, NULL, .status = 200, .body = "12345");
    ASSERT_RESP(&c, NULL, .body = "n=9");
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(partial_big_response_to_a_slow_reader_arrives_intact) {
    /* a 4 MiB response written against a reader that takes 16 KiB at a time
     * with pauses: flow control, not loss or truncation */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    c.max_rd = 16384;
    ASSERT_EQ(cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    weft_sleep(100); /* the server fills the socket buffers and waits */
    c.slow_ms = 1;
    resp r;
    ASSERT_RESP_KEEP(&c, NULL, &r, .read_ms = test_slack_ms(15000), .status = 200, .cl = BIG_LEN,
                     .len = BIG_LEN);
    unsigned char *want = malloc(BIG_LEN);
    ASSERT(want);
    test_fill_pattern(want, BIG_LEN, 7);
    int same = memcmp(want, r.body.data, BIG_LEN) == 0;
    free(want);
    resp_free(&r);
    ASSERT(same);
    /* the connection is still good afterwards */
    c.slow_ms = 0;
    ASSERT_RESP(&c, GET_N(5), .body = "n=5");
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* ======================================================================
 * Request and response bodies (RFC 9112 §6, §7)
 * ====================================================================== */

TEST(body_content_length_echoed) {
    /* RFC 9112 §6.3: the body is exactly Content-Length bytes, also when it
     * spans many reads */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    static const size_t sizes[] = {0, 1, 4095, 4096, 100000, 1 << 20};
    unsigned char *data = malloc(1 << 20);
    ASSERT(data);
    test_fill_pattern(data, 1 << 20, 3);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char head[128];
        snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                 sizes[i]);
        int rc = cli_send(&c, head);
        if (!rc) rc = cli_sendn(&c, data, sizes[i]);
        resp r;
        if (!rc) rc = cli_resp(&c, &r);
        int ok = !rc && r.status == 200 && r.body.len == sizes[i] &&
                 memcmp(r.body.data ? r.body.data : "", data, sizes[i]) == 0;
        if (!rc) resp_free(&r);
        if (!ok) {
            free(data);
            fprintf(stderr, "    size %zu: %s\n", sizes[i], weft_strerror(rc));
            ASSERT(0);
        }
    }
    free(data);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

static const char chunked_req[] =
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n"
    "1;name=\"quoted;value\"\r\n,\r\n"
    "A\r\n0123456789\r\n"
    "0\r\nX-Trailer: yes\r\n\r\n";

TEST(body_chunked_request_dechunked) {
    /* RFC 9112 §7.1: sizes in hex, extensions ignored, trailers skipped */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_RESP(&c, chunked_req, .status = 200, .body = "hello,0123456789");
    /* a big chunked body, 1000 chunks of 100 bytes, in one write */
    weft_buf b, want;
    weft_buf_init(&b, 0);
    weft_buf_init(&want, 0);
    weft_buf_appends(&b, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 1000; i++) {
        char chunk[100];
        memset(chunk, 'a' + i % 26, sizeof chunk);
        weft_buf_printf(&b, "%x\r\n", (unsigned)sizeof chunk);
        weft_buf_append(&b, chunk, sizeof chunk);
        weft_buf_append(&b, "\r\n", 2);
        weft_buf_append(&want, chunk, sizeof chunk);
    }
    weft_buf_appends(&b, "0\r\n\r\n");
    resp r;
    int rc = cli_sendn(&c, b.data, b.len);
    if (!rc) rc = cli_resp(&c, &r);
    int ok = !rc && r.status == 200 && r.body.len == want.len &&
             memcmp(r.body.data, want.data, want.len) == 0;
    if (!rc) resp_free(&r);
    weft_buf_free(&b);
    weft_buf_free(&want);
    ASSERT_EQ(rc, 0);
    ASSERT(ok);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

static int check_hello(loc at, cli *c) {
    return expect(at, c, NULL, &(const rwant){.status = 200, .body = "hello,0123456789"}, NULL);
}

TEST(body_chunked_request_split_at_every_byte) {
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_EQ(send_split_everywhere(HERE, &c, chunked_req, sizeof chunked_req - 1, check_hello),
              0);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(body_over_max_body_gets_413_and_close) {
    /* weft_http_config.max_body: a larger body is refused with 413 */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, &(weft_http_config){.max_body = 100}), 0);
    char body[128];
    memset(body, 'b', sizeof body);
    char req[512];
    /* exactly the limit is fine */
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n%.100s",
             body);
    ASSERT_ONCE(t.port, req, .status = 200, .len = 100);
    /* one over, declared by Content-Length: refused before reading it */
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n%.101s",
             body);
    ASSERT_ONCE(t.port, req, .status = 413, .hdr = {{"Connection", "close"}}, .eof = 1);
    /* a huge declared length, nothing sent */
    ASSERT_ONCE(t.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
                .status = 413, .eof = 1);
    /* chunked: the limit applies to the decoded size */
    snprintf(req, sizeof req,
             "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "40\r\n%.64s\r\n40\r\n%.64s\r\n0\r\n\r\n",
             body, body);
    ASSERT_ONCE(t.port, req, .status = 413, .hdr = {{"Connection", "close"}}, .eof = 1);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(body_expect_100_continue) {
    /* RFC 9110 §10.1.1: "Expect: 100-continue" gets an interim 100 before
     * the client sends the body; a body that is refused anyway gets the
     * final status (413) without a 100 */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, &(weft_http_config){.max_body = 1000}, &c), 0);
    resp r;
    ASSERT_RESP_KEEP(
        &c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        &r, .status = 100);
    ASSERT_EQ(strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n"), 0);
    resp_free(&r);
    ASSERT_RESP(&c, "data", .status = 200, .body = "data");
    /* chunked with Expect on the same connection */
    ASSERT_RESP(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Expect: 100-continue\r\n\r\n",
                .status = 100);
    ASSERT_RESP(&c, "3\r\nxyz\r\n0\r\n\r\n", .status = 200, .body = "xyz");
    cli_close(&c);
    /* too large: 413 straight away, no 100 */
    ASSERT_ONCE(
        t.port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
        .status = 413, .hdr = {{"Connection", "close"}}, .eof = 1);
    /* a 1.0 request's Expect is ignored (no 100 to a 1.0 client) */
    ASSERT_EQ(cli_open(&c, t.port), 0);
    ASSERT_EQ(
        cli_send(&c, "POST /echo HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"),
        0);
    ASSERT(cli_quiet(&c, 100));
    ASSERT_RESP(&c, "ok", .status = 200, .body = "ok");
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(body_streaming_response_is_chunked) {
    /* RFC 9112 §7.1: weft_http_write streams with Transfer-Encoding: chunked
     * on 1.1 (no Content-Length), ending with the last-chunk; on 1.0 the body
     * is delimited by closing the connection (§6.3 rule 8) */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    /* the empty write sent no (terminating) chunk: 3 chunks */
    ASSERT_RESP(&c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", .status = 200, .chunked = 1,
                .absent = {"Content-Length"}, .body = "alpha,beta,gamma-0123456789", .nchunks = 3);
    /* the framing was exact: the connection carries on */
    ASSERT_RESP(&c, GET_N(4), .body = "n=4");
    /* HEAD of a streaming route: the head, no chunks */
    ASSERT_RESP(&c, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n" GET_N(6), .head = 1, .status = 200);
    ASSERT_RESP(&c, NULL, .body = "n=6");
    cli_close(&c);
    /* HTTP/1.0: raw bytes, then close */
    ASSERT_ONCE(t.port, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", .status = 200,
                .chunked = -1, .hdr = {{"Connection", "close"}},
                .body = "alpha,beta,gamma-0123456789");
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(body_stream_failing_midway_closes_connection) {
    /* a handler that fails after the head went out cannot send a 500: the
     * only signal left is an incomplete message, so the server must close
     * (no last-chunk) */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    /* ended inside the chunked body */
    ASSERT_ONCE(t.port, "GET /stream-fail HTTP/1.1\r\nHost: x\r\n\r\n", .rc = WEFT_EPIPE);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(body_handler_error_gives_500) {
    /* a handler returning an error before sending anything: 500, and its
     * half-built response (status, headers, body) is discarded */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    ASSERT_ONCE(t.port, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n", .status = 500,
                .absent = {"X-Before-Failure"}, .body = "internal server error\n");
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(body_head_request_gets_headers_without_body) {
    /* RFC 9110 §9.3.2: HEAD = the GET's headers (incl. Content-Length), no
     * content */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    resp g, h;
    ASSERT_RESP_KEEP(&c, GET_HELLO, &g, .status = 200, .body = "hello\n");
    ASSERT_RESP_KEEP(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n" GET_N(1), &h, .head = 1,
                     .status = 200, .cl = 6);
    ASSERT_EQ(g.cl, h.cl);
    weft_str gt = resp_hdr(&g, "Content-Type"), ht = resp_hdr(&h, "Content-Type");
    ASSERT(gt.p && ht.p && weft_str_eq(gt, ht));
    resp_free(&g);
    resp_free(&h);
    /* no body bytes came after the HEAD response: the next is the GET's */
    ASSERT_RESP(&c, NULL, .body = "n=1");
    /* HEAD of the 4 MiB route: length announced, nothing sent */
    ASSERT_RESP(&c, "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n", .head = 1, .cl = BIG_LEN,
                .quiet_ms = 100);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* ======================================================================
 * Limits and malformed requests: each gets its status (ASSERT_REFUSED),
 * and the connection is closed after the error response
 * ====================================================================== */

TEST(limit_request_line_over_max_line_is_414) {
    /* RFC 9112 §3: a request-target longer than the server allows -> 414 */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, &(weft_http_config){.limits = {.max_line = 64}}), 0);
    char req[256];
    /* "GET /n/<k x's> HTTP/1.1\r\n": 64 bytes is fine, 65 is over */
    snprintf(req, sizeof req, "GET /n/%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 64 - 18,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ASSERT_ONCE(t.port, req, .status = 200);
    snprintf(req, sizeof req, "GET /n/%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 64 - 17,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ASSERT_REFUSED(t.port, req, 414);
    /* a line that never ends is refused as soon as it passes the limit */
    ASSERT_REFUSED(t.port, "GET /xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                   414);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(limit_head_over_max_head_is_431) {
    /* RFC 6585 §5: header section too large -> 431 */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, &(weft_http_config){.limits = {.max_head = 256}}), 0);
    char req[1024];
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %0300d\r\n\r\n", 0);
    ASSERT_REFUSED(t.port, req, 431);
    /* one that fits */
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %0150d\r\n\r\n", 0);
    ASSERT_ONCE(t.port, req, .status = 200);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(limit_too_many_headers_is_431) {
    /* limits.max_headers: more header fields than allowed -> 431 */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, &(weft_http_config){.limits = {.max_headers = 4}}), 0);
    ASSERT_ONCE(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                .status = 200);
    ASSERT_REFUSED(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
                   431);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(malformed_requests_are_400) {
    /* RFC 9112 §2.2 bare LF (refused here), §5.2 obs-fold, RFC 9112 §3.2
     * a 1.1 request without Host (TE with CL: rfc9112_6_1_* below); plus a
     * conflicting Content-Length pair (§6.3) and a bad chunk size */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    static const char *bad[] = {
        "GET /hello HTTP/1.1\nHost: x\n\n",
        "GET /hello HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
        "GET /hello HTTP/1.1\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        "chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) ASSERT_REFUSED(t.port, bad[i], 400);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(unsupported_requests_get_their_status) {
    /* RFC 9112 §6.1: an unknown transfer coding -> 501; RFC 9110 §15.6.6:
     * an unsupported major version -> 505; §10.1.1: an Expect other than
     * 100-continue -> 417 */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    ASSERT_REFUSED(
        t.port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    ASSERT_REFUSED(t.port, "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    ASSERT_REFUSED(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n", 417);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

/* ---- message framing over a socket: RFC 9112 §6 --------------------------------
 * Each request below is followed, in the same write, by a good pipelined
 * GET: a server that misjudged the framing would answer it (or the bytes
 * it mistook for it); the rules say the connection closes first. */

TEST(rfc9112_6_1_te_with_cl_processed_as_chunked_then_closed) {
    /* §6.1: a request with both Transfer-Encoding and Content-Length is
     * processed by Transfer-Encoding alone, and "the server MUST close the
     * connection after responding to such a request" */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_RESP(&c,
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                .status = 200, .body = "hello", .hdr = {{"Connection", "close"}}, .eof = 1);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(rfc9112_6_1_te_in_http10_request_gets_400_and_close) {
    /* §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing, even
     * with Content-Length (or a keep-alive), and the connection closes */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    static const char *bad[] = {
        "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        "GET /hello HTTP/1.0\r\n\r\n",
        "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
        "POST /echo HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "hello",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) ASSERT_REFUSED(t.port, bad[i], 400);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(rfc9112_6_3_chunked_not_final_gets_400_and_close) {
    /* §6.3 rule 4: chunked not the final coding of a request: 400, then close */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    ASSERT_REFUSED(t.port,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                   "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                   400);
    ASSERT_REFUSED(t.port,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
                   "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                   400);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(rfc9112_6_3_invalid_content_length_gets_400_and_close) {
    /* §6.3 rule 5: an invalid Content-Length (here two differing values, a
     * sign, an overflow) without Transfer-Encoding: 400, then close */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    ASSERT_REFUSED(t.port,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd"
                   "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                   400);
    ASSERT_REFUSED(t.port,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"
                   "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                   400);
    ASSERT_REFUSED(t.port,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
                   400);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(rfc9112_6_3_equal_content_lengths_frame_the_body_and_keep_alive) {
    /* §6.3: a list of identical Content-Length values is that value; the
     * connection stays usable for the next request */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_RESP(&c,
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n"
                "abc",
                .status = 200, .body = "abc", .absent = {"Connection"});
    ASSERT_RESP(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", .status = 200, .body = "hello\n");
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(error_after_good_requests_answers_them_first) {
    /* a bad request behind good pipelined ones: the good ones are answered
     * in order, then the error, then the close */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_RESP(&c, GET_N(1) GET_N(2) "GET /hello HTTP/1.1\r\n\r\n", .body = "n=1");
    ASSERT_RESP(&c, NULL, .body = "n=2");
    ASSERT_RESP(&c, NULL, .status = 400, .hdr = {{"Connection", "close"}}, .eof = 1);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* ======================================================================
 * Timeouts
 * ====================================================================== */

TEST(timeout_incomplete_head_gets_408_and_close) {
    /* head_timeout_ms: a head started but not finished in time -> 408 */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, &(weft_http_config){.head_timeout_ms = 250}, &c), 0);
    ASSERT_RESP(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n", .status = 408,
                .hdr = {{"Connection", "close"}}, .eof = 1, .min_ms = 200,
                .max_ms = 250 + test_slack_ms(SLACK_MS));
    cli_close(&c);
    /* a dribbling client does not extend the deadline */
    ASSERT_EQ(cli_open(&c, t.port), 0);
    int64_t t0 = weft_now_ns();
    const char *slow = "GET /hello HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    int status = 0;
    for (size_t i = 0; slow[i] && !status; i++) {
        if (cli_sendn(&c, slow + i, 1)) break;
        if (cli_fill(&c, weft_deadline_in(20)) > 0) status = 1;
    }
    ASSERT_RESP(&c, NULL, .status = 408);
    ASSERT_LT(test_ms_since(t0), 250 + test_slack_ms(SLACK_MS));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(timeout_silent_new_connection_closed_without_response) {
    /* head_timeout_ms also bounds a connection that never sends a byte; it
     * is closed without a response (nothing to answer) */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, &(weft_http_config){.head_timeout_ms = 250}, &c), 0);
    /* timed from after the connect returned, while the server's timer runs
     * from its accept: a test task delayed in between shortens what it
     * sees, so the lower bound only says 'not at once' (it was 200) */
    ASSERT_CLOSES(&c, 125, 250 + test_slack_ms(SLACK_MS));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(timeout_idle_keepalive_closed_after_idle_timeout) {
    /* idle_timeout_ms: a kept-alive connection with no next request is
     * closed silently; the head timeout does not apply to the idle wait */
    tsrv t;
    cli c;
    /* idle 1 s: the 150 ms pauses below stay within it even when a loaded
     * machine stretches one (at 300 ms, a pause stretched by 150 ms more
     * would lose the connection) */
    weft_http_config cfg = {.idle_timeout_ms = 1000, .head_timeout_ms = 100};
    ASSERT_EQ(serve_and_open(&t, &cfg, &c), 0);
    ASSERT_RESP(&c, GET_HELLO, .status = 200);
    /* by the idle timeout, not the 100 ms head timeout: 500 is far from
     * both, so a test task delayed after reading the response (the close
     * is timed from then) does not break it as 250 of 300 could */
    ASSERT_CLOSES(&c, 500, 1000 + test_slack_ms(SLACK_MS));
    cli_close(&c);
    /* a request within the idle time keeps it going */
    ASSERT_EQ(cli_open(&c, t.port), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_RESP(&c, GET_HELLO, .status = 200);
        weft_sleep(150); /* longer than head_timeout, shorter than idle */
    }
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(timeout_slow_body_gets_408) {
    /* body_timeout_ms: a body not complete in time -> 408 and close */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, &(weft_http_config){.body_timeout_ms = 250}), 0);
    ASSERT_ONCE(t.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
                .status = 408, .hdr = {{"Connection", "close"}}, .eof = 1, .min_ms = 200,
                .max_ms = 250 + test_slack_ms(SLACK_MS));
    /* same for a chunked body */
    ASSERT_ONCE(t.port,
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
                .status = 408, .eof = 1);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

/* ======================================================================
 * Router over sockets
 * ====================================================================== */

TEST(router_over_sockets_404_405_params_wildcard) {
    /* RFC 9110 §15.5.5 404, §15.5.6 405 with Allow */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, NULL, &c), 0);
    ASSERT_RESP(&c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", .status = 404);
    resp r;
    ASSERT_RESP_KEEP(&c, "DELETE /users/7 HTTP/1.1\r\nHost: x\r\n\r\n", &r, .status = 405);
    weft_str allow = resp_hdr(&r, "Allow");
    char a[64];
    snprintf(a, sizeof a, "%.*s", (int)allow.n, allow.p ? allow.p : "");
    resp_free(&r);
    ASSERT(allow.p);
    ASSERT(strstr(a, "GET") && strstr(a, "HEAD") && !strstr(a, "DELETE"));
    ASSERT_RESP(&c, "GET /users/J%C3%B6rg%20K HTTP/1.1\r\nHost: x\r\n\r\n", .status = 200,
                .body = "user J\xc3\xb6rg K");
    ASSERT_RESP(&c, "GET /files/a/b/c.txt?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
                .body = "file [a/b/c.txt]");
    ASSERT_RESP(&c, "GET /files/ HTTP/1.1\r\nHost: x\r\n\r\n", .body = "file []");
    /* 404/405 do not close the connection */
    ASSERT_RESP(&c, "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", .status = 201,
                .quiet_ms = 20);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* ======================================================================
 * Graceful shutdown
 * ====================================================================== */

TEST(shutdown_graceful_finishes_in_flight_and_closes_idle) {
    /* weft_http_server_stop: the request in flight gets its response (with
     * Connection: close), idle keep-alive connections are closed, new
     * connections are refused, weft_http_serve returns 0 */
    tsrv t;
    cli busy, idle;
    ASSERT_EQ(serve_and_open(&t, NULL, &idle), 0);
    slow_reset();
    ASSERT_RESP(&idle, GET_HELLO, .status = 200);
    ASSERT_EQ(cli_open(&busy, t.port), 0);
    ASSERT_EQ(cli_send(&busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ASSERT_EQ(slow_wait_entered(), 1);
    int64_t t0 = weft_now_ns();
    weft_http_server_stop(t.s);
    weft_http_server_stop(t.s); /* idempotent */
    /* idle connection: closed promptly, without a response */
    ASSERT_EQ(cli_eof(&idle, test_slack_ms(1000)), 1);
    cli_close(&idle);
    /* new connections are refused while the slow request is still running */
    int refused = 0;
    int64_t until = weft_deadline_in(700); /* within /slow's 1 s */
    while (!refused && weft_now() < until) {
        int fd = weft_tcp_connect("127.0.0.1", t.port, weft_deadline_in(1000));
        if (fd == WEFT_ECONNREFUSED)
            refused = 1;
        else if (fd >= 0)
            weft_close(fd), weft_sleep(5);
        else
            break;
    }
    int still_running = atomic_load(&slow_done) == 0;
    ASSERT(refused);
    ASSERT(still_running);
    /* the in-flight request completes, told the connection closes */
    ASSERT_RESP(&busy, NULL, .status = 200, .body = "slept", .hdr = {{"Connection", "close"}},
                .eof = 1);
    cli_close(&busy);
    int jr = test_join(&t.g, test_slack_ms(3000));
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(atomic_load(&t.serve_rc), 0);
    /* it waited for the slow request (/slow sleeps 1 s: long enough that it
     * still runs after the refusals above on a loaded machine; at 200 ms
     * still_running and a 150 ms lower bound here raced a slow test task)
     * and not for the 10 s shutdown timeout */
    ASSERT_GE(atomic_load(&t.serve_end_ns), atomic_load(&slow_done_ns));
    int64_t ms = (atomic_load(&t.serve_end_ns) - t0) / 1000000;
    ASSERT_LT(ms, 5000);
    weft_http_stats st;
    weft_http_server_stats(t.s, &st);
    ASSERT_EQ(st.connections, 0);
    ASSERT_EQ(tsrv_stop(&t), 0); /* after serve returned: a no-op stop, then free */
}

TEST(shutdown_timeout_cancels_a_handler_that_takes_too_long) {
    /* shutdown_timeout_ms: in-flight requests get that long, then they are
     * cancelled and serve returns */
    tsrv t;
    cli c;
    ASSERT_EQ(serve_and_open(&t, &(weft_http_config){.shutdown_timeout_ms = 300}, &c), 0);
    slow_reset();
    ASSERT_EQ(cli_send(&c, "GET /slower HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ASSERT_EQ(slow_wait_entered(), 1);
    int64_t t0 = weft_now_ns();
    weft_http_server_stop(t.s);
    int jr = test_join(&t.g, test_slack_ms(3000));
    int64_t ms = test_ms_since(t0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(atomic_load(&t.serve_rc), 0);
    ASSERT_GE(ms, 250);
    /* at the 300 ms deadline, not when /slower's 5 s sleep ends: a bound
     * under that in every build (300 + test_slack_ms(SLACK_MS) was 5.3 s
     * under TSan, where it could not tell them apart) */
    ASSERT_LT(ms, 2500);
    ASSERT_EQ(atomic_load(&slow_done), 1); /* the handler was woken (cancelled) */
    /* the connection is gone: whatever came, it ends */
    for (;;) {
        ssize_t n = cli_fill(&c, weft_deadline_in(IO_MS));
        if (n > 0) continue;
        ASSERT(n == 0 || n == WEFT_ECONNRESET);
        break;
    }
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(shutdown_with_no_connections_returns_promptly) {
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    weft_sleep(10);
    int64_t t0 = weft_now_ns();
    ASSERT_EQ(tsrv_stop(&t), 0);
    /* not the 10 s shutdown timeout; how soon a loaded machine runs the
     * server's tasks is not the point (the bound was test_slack_ms(200)) */
    ASSERT_LT(test_ms_since(t0), 5000);
}
/* ======================================================================
 * Other listeners
 * ====================================================================== */

TEST(listener_unix_socket) {
    /* weft_http_config.unix_path: same protocol over AF_UNIX; the socket
     * file is removed when serving ends */
    char dir[] = "/tmp/weft-http-XXXXXX";
    ASSERT(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/s.sock", dir);
    tsrv t;
    weft_http_config cfg = {.unix_path = path};
    int rc = tsrv_std(&t, &cfg);
    if (rc) rmdir(dir);
    ASSERT_EQ(rc, 0);
    struct stat sb;
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT(S_ISSOCK(sb.st_mode));
    cli c;
    memset(&c, 0, sizeof c);
    weft_buf_init(&c.in, 0);
    c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT(c.fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    ASSERT_EQ(weft_connect(c.fd, &sa, sizeof sa, weft_deadline_in(IO_MS)), 0);
    ASSERT_RESP(&c, "GET /info HTTP/1.1\r\nHost: x\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
                .status = 200, .body = "GET minor=1 peer=unix");
    ASSERT_RESP(&c, NULL, .body = "abc");
    ASSERT_EQ(close_and_stop(&t, &c), 0);
    int gone = stat(path, &sb) != 0;
    unlink(path);
    rmdir(dir);
    ASSERT(gone);
}

TEST(listener_ipv6_loopback) {
    /* a numeric IPv6 host: [::1]:port */
    tsrv t;
    memset(&t, 0, sizeof t);
    t.r = std_router();
    ASSERT(t.r);
    weft_http_config cfg = {.host = "::1"};
    int rc = tsrv_start(&t, &cfg);
    if (rc == WEFT_EINVAL || rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        printf("    note: ::1 unavailable (%s); IPv6 not checked\n", weft_strerror(rc));
        weft_http_router_free(t.r);
        return;
    }
    ASSERT_EQ(rc, 0);
    cli c;
    ASSERT_EQ(cli_open_host(&c, "::1", t.port), 0);
    ASSERT_RESP(&c, "GET /info HTTP/1.1\r\nHost: [::1]\r\n\r\n", .status = 200,
                .prefix = "GET minor=1 peer=[::1]:");
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(listener_port_in_use_is_eaddrinuse) {
    /* weft_http_server_new on a taken port fails with WEFT_EADDRINUSE even
     * though the listeners use SO_REUSEPORT */
    int fd = weft_tcp_listen("127.0.0.1", 0, 16, 0);
    ASSERT(fd >= 0);
    int port = weft_sock_port(fd);
    weft_http_router *r = std_router();
    weft_http_config cfg = {.port = port, .listeners = 2};
    int err = 0;
    weft_http_server *s = weft_http_server_new(&cfg, r, &err);
    close(fd);
    weft_http_server_free(s);
    weft_http_router_free(r);
    ASSERT(s == NULL);
    ASSERT_ERR(err, WEFT_EADDRINUSE);
}

/* ======================================================================
 * curl as a real client
 * ====================================================================== */

typedef struct curl_job {
    char cmd[1024];
    weft_buf out;
    int status;
} curl_job;

static void curl_run(void *arg) {
    curl_job *j = arg;
    FILE *f = popen(j->cmd, "r");
    if (!f) {
        j->status = -1;
        return;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) weft_buf_append(&j->out, buf, n);
    j->status = pclose(f);
}

/* Runs a shell command line on the blocking pool; output in j->out. */
static int curl_do(curl_job *j) {
    weft_buf_init(&j->out, 0);
    j->status = -1;
    int rc = weft_blocking(curl_run, j, weft_deadline_in(10000));
    return rc ? rc : (WIFEXITED(j->status) ? WEXITSTATUS(j->status) : -1);
}

static int have_curl(void) {
    curl_job j;
    snprintf(j.cmd, sizeof j.cmd, "command -v curl >/dev/null 2>&1 && echo yes");
    int rc = curl_do(&j);
    int yes = rc == 0 && j.out.len >= 3 && memcmp(j.out.data, "yes", 3) == 0;
    weft_buf_free(&j.out);
    return yes;
}

/* Runs the command line cmd (curl as the client): 1 when it exits 0 and its
 * output is exactly `exact` (unless NULL) and contains each of has[]
 * (NULL-ended); else 0, after showing the output. */
static int curl_ok(const char *what, const char *cmd, const char *exact, const char *const *has) {
    curl_job j;
    snprintf(j.cmd, sizeof j.cmd, "%s", cmd);
    int rc = curl_do(&j);
    int ok = rc == 0 && (!exact || (j.out.len && strcmp(j.out.data, exact) == 0));
    for (size_t i = 0; ok && has && has[i]; i++) ok = j.out.data && strstr(j.out.data, has[i]);
    if (!ok) fprintf(stderr, "    curl %s (%d): %s\n", what, rc, j.out.data ? j.out.data : "");
    weft_buf_free(&j.out);
    return ok;
}

TEST(curl_interoperates) {
    /* a real, independent HTTP/1.1 client: GET, form POST, chunked upload,
     * HTTP/1.0 */
    if (!have_curl()) {
        printf("    note: curl not found; skipped (scripts/deps.sh installs it)\n");
        return;
    }
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    char dir[] = "/tmp/weft-curl-XXXXXX";
    ASSERT(mkdtemp(dir));
    char file[128];
    snprintf(file, sizeof file, "%s/up.bin", dir);
    FILE *f = fopen(file, "w");
    ASSERT(f);
    for (int i = 0; i < 5000; i++) fprintf(f, "line %d\n", i);
    fclose(f);
    char cmd[1024];
#define CURL "curl -sS --max-time 5 "
    /* GET with -i */
    snprintf(cmd, sizeof cmd, CURL "-i http://127.0.0.1:%d/users/17", t.port);
    int ok1 = curl_ok("GET", cmd, NULL,
                      (const char *const[]){"HTTP/1.1 200 OK\r\n", "Content-Length: 7\r\n",
                                            "\r\n\r\nuser 17", NULL});
    /* POST --data (urlencoded form) */
    snprintf(cmd, sizeof cmd, CURL "--data 'a=hello+w%%C3%%B6rld&b=%%26x' http://127.0.0.1:%d/form",
             t.port);
    int ok2 = curl_ok("POST", cmd, "a=[hello w\xc3\xb6rld] b=[&x]", NULL);
    /* chunked upload, echoed back; compared with the file by cmp */
    snprintf(cmd, sizeof cmd,
             CURL "-H 'Transfer-Encoding: chunked' --data-binary @%s -o %s/back.bin "
                  "http://127.0.0.1:%d/echo && cmp %s %s/back.bin && echo same",
             file, dir, t.port, file, dir);
    int ok3 = curl_ok("chunked", cmd, NULL, (const char *const[]){"same", NULL});
    /* --http1.0 */
    snprintf(cmd, sizeof cmd, CURL "--http1.0 -i http://127.0.0.1:%d/info", t.port);
    int ok4 = curl_ok("1.0", cmd, NULL,
                      (const char *const[]){" 200 OK\r\n", "Connection: close\r\n",
                                            "\r\n\r\nGET minor=0 ", NULL});
    /* -I (HEAD) and a 404 with --fail */
    snprintf(cmd, sizeof cmd, CURL "-I http://127.0.0.1:%d/hello; " CURL
             "-o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/missing",
             t.port, t.port);
    int ok5 = curl_ok("HEAD/404", cmd, NULL,
                      (const char *const[]){"Content-Length: 6\r\n", "\r\n\r\n404", NULL});
#undef CURL
    curl_job j;
    snprintf(j.cmd, sizeof j.cmd, "rm -rf %s", dir);
    curl_do(&j);
    weft_buf_free(&j.out);
    ASSERT(ok1);
    ASSERT(ok2);
    ASSERT(ok3);
    ASSERT(ok4);
    ASSERT(ok5);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

/* ======================================================================
 * Clients that go away
 * ====================================================================== */

TEST(client_gone_mid_response_server_survives) {
    /* a client that resets the connection while a 4 MiB response is being
     * written: the server's write fails (EPIPE/ECONNRESET) and it must drop
     * that connection only -- not die of SIGPIPE -- and keep serving */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    for (int i = 0; i < 3; i++) {
        cli c;
        ASSERT_EQ(cli_open(&c, t.port), 0);
        c.max_rd = 4096;
        ASSERT_EQ(cli_send(&c, i == 2 ? "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                                      : "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"),
                  0);
        ASSERT(cli_fill(&c, weft_deadline_in(IO_MS)) > 0); /* the response started */
        if (i == 1) {
            struct linger lg = {1, 0}; /* close with RST */
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        cli_close(&c);
        weft_sleep(50);
    }
    ASSERT_EQ(wait_connections(&t, 0, 1), 0);
    ASSERT_ONCE(t.port, GET_HELLO, .status = 200);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

TEST(timeout_write_to_a_reader_that_never_reads) {
    /* write_timeout_ms: a response that cannot be flushed in time (the client
     * stopped reading) ends the connection instead of holding it forever */
    tsrv t;
    cli c;
    /* 1 s, so that the connection seen 100 ms in is still blocked in its
     * write however late a loaded machine runs this task (at 300 ms, a
     * 200 ms delay found it gone) */
    ASSERT_EQ(serve_and_open(&t, &(weft_http_config){.write_timeout_ms = 1000}, &c), 0);
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* timed from before the request: the write's deadline starts after it */
    int64_t t0 = weft_now_ns();
    ASSERT_EQ(cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    weft_http_stats st;
    weft_sleep(100);
    weft_http_server_stats(t.s, &st);
    ASSERT_EQ(st.connections, 1); /* blocked in the write */
    uint64_t left = wait_connections(&t, 0, 1);
    int64_t ms = test_ms_since(t0);
    ASSERT_EQ(left, 0);
    ASSERT_GE(ms, 950);
    ASSERT_LT(ms, 1000 + test_slack_ms(SLACK_MS));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(shutdown_closes_new_connections_that_sent_nothing) {
    /* a connection that has not started a request is idle: a graceful
     * shutdown closes it at once instead of waiting out head_timeout (a
     * browser's speculative preconnect would otherwise hold shutdown for the
     * whole shutdown_timeout) */
    tsrv t;
    cli c;
    weft_http_config cfg = {.shutdown_timeout_ms = 3000, .head_timeout_ms = 3000};
    ASSERT_EQ(serve_and_open(&t, &cfg, &c), 0);
    ASSERT_EQ(wait_connections(&t, 0, 0), 1);
    int64_t t0 = weft_now_ns();
    weft_http_server_stop(t.s);
    ASSERT_EQ(cli_eof(&c, IO_MS), 1);
    int jr = test_join(&t.g, test_slack_ms(5000));
    int64_t ms = test_ms_since(t0);
    ASSERT_EQ(jr, 0);
    ASSERT_EQ(atomic_load(&t.serve_rc), 0);
    /* at once, not after the 3 s head or shutdown timeout: a bound under
     * those in every build (test_slack_ms(500) was a speed bound, 500 ms,
     * in the plain build, and 5 s, above both timeouts, under TSan) */
    ASSERT_LT(ms, 2000);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(pipeline_big_body_then_request_in_one_write) {
    /* the bytes after a multi-read body belong to the next request */
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    size_t n = 300000;
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_buf_printf(&b, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    ASSERT_EQ(weft_buf_reserve(&b, n), 0);
    test_fill_pattern((unsigned char *)b.data + b.len, n, 11);
    b.len += n;
    weft_buf_appends(&b, "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 50; i++) {
        weft_buf_appends(&b, "fa0\r\n"); /* 4000 bytes */
        for (int k = 0; k < 4000; k++) weft_buf_appendc(&b, (char)('a' + (i + k) % 26));
        weft_buf_appends(&b, "\r\n");
    }
    weft_buf_appends(&b, "0\r\n\r\nGET /n/77 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli c;
    ASSERT_EQ(cli_open(&c, t.port), 0);
    int rc = cli_sendn(&c, b.data, b.len);
    unsigned char *want = malloc(n);
    test_fill_pattern(want, n, 11);
    resp r1, r2, r3;
    int rc1 = rc ? rc : cli_resp(&c, &r1);
    int rc2 = rc1 ? rc1 : cli_resp(&c, &r2);
    int rc3 = rc2 ? rc2 : cli_resp(&c, &r3);
    int ok1 = !rc1 && r1.body.len == n && memcmp(r1.body.data, want, n) == 0;
    int ok2 = !rc2 && r2.body.len == 200000;
    for (size_t k = 0; ok2 && k < 200000; k++)
        if (r2.body.data[k] != (char)('a' + (k / 4000 + k % 4000) % 26)) ok2 = 0;
    int ok3 = !rc3 && body_is(&r3, "n=77");
    free(want);
    weft_buf_free(&b);
    if (!rc1) resp_free(&r1);
    if (!rc2) resp_free(&r2);
    if (!rc3) resp_free(&r3);
    ASSERT_EQ(rc3, 0);
    ASSERT(ok1);
    ASSERT(ok2);
    ASSERT(ok3);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* ======================================================================
 * Files over a socket (sendfile) and bodyless statuses
 * ====================================================================== */

static char sf_path[128];

static int h_sendfile(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_send_file(c, sf_path);
    return rc == WEFT_ENOENT ? weft_http_text(c, 404, "no file\n") : rc;
}

static int h_nocontent(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_text(c, 204, "ignored"); /* RFC 9110 §15.3.5: no content */
}

TEST(files_sendfile_over_socket_with_pipelining) {
    /* weft_http_send_file on a socket: the head, then sendfile(2) of the
     * (ranged) file, in order with the pipelined responses around it;
     * HEAD sends no bytes of it; a 204 has neither body nor Content-Length */
    char dir[] = "/tmp/weft-sf-XXXXXX";
    ASSERT(mkdtemp(dir));
    snprintf(sf_path, sizeof sf_path, "%s/data.bin", dir);
    size_t n = 300000;
    unsigned char *data = malloc(n);
    ASSERT(data);
    test_fill_pattern(data, n, 5);
    FILE *f = fopen(sf_path, "wb");
    ASSERT(f);
    size_t wrote = fwrite(data, 1, n, f);
    fclose(f);
    ASSERT_EQ(wrote, n);
    tsrv t;
    memset(&t, 0, sizeof t);
    t.r = std_router();
    ASSERT(t.r);
    ASSERT_EQ(weft_http_route(t.r, "GET", "/file", h_sendfile, NULL), 0);
    ASSERT_EQ(weft_http_route(t.r, "GET", "/nocontent", h_nocontent, NULL), 0);
    ASSERT_EQ(tsrv_start(&t, NULL), 0);
    cli c;
    ASSERT_EQ(cli_open(&c, t.port), 0);
    ASSERT_EQ(cli_send(&c, "GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /file HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /file HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-100009\r\n\r\n"
                           "HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /n/2 HTTP/1.1\r\nHost: x\r\n\r\n"),
              0);
    resp r[6];
    int rc = 0, got = 0;
    for (int i = 0; i < 6 && !rc; i++, got++)
        rc = i == 3 ? cli_resp_head(&c, &r[i]) : cli_resp(&c, &r[i]);
    int ok0 = !rc && body_is(&r[0], "n=1");
    int ok1 = !rc && r[1].status == 200 && r[1].body.len == n &&
              memcmp(r[1].body.data, data, n) == 0 && hdr_is(&r[1], "Content-Type",
                                                             "application/octet-stream");
    int ok2 = !rc && r[2].status == 206 && r[2].body.len == 10 &&
              memcmp(r[2].body.data, data + 100000, 10) == 0 &&
              hdr_is(&r[2], "Content-Range", "bytes 100000-100009/300000");
    int ok3 = !rc && r[3].status == 200 && r[3].cl == (int64_t)n;
    int ok4 = !rc && r[4].status == 204 && r[4].body.len == 0 &&
              resp_hdr_count(&r[4], "Content-Length") == 0 &&
              resp_hdr_count(&r[4], "Transfer-Encoding") == 0;
    int ok5 = !rc && body_is(&r[5], "n=2");
    for (int i = 0; i < got; i++) resp_free(&r[i]);
    free(data);
    unlink(sf_path);
    rmdir(dir);
    ASSERT_EQ(rc, 0);
    ASSERT(ok0);
    ASSERT(ok1);
    ASSERT(ok2);
    ASSERT(ok3);
    ASSERT(ok4);
    ASSERT(ok5);
    ASSERT(cli_quiet(&c, 50));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

/* A Content-Length past int64 (or past uint64) is refused with 400 on the
 * wire, not taken modulo 2^64 or as a huge body to wait for. */
TEST(content_length_overflow_is_400) {
    tsrv t;
    ASSERT_EQ(tsrv_std(&t, NULL), 0);
    static const char *bad[] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\nabc",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551619\r\n\r\nabc",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nabc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) ASSERT_REFUSED(t.port, bad[i], 400);
    ASSERT_EQ(tsrv_stop(&t), 0);
}

/* ======================================================================
 * Connection hand-over (weft_http_hand_over, Go's http.Hijacker)
 *
 * The /upgrade route hands its connection over after a 101 head and speaks
 * a line protocol on it: "x\n" -> "echo: x\n", "quit\n" -> "bye\n" and
 * close. Its shutdown notification cancels the loop's read through a task
 * reference (weft/impl.h); the loop then says "bye (shutdown)\n" with
 * cancellation masked and closes. With ho_ignore set, the notification is
 * only counted and the loop goes on until the server cancels it.
 * ====================================================================== */

#include "weft/impl.h"

#define UPGRADE_HEAD                                                                               \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
#define GET_UPGRADE                                                                                \
    "GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"

enum { HO_EOF = 1, HO_QUIT, HO_SHUTDOWN, HO_CANCELED, HO_ERROR };
static _Atomic int ho_ignore, ho_linger_ms; /* per test */
static _Atomic int ho_running, ho_entered, ho_notified, ho_ended, ho_end_how;
static _Atomic int64_t ho_end_ns;

static void ho_reset(int ignore, int linger_ms) {
    atomic_store(&ho_ignore, ignore);
    atomic_store(&ho_linger_ms, linger_ms);
    atomic_store(&ho_running, 0);
    atomic_store(&ho_entered, 0);
    atomic_store(&ho_notified, 0);
    atomic_store(&ho_ended, 0);
    atomic_store(&ho_end_how, 0);
    atomic_store(&ho_end_ns, 0);
}

typedef struct ho_conn {
    weft_task_ref *self;
    _Atomic int notified;
} ho_conn;

/* on the serve task, server lock held: only signal */
static void ho_on_shutdown(void *ud) {
    ho_conn *hc = ud;
    atomic_store(&hc->notified, 1);
    atomic_fetch_add(&ho_notified, 1);
    if (!atomic_load(&ho_ignore)) weft_task_ref_cancel(hc->self);
}

/* Answers every complete line in b (consuming it); 1 after "quit". */
static int ho_lines(int fd, weft_buf *b, int *err) {
    char *nl;
    while (b->len && (nl = memchr(b->data, '\n', b->len))) {
        size_t n = (size_t)(nl - b->data);
        char out[600];
        int k;
        int quit = n == 4 && memcmp(b->data, "quit", 4) == 0;
        if (quit)
            k = snprintf(out, sizeof out, "bye\n");
        else
            k = snprintf(out, sizeof out, "echo: %.*s\n", (int)(n < 500 ? n : 500), b->data);
        weft_buf_consume(b, n + 1);
        ssize_t w = weft_write_all(fd, out, (size_t)k, weft_deadline_in(IO_MS));
        if (w < 0) {
            *err = (int)w;
            return 1;
        }
        if (quit) return 1;
    }
    return 0;
}

static int h_upgrade(weft_http_ctx *c, void *ud) {
    (void)ud;
    ho_conn hc = {0};
    hc.self = weft_task_ref_self(NULL);
    if (!hc.self) return WEFT_ENOMEM;
    weft_http_handover h = {.head = UPGRADE_HEAD,
                            .head_len = strlen(UPGRADE_HEAD),
                            .on_shutdown = ho_on_shutdown,
                            .ud = &hc};
    int rc = weft_http_hand_over(c, &h);
    if (rc < 0) {
        weft_task_ref_release(hc.self);
        return rc;
    }
    atomic_fetch_add(&ho_running, 1);
    atomic_fetch_add(&ho_entered, 1);
    /* response calls after the hand-over reach nobody: the client checks it
     * gets exactly the 101 head and then the protocol's bytes */
    weft_http_text(c, 500, "must not be sent\n");
    weft_http_write(c, "nor this", 8);
    /* a second hand-over of the same connection is refused */
    weft_http_handover again = {0};
    int how = weft_http_hand_over(c, &again) == WEFT_EINVAL ? 0 : HO_ERROR;
    weft_buf_free(&again.leftover);
    weft_buf b = h.leftover; /* the bytes that came behind the request first */
    int err = 0;
    while (!how) {
        if (ho_lines(h.fd, &b, &err)) {
            how = err ? HO_ERROR : HO_QUIT;
            break;
        }
        if (weft_buf_reserve(&b, 512)) {
            how = HO_ERROR;
            break;
        }
        ssize_t n = weft_read(h.fd, b.data + b.len, 512, -1);
        if (n > 0) {
            b.len += (size_t)n;
            continue;
        }
        if (n == 0) {
            how = HO_EOF;
        } else if (n == WEFT_ECANCELED && atomic_load(&hc.notified)) {
            /* a goodbye after the notification: masked, with a deadline */
            int prev = weft_nocancel_begin();
            weft_sleep(atomic_load(&ho_linger_ms));
            int ignored = atomic_load(&ho_ignore);
            const char *bye = ignored ? "canceled\n" : "bye (shutdown)\n";
            weft_write_all(h.fd, bye, strlen(bye), weft_deadline_in(IO_MS));
            weft_nocancel_end(prev);
            how = ignored ? HO_CANCELED : HO_SHUTDOWN;
        } else {
            how = HO_ERROR;
        }
    }
    weft_buf_free(&b);
    weft_close(h.fd);
    weft_task_ref_release(hc.self);
    atomic_store(&ho_end_how, how);
    atomic_store(&ho_end_ns, weft_now_ns());
    atomic_fetch_sub(&ho_running, 1);
    atomic_fetch_add(&ho_ended, 1);
    return 0;
}

/* The standard router plus /upgrade. */
static int tsrv_ho(tsrv *t, const weft_http_config *cfg) {
    memset(t, 0, sizeof *t);
    t->r = std_router();
    if (!t->r) return WEFT_ENOMEM;
    int rc = weft_http_route(t->r, "GET", "/upgrade", h_upgrade, NULL);
    if (rc) return rc;
    return tsrv_start(t, cfg);
}

/* Reads until c->in starts with s (then consumes it): 0, or -1 reporting. */
static int expect_bytes(loc at, cli *c, const char *s) {
    size_t n = strlen(s);
    int rc = cli_need(c, n, weft_deadline_in(IO_MS));
    if (rc || memcmp(c->in.data, s, n) != 0)
        return fail_at(at, s, "expected these bytes, got %s \"%.*s\"", rc ? weft_strerror(rc) : "",
                       (int)(c->in.len < 200 ? c->in.len : 200), c->in.data ? c->in.data : "");
    weft_buf_consume(&c->in, n);
    return 0;
}
#define ASSERT_BYTES(c, s)                                                                         \
    do {                                                                                           \
        if (expect_bytes(HERE, (c), (s))) return;                                                  \
    } while (0)

/* Waits (at most IO_MS) until ho_ended reaches n. */
static int ho_wait_ended(int n) {
    int64_t until = weft_deadline_in(IO_MS);
    while (atomic_load(&ho_ended) < n && weft_now() < until) weft_sleep(1);
    return atomic_load(&ho_ended);
}

TEST(handover_line_echo_protocol) {
    tsrv t;
    cli c;
    ho_reset(0, 0);
    ASSERT_EQ(tsrv_ho(&t, NULL), 0);
    ASSERT_EQ(cli_open(&c, t.port), 0);
    ASSERT_EQ(cli_send(&c, GET_UPGRADE), 0);
    ASSERT_BYTES(&c, UPGRADE_HEAD); /* the 101 head as given, nothing added */
    ASSERT_EQ(cli_send(&c, "hello\n"), 0);
    ASSERT_BYTES(&c, "echo: hello\n");
    ASSERT_EQ(cli_send(&c, "one\ntw"), 0);
    ASSERT_BYTES(&c, "echo: one\n");
    weft_sleep(5);
    /* "GET ..." after the hand-over is data, not a request: the server reads nothing */
    ASSERT_EQ(cli_send(&c, "o\nGET /hello HTTP/1.1\n"), 0);
    ASSERT_BYTES(&c, "echo: two\necho: GET /hello HTTP/1.1\n");
    weft_http_stats st;
    weft_http_server_stats(t.s, &st);
    ASSERT_EQ(st.connections, 1);
    ASSERT_EQ(cli_send(&c, "quit\n"), 0);
    ASSERT_BYTES(&c, "bye\n");
    ASSERT_EQ(cli_eof(&c, IO_MS), 1); /* the owner closed it */
    ASSERT_EQ(ho_wait_ended(1), 1);
    ASSERT_EQ(atomic_load(&ho_end_how), HO_QUIT);
    ASSERT_EQ(wait_connections(&t, 0, 1), 0); /* and the server let go of it */
    weft_http_server_stats(t.s, &st);
    ASSERT_EQ(st.requests, 1);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
    ASSERT_EQ(atomic_load(&ho_notified), 0); /* it had ended before the shutdown */
}

TEST(handover_leftover_bytes_in_the_same_packet_are_delivered) {
    tsrv t;
    cli c;
    ho_reset(0, 0);
    ASSERT_EQ(tsrv_ho(&t, NULL), 0);
    ASSERT_EQ(cli_open(&c, t.port), 0);
    /* one write: the request and the first lines of the new protocol */
    ASSERT_EQ(cli_send(&c, GET_UPGRADE "first\nsecond\nthi"), 0);
    ASSERT_BYTES(&c, UPGRADE_HEAD "echo: first\necho: second\n");
    ASSERT_EQ(cli_send(&c, "rd\nquit\n"), 0);
    ASSERT_BYTES(&c, "echo: third\nbye\n");
    ASSERT_EQ(cli_eof(&c, IO_MS), 1);
    ASSERT_EQ(ho_wait_ended(1), 1);
    ASSERT_EQ(atomic_load(&ho_end_how), HO_QUIT);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(handover_after_a_request_with_a_body_leftover_starts_after_the_body) {
    tsrv t;
    cli c;
    ho_reset(0, 0);
    ASSERT_EQ(tsrv_ho(&t, NULL), 0);
    ASSERT_EQ(cli_open(&c, t.port), 0);
    ASSERT_EQ(cli_send(&c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                           "body\nafter\nquit\n"),
              0);
    ASSERT_BYTES(&c, UPGRADE_HEAD "echo: after\nbye\n");
    ASSERT_EQ(cli_eof(&c, IO_MS), 1);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(handover_pipelined_responses_before_it_arrive_first) {
    tsrv t;
    cli c;
    ho_reset(0, 0);
    ASSERT_EQ(tsrv_ho(&t, NULL), 0);
    ASSERT_EQ(cli_open(&c, t.port), 0);
    /* two ordinary requests, the upgrade and protocol data, in one write:
     * the two responses are still queued when the handler hands over */
    ASSERT_EQ(cli_send(&c, GET_HELLO "GET /n/7 HTTP/1.1\r\nHost: x\r\n\r\n" GET_UPGRADE
                           "ping\n"),
              0);
    resp r;
    ASSERT_RESP_KEEP(&c, NULL, &r, .status = 200, .body = "hello\n");
    resp_free(&r);
    ASSERT_RESP_KEEP(&c, NULL, &r, .status = 200, .body = "n=7");
    resp_free(&r);
    ASSERT_BYTES(&c, UPGRADE_HEAD "echo: ping\n");
    ASSERT_EQ(cli_send(&c, "quit\n"), 0);
    ASSERT_BYTES(&c, "bye\n");
    ASSERT_EQ(cli_eof(&c, IO_MS), 1);
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(handover_shutdown_notifies_and_waits_for_it) {
    /* the notification comes when shutdown starts; the owner takes 150 ms
     * to say goodbye, and serve waits for it (well within the timeout) */
    tsrv t;
    cli c;
    ho_reset(0, 150);
    ASSERT_EQ(tsrv_ho(&t, &(weft_http_config){.shutdown_timeout_ms = 5000}), 0);
    ASSERT_EQ(cli_open(&c, t.port), 0);
    ASSERT_EQ(cli_send(&c, GET_UPGRADE "x\n"), 0);
    ASSERT_BYTES(&c, UPGRADE_HEAD "echo: x\n");
    int64_t t0 = weft_now_ns();
    weft_http_server_stop(t.s);
    ASSERT_BYTES(&c, "bye (shutdown)\n");
    ASSERT_EQ(cli_eof(&c, IO_MS), 1);
    ASSERT_EQ(test_join(&t.g, test_slack_ms(3000)), 0);
    ASSERT_EQ(atomic_load(&t.serve_rc), 0);
    ASSERT_EQ(atomic_load(&ho_notified), 1);
    ASSERT_EQ(atomic_load(&ho_ended), 1);
    ASSERT_EQ(atomic_load(&ho_end_how), HO_SHUTDOWN);
    int64_t serve_ms = (atomic_load(&t.serve_end_ns) - t0) / 1000000;
    ASSERT_GE(serve_ms, 140);                                  /* it waited for the owner */
    ASSERT_LE(atomic_load(&ho_end_ns), atomic_load(&t.serve_end_ns)); /* ... to the end */
    ASSERT_LT(serve_ms, 2500); /* not for the 5 s timeout (was 150 + test_slack_ms(SLACK_MS)) */
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(handover_ignoring_the_notification_is_cancelled_at_the_deadline) {
    tsrv t;
    cli c;
    ho_reset(1, 0);
    ASSERT_EQ(tsrv_ho(&t, &(weft_http_config){.shutdown_timeout_ms = 300}), 0);
    ASSERT_EQ(cli_open(&c, t.port), 0);
    ASSERT_EQ(cli_send(&c, GET_UPGRADE), 0);
    ASSERT_BYTES(&c, UPGRADE_HEAD);
    int64_t t0 = weft_now_ns();
    weft_http_server_stop(t.s);
    ASSERT_BYTES(&c, "canceled\n");
    int64_t got_ms = test_ms_since(t0);
    ASSERT_EQ(cli_eof(&c, IO_MS), 1);
    ASSERT_EQ(test_join(&t.g, test_slack_ms(3000)), 0);
    ASSERT_EQ(atomic_load(&t.serve_rc), 0);
    ASSERT_EQ(atomic_load(&ho_notified), 1);
    ASSERT_EQ(atomic_load(&ho_end_how), HO_CANCELED);
    ASSERT_GE(got_ms, 280); /* the loop ran on until the shutdown deadline */
    ASSERT_LT(got_ms, 300 + test_slack_ms(SLACK_MS));
    ASSERT_EQ(close_and_stop(&t, &c), 0);
}

TEST(handover_counts_against_max_connections) {
    tsrv t;
    cli a, b;
    ho_reset(0, 0);
    ASSERT_EQ(tsrv_ho(&t, &(weft_http_config){.max_connections = 1}), 0);
    ASSERT_EQ(cli_open(&a, t.port), 0);
    ASSERT_EQ(cli_send(&a, GET_UPGRADE), 0);
    ASSERT_BYTES(&a, UPGRADE_HEAD);
    weft_http_stats st;
    weft_http_server_stats(t.s, &st);
    ASSERT_EQ(st.connections, 1);
    /* the handed-over connection fills the only place: a new one is closed */
    ASSERT_EQ(cli_open(&b, t.port), 0);
    int e = cli_eof(&b, IO_MS);
    ASSERT(e == 1 || e == WEFT_ECONNRESET);
    cli_close(&b);
    /* once its owner ends it, the place is free again */
    ASSERT_EQ(cli_send(&a, "quit\n"), 0);
    ASSERT_BYTES(&a, "bye\n");
    ASSERT_EQ(ho_wait_ended(1), 1);
    ASSERT_EQ(wait_connections(&t, 0, 1), 0);
    ASSERT_EQ(cli_open(&b, t.port), 0);
    ASSERT_RESP(&b, GET_HELLO, .status = 200);
    cli_close(&b);
    ASSERT_EQ(close_and_stop(&t, &a), 0);
}

static int h_handover_test_client(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_http_handover h = {0};
    int rc = weft_http_hand_over(c, &h);
    weft_buf_free(&h.leftover);
    int rc2 = weft_http_hand_over(NULL, &h);
    int rc3 = weft_http_hand_over(c, NULL);
    weft_buf *b = weft_http_body_buf(c);
    return weft_buf_printf(b, "%d %d %d %d", rc, rc2, rc3, weft_http_stopping(c));
}

TEST(handover_refused_in_the_test_client_and_for_bad_arguments) {
    weft_http_router *r = weft_http_router_new();
    ASSERT(r);
    ASSERT_EQ(weft_http_route(r, "GET", "/h", h_handover_test_client, NULL), 0);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(r, "GET", "/h", NULL, NULL, &res), 0);
    char want[64];
    snprintf(want, sizeof want, "%d %d %d 0", WEFT_ENOTSUP, WEFT_EINVAL, WEFT_EINVAL);
    int ok = res.status == 200 && res.body.n == strlen(want) &&
             memcmp(res.body.p, want, res.body.n) == 0;
    weft_http_test_response_free(&res);
    weft_http_router_free(r);
    ASSERT(ok);
}

/* Regression: with handle_signals the handlers went in only when
 * weft_http_serve began, after a program had printed where it listens; a
 * SIGTERM in between killed it (status 143) instead of draining (seen in 6 of
 * 20 runs of the example server). weft_http_server_new installs them now: a
 * SIGTERM raised between new and serve makes serve stop at once and return 0
 * (with the old code it would kill this test binary). */
TEST(sigterm_between_new_and_serve_drains) {
    weft_http_router *r = std_router();
    weft_http_config cfg = {.port = 0, .handle_signals = 1};
    int err = 0;
    weft_http_server *s = weft_http_server_new(&cfg, r, &err);
    ASSERT(s);
    ASSERT_EQ(raise(SIGTERM), 0);
    int64_t t0 = weft_now();
    ASSERT_EQ(weft_http_serve(s), 0);
    ASSERT_LT(weft_now() - t0, test_slack_ms(2000));
    weft_http_server_free(s);
    weft_http_router_free(r);
}
