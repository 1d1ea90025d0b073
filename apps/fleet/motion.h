/*
 * apps/fleet/motion.h — a device's fixes summarised in motion chunks, so a
 * trips, stops or summary report over a month reads a few thousand chunks
 * instead of millions of fixes.
 *
 * A chunk is a run of consecutive fixes of one device (by fix time) that are
 * all moving (speed >= status.moving_speed_kn) or all not, at most
 * MOTION_CHUNK_MAX_N fixes and MOTION_CHUNK_MAX_MS long. It keeps its first
 * and last fix whole and the rest as sums over the pairs of consecutive
 * fixes inside it: distance, engine time (a pair whose earlier fix has
 * ignition on), the speeds' sum and maximum. Those are exactly what the
 * report's state machine (api_reports.c) accumulates fix by fix, so feeding
 * it a chunk gives the answer feeding it the chunk's fixes gives (sums may
 * differ in the last bits: they are added in another order).
 *
 * Every chunk records prev_t, the fix time of the fix just before its first
 * (MOTION_NONE for a device's first fix): a reader checks that the chunks it
 * uses follow on from the fixes it read, and reads the raw fixes wherever
 * they do not (a chunk being rewritten, or not yet written).
 *
 * The writer (writer.c) maintains them in the transaction that stores the
 * fixes, so they are as durable as the fixes: in-order fixes extend the
 * device's open chunk in memory, a finished chunk is inserted; the open one
 * is never written (readers take its fixes raw, at most one chunk's worth).
 * A fix older than the device's newest summarised one deletes the chunks it
 * falls into or before, and the device is summarised again from the
 * database, as after a restart (MOTION_CATCHUP_MAX fixes a batch, so a
 * device with a long unsummarised history is caught up in steps without
 * stalling ingest).
 */
#ifndef FLEET_MOTION_H
#define FLEET_MOTION_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define MOTION_CHUNK_MAX_N 3600
#define MOTION_CHUNK_MAX_MS 3600000
#define MOTION_CATCHUP_MAX 20000
#define MOTION_NONE INT64_MIN

typedef struct motion_fix {
    int64_t t;
    double lat, lon, speed;
    int ign; /* 1 on, 0 off, -1 unknown (from the attributes, as the reports read them) */
} motion_fix;

typedef struct motion_chunk {
    int64_t prev_t; /* fix time of the fix before first; MOTION_NONE: none */
    int64_t n;      /* fixes */
    int moving;
    motion_fix first, last;
    /* over fixes 2..n and the pairs (k-1, k) ending in them */
    double dist_m, speed_sum, max_speed;
    int64_t engine_ms;
} motion_chunk;

/* SELECT list of a chunk row, for motion_chunk_from_row. */
#define MOTION_CHUNK_COLS                                                                                   \
    "prev_t, n, moving, t0, lat0, lon0, speed0, ign0, t1, lat1, lon1, speed1, ign1, dist_m, speed_sum, " \
    "max_speed, engine_ms"
void motion_chunk_from_row(motion_chunk *c, const weft_db_rows *r, int i);

/* The SQL expression the reports and the catch-up read ignition with. */
#define MOTION_IGN_SQL                                                                                 \
    "CASE WHEN attributes LIKE '%\"ignition\":true%' THEN 1 WHEN attributes LIKE '%\"ignition\":false%' " \
    "THEN 0 ELSE -1 END"
/* The same on attribute text in memory; pg: LIKE is case-sensitive there,
 * case-insensitive (ASCII) in SQLite. */
int motion_ign_of(const char *attrs, size_t len, int pg);

/* Would p start a new chunk after c (which holds at least one fix)? */
int motion_breaks(const motion_chunk *c, const motion_fix *p, double thr);
/* Start c with p. */
void motion_start(motion_chunk *c, const motion_fix *p, int64_t prev_t, double thr);
/* Append p to c (p after c->last, motion_breaks false). */
void motion_extend(motion_chunk *c, const motion_fix *p);

/* The writer's per-device state: a map from device id to its open chunk. */
typedef struct motion_map motion_map;
motion_map *motion_map_new(int pg, double thr);
void motion_map_free(motion_map *m);
/* Forget every device (after a failed transaction or a deleted device):
 * each is summarised again from the database when it next reports. */
void motion_map_reset(motion_map *m);
/* Account for the fix (device_id, p), just inserted in tx. 0 or a negative
 * code (the transaction must then be rolled back, and the map reset). */
int motion_add(motion_map *m, store_tx *tx, int64_t device_id, const motion_fix *p, weft_db_err *e,
               int64_t deadline);
/* Summarise from the database the devices motion_add found behind (after
 * a restart, a late fix): at most MOTION_CATCHUP_MAX fixes in all. Then
 * insert the finished chunks motion_add queued: call it last in every
 * transaction that called motion_add. */
int motion_catch_up(motion_map *m, store_tx *tx, weft_db_err *e, int64_t deadline);

#endif
