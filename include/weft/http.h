/*
 * weft/http.h — HTTP/1.1, in four parts, each built on the one before:
 *  - the wire layer: the request-head parser and the chunked-body decoder,
 *    pure functions over bytes (src/http/parse.c, chunked.c) with no
 *    sockets and no allocation, unit-tested and fuzzed on their own;
 *  - the router and middleware (router.c): method + path to a handler,
 *    {param} and {rest...} segments, 404/405, a middleware chain;
 *  - the server (server.c): listeners, one task per connection,
 *    pipelining, bodies, limits, timeouts, graceful shutdown on SIGTERM;
 *  - what a handler sees (context.c, stream.c, file.c): the request
 *    (headers, params, query, form, cookies, body, JSON), a buffered
 *    response (text, JSON, redirects, cookies), streamed bodies and files
 *    (sendfile, Range, ETag);
 * plus an in-process test client (testclient.c) that runs requests through a
 * router without sockets. docs/http.md has the design and the figures.
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"

struct weft_json;
struct weft_json_error;
struct weft_json_enc;

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_header {
    weft_str name;  /* as sent (case preserved); compare with weft_str_eq_nocase */
    weft_str value; /* leading/trailing spaces and tabs removed */
} weft_http_header;

/* Limits a request head must stay within; 0 in a field = the default. */
typedef struct weft_http_limits {
    size_t max_line;    /* request line incl. CRLF; default 8 KiB -> 414 */
    size_t max_head;    /* whole head incl. final CRLF; default 16 KiB -> 431 */
    size_t max_headers; /* header fields; default 100 -> 431 */
} weft_http_limits;

typedef struct weft_http_request {
    weft_str method;           /* token, e.g. "GET" */
    weft_str target;           /* request-target as sent */
    weft_str path;             /* target up to '?' (origin-form) */
    weft_str query;            /* after '?', without it; empty if none */
    int minor;                 /* HTTP/1.<minor>: 0 or 1 */
    weft_http_header *headers; /* points into the caller's array */
    size_t nheaders;
    int64_t content_length; /* -1 when absent */
    int chunked;            /* Transfer-Encoding: chunked (as the final coding) */
    int keep_alive;         /* after Connection and the version's default */
    int expect_continue;    /* Expect: 100-continue */
    size_t head_len;        /* bytes of the head, request line to the empty line */
} weft_http_request;

/* Parse one request head from buf[0..len). Zero-copy: every weft_str in req
 * points into buf, which must outlive req.
 * Returns head_len (> 0) when a complete, valid head was parsed;
 * WEFT_EAGAIN when more bytes are needed (and the limits are not yet
 * exceeded); WEFT_EPARSE when the request must be refused, with *status set
 * to the status to answer and *reason to a short static explanation:
 *   400 malformed (bare CR, NUL/control bytes, obs-fold, space before ':',
 *       invalid token, bad version syntax, differing or invalid
 *       Content-Length, Transfer-Encoding in an HTTP/1.0 request, a
 *       Transfer-Encoding whose final coding is not "chunked" or that applies
 *       it twice, a 1.1 request without exactly one Host, more than one
 *       Host, ...),
 *   417 an Expect other than 100-continue,
 *   414 request line over max_line, 431 head over max_head or too many
 *   headers, 501 a transfer coding other than chunked before the final
 *   "chunked" (weft decodes none), 505 an HTTP version other than 1.0/1.1.
 * Framing follows RFC 9112 §6.3: with Transfer-Encoding (1.1 only), chunked
 * is set and content_length is -1, even when a Content-Length came too; then
 * keep_alive is 0, as the server must close after answering such a request.
 * Without either field a request has no body.
 * hdrs/max_hdrs: caller storage for the headers (max_hdrs >= lim->max_headers
 * avoids 431 from storage). lim may be NULL for the defaults. */
int weft_http_parse_request(const char *buf, size_t len, weft_http_request *req,
                            weft_http_header *hdrs, size_t max_hdrs,
                            const weft_http_limits *lim, int *status, const char **reason);

/* Incremental decoder of a chunked body (RFC 9112 §7.1), in place.
 * Initialise with weft_http_chunked_init(); feed bytes as they arrive. */
typedef struct weft_http_chunked {
    /* private */
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    size_t ext_len;     /* chunk-extension bytes seen on this line */
    size_t trailer_len; /* trailer bytes seen */
    size_t max_ext;     /* limit for chunk extensions per line (default 4096) */
    size_t max_trailer; /* limit for the trailer section (default 16 KiB) */
} weft_http_chunked;

