/*
 * weft/http.h — HTTP/1.1. This first part is the wire layer: the request-head
 * parser and the chunked-body decoder. Both are pure functions over bytes
 * (src/http/parse.c, src/http/chunked.c): no sockets, no allocation, so they
 * are unit-tested and fuzzed on their own. The server (connection tasks,
 * router, middleware) comes on top of them.
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"

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
 *       invalid token, bad version syntax, Content-Length with
 *       Transfer-Encoding, differing or invalid Content-Length, ...),
 *   414 request line over max_line, 431 head over max_head or too many
 *   headers, 501 a Transfer-Encoding other than a final "chunked",
 *   505 an HTTP version other than 1.0/1.1.
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

#ifdef __cplusplus
}
#endif
#endif
