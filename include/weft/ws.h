/*
 * weft/ws.h — WebSocket (RFC 6455, permessage-deflate RFC 7692).
 *
 * This first part is the wire layer, pure functions over bytes like the HTTP
 * parser (src/http/ws_frame.c, ws_utf8.c, ws_handshake.c, ws_deflate.c): no
 * sockets, so every rule is unit-tested and fuzzed on its own.
 *
 *   - frame heads: encode (weft_ws_frame_head) and decode (weft_ws_frame_parse);
 *   - masking (weft_ws_mask);
 *   - an incremental UTF-8 validator that stops at the first invalid byte even
 *     when a sequence is split across frames (weft_utf8);
 *   - the receiver (weft_ws_rx): bytes in, events out (a whole message, a
 *     ping, a pong, the peer's close, or a protocol failure with the close code
 *     to send). It enforces every receive rule of RFC 6455 §5 and §7 and the
 *     message size limit, and inflates permessage-deflate messages;
 *   - the opening handshake, both sides (validate a request, build the 101;
 *     build a client request, validate the 101), and the negotiation of
 *     permessage-deflate parameters.
 *
 * Close codes (RFC 6455 §7.4.1) are plain ints; the ones weft sends or
 * reports are named below.
 */
#ifndef WEFT_WS_H
#define WEFT_WS_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "http.h"
#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- opcodes and close codes -------------------------------------------- */
enum {
    WEFT_WS_CONT = 0x0,
    WEFT_WS_TEXT = 0x1,
    WEFT_WS_BINARY = 0x2,
    WEFT_WS_CLOSE = 0x8,
    WEFT_WS_PING = 0x9,
    WEFT_WS_PONG = 0xA,
};

enum {
    WEFT_WS_NORMAL = 1000,     /* normal closure */
    WEFT_WS_GOING_AWAY = 1001, /* server shutdown, page left */
    WEFT_WS_PROTOCOL_ERROR = 1002,
    WEFT_WS_UNSUPPORTED = 1003,  /* a data type the endpoint cannot accept */
    WEFT_WS_NO_STATUS = 1005,    /* reported only: a close frame without a code */
    WEFT_WS_ABNORMAL = 1006,     /* reported only: the connection dropped without a close */
    WEFT_WS_INVALID_DATA = 1007, /* text that is not UTF-8 */
    WEFT_WS_POLICY = 1008,       /* policy violation (e.g. a full outgoing queue) */
    WEFT_WS_TOO_BIG = 1009,      /* message over the size limit */
    WEFT_WS_EXTENSION = 1010,    /* client: the server did not negotiate an extension */
    WEFT_WS_INTERNAL = 1011,     /* unexpected condition (out of memory, ...) */
};

/* 1 if code may appear in a close frame on the wire (1000-1003, 1007-1011,
 * 3000-4999), else 0. 1005 and 1006 are never sent. */
int weft_ws_close_code_valid(int code);

/* ---- frames ---------------------------------------------------------------
 * A frame head is 2 to 14 bytes: FIN, RSV1-3, opcode, MASK, the payload
 * length in 7, 7+16 or 7+64 bits, and the 4-byte masking key if masked. */
#define WEFT_WS_HEAD_MAX 14
/* Payload limit of a control frame (RFC 6455 §5.5). */
#define WEFT_WS_CONTROL_MAX 125

typedef struct weft_ws_frame {
    int fin;         /* 1 on the last frame of a message */
    int rsv;         /* the three RSV bits: 4 = RSV1, 2 = RSV2, 1 = RSV3 */
    int opcode;      /* 0..15 as sent, reserved ones included */
    int masked;      /* 1 when a masking key follows */
    uint8_t mask[4]; /* the key when masked */
    uint64_t len;    /* payload length; < 2^63 (see weft_ws_frame_parse) */
    size_t head_len; /* bytes of the head */
} weft_ws_frame;

/* Decode one frame head from buf[0..n). Returns head_len (> 0) when the head
 * is complete, WEFT_EAGAIN when more bytes are needed, WEFT_EPARSE when a
 * 64-bit length has its top bit set (RFC 6455 §5.2; *f is still filled).
 * Checks nothing else: which opcodes, bits and lengths are allowed depends on
 * the connection's state, and weft_ws_rx applies those rules. */
int weft_ws_frame_parse(const void *buf, size_t n, weft_ws_frame *f);

/* Encode a frame head into out (WEFT_WS_HEAD_MAX bytes of room) and return its
 * length. flags: WEFT_WS_FIN and/or WEFT_WS_RSV1. mask: the 4-byte key for a
 * client frame (the payload must then be masked with weft_ws_mask), NULL for a
 * server frame. The length is encoded in the fewest bytes (§5.2). */
