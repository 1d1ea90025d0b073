/*
 * src/http/http_int.h — what the server (server.c), the router (router.c),
 * the request/response helpers (context.c) and the test client
 * (testclient.c) share.
 *
 * The unit of work is the *exchange*: one parsed request and the response
 * being built for it, in a weft_http_ctx that lives inside its connection
 * (no allocation per request). A connection owns two buffers: `in`, the bytes
 * read and not yet consumed (every weft_str of the request points into it),
 * and `out`, the responses not yet written. All the requests found in one
 * read are answered into `out`, which is written once — the reason a
 * pipelined batch of 16 costs one send, not 16.
 *
 * This state exists only while a connection works on requests: between
 * requests it goes back to a per-server pool (server.c), so an idle
 * keep-alive connection costs its task's stack page and nothing else.
 *
 * The test client runs the same code with fd = -1: flushes append to a
 * caller's buffer instead of writing to a socket.
 */
#ifndef WEFT_HTTP_INT_H
#define WEFT_HTTP_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/http.h"
#include "weft/json.h"

#define WEFT__HTTP_MAX_PARAMS 16
#define WEFT__HTTP_MAX_MW 16

typedef struct weft__http_conn weft__http_conn;

/* Effective configuration: every 0 in the user's replaced by its default. */
typedef struct weft__http_cfg {
    weft_http_limits limits;
    size_t max_body;
    int64_t head_timeout_ms, body_timeout_ms, idle_timeout_ms, write_timeout_ms,
        shutdown_timeout_ms;
    size_t max_connections;
    const char *server_name; /* NULL: no Server header */
    size_t server_name_len;
    int access_log;
} weft__http_cfg;

void weft__http_cfg_resolve(weft__http_cfg *out, const weft_http_config *in);

struct weft_http_ctx {
    weft__http_conn *conn;
    weft_http_request req;
    weft_str body; /* request body, de-chunked, inside conn->in */
    weft_arena *arena;

    /* routing */
    int nparams;
    weft_str pname[WEFT__HTTP_MAX_PARAMS], pval[WEFT__HTTP_MAX_PARAMS];
    weft_http_handler handler;
    void *handler_ud;
    int mw_next; /* index of the next middleware weft_http_next() runs */
    const char *allow; /* 405: the Allow header value */

    /* response */
    int status;
    int is_head;   /* HEAD request: headers only */
    int keep_alive;
    int head_sent; /* streaming or file: head already in out/on the wire */
    int chunked;   /* streaming with chunked coding */
    int done;      /* a file or stream finished the body */
    int failed;    /* an I/O error on the wire: close after this */
    weft_buf hdrs; /* extra response header lines, "Name: value\r\n" */
    weft_buf body_out;
    const char *ctype;
    weft_json_enc enc;
    void *data;
    int64_t t0_ns;
};

struct weft__http_conn {
    weft_http_server *srv; /* NULL in the test client */
    const weft__http_cfg *cfg;
    weft_http_router *router;
    int fd;         /* -1 in the test client */
    weft_buf *sink; /* test client: where "written" bytes go */
    weft_buf in, out;
    size_t in_off; /* start of the unconsumed bytes in `in` */
    weft_arena arena;
    weft_http_header *hdrs; /* limits.max_headers entries */
    weft_http_ctx ctx;
    char peer[64];   /* formatted on demand by weft_http_peer */
    uint64_t served; /* requests answered since this state was taken */
    void *owner;     /* server: the connection's long-lived record (server.c) */
    size_t cur_len;  /* wire bytes (head + body) of the request being handled */
    int handed_over; /* weft_http_hand_over() took the connection */
};

/* Run every complete request in c->in[in_off..] (reading bodies as needed),
 * answering into c->out. Returns 1 to keep the connection, 0 to close it
 * (after flushing), 2 when a handler took the connection over
 * (weft_http_hand_over: the server must not touch the fd again), or a
 * negative I/O code. Leaves a partial head in `in`. */
int weft__http_process(weft__http_conn *c);
/* Write c->out (to the socket, or the sink). 0 or a negative code. */
int weft__http_flush(weft__http_conn *c);
/* Queue a complete error response (text body) that closes the connection. */
void weft__http_error_response(weft__http_conn *c, int status, const char *reason, int minor);
void weft__http_conn_init(weft__http_conn *c, const weft__http_cfg *cfg, weft_http_router *r);
void weft__http_conn_release(weft__http_conn *c); /* drop buffers and arena */

/* router.c */
/* Match method + path: sets ctx->handler (the 404/405 handler when nothing
 * matches, with ctx->status preset) and the params. */
void weft__http_route_match(weft_http_router *r, weft_http_ctx *ctx);
int weft__http_run_chain(weft_http_ctx *ctx);

/* context.c */
void weft__http_ctx_reset(weft_http_ctx *c);
/* Serialise the response status line + headers into b. */
int weft__http_write_head(weft_http_ctx *c, weft_buf *b, int64_t content_length);
/* Append the whole buffered response to conn->out. */
int weft__http_finish(weft_http_ctx *c);
/* Percent-decode s into the arena ('+' as space when plus); NULL on a bad
 * escape. */
weft_str weft__http_unescape(weft_arena *a, weft_str s, int plus, int *ok);
/* Find a key in an urlencoded list "a=1&b=2", decoded. */
weft_str weft__http_form_lookup(weft_arena *a, weft_str list, const char *name);

/* IMF-fixdate of the current second, 29 bytes, cached per thread. */
const char *weft__http_date(void);

#endif