void weft_http_chunked_init(weft_http_chunked *d);
/* Decode buf[0..*len) in place: on return buf[0..*len) holds the decoded body
 * bytes from this call, and *consumed the input bytes used. Returns 1 when
 * the body (incl. trailers) is complete (bytes after *consumed belong to the
 * next request), 0 when more input is needed, or WEFT_EPARSE on malformed
 * input (chunk-size overflow, bare LF or CR, invalid hex, extension or
 * trailer over its limit) with *reason set. */
int weft_http_chunked_decode(weft_http_chunked *d, char *buf, size_t *len, size_t *consumed,
                             const char **reason);

/* ======================================================================
 * Server, router, middleware, handlers (src/http/server.c, router.c,
 * context.c, stream.c, file.c). One task per connection on the runtime;
 * handlers run in that task and may suspend (channels, I/O, database calls)
 * without blocking a worker.
 *
 *   static int hello(weft_http_ctx *c, void *ud) {
 *       return weft_http_text(c, 200, "Hello, World!");
 *   }
 *   weft_http_router *r = weft_http_router_new();
 *   weft_http_route(r, "GET", "/hello", hello, NULL);
 *   weft_http_route(r, "GET", "/users/{id}", get_user, db);
 *   weft_http_route(r, "GET", "/static/{path...}", files, NULL);
 *   weft_http_config cfg = {.port = 8080};
 *   weft_http_listen_and_serve(&cfg, r);   // in a task; returns on SIGTERM
 * ====================================================================== */

typedef struct weft_http_ctx weft_http_ctx;
typedef struct weft_http_router weft_http_router;
typedef struct weft_http_server weft_http_server;

/* A handler answers the request through the ctx. It returns 0, or a negative
 * code when it could not (the server then answers 500 if nothing was sent yet
 * and closes the connection if a response was half written). */
typedef int (*weft_http_handler)(weft_http_ctx *c, void *ud);

/* Middleware wraps everything after it: call weft_http_next(c) to run the rest
 * of the chain (and the handler) and return its result; code before the call
 * runs before, code after runs after; not calling it short-circuits (answer
 * the request yourself, e.g. 401). */
typedef int (*weft_http_middleware)(weft_http_ctx *c, void *ud);
int weft_http_next(weft_http_ctx *c);

/* ---- router ----------------------------------------------------------------
 * Patterns are absolute paths of '/'-separated segments. A segment is a
 * literal, "{name}" (one non-empty segment, captured), or, as the last
 * segment only, "{name...}" (the rest of the path, possibly empty). Literal
 * segments win over {param}, which wins over {rest...}; matching walks one
 * tree node per path segment, so its cost does not grow with the number of
 * routes. A path that matches no pattern gets 404; one that matches with
 * another method gets 405 with an Allow header. HEAD falls back to the GET
 * route (the body is dropped). Routes are added before serving starts. */
weft_http_router *weft_http_router_new(void);
void weft_http_router_free(weft_http_router *r);
/* 0, WEFT_EINVAL (bad pattern, with the reason logged), WEFT_EEXIST (same
 * method and pattern twice, or two different {names} at one position),
 * WEFT_ENOMEM. method "*" matches any method. */
int weft_http_route(weft_http_router *r, const char *method, const char *pattern,
                    weft_http_handler h, void *ud);
/* Append a middleware to the chain every request goes through (in order of
 * registration), including 404/405 answers. 0, WEFT_ELIMIT (over 16). */
int weft_http_use(weft_http_router *r, weft_http_middleware mw, void *ud);
/* Replace the 404 handler (default: text "not found"). */
void weft_http_router_not_found(weft_http_router *r, weft_http_handler h, void *ud);

/* ---- server ---------------------------------------------------------------- */
typedef struct weft_http_config {
    const char *host;      /* numeric IPv4/IPv6 address; NULL/"" = 127.0.0.1 */
    int port;              /* 0 = an ephemeral port (see weft_http_server_port) */
    const char *unix_path; /* listen on this unix socket instead of TCP */
    int backlog;           /* listen backlog; 0 = 4096 */
    int listeners;         /* SO_REUSEPORT listeners (accept tasks); 0 = one per worker */
    weft_http_limits limits;    /* request line / head / header count */
    size_t max_body;            /* request body bytes; 0 = 1 MiB -> 413 */
    int64_t head_timeout_ms;    /* first byte to complete head; 0 = 10 s -> 408 */
    int64_t body_timeout_ms;    /* whole body read; 0 = 30 s -> 408 */
    int64_t idle_timeout_ms;    /* keep-alive wait for the next request; 0 = 60 s */
    int64_t write_timeout_ms;   /* each flush of a response; 0 = 30 s */
    int64_t shutdown_timeout_ms; /* graceful drain before in-flight requests are
                                    cancelled; 0 = 10 s */
    size_t max_connections;     /* 0 = 100000; over it new connections are closed */
    const char *server_name;    /* Server header; NULL = "weft", "" = none */
    int access_log;             /* 1: one structured line per request (INFO) */
    int handle_signals;         /* 1: SIGTERM/SIGINT start a graceful shutdown */
} weft_http_config;

