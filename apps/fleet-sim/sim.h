/*
 * apps/fleet-sim/sim.h — the fleet on the wire: every simulated vehicle as a
 * device talking to the server, and the counters of what was sent and
 * acknowledged.
 *
 * Vehicle i (1-based) is a Teltonika device when i is even (IMEI
 * "3560000000" followed by i in 5 digits, or "356000000" and 6 digits from
 * 100,000) and an OsmAnd device when i is odd
 * ("sim-0001"), unless the mix says otherwise.
 *  - Teltonika: one task and one TCP connection per device, as real
 *    trackers: IMEI login (expects 0x01), then AVL packets of up to
 *    records_per_packet records; the next packet goes only after the 4-byte
 *    acknowledgement of the last one. Fixes are recorded on schedule even
 *    while the server is away (up to 64 packets, at least 1024 fixes; the
 *    oldest packet's worth dropped beyond that) and
 *    whatever was not acknowledged is sent again after reconnecting.
 *  - OsmAnd: `connections` tasks, each with one keep-alive HTTP connection
 *    shared by the OsmAnd vehicles i with i % connections == its number;
 *    one request per fix, 200 is the acknowledgement. A 4xx answer is a
 *    failure (reason printed once per vehicle) and the fix is dropped; a
 *    broken connection or a 5xx sends the same fix again after a back-off.
 * Connection refused / reset: retry with exponential back-off (250 ms up to
 * 8 s), said once per vehicle.
 *
 * Time: realtime (fix times are the wall clock, one fix per interval per
 * vehicle, staggered) or backfill (fix times from `backfill_days` ago up to
 * the start, sent as fast as the server acknowledges them).
 */
#ifndef FLEET_SIM_SIM_H
#define FLEET_SIM_SIM_H

#include <stdatomic.h>
#include <stdint.h>

#include "encode.h"
#include "roads.h"

enum { SIM_MIX_BOTH = 0, SIM_MIX_OSMAND = 1, SIM_MIX_TELTONIKA = 2 };

typedef struct sim_config {
    const char *host; /* numeric address of the server */
    int osmand_port, teltonika_port;
    int vehicles;           /* 1..1,000,000 */
    int interval_ms;        /* between one vehicle's fixes, >= 1 */
    double duration_s;      /* realtime: how long to send; <= 0 = until *stop */
    int records_per_packet; /* Teltonika, 1..255 */
    int connections;        /* OsmAnd keep-alive connections, >= 1 */
    uint64_t seed;
    int backfill_days; /* > 0: history mode */
    osm_mode osmand_mode;
    int mix;                /* SIM_MIX_* */
    int codec;              /* 0x8E (default) or 0x08 */
    double overspeed_share; /* of vehicles that overspeed on arterials, 0..1 */
    double alarm_share;     /* of Teltonika vehicles with the unplug alarm, 0..1 */
    const char *ack_log;    /* append "<device id> <fix ms>" per acknowledged fix; NULL: none */
    road_params roads;
    int64_t ack_timeout_ms; /* wait for an answer this long; 0 = 10 s */
    int64_t drain_ms;       /* after the end, this long to get outstanding acks; 0 = 5 s */
    int quiet;              /* no per-vehicle messages on stderr */
    atomic_int *stop; /* set (from anywhere, e.g. a signal handler) to end early; may be NULL */
} sim_config;

/* The defaults: 127.0.0.1, 5055 / 5027, 10 vehicles every 1000 ms for 60 s,
 * 10 records a packet, 4 connections, seed 1, realtime, GET, both
 * protocols, Codec 8E, 10 % overspeeders, 20 % alarms, no ack log. */
void sim_config_defaults(sim_config *c);

/* Vehicle i's device id ("356000000000002", "sim-0001"), and its protocol. */
int sim_is_teltonika(const sim_config *c, int i);
void sim_device_id(const sim_config *c, int i, char out[24]);

typedef struct sim_report {
    double elapsed_s;
    int64_t sent;          /* fixes sent (first transmission) */
    int64_t acked;         /* fixes acknowledged */
    int64_t failed;        /* fixes whose transmission failed or was refused */
    int64_t resent;        /* transmissions of a fix sent before */
    int64_t dropped;       /* fixes dropped from a full device buffer */
    int64_t conn_errors;   /* connects and logins that failed */
    int64_t rejected;      /* of failed: refused by the server (4xx, login 0x00, short ack) */
    int connected;         /* connections open now */
    double ack_rate;       /* acks per second over the window */
    double p50_ms, p99_ms; /* ack latency over the window (ticks) or the run (final) */
} sim_report;

typedef void (*sim_tick_fn)(const sim_report *r, void *ud);

/* Run the fleet as configured; call tick(report, ud) once a second (window:
 * the last second) when tick is not NULL; fill *final with the totals. Must
 * run in a weft task; suspends until the duration and the drain are over or
 * *stop is set and the drain is over. Returns 0, WEFT_EINVAL (a setting out
 * of range), WEFT_ENOMEM, the -errno of opening the ack log, or WEFT_ECANCELED
 * when the calling task was cancelled (the device tasks are cancelled too;
 * *final still holds the counts). */
int sim_run(const sim_config *cfg, sim_tick_fn tick, void *ud, sim_report *final);

#endif
