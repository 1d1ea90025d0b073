/*
 * apps/fleet-sim/watch.h — live viewers as a load generator: N WebSocket
 * clients (weft_ws_dial) on a live socket, each reading every message and
 * measuring the fix-to-viewer latency of every position in it.
 *
 * The clock: a position's fixTime is the fix's time stamp as the sender put
 * it on the wire (fleet-sim, realtime mode: the wall clock, in Unix
 * milliseconds, at which the fix is due and sent; a connection that falls
 * behind sends it later, and that delay counts). A viewer reads the wall
 * clock (CLOCK_REALTIME, microseconds) when a whole message has arrived;
 * latency = arrival - fixTime. Sender and viewers run on the same machine,
 * so both read the same clock; the fix time's 1 ms resolution makes the
 * figures up to 1 ms high, never low.
 *
 * With coalescing, a fix waits for the next tick of the server's feed: up
 * to one tick (p50 about half a tick, p99 about a whole one) is by design.
 * What the server adds beyond that shows as the push delay: per message,
 * the latency of its freshest position.
 *
 * The first message of a connection is the snapshot of the latest state (its
 * fixes can be minutes old): it is read and checked, not counted. Positions
 * that arrive in the warm-up are not counted either.
 *
 * Two kinds of viewer (watch_config.latency_viewers): at 10,000 devices x 500
 * viewers the server sends about 1.5 GB/s in total, and decoding every
 * position at every viewer costs the generator more than its core. So a
 * sample of the viewers (spread evenly over the connection order) decodes
 * every message with watch_scan and measures latency as described above;
 * the others are light: they read the socket themselves into a per-thread
 * buffer and walk the frames with watch_frames_feed (frame structure, every
 * message's first and last byte, counts of messages and bytes), without
 * copying, UTF-8 checking or decoding the payload. Both kinds count
 * messages, bytes and failures the same way.
 *
 * Both message shapes the benchmarks meet are read: weft fleet's
 * {"devices":[...],"positions":[{"fixTime":"2026-12-06T14:10:30.123Z",...}],
 * "events":[...]} and the arena's tracking services'
 * {"positions":[{"id":"sim-0001","fixTime":1765030230123,...}]}.
 */
#ifndef FLEET_SIM_WATCH_H
#define FLEET_SIM_WATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the message scanner: pure, no I/O (fuzz/fleet_sim_watch.c) ---- */

#define WATCH_DEPTH_MAX 64 /* nesting a message may have */

/* server_ms: the position's serverTime (when the server took the fix), -1
 * when it has none (the arena's services send none). */
typedef void (*watch_fix_fn)(void *ud, int64_t fix_ms, int64_t server_ms);

/* Scan one message p[0..n): a JSON object whose member "positions" (any
 * number of them, anywhere among the top-level members) is an array of
 * objects, each with a "fixTime" that is an ISO 8601 string or a number of
 * Unix milliseconds (apps/fleet/isotime.c reads both), and optionally a
 * "serverTime" of the same forms. fn(ud, fix_ms, server_ms) is
 * called for each position, in order, as it is read (so a message that
 * turns out bad later may have called fn for its first positions). Other
 * members and values are skipped, checked only for their framing (strings
 * closed, brackets matched, at most WATCH_DEPTH_MAX deep). Returns the
 * number of positions (>= 0), or WEFT_EPARSE with *why (a static string)
 * saying what is wrong: not an object, a position that is not an object or
 * has no usable fixTime, unclosed or mismatched brackets, text after the
 * object. Never reads past p[n - 1]. */
int watch_scan(const char *p, size_t n, watch_fix_fn fn, void *ud, const char **why);

/* The latency of a fix of time fix_ms (Unix ms) that arrived at arrival_us
 * (Unix microseconds), in microseconds; a fix stamped after its arrival
 * (clocks cannot disagree on one machine, but a sender may stamp the future)
 * gives 0 and sets *early. */
int64_t watch_latency_us(int64_t arrival_us, int64_t fix_ms, int *early);

/* ---- the light viewers' frame reader: pure, no I/O (fuzz/fleet_sim_frames.c) ----
 * Server-to-client frames of a connection without extensions, or with
 * permessage-deflate when fr->deflate is set (RFC 6455 §5, RFC 7692 §6):
 * a head (weft_ws_frame_parse), the payload skipped but for its first and
 * last byte. With deflate, RSV1 on a message's first frame marks it
 * compressed: it is counted, not inflated, and its bytes are not checked for
 * "{...}". Refused (WATCH_FR_FAIL, with why): RSV bits (RSV1 only allowed on
 * the first frame of a message, with deflate), a masked frame, a
 * reserved opcode, a binary message (live updates are text), a continuation
 * without a message or a data frame inside one, a fragmented or > 125-byte
 * control frame, a close with a 1-byte payload or an invalid code, a message
 * over WATCH_FRAMES_MAX, a message that is not "{...}" (first byte '{', last
 * byte '}'). After FAIL or CLOSE the reader takes nothing more. */

#define WATCH_FRAMES_MAX (256ull << 20) /* a message's bytes, as for the decoding viewers */