/* Bind and start listening (so the port is known before serving). NULL and
 * *err on failure (WEFT_EADDRINUSE, WEFT_EACCES, WEFT_EINVAL, ...). Must be
 * called in a task. The router is borrowed and must outlive the server.
 * The first call sets SIGPIPE to SIG_IGN if it still has its default action
 * (a client that disconnects mid-response would otherwise kill the process;
 * the write fails with WEFT_EPIPE instead). */
weft_http_server *weft_http_server_new(const weft_http_config *cfg, weft_http_router *r,
                                       int *err);
int weft_http_server_port(const weft_http_server *s);
/* Accept and serve until weft_http_server_stop() (or a signal with
 * handle_signals); then stop accepting, let in-flight requests finish within
 * shutdown_timeout_ms, close idle keep-alive connections, cancel what is left,
 * and return 0. */
int weft_http_serve(weft_http_server *s);
/* Start a graceful shutdown (any thread, any time; idempotent). */
void weft_http_server_stop(weft_http_server *s);
/* Free a server after weft_http_serve() returned (or that never served). */
void weft_http_server_free(weft_http_server *s);
/* new + serve + free. */
int weft_http_listen_and_serve(const weft_http_config *cfg, weft_http_router *r);

/* Live counters (relaxed reads). */
typedef struct weft_http_stats {
    uint64_t connections; /* open now */
    uint64_t accepted;    /* total */
    uint64_t requests;    /* total answered */
} weft_http_stats;
void weft_http_server_stats(const weft_http_server *s, weft_http_stats *out);

/* ---- the request ----------------------------------------------------------- */
weft_str weft_http_method(const weft_http_ctx *c);
weft_str weft_http_path(const weft_http_ctx *c);   /* as sent, before '?' */
weft_str weft_http_target(const weft_http_ctx *c); /* whole request-target */
weft_str weft_http_raw_query(const weft_http_ctx *c);
int weft_http_minor(const weft_http_ctx *c); /* HTTP/1.<minor> */
/* First header of that name (case-insensitive), {NULL,0} when absent. */
weft_str weft_http_get_header(const weft_http_ctx *c, const char *name);
const weft_http_request *weft_http_request_head(const weft_http_ctx *c);
/* Route parameter by name ({id} -> "id"), percent-decoded; {NULL,0} if none. */
weft_str weft_http_param(const weft_http_ctx *c, const char *name);
/* Query parameter (first occurrence), percent- and '+'-decoded into the
 * request arena; {NULL,0} when absent. */
weft_str weft_http_query(weft_http_ctx *c, const char *name);
/* Field of an application/x-www-form-urlencoded body, decoded like query. */
weft_str weft_http_form(weft_http_ctx *c, const char *name);
/* Cookie value from the Cookie header(s), {NULL,0} when absent. */
weft_str weft_http_cookie(const weft_http_ctx *c, const char *name);
/* The whole request body (already read and de-chunked; at most max_body). */
weft_str weft_http_body(const weft_http_ctx *c);
/* Parse the body as JSON into the request arena. 0 or WEFT_EPARSE with *err
 * filled (offset and message). */
int weft_http_body_json(weft_http_ctx *c, struct weft_json **out, struct weft_json_error *err);
/* Allocator freed in one step after the response. */
weft_arena *weft_http_arena(weft_http_ctx *c);
/* Peer address as text ("127.0.0.1:50312", "unix"), "" in the test client. */
const char *weft_http_peer(const weft_http_ctx *c);
/* Per-request slot for middleware to hand data to handlers. */
void weft_http_set_data(weft_http_ctx *c, void *p);
void *weft_http_data(const weft_http_ctx *c);

/* ---- the response -----------------------------------------------------------
 * Buffered: set status and headers, append to the body, and the server sends
 * it after the handler returns, with Date, Server, Content-Length, and
 * Connection when needed, all the responses to one read in one write. */