enum { WEFT_WS_FIN = 0x80, WEFT_WS_RSV1 = 0x40 };
size_t weft_ws_frame_head(uint8_t *out, int flags, int opcode, uint64_t len, const uint8_t *mask);

/* XOR p[0..n) with the key, starting at key byte offset % 4 (so a payload can
 * be masked or unmasked in pieces: pass the count of payload bytes before p).
 * Masking twice restores the bytes. */
void weft_ws_mask(void *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Append one whole frame (head, then payload masked when mask != NULL) to out.
 * 0, WEFT_ENOMEM, WEFT_ELIMIT (out->max), or WEFT_EINVAL (a control opcode with
 * a payload over 125 bytes or without WEFT_WS_FIN, or an opcode that is not
 * one of the six above). */
int weft_ws_frame_append(weft_buf *out, int flags, int opcode, const void *p, size_t n,
                         const uint8_t *mask);

/* The payload of a close frame: code (big-endian) then reason, cut to the 123
 * bytes that fit, at a UTF-8 character boundary. code 0 (or WEFT_WS_NO_STATUS)
 * gives an empty payload. out needs WEFT_WS_CONTROL_MAX bytes; returns the
 * length. */
size_t weft_ws_close_payload(uint8_t *out, int code, const char *reason, size_t reason_len);

/* ---- UTF-8 ----------------------------------------------------------------
 * Incremental validation (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF). Feed bytes in any pieces; the verdict is the same as for the
 * whole, and an invalid byte is reported at its own position, not at the end
 * of the sequence or the message. */
typedef struct weft_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* range of the next continuation byte */
} weft_utf8;

static inline void weft_utf8_init(weft_utf8 *v) { v->need = 0, v->lo = 0x80, v->hi = 0xBF; }
/* Validate p[0..n) after everything fed before. Returns n when all of it is
 * valid so far (possibly ending inside a character), or the offset (< n) of
 * the first invalid byte; the validator is then stuck (feed again and it
 * answers 0). */
size_t weft_utf8_feed(weft_utf8 *v, const void *p, size_t n);
/* 1 when the bytes fed so far end on a character boundary. */
static inline int weft_utf8_done(const weft_utf8 *v) { return v->need == 0; }
/* Whole-buffer check: 1 valid, 0 not. */
int weft_utf8_valid(const void *p, size_t n);

/* ---- permessage-deflate parameters (RFC 7692 §7.1) ------------------------ */
typedef struct weft_ws_deflate_params {
    int server_no_context_takeover; /* the server resets its compressor per message */
    int client_no_context_takeover; /* the client resets its compressor per message */
    int server_max_window_bits;     /* 8..15; 15 when not negotiated */
    int client_max_window_bits;     /* 8..15; 15 when not negotiated */
} weft_ws_deflate_params;

/* ---- the receiver ----------------------------------------------------------
 * Bytes from the peer in, one event at a time out. Fragments are assembled
 * into one message in a buffer the receiver owns (bounded by max_message);
 * control frames may arrive between fragments and come out at once. Every
 * rule that ends the connection gives WEFT_WS_EV_FAIL with the close code to
 * send (1002, 1007, 1009, or 1011 when out of memory) and a static reason;
 * nothing crashes, nothing grows past the limit. */
enum {
    WEFT_WS_EV_NONE = 0, /* all input consumed, nothing complete yet */
    WEFT_WS_EV_MESSAGE,  /* a whole text or binary message */
    WEFT_WS_EV_PING,     /* the caller answers with a pong of the same payload */
    WEFT_WS_EV_PONG,     /* solicited or not: callers may use it as a sign of life */
    WEFT_WS_EV_CLOSE,    /* the peer's close frame (valid): code and reason */
    WEFT_WS_EV_FAIL,     /* the peer broke a rule: close with ev->code */
};

typedef struct weft_ws_event {
    int type;           /* WEFT_WS_EV_* */
    int opcode;         /* MESSAGE: WEFT_WS_TEXT or WEFT_WS_BINARY */
    weft_str data;      /* MESSAGE: the message; PING/PONG: the payload; CLOSE: the reason
                           (UTF-8, validated); valid until the next feed */
    int code;           /* CLOSE: the peer's code (1005 when the frame had none);
                           FAIL: the code to close with */
    const char *reason; /* FAIL: why, static text */
} weft_ws_event;

enum { WEFT_WS_SERVER = 0, WEFT_WS_CLIENT = 1 };

struct weft_ws_inflater;

