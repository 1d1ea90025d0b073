/*
 * apps/fleet-sim/httpc.h — a small HTTP/1.1 keep-alive client, enough to
 * send a device's OsmAnd requests and read the answers: one request at a
 * time on one connection (what the Traccar Client does), the response read
 * to its end (Content-Length, chunked, or until close) so the connection can
 * carry the next one.
 *
 * httpc_parse_head() is the response-head parser, pure over bytes like the
 * server's request parser (fuzz/fleet_sim_http.c drives it);
 * httpc_roundtrip() is the I/O around it.
 */
#ifndef FLEET_SIM_HTTPC_H
#define FLEET_SIM_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

#define HTTPC_HEAD_MAX (16 * 1024)
#define HTTPC_BODY_MAX (64 * 1024) /* a device's answer is a few bytes */

typedef struct httpc_resp {
    int status;             /* 100..999 */
    int minor;              /* HTTP/1.<minor> */
    int64_t content_length; /* -1 when absent */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* the connection stays open after this response */
} httpc_resp;

/* Parse a response head at p[0..n). Returns the head's length (> 0, through
 * the empty line), 0 when more bytes are needed (and n < max), WEFT_ELIMIT
 * for a head of max bytes or more without its end, or WEFT_EPARSE (*why says
 * what: the status line, a header without ':', a bad Content-Length, both
 * Content-Length and chunked, a bare LF or CR or NUL). Never reads past
 * p[n - 1]. */
int httpc_parse_head(const char *p, size_t n, size_t max, httpc_resp *out, const char **why);

typedef struct httpc_conn {
    int fd; /* -1 when not connected */
    char host[64];
    int port;
    weft_buf in; /* bytes read and not yet consumed */
} httpc_conn;

/* Set c up for numeric host:port, not yet connected. */
void httpc_init(httpc_conn *c, const char *host, int port);
/* Connect (closing any earlier connection). 0 or a weft_tcp_connect error
 * (-ECONNREFUSED, WEFT_ETIMEDOUT, ...). Suspends until connected or the
 * deadline. */
int httpc_connect(httpc_conn *c, int64_t deadline);
/* Close the connection, keep the setup (httpc_connect() may follow). */
void httpc_close(httpc_conn *c);
/* httpc_close() and free the buffers. */
void httpc_free(httpc_conn *c);

/* Send req[0..n) on the open connection and read the whole response: its
 * head into *resp, its body (decoded when chunked) into body (cleared
 * first; NULL discards it). Returns 0 for any HTTP answer (the caller
 * judges the status), or, with the connection closed: a write/read error
 * (-EPIPE, -ECONNRESET, WEFT_ETIMEDOUT at the deadline, WEFT_ECANCELED),
 * WEFT_ECLOSED when the server closed the connection before the whole
 * response came, WEFT_EPARSE / WEFT_ELIMIT for a response we cannot read
 * (*why set), WEFT_EINVAL when not connected. A response without
 * keep-alive closes the connection after it. Suspends. */
int httpc_roundtrip(httpc_conn *c, const void *req, size_t n, httpc_resp *resp, weft_buf *body,
                    int64_t deadline, const char **why);

#endif