enum { WATCH_FR_NONE, WATCH_FR_MESSAGE, WATCH_FR_PING, WATCH_FR_CLOSE, WATCH_FR_FAIL };

typedef struct watch_frames {
    uint8_t head[14];
    size_t head_have;  /* bytes of the next head gathered (0 = between frames) */
    int in_payload;    /* the head of the current frame is read */
    int fin, opcode;   /* of the current frame */
    uint64_t left;     /* its payload bytes still to come */
    uint64_t flen;     /* its payload length */
    int msg_open;      /* a text message has begun and not ended */
    uint64_t msg_len;  /* its payload bytes so far */
    uint8_t last;      /* its last payload byte so far */
    uint8_t ctl[125];  /* a control frame's payload */
    int done;          /* after CLOSE or FAIL */
    int deflate;       /* set by the caller: permessage-deflate was agreed */
    int msg_z;         /* the open message is compressed (RSV1 on its first frame) */
} watch_frames;

typedef struct watch_frame_ev {
    int type;          /* WATCH_FR_* */
    uint64_t len;      /* MESSAGE: its payload bytes (compressed when deflated) */
    int deflated;      /* MESSAGE: it came compressed (RSV1) */
    int code;          /* CLOSE: the status (1005: none given) */
    const uint8_t *data; /* PING: its payload (inside the reader), n bytes */
    size_t n;
    const char *why;   /* FAIL: what is wrong (a static string) */
} watch_frame_ev;

void watch_frames_init(watch_frames *fr);
/* Read p[0..n) until an event: returns the bytes taken (<= n); ev->type is
 * WATCH_FR_NONE when all n were taken without one. Feed the rest again after
 * handling the event. Never reads past p[n - 1]. */
size_t watch_frames_feed(watch_frames *fr, const void *p, size_t n, watch_frame_ev *ev);

/* ---- the viewers ---- */

typedef struct watch_config {
    const char *url;     /* ws://127.0.0.1:PORT/api/socket */
    const char *headers; /* extra request header lines, each ending in CRLF (a token), or NULL */
    int deflate;         /* offer permessage-deflate as Chromium does ("permessage-deflate;
                            client_max_window_bits"): light viewers count compressed
                            messages without inflating, decoding viewers inflate */
    int viewers;         /* 1..100,000 */
    int latency_viewers; /* of them, how many decode every position and measure latency
                            (0..viewers; the rest are light); < 0: all of them */
    double duration_s;   /* from the start, warm-up included; <= 0 = until *stop */
    double warmup_s;     /* positions arriving before this are not counted */
    int quiet;           /* no per-viewer messages on stderr */
    atomic_int *stop;    /* set to end early; may be NULL */
} watch_config;

typedef struct watch_report {
    double elapsed_s;          /* of the window (after the warm-up) */
    int connected;             /* viewers that completed the handshake */
    int latency_connected;     /* of them, the decoding ones (the latency sample) */
    int dial_failed;           /* viewers whose dial or handshake failed */
    int closed_early;          /* connections the server closed before the end */
    int last_close_code;       /* the last such close's code (1008: too slow), 0 = none */
    int64_t messages, bytes;   /* received in the window, all viewers; bytes are the payload
                                  as it arrived: compressed at a light viewer, inflated at a
                                  decoding one (weft_ws_recv inflates) */
    int64_t deflated;          /* of the messages, those a light viewer got compressed */
    int64_t light_bytes;       /* of the bytes, the light viewers' (as on the wire) */
    int64_t positions;         /* positions received in the window, decoding viewers */
    int64_t bad;               /* messages watch_scan or watch_frames_feed refused */
    int64_t early;             /* positions stamped after their arrival (counted as 0) */
    double p50_ms, p99_ms, p999_ms, max_ms; /* fix-to-viewer latency */
    /* the push delay: per message, the latency of its freshest position
     * (with many devices, one reported just before the tick): the time from
     * the tick to the viewer, without the wait for the tick; whole run */
    double push_p50_ms, push_p99_ms;
    /* the latency split at each position's serverTime (fleet's): the device
     * and its connection up to the server taking the fix, and from there
     * (commit, the feed's window, the send, the viewer's read) to the
     * viewer; whole run, -1 when no position had a serverTime */
    double to_server_p50_ms, to_server_p99_ms, from_server_p50_ms, from_server_p99_ms;
    double msgs_per_viewer_s;  /* messages a second per connected viewer */
    double positions_per_s;    /* positions a second, the decoding viewers together */
} watch_report;

typedef void (*watch_tick_fn)(const watch_report *r, void *ud);

/* Run the viewers as configured; tick(report, ud) once a second (the last
 * second's latency) when tick is not NULL; *final gets the window's totals.
 * Must run in a weft task; suspends until the duration is over (or *stop).
 * Returns 0, WEFT_EINVAL (a setting out of range), WEFT_ENOMEM,
 * WEFT_ECANCELED. */
int watch_run(const watch_config *cfg, watch_tick_fn tick, void *ud, watch_report *final);

#endif