typedef struct weft_ws_rx {
    /* config: set by weft_ws_rx_init, may be changed before the first feed */
    int role;           /* WEFT_WS_SERVER: frames must be masked; CLIENT: must not be */
    size_t max_message; /* bytes of a message (inflated); default 1 MiB -> 1009 */
    /* private */
    int state, failed;
    uint8_t head[WEFT_WS_HEAD_MAX];
    size_t head_have;
    weft_ws_frame f;
    uint64_t got;     /* payload bytes of the current frame so far */
    int msg_op;       /* opcode of the message being assembled, 0 = none */
    int msg_deflated; /* the message has RSV1 (permessage-deflate) */
    uint64_t zin;     /* compressed payload bytes of the message so far */
    weft_utf8 utf8;
    weft_buf msg;
    uint8_t ctl[WEFT_WS_CONTROL_MAX];
    struct weft_ws_inflater *inflater; /* NULL unless permessage-deflate was negotiated */
} weft_ws_rx;

/* Set rx up for role with max_message (0 = 1 MiB). No allocation yet. */
void weft_ws_rx_init(weft_ws_rx *rx, int role, size_t max_message);
/* Accept RSV1 (compressed) messages from the peer and inflate them with the
 * negotiated parameters. 0, WEFT_ENOMEM. The zlib state is allocated at the
 * first compressed message and, when the peer resets its context per message,
 * freed after each one (an idle connection holds none). */
int weft_ws_rx_enable_deflate(weft_ws_rx *rx, const weft_ws_deflate_params *p);
/* Consume bytes from buf[0..n): stops after the first event. *consumed gets
 * the bytes used (all of them when the result is WEFT_WS_EV_NONE); call again
 * with the rest. Returns the event type, also in ev->type. After CLOSE or
 * FAIL the receiver is finished: later calls consume everything and return
 * WEFT_WS_EV_NONE (the RFC ignores bytes after a close). */
int weft_ws_rx_feed(weft_ws_rx *rx, const void *buf, size_t n, size_t *consumed, weft_ws_event *ev);
/* Move the last MESSAGE's bytes into *out (which the caller then owns and
 * frees with weft_buf_free), so the receiver need not copy them again. */
void weft_ws_rx_take(weft_ws_rx *rx, weft_buf *out);
/* Free the receiver's buffers (it may be initialised again). */
void weft_ws_rx_free(weft_ws_rx *rx);

/* ---- the compressor side of permessage-deflate ----------------------------- */
struct weft_ws_deflater;
typedef struct weft_ws_deflater weft_ws_deflater;
/* A compressor for our direction: no_context_takeover and max_window_bits are
 * ours in the negotiated params (server_* for a server, client_* for a
 * client). NULL when out of memory. */
weft_ws_deflater *weft_ws_deflater_new(const weft_ws_deflate_params *p, int role);
/* Compress one whole message p[0..n) and append the compressed payload (the
 * final 00 00 FF FF removed, RFC 7692 §7.2.1) to out. 0, WEFT_ENOMEM,
 * WEFT_ELIMIT (out->max). */
int weft_ws_deflate(weft_ws_deflater *d, const void *p, size_t n, weft_buf *out);
void weft_ws_deflater_free(weft_ws_deflater *d);

/* ---- the opening handshake, server side (RFC 6455 §4.2) ----------------- */
typedef struct weft_ws_server_opts {
    /* subprotocols the server speaks, most preferred first; NULL = none. The
     * first of ours the client offers is chosen; if the client offers some
     * and none is ours the handshake still succeeds without one (§4.2.2). */
    const char *const *subprotocols;
    size_t nsubprotocols;
    /* Origin check: return 1 to accept. NULL = accept any (non-browser
     * clients send none). A refusal answers 403. */
    int (*check_origin)(weft_str origin, void *ud);
    void *origin_ud;
    int no_deflate; /* 1: ignore permessage-deflate offers */
    /* 1: agree server_no_context_takeover even when the offer lacks it (RFC
     * 7692 §7.1.1.1 allows it; browsers never ask). Each message is then
     * compressed on its own, so a weft_hub message's compressed frame is made
     * once and shared by every such connection, at some ratio lost on small
     * messages that repeat what the last one said. */
    int deflate_server_no_context_takeover;
} weft_ws_server_opts;

typedef struct weft_ws_handshake {
    int status;                    /* 101, or 400 / 403 / 426 / 500 */
    const char *reason;            /* when not 101: why, static text */
    char accept[29];               /* Sec-WebSocket-Accept (NUL-terminated) */
    weft_str subprotocol;          /* the chosen one ({NULL,0} if none); static from opts */
    int deflate;                   /* 1 when permessage-deflate was agreed */
    weft_ws_deflate_params params; /* valid when deflate */
} weft_ws_handshake;

/* Validate an upgrade request head: GET, HTTP/1.1, Upgrade: websocket (a
 * token of the list), Connection with the "upgrade" token, a
 * Sec-WebSocket-Key of 16 bytes in base64, Sec-WebSocket-Version 13, Origin
 * (if a hook is set); then negotiate the subprotocol and permessage-deflate.
 * Fills *hs and returns hs->status: 101, 400 (with the reason), 403 (the
 * origin hook refused), or 426 (another version: answer with
 * "Sec-WebSocket-Version: 13"), or 500 (libcrypto out of memory). opts may
 * be NULL. */
