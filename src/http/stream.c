/*
 * src/http/stream.c — bytes to the wire while a handler runs: the flush of a
 * connection's `out` buffer (to its socket, or to the test client's sink),
 * and streamed response bodies (weft_http_write: chunked on HTTP/1.1, up to
 * the close on HTTP/1.0).
 *
 * The server (server.c) flushes through here once per batch of requests;
 * streaming and file serving (file.c) flush here mid-handler. Nothing here
 * knows about listeners or connection tasks.
 */
#include <string.h>

#include "http/http_int.h"
#include "weft/rt.h"

/* ---- the connection's output ----------------------------------------------------- */

int weft__http_flush(weft__http_conn *c) {
    if (c->out.len == 0) return 0;
    int rc = 0;
    if (c->fd < 0) {
        if (c->sink) rc = weft_buf_append(c->sink, c->out.data, c->out.len);
    } else {
        ssize_t n = weft_write_all(c->fd, c->out.data, c->out.len,
                                   weft_deadline_in(c->cfg->write_timeout_ms));
        if (n < 0) rc = (int)n;
    }
    weft_buf_clear(&c->out);
    return rc;
}

/* ---- streaming --------------------------------------------------------------------- */

static int put_chunk(weft_http_ctx *c, const void *p, size_t n) {
    weft_buf *o = &c->conn->out;
    if (n == 0 || c->is_head) return 0;
    int rc = 0;
    if (c->chunked) rc = weft_buf_printf(o, "%zx\r\n", n);
    rc = rc ? rc : weft_buf_append(o, p, n);
    if (c->chunked && !rc) rc = weft_buf_append(o, "\r\n", 2);
    return rc;
}

int weft_http_write(weft_http_ctx *c, const void *p, size_t n) {
    if (c->failed) return WEFT_EPIPE;
    if (c->done) return WEFT_EINVAL;
    int rc;
    if (!c->head_sent) {
        if (!c->status) c->status = 200;
        if (weft__http_bodyless(c->status)) return WEFT_EINVAL;
        c->chunked = c->req.minor >= 1;
        if (!c->chunked) c->keep_alive = 0; /* 1.0: the body ends at close */
        rc = weft__http_send_head(c, -1);
        if (!rc && c->body_out.len) rc = put_chunk(c, c->body_out.data, c->body_out.len);
        weft_buf_clear(&c->body_out);
        if (rc) return rc;
    }
    rc = put_chunk(c, p, n);
    if (!rc) rc = weft__http_flush(c->conn);
    if (rc) c->failed = 1;
    return rc;
}