void weft_http_set_status(weft_http_ctx *c, int status);
/* Add a response header (copied). 0, WEFT_EINVAL (CR/LF/NUL in it, or a
 * header the server owns: Content-Length, Transfer-Encoding, Date,
 * Connection), WEFT_ENOMEM. */
int weft_http_add_header(weft_http_ctx *c, const char *name, const char *value);
int weft_http_set_content_type(weft_http_ctx *c, const char *type);
/* Append to the buffered body. */
int weft_http_append(weft_http_ctx *c, const void *p, size_t n);
weft_buf *weft_http_body_buf(weft_http_ctx *c);
/* Shortcuts: status + content type + whole body. */
int weft_http_send(weft_http_ctx *c, int status, const char *content_type, const void *body,
                   size_t n);
int weft_http_text(weft_http_ctx *c, int status, const char *text); /* text/plain */
/* An encoder writing straight into the response body, Content-Type
 * application/json; finish with weft_http_json_end. */
struct weft_json_enc *weft_http_json_begin(weft_http_ctx *c, int status);
int weft_http_json_end(weft_http_ctx *c); /* 0, or WEFT_EINVAL when the JSON was not complete */
/* {"error":msg} with that status, application/json. */
int weft_http_error(weft_http_ctx *c, int status, const char *msg);
/* 301/302/303/307/308 with Location. */
int weft_http_redirect(weft_http_ctx *c, int status, const char *location);
/* Set-Cookie; attrs like "Path=/; HttpOnly; Max-Age=3600" (may be NULL). */
int weft_http_set_cookie(weft_http_ctx *c, const char *name, const char *value,
                         const char *attrs);
/* Streaming: the first call sends the head (Transfer-Encoding: chunked on
 * HTTP/1.1; on 1.0 the connection closes after the body) and every call
 * sends one chunk now. 0 or a negative I/O code (the client went away). */
int weft_http_write(weft_http_ctx *c, const void *p, size_t n);
/* Serve a regular file: Content-Type from the extension, ETag from size and
 * mtime (If-None-Match -> 304), Last-Modified, single Range (206, or 416
 * when unsatisfiable), HEAD, body with sendfile. 0, WEFT_ENOENT (nothing
 * sent: answer 404 yourself), other negative codes. */
int weft_http_send_file(weft_http_ctx *c, const char *path);
/* Serve root/<rel> where rel comes from the request (e.g. a {path...}
 * param): refuses ".." segments, NULs and directories -> 404. */
int weft_http_static(weft_http_ctx *c, const char *root, weft_str rel);
/* weft_http_static with precompressed variants: when the request accepts
 * gzip and root/<rel>.gz exists beside root/<rel>, that file is sent with
 * Content-Encoding: gzip (its own ETag, the original's Content-Type).
 * Always adds Vary: Accept-Encoding. */
int weft_http_static_gz(weft_http_ctx *c, const char *root, weft_str rel);
int weft_http_status(const weft_http_ctx *c); /* status set so far (0 if none) */
/* Reason phrase for a status code ("Not Found"); "Unknown" otherwise. */
const char *weft_http_reason(int status);