int weft_ws_server_handshake(const weft_http_request *req, const weft_ws_server_opts *opts,
                             weft_ws_handshake *hs);
/* Append the 101 response head for hs (status 101) to out: Upgrade,
 * Connection, Sec-WebSocket-Accept, and Sec-WebSocket-Protocol /
 * Sec-WebSocket-Extensions when negotiated. 0, WEFT_ENOMEM, WEFT_EINVAL
 * (hs->status is not 101). */
int weft_ws_handshake_response(const weft_ws_handshake *hs, weft_buf *out);
/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void weft_ws_accept_key(weft_str key, char out[29]);

/* Parse a Sec-WebSocket-Extensions value (all the header's values joined with
 * ", ") as a server: pick the first permessage-deflate offer whose parameters
 * are valid and acceptable (RFC 7692 §7.1: each parameter at most once,
 * server_max_window_bits 8..15, client_max_window_bits empty or 8..15).
 * Returns 1 and fills *out with the agreed parameters, 0 when there is no
 * acceptable offer (the handshake goes on without compression), WEFT_EPARSE
 * when the header is not valid syntax (RFC 6455 §9.1). */
int weft_ws_deflate_negotiate(weft_str offers, weft_ws_deflate_params *out);
/* The response value for agreed parameters ("permessage-deflate; ...") into
 * out (appended). 0, WEFT_ENOMEM. */
int weft_ws_deflate_format(const weft_ws_deflate_params *p, weft_buf *out);

/* ---- the opening handshake, client side (RFC 6455 §4.1) ------------------ */
typedef struct weft_ws_client_opts {
    const char *const *subprotocols; /* offered, in order of preference; NULL = none */
    size_t nsubprotocols;
    int deflate;                            /* 1: offer permessage-deflate */
    int deflate_server_no_context_takeover; /* ... asking the server to reset per message */
    const char *origin;                     /* Origin header, NULL = none */
    const char *headers; /* extra header lines, each ending in CRLF ("A: b\r\n"), or NULL */
} weft_ws_client_opts;

/* A fresh Sec-WebSocket-Key: 16 bytes from getrandom(2) in base64 (24 chars + NUL). */
void weft_ws_client_key(char key[25]);
/* Append the upgrade request for target ("/path?query") on host (the Host
 * header value) with key to out. 0, WEFT_ENOMEM. opts may be NULL. */
int weft_ws_client_request(weft_buf *out, const char *host, const char *target, const char *key,
                           const weft_ws_client_opts *opts);
/* Check the server's answer in buf[0..n) to a request made with key and opts.
 * Returns the length of the response head (> 0; bytes after it are the first
 * WebSocket frames) with *hs filled (status 101, subprotocol pointing into
 * opts, deflate and its params); WEFT_EAGAIN when the head is not complete
 * yet; WEFT_EPARSE with *reason when the upgrade failed: a status other than
 * 101 (then hs->status is that status), a malformed head or one over 16 KiB,
 * a missing Upgrade/Connection, a wrong Sec-WebSocket-Accept, a subprotocol
 * or an extension (parameter) that was not offered. */
int weft_ws_client_response(const char *buf, size_t n, const char *key,
                            const weft_ws_client_opts *opts, weft_ws_handshake *hs,
                            const char **reason);

/* A ws:// URL taken apart (RFC 6455 §3), pure. */
typedef struct weft_ws_url {
    weft_str host;      /* name or address; an IPv6 address without its brackets */
    int port;           /* 80 when the URL has none */
    weft_str authority; /* host[:port] as written: the Host header */
    weft_str target;    /* "/path?query"; "/" when the URL has neither, "?query" when it
                           has no path (a request line needs a '/' put before it) */
} weft_ws_url;
/* Split url[0..n) into *out (slices into url). 0; WEFT_ENOTSUP for wss://
 * (no TLS here); WEFT_EINVAL for anything else that is not
 * ws://host[:port][/path][?query]: another scheme, an empty host, user
 * info, a port outside 1..65535, a fragment, spaces or control bytes. */
int weft_ws_url_parse(const char *url, size_t n, weft_ws_url *out);

