/*
 * weft/sse.h — Server-Sent Events (the WHATWG HTML "event stream"):
 * src/http/sse.c.
 *
 *   static int events(weft_http_ctx *c, void *ud) {
 *       weft_str last = weft_sse_last_event_id(c);   // resume after this id
 *       if (weft_sse_start(c)) return 0;             // the client went away
 *       weft_sse_event ev = {.id = "1", .event = "tick", .data = "hello", .n = 5};
 *       while (!weft_http_stopping(c) && weft_sse_send(c, &ev) == 0) weft_sleep(1000);
 *       return 0;
 *   }
 *
 * A stream is an ordinary response streamed with weft_http_write (chunked on
 * HTTP/1.1, close-delimited on 1.0), so it lives in the handler's task and
 * ends when the handler returns: after a write fails (the client left) or
 * when weft_http_stopping(c) says the server is shutting down (the server
 * cancels the handler at its shutdown deadline otherwise).
 */
#ifndef WEFT_SSE_H
#define WEFT_SSE_H

#include "http.h"
#include "ws.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_sse_event {
    const char *id;    /* NULL = no id field; no CR, LF or NUL */
    const char *event; /* NULL = the default "message"; no CR, LF or NUL */
    const void *data;  /* split into data: lines at every CR, LF and CRLF */
    size_t n;
    int64_t retry_ms; /* > 0: a retry field (the client's reconnection delay) */
} weft_sse_event;

/* Append ev in event-stream format to out, ending with the blank line that
 * dispatches it. 0, WEFT_EINVAL (CR, LF or NUL in id or event), WEFT_ENOMEM.
 * Pure. */
int weft_sse_format(weft_buf *out, const weft_sse_event *ev);

/* The request's Last-Event-ID ({NULL,0} when absent). */
weft_str weft_sse_last_event_id(const weft_http_ctx *c);
/* Start the stream: 200, Content-Type: text/event-stream, Cache-Control:
 * no-cache, X-Accel-Buffering: no (proxies must not buffer it), and the head
 * sent at once. 0, or the write's negative code. Suspends. */
int weft_sse_start(weft_http_ctx *c);
/* Send one event now (one chunk). 0, WEFT_EINVAL, WEFT_ENOMEM, or the write's
 * negative code (the client went away). Suspends. */
int weft_sse_send(weft_http_ctx *c, const weft_sse_event *ev);
/* A comment line (": text"), e.g. a heartbeat that keeps proxies from
 * closing an idle stream and finds a client that left. text without CR/LF. */
int weft_sse_comment(weft_http_ctx *c, const char *text);

/* Serve topic of h as an event stream on c until the client leaves or the
 * server shuts down: starts the stream, subscribes a channel (capacity 64; a
 * client that falls further behind misses messages), sends each message as
 * an event with data = the payload and id = a counter of this stream, and a
 * ": heartbeat" comment after heartbeat_ms without one (0 = 15 s). Returns 0
 * when the client left or the server stopped, or a negative code
 * (WEFT_ENOMEM, ...). Suspends; call from the handler. */
int weft_hub_serve_sse(weft_http_ctx *c, weft_hub *h, const char *topic, int64_t heartbeat_ms);

#ifdef __cplusplus
}
#endif
#endif