/* ---- connection hand-over (Go's http.Hijacker) ------------------------------
 * A handler can take its connection away from the server to speak another
 * protocol on it: the WebSocket upgrade, a CONNECT tunnel, a raw stream.
 *
 *   static void on_stop(void *ud) { ... wake the loop below, e.g. close a
 *                                   channel or weft_task_ref_cancel() ... }
 *   static int upgrade(weft_http_ctx *c, void *ud) {
 *       weft_http_handover h = {.head = "HTTP/1.1 101 Switching Protocols\r\n..."
 *                                       "\r\n",
 *                               .on_shutdown = on_stop, .ud = state};
 *       h.head_len = strlen(h.head);
 *       int rc = weft_http_hand_over(c, &h);
 *       if (rc < 0) return rc;            // still the server's: it closes it
 *       ... h.leftover first, then weft_read/weft_write on h.fd ...
 *       weft_buf_free(&h.leftover);
 *       weft_close(h.fd);
 *       return 0;                         // the server forgets the connection
 *   }
 *
 * Ordering. Everything the server had queued for the connection (responses
 * to earlier pipelined requests, not yet written) is written first, then
 * h->head (if any), in order, before the call returns; the response the
 * handler may have buffered for this request through the functions above is
 * not sent (write the upgrade response as h->head). Bytes the client sent
 * behind this request (and its body), which the server had already read,
 * are moved to h->leftover: they come before anything read from h->fd.
 *
 * Ownership. On success h->fd belongs to the caller, and h->leftover too
 * (release it with weft_buf_free). From then on the server never reads,
 * writes, shuts down or closes that fd, and never uses its request buffers
 * for it again; response functions called on c afterwards write nowhere.
 * The caller closes the fd with weft_close() (or hands it to another task)
 * before or after the handler returns; a handler that returns without
 * doing either leaks it.
 *
 * Task rules. Call it from the handler (or a middleware around it), in the
 * connection's task, at most once per connection. The handler may then keep
 * running on this task for as long as it likes (a WebSocket read loop lives
 * here naturally); c and the request (headers, params, body) stay valid
 * until the handler returns. Until then the server still counts the
 * connection (max_connections, weft_http_server_stats) and knows it at
 * shutdown; when the handler returns, the server drops it without touching
 * the fd, and the handler's return value and any response are ignored.
 *
 * Shutdown. When weft_http_server_stop() (or a signal) starts a graceful
 * shutdown, the server calls every handed-over connection's on_shutdown(ud)
 * once, then waits for their handlers to return within shutdown_timeout_ms
 * like any in-flight request, and then cancels the tasks still running
 * (their suspending calls fail with WEFT_ECANCELED). on_shutdown runs on
 * the task that runs weft_http_serve(), with the server's lock held: it
 * must not suspend and must not call this server's functions; it should
 * only signal the connection's task (close or send on a channel with
 * deadline 0, weft_task_ref_cancel(), set an atomic flag). If the shutdown
 * had already started when the hand-over happens, on_shutdown(ud) is called
 * at once, in the calling task, before weft_http_hand_over() returns. A
 * loop that polls instead can ask weft_http_stopping(c). */
typedef struct weft_http_handover {
    /* in */
    const void *head; /* bytes to write after the queued responses (e.g. the 101
                         response); NULL for none */
    size_t head_len;
    void (*on_shutdown)(void *ud); /* NULL: no notification (the task is still
                                      cancelled at the shutdown deadline) */
    void *ud;
    /* out, on success */
    int fd;            /* the connection's socket, now the caller's */
    weft_buf leftover; /* bytes read past this request; the caller's to free */
} weft_http_handover;

/* Hand the connection of c over to the caller, as described above. Returns
 * 0 with h->fd and h->leftover filled in, or:
 *   WEFT_EINVAL   c or h NULL, the connection was already handed over, a
 *                 streamed response has begun (weft_http_write,
 *                 weft_http_send_file), or not called in the connection's
 *                 task;
 *   WEFT_ENOTSUP  c comes from the in-process test client (no socket);
 *   WEFT_ENOMEM   no memory for h->leftover or h->head;
 *   the write's error (WEFT_EPIPE, WEFT_ECONNRESET, WEFT_ETIMEDOUT after
 *                 write_timeout_ms, WEFT_ECANCELED, ...) when the queued
 *                 bytes or h->head could not be written.
 * On any error nothing is handed over: h->leftover is left empty (freeing
 * it is harmless), the connection stays the server's, and after a write
 * error the server closes it when the handler returns. Suspends while
 * writing (deadline: the server's write_timeout_ms). */
int weft_http_hand_over(weft_http_ctx *c, weft_http_handover *h);
/* 1 once the server serving c has started shutting down (a handler can stop
 * a long poll early), else 0; 0 in the test client. Never suspends. */
int weft_http_stopping(const weft_http_ctx *c);

/* ---- in-process test client (like Go's httptest) ----------------------------
 * Runs a raw request through the same parser, router, middleware and
 * response writer as the server, without sockets. Must be called in a task.
 * raw: one or more complete requests (pipelined requests are answered in
 * order into one response buffer). */
typedef struct weft_http_test_response {
    int status;
    weft_str body;          /* de-chunked */
    weft_http_header headers[64];
    size_t nheaders;
    weft_buf raw;           /* everything the server wrote */
} weft_http_test_response;
int weft_http_test_raw(weft_http_router *r, const weft_http_config *cfg, const char *raw,
                       size_t n, weft_buf *out);
/* One request: method, target, optional extra header lines ("A: b\r\n..."),
 * optional body. Fills *res (free with weft_http_test_response_free). */
int weft_http_test(weft_http_router *r, const char *method, const char *target,
                   const char *headers, const char *body, weft_http_test_response *res);
weft_str weft_http_test_header(const weft_http_test_response *res, const char *name);
void weft_http_test_response_free(weft_http_test_response *res);

#ifdef __cplusplus
}
#endif
#endif