/* ======================================================================
 * Connections (src/http/ws_conn.c): a WebSocket over a connected socket, for
 * either role, on the runtime.
 *
 *   weft_buf msg;
 *   weft_buf_init(&msg, 0);
 *   int op;
 *   while ((op = weft_ws_recv(ws, &msg, -1)) > 0)      // a task reads
 *       weft_ws_send(ws, op, msg.data, msg.len);       // any task or thread sends
 *   weft_buf_free(&msg);
 *   weft_ws_free(ws);
 *
 * Receiving: one task at a time reads (others calling weft_ws_recv wait their
 * turn); it answers pings, echoes the peer's close, sends keepalive pings and
 * enforces the idle timeout, so a connection must have a task in
 * weft_ws_recv for those to happen (one that only publishes can loop on it
 * and drop what comes).
 *
 * Sending never suspends and never waits for the peer: the message is framed
 * into the connection's outgoing queue and a writer task (started when the
 * queue becomes non-empty, gone when it is empty again) writes it. Messages
 * are never interleaved: each is one frame, written whole and in queue order.
 * The queue is bounded in bytes (max_queue); when a message does not fit,
 * queue_policy decides:
 *   WEFT_WS_QUEUE_CLOSE        the connection is closed with 1008 (the default);
 *   WEFT_WS_QUEUE_DROP_OLDEST  the oldest waiting messages are dropped;
 *   WEFT_WS_QUEUE_COALESCE     a waiting message with the same key is replaced
 *                              in place (sends with key 0 never coalesce), then
 *                              the oldest are dropped if it still does not fit.
 * A message that is being written is never dropped or cut.
 * ====================================================================== */
typedef struct weft_ws weft_ws;

enum { WEFT_WS_QUEUE_CLOSE = 0, WEFT_WS_QUEUE_DROP_OLDEST = 1, WEFT_WS_QUEUE_COALESCE = 2 };

typedef struct weft_ws_config {
    size_t max_message;       /* bytes of a received message; 0 = 1 MiB -> 1009 */
    size_t max_queue;         /* outgoing bytes waiting; 0 = 1 MiB */
    int queue_policy;         /* WEFT_WS_QUEUE_*: what a full queue does */
    int64_t ping_interval_ms; /* keepalive ping while receiving; 0 = 30 s, < 0 = none */
    int64_t idle_timeout_ms;  /* nothing from the peer this long -> closed with 1001;
                                 0 = 60 s, < 0 = never */
    int64_t close_timeout_ms; /* bound of the closing handshake; 0 = 5 s */
    int64_t write_timeout_ms; /* each write of the queue; 0 = 30 s, then the connection drops */
} weft_ws_config;

/* Make a connection of socket fd after a completed handshake (the server's
 * 101 sent, or the client's checked). pending[0..n): bytes already read past
 * the handshake (the first frames). deflate: the agreed permessage-deflate
 * parameters, NULL for none. cfg may be NULL. The connection owns fd from
 * now on, also on failure. NULL with *err (WEFT_ENOMEM) on failure. Never
 * suspends. */
weft_ws *weft_ws_adopt(int fd, int role, const void *pending, size_t n,
                       const weft_ws_deflate_params *deflate, const weft_ws_config *cfg, int *err);

/* Upgrade the request a handler is answering to a WebSocket (call it from the
 * handler, or a middleware around it, in the request's task; routing,
 * middleware and authentication have run before). The request is checked
 * with weft_ws_server_handshake(opts); a refusal is answered through c
 * (400, 403 or 426 with Sec-WebSocket-Version: 13, the reason as a text/plain
 * body) and gives NULL with *err = WEFT_EPARSE: the handler just returns 0.
 * Otherwise the 101 goes out through the server's connection hand-over
 * (weft_http_hand_over) and the connection is the caller's: receive on it
 * until WEFT_ECLOSED, weft_ws_free it, and return from the handler.
 *
 * Graceful server shutdown: every upgraded connection is sent a 1001 close
 * (queued behind what it already had to send); the handler's weft_ws_recv
 * returns WEFT_ECLOSED when the peer answers, and the server waits for the
 * handlers within its shutdown_timeout_ms, then cancels the rest (recv then
 * returns WEFT_ECANCELED). Other NULL results, *err: WEFT_ENOMEM, or the
 * hand-over's error (WEFT_ENOTSUP in the in-process test client, a write
 * error); the server then closes the connection. Suspends (to write the 101). */
weft_ws *weft_ws_upgrade(weft_http_ctx *c, const weft_ws_server_opts *opts,
                         const weft_ws_config *cfg, int *err);

/* Upgrade like weft_ws_upgrade, then run fn(ws, arg) on a task of its own
 * and return at once: the handler's task ends, and with it the stack pages
 * and the request buffers the HTTP server keeps for a running handler, so an
 * idle connection costs about half as much (docs/ws.md). fn owns ws and
 * weft_ws_free()s it before returning. Since the server forgets a connection
 * once its handler has returned, its graceful shutdown no longer reaches
 * these: put them in a set and close the set after weft_http_serve()
 * returns (weft_ws_set_close). set may be NULL. Returns 0, or what
 * weft_ws_upgrade gives in *err (WEFT_EPARSE after a refusal was answered:
 * return 0 from the handler), or weft_go's error (the connection is then
 * closed). */
