/*
 * src/http/sse.c — Server-Sent Events on the HTTP server's streaming
 * responses, and the hub's SSE subscriber.
 *
 * Formatting is pure (weft_sse_format): data is cut into lines at CR, LF and
 * CRLF, each sent as its own "data:" field, which the client joins back with
 * LF (the event-stream format has no other way to carry a line break). Fields
 * that cannot carry a line break at all (id, event) refuse one rather than
 * let a value inject fields of its own.
 */
#include <string.h>

#include "weft/sse.h"

static int has_break(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

int weft_sse_format(weft_buf *out, const weft_sse_event *ev) {
    if (has_break(ev->id) || has_break(ev->event)) return WEFT_EINVAL;
    size_t start = out->len;
    int rc = 0;
    if (ev->event) rc = weft_buf_printf(out, "event: %s\n", ev->event);
    if (!rc && ev->id) rc = weft_buf_printf(out, "id: %s\n", ev->id);
    if (!rc && ev->retry_ms > 0)
        rc = weft_buf_printf(out, "retry: %lld\n", (long long)ev->retry_ms);
    const char *p = ev->data ? ev->data : "", *end = p + ev->n;
    if (!rc && (ev->data || !ev->event)) {
        for (;;) {
            const char *q = p;
            while (q < end && *q != '\r' && *q != '\n') q++;
            rc = weft_buf_appends(out, "data: ");
            if (!rc) rc = weft_buf_append(out, p, (size_t)(q - p));
            if (!rc) rc = weft_buf_appendc(out, '\n');
            if (rc || q == end) break;
            p = q + (*q == '\r' && q + 1 < end && q[1] == '\n' ? 2 : 1);
        }
    }
    if (!rc) rc = weft_buf_appendc(out, '\n');
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}

weft_str weft_sse_last_event_id(const weft_http_ctx *c) {
    return weft_http_get_header(c, "Last-Event-ID");
}

int weft_sse_start(weft_http_ctx *c) {
    weft_http_set_status(c, 200);
    int rc = weft_http_set_content_type(c, "text/event-stream");
    if (!rc) rc = weft_http_add_header(c, "Cache-Control", "no-cache");
    if (!rc) rc = weft_http_add_header(c, "X-Accel-Buffering", "no");
    /* a comment as the first chunk: the head goes out now, and a browser's
     * EventSource sees the stream open */
    if (!rc) rc = weft_http_write(c, ": ok\n\n", 6);
    return rc;
}

static int send_buf(weft_http_ctx *c, weft_buf *b) {
    int rc = weft_http_write(c, b->data, b->len);
    weft_buf_free(b);
    return rc;
}

int weft_sse_send(weft_http_ctx *c, const weft_sse_event *ev) {
    weft_buf b;
    weft_buf_init(&b, 0);
    int rc = weft_sse_format(&b, ev);
    if (rc) {
        weft_buf_free(&b);
        return rc;
    }
    return send_buf(c, &b);
}

int weft_sse_comment(weft_http_ctx *c, const char *text) {
    if (has_break(text)) return WEFT_EINVAL;
    weft_buf b;
    weft_buf_init(&b, 0);
    if (weft_buf_printf(&b, ": %s\n\n", text ? text : "")) {
        weft_buf_free(&b);
        return WEFT_ENOMEM;
    }
    return send_buf(c, &b);
}

int weft_hub_serve_sse(weft_http_ctx *c, weft_hub *h, const char *topic, int64_t heartbeat_ms) {
    if (heartbeat_ms <= 0) heartbeat_ms = 15000;
    int err = 0;
    weft_chan *ch = weft_chan_new(sizeof(weft_hub_msg *), 64, &err);
    if (!ch) return err;
    int setup = weft_hub_subscribe_chan(h, topic, ch);
    int rc = setup ? setup : weft_sse_start(c);
    uint64_t seq = 0;
    int64_t beat = weft_deadline_in(heartbeat_ms);
    while (!rc) {
        if (weft_http_stopping(c)) break;
        /* wake at least every 200 ms to notice a shutdown promptly */
        int64_t poll = weft_deadline_in(200);
        weft_hub_msg *m = NULL;
        int r = weft_chan_recv(ch, &m, poll < beat ? poll : beat);
        if (r == 0) {
            char id[WEFT_I64_TEXT_MAX + 1];
            id[weft_i64_to_text(id, (int64_t)++seq)] = '\0';
            weft_str d = weft_hub_msg_data(m);
            weft_sse_event ev = {.id = id, .data = d.p, .n = d.n};
            rc = weft_sse_send(c, &ev);
            weft_hub_msg_release(m);
            beat = weft_deadline_in(heartbeat_ms);
        } else if (r == WEFT_ETIMEDOUT) {
            if (weft_now() >= beat) {
                rc = weft_sse_comment(c, "heartbeat");
                beat = weft_deadline_in(heartbeat_ms);
            }
        } else {
            rc = r; /* cancelled at the server's shutdown deadline */
        }
    }
    weft_hub_unsubscribe_chan(h, topic, ch);
    weft_chan_close(ch);
    weft_hub_msg *m;
    while (weft_chan_recv(ch, &m, 0) == 0) weft_hub_msg_release(m);
    weft_chan_free(ch);
    /* once streaming, a failed write (the client left) or a cancel (the
     * server's shutdown deadline) is how a stream ends, not an error */
    return setup;
}
