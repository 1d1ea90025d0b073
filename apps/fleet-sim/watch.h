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

typedef void (*watch_fix_fn)(void *ud, int64_t fix_ms);

/* Scan one message p[0..n): a JSON object whose member "positions" (any
 * number of them, anywhere among the top-level members) is an array of
 * objects, each with a "fixTime" that is an ISO 8601 string or a number of
 * Unix milliseconds (apps/fleet/isotime.c reads both). fn(ud, fix_ms) is
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

/* ---- the viewers ---- */

typedef struct watch_config {
    const char *url;     /* ws://127.0.0.1:PORT/api/socket */
    const char *headers; /* extra request header lines, each ending in CRLF (a token), or NULL */
    int viewers;         /* 1..100,000 */
    double duration_s;   /* from the start, warm-up included; <= 0 = until *stop */
    double warmup_s;     /* positions arriving before this are not counted */
    int quiet;           /* no per-viewer messages on stderr */
    atomic_int *stop;    /* set to end early; may be NULL */
} watch_config;

typedef struct watch_report {
    double elapsed_s;          /* of the window (after the warm-up) */
    int connected;             /* viewers that completed the handshake */
    int dial_failed;           /* viewers whose dial or handshake failed */
    int closed_early;          /* connections the server closed before the end */
    int last_close_code;       /* the last such close's code (1008: too slow), 0 = none */
    int64_t messages, bytes;   /* received in the window, all viewers */
    int64_t positions;         /* positions received in the window, all viewers */
    int64_t bad;               /* messages watch_scan refused */
    int64_t early;             /* positions stamped after their arrival (counted as 0) */
    double p50_ms, p99_ms, p999_ms, max_ms; /* fix-to-viewer latency */
    /* the push delay: per message, the latency of its freshest position
     * (with many devices, one reported just before the tick): the time from
     * the tick to the viewer, without the wait for the tick; whole run */
    double push_p50_ms, push_p99_ms;
    double msgs_per_viewer_s;  /* messages a second per connected viewer */
    double positions_per_s;    /* positions a second, all viewers */
} watch_report;

typedef void (*watch_tick_fn)(const watch_report *r, void *ud);

/* Run the viewers as configured; tick(report, ud) once a second (the last
 * second's latency) when tick is not NULL; *final gets the window's totals.
 * Must run in a weft task; suspends until the duration is over (or *stop).
 * Returns 0, WEFT_EINVAL (a setting out of range), WEFT_ENOMEM,
 * WEFT_ECANCELED. */
int watch_run(const watch_config *cfg, watch_tick_fn tick, void *ud, watch_report *final);

#endif