typedef struct weft_ws_set weft_ws_set;
int weft_ws_upgrade_go(weft_http_ctx *c, const weft_ws_server_opts *opts, const weft_ws_config *cfg,
                       void (*fn)(weft_ws *ws, void *arg), void *arg, weft_ws_set *set);

/* A set of connections started by weft_ws_upgrade_go, for closing them all.
 * A connection leaves its set when its fn returns. NULL when out of memory. */
weft_ws_set *weft_ws_set_new(void);
/* Free a set whose connections have all ended (weft_ws_set_close returned 0). */
void weft_ws_set_free(weft_ws_set *s);
/* Connections in the set now. */
size_t weft_ws_set_count(weft_ws_set *s);
/* Send every connection of the set a close with code and reason (queued
 * behind what it already has to send) and wait until their fn have all
 * returned. At the deadline the sockets of the connections still open are
 * shut down (their weft_ws_recv returns WEFT_ECLOSED, status 1006) and their
 * fn get one more second to return. Returns 0 when they all ended,
 * WEFT_ETIMEDOUT when some fn still run after that, WEFT_ECANCELED.
 * Suspends. */
int weft_ws_set_close(weft_ws_set *s, int code, const char *reason, int64_t deadline);

/* Open a client connection to url ("ws://host[:port][/path][?query]"; host a
 * numeric IPv4 address, [IPv6] or a name resolved with getaddrinfo on the
 * blocking pool; port 80 by default). Suspends until connected and upgraded
 * or the deadline. NULL with *err: WEFT_EINVAL (bad or non-ws URL),
 * WEFT_ENOENT (name not found), connect's -errno, WEFT_EPARSE (the server
 * refused the upgrade or answered badly; *reason says why when reason is not
 * NULL), WEFT_ETIMEDOUT, WEFT_ECANCELED, WEFT_ENOMEM. opts and cfg may be NULL. */
weft_ws *weft_ws_dial(const char *url, const weft_ws_client_opts *opts, const weft_ws_config *cfg,
                      int64_t deadline, int *err, const char **reason);

/* Receive the next whole message into out (its old content replaced; the
 * caller owns out and frees it with weft_buf_free). Returns the opcode,
 * WEFT_WS_TEXT (valid UTF-8) or WEFT_WS_BINARY, or: WEFT_ECLOSED once the
 * connection is closed (by either side, by a protocol error, by the idle
 * timeout or because the peer went away: weft_ws_close_status says how),
 * WEFT_ETIMEDOUT at the deadline (the connection stays open), WEFT_ECANCELED,
 * WEFT_ENOTASK, WEFT_ENOMEM. Suspends; one task reads at a time. */
int weft_ws_recv(weft_ws *ws, weft_buf *out, int64_t deadline);

/* Queue one message (WEFT_WS_TEXT or WEFT_WS_BINARY) of p[0..n), copied.
 * Any task or thread; never suspends. 0 when queued; WEFT_ECLOSED when the
 * connection is closing or closed; WEFT_ELIMIT when it did not fit the queue
 * (with WEFT_WS_QUEUE_CLOSE the connection is then closing with 1008) or is
 * alone larger than max_queue; WEFT_EINVAL (another opcode, or text that is
 * not UTF-8); WEFT_ENOMEM; WEFT_ESHUTDOWN (no runtime to write it). */
int weft_ws_send(weft_ws *ws, int opcode, const void *p, size_t n);
/* The same with a coalescing key (see WEFT_WS_QUEUE_COALESCE). */
int weft_ws_send_keyed(weft_ws *ws, int opcode, uint64_t key, const void *p, size_t n);

/* Queue a shared message (weft_hub_msg_new) by reference: its frame is not
 * copied into the queue (a client connection copies and masks it). flags:
 *   0                   as weft_ws_send, under max_queue and the queue policy;
 *   WEFT_WS_SEND_KEEP   a message the peer must not miss (an alert among
 *                       droppable position updates): counted against
 *                       max_queue like any other, but never dropped or
 *                       replaced by the policy. To make room for it the
 *                       policy drops the oldest droppable messages; when the
 *                       kept ones alone would pass max_queue the connection
 *                       is closed with 1008 "send queue full" (WEFT_ELIMIT),
 *                       so the peer learns it missed something (it
 *                       reconnects and resynchronises) and the queue stays
 *                       bounded. A droppable message that finds the queue
 *                       full of kept ones is itself dropped (counted in
 *                       weft_ws_stats.dropped);
 *   WEFT_WS_SEND_SYNC   part of the initial state a server sends on
 *                       connecting (a snapshot, possibly in many messages):
 *                       not counted against max_queue and never dropped or
 *                       replaced by the policy, so a state larger than the
 *                       queue still arrives whole. What is queued behind it
 *                       is limited as usual, so a peer that does not read
 *                       still ends under the policy. The bytes are the
 *                       caller's to bound: share one message between the
 *                       connections that need the same state.
 * The writer takes at most about 256 KiB of the queue per write, so a long
 * queue of shared messages is never copied whole. Returns as weft_ws_send. */
typedef struct weft_hub_msg weft_hub_msg; /* (the hub's, below) */
enum { WEFT_WS_SEND_SYNC = 1, WEFT_WS_SEND_KEEP = 2 };
int weft_ws_send_msg(weft_ws *ws, weft_hub_msg *m, int flags);

/* Start the closing handshake with code (1000-1003, 1007-1011, 3000-4999;
 * 0 sends a close frame without one) and reason (cut to 123 bytes), after
 * what is already queued; then wait, within close_timeout_ms, for the peer's
 * close (a server then closes the socket; a client waits for the server to
 * close it). Later sends fail with WEFT_ECLOSED. Returns 0 when the handshake
 * completed, WEFT_ETIMEDOUT when the peer did not answer in time (the socket
 * is shut down anyway), WEFT_EINVAL (bad code), WEFT_ECLOSED if the
 * connection was already closed. Suspends; call from a task. */
int weft_ws_close(weft_ws *ws, int code, const char *reason);

/* How the connection ended: the peer's close code (1005 when its close frame
 * had none), the code we closed with, or 1006 when the socket dropped without
 * a close; 0 while open. *reason (may be NULL) gets the reason text, valid
 * until weft_ws_free. */
int weft_ws_close_status(weft_ws *ws, const char **reason);

typedef struct weft_ws_stats {
    size_t queued;    /* bytes waiting to be written (counted against max_queue) */
    size_t held;      /* bytes of SYNC and KEEP messages waiting (never dropped): 0 once the
                         writer took every one of them */
    uint64_t sent;    /* messages written */
    uint64_t dropped; /* messages dropped or replaced by the queue policy */
} weft_ws_stats;
void weft_ws_get_stats(weft_ws *ws, weft_ws_stats *out);

/* The negotiated subprotocol ("" when none). */
const char *weft_ws_subprotocol(const weft_ws *ws);

/* Release the caller's hold: a connection that is still open is dropped
 * without a handshake (use weft_ws_close first for a clean end). The memory
 * goes when the writer task is done with it too. Never suspends. */
void weft_ws_free(weft_ws *ws);

/* ======================================================================
 * The hub (src/http/ws_hub.c): topics, and one message fanned out to many
 * subscribers.
 *
 * A published message is made once: its payload copied once, its WebSocket
 * frame built once (and compressed once, for connections whose
 * permessage-deflate resets per message with a full window), and every
 * subscriber's queue holds a reference to it, never a copy. Subscribers are
 * server WebSocket connections (each under its own queue policy: a slow one
 * drops or closes, the publisher never waits), channels of weft_hub_msg*
 * (a full channel misses the message, counted as dropped, or is closed:
 * WEFT_HUB_CHAN_CLOSE_WHEN_FULL) and, through a
 * channel, SSE streams (weft_hub_serve_sse). A closed connection or channel
 * is unsubscribed automatically (found at the next publish to its topic).
 * Any task or thread may publish and subscribe.
 *
 * A broker (weft_hub_set_broker) sees every local publish, to carry it to
 * other processes (Redis, NATS: not built here); what it receives from them
 * it hands to weft_hub_deliver, which reaches local subscribers only, so a
 * message never loops back.
 * ====================================================================== */
typedef struct weft_hub weft_hub;
typedef struct weft_hub_msg weft_hub_msg;

/* A message's payload (valid while a reference is held) and opcode. */
weft_str weft_hub_msg_data(const weft_hub_msg *m);
int weft_hub_msg_opcode(const weft_hub_msg *m);
/* Drop a reference (a channel subscriber owns one per message it received). */
void weft_hub_msg_release(weft_hub_msg *m);
/* Make a message the way weft_hub_publish does (payload copied once, the
 * server frame built once), for an application that queues the same bytes
 * to connections of its choosing with weft_ws_send_msg. opcode WEFT_WS_TEXT
 * (valid UTF-8) or WEFT_WS_BINARY. The caller owns the one reference. NULL
 * when the opcode or the text is invalid or out of memory. */
weft_hub_msg *weft_hub_msg_new(int opcode, const void *p, size_t n);

typedef struct weft_hub_broker {
    /* called after the local fan-out of every weft_hub_publish, on the
     * publisher's thread; must not suspend for long (queue the message). */
    int (*publish)(void *ud, const char *topic, int opcode, const void *p, size_t n);
    void *ud;
} weft_hub_broker;

/* NULL when out of memory. */
weft_hub *weft_hub_new(void);
/* Drops every subscription (connections and channels are not closed). */
void weft_hub_free(weft_hub *h);
void weft_hub_set_broker(weft_hub *h, const weft_hub_broker *b);

/* Subscribe a connection to topic (it keeps a reference to ws until it is
 * unsubscribed or found closed). 0, WEFT_EEXIST (already subscribed),
 * WEFT_ECLOSED, WEFT_ENOMEM. Never suspends. */
int weft_hub_subscribe_ws(weft_hub *h, const char *topic, weft_ws *ws);
int weft_hub_unsubscribe_ws(weft_hub *h, const char *topic, weft_ws *ws); /* 0, WEFT_ENOENT */
/* Subscribe a channel whose elements are weft_hub_msg pointers
 * (weft_chan_new(sizeof(weft_hub_msg *), cap)); the receiver releases each.
 * 0, WEFT_EEXIST, WEFT_EINVAL (ch NULL), WEFT_ENOMEM. */
int weft_hub_subscribe_chan(weft_hub *h, const char *topic, weft_chan *ch);
/* The same with flags: 0, or WEFT_HUB_CHAN_CLOSE_WHEN_FULL: a message the
 * channel has no room for closes it (and unsubscribes it) instead of being
 * missed silently, so its receiver drains what it holds and then gets
 * WEFT_ECLOSED, and knows that nothing after that reached it (an SSE stream
 * ends and its client reconnects to a fresh state). Counted as dropped.
 * WEFT_EINVAL for other flags. */
#define WEFT_HUB_CHAN_CLOSE_WHEN_FULL 1
int weft_hub_subscribe_chan_flags(weft_hub *h, const char *topic, weft_chan *ch, int flags);
int weft_hub_unsubscribe_chan(weft_hub *h, const char *topic, weft_chan *ch);

/* Publish p[0..n) (WEFT_WS_TEXT, valid UTF-8, or WEFT_WS_BINARY) to topic's
 * subscribers, and to the broker. key: the coalescing key for connections
 * with WEFT_WS_QUEUE_COALESCE (0 = none). Returns the number of subscribers
 * it was queued to (>= 0), or WEFT_EINVAL, WEFT_ENOMEM. Never suspends. */
int weft_hub_publish(weft_hub *h, const char *topic, int opcode, uint64_t key, const void *p,
                     size_t n);
/* The same with weft_ws_send_msg's flags for the connections: 0, or
 * WEFT_WS_SEND_KEEP (a message no connection may drop: one that cannot keep
 * it is closed with 1008; see weft_ws_send_msg). A channel subscriber whose
 * channel is full still misses it (counted as dropped; closed with
 * WEFT_HUB_CHAN_CLOSE_WHEN_FULL), and a broker gets
 * it as from weft_hub_publish. WEFT_EINVAL for other flags. */
int weft_hub_publish_flags(weft_hub *h, const char *topic, int opcode, uint64_t key, int flags,
                           const void *p, size_t n);
/* A message no connection may miss, whole to the connections that keep up
 * and in parts to the ones that lag: a server connection whose queue, with
 * this message, stays within a quarter of its max_queue is queued p as one
 * message, WEFT_WS_SEND_KEEP; any other is queued parts[0..nparts) instead,
 * in order, each with its flags (0: droppable under its queue policy, or
 * WEFT_WS_SEND_KEEP). So an application can put what must arrive (an alert)
 * in the same message as what may be dropped (position updates) while the
 * peer keeps up, one send instead of two, and keep the droppable part
 * droppable for a peer that lags. The whole messages kept for a connection
 * never take more than a quarter of its queue: one that falls behind is on
 * the parts before its queue fills. The parts should carry the same content
 * as p. Channel subscribers and the broker get p. Each part is framed (and
 * compressed) once, only if some connection lags. Returns as
 * weft_hub_publish; WEFT_EINVAL also for nparts outside
 * 1..WEFT_HUB_PARTS_MAX, a part's flags other than 0 or KEEP, or a part
 * that is not valid UTF-8 (WEFT_WS_TEXT). */
typedef struct weft_hub_part {
    const void *p;
    size_t n;
    int flags;
} weft_hub_part;
enum { WEFT_HUB_PARTS_MAX = 8 };
int weft_hub_publish_split(weft_hub *h, const char *topic, int opcode, const void *p, size_t n,
                           const weft_hub_part *parts, int nparts);
/* The same for local subscribers only, without the broker (for what a broker
 * brings from elsewhere). */
int weft_hub_deliver(weft_hub *h, const char *topic, int opcode, uint64_t key, const void *p,
                     size_t n);

typedef struct weft_hub_stats {
    uint64_t published; /* messages */
    uint64_t delivered; /* queued to a subscriber */
    uint64_t dropped;   /* a subscriber's queue or channel was full */
    size_t subscribers; /* now */
} weft_hub_stats;
void weft_hub_get_stats(weft_hub *h, weft_hub_stats *out);

#ifdef __cplusplus
}
#endif
#endif
