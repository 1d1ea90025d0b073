/*
 * apps/fleet/live.h — every device the server knows, with its latest state,
 * in memory: the hot cache that ingest updates and the API and live socket
 * read (the role of Discord's "Read States" service in the articles). No
 * garbage collector and no allocation per fix: a device's entry is allocated
 * once, its attribute buffer grows only when a longer one arrives.
 *
 * Concurrency: the id and unique-id maps are behind one rwlock (lookups take
 * it shared; they are far more frequent than devices being added). Each
 * device's state is behind its own mutex (live_lock): short sections, no
 * suspension inside. A device's fixes are processed one batch at a time
 * (pipeline.c holds its `gate`, a weft mutex, across the commit), so state
 * transitions happen in fix order.
 */
#ifndef FLEET_LIVE_H
#define FLEET_LIVE_H

#include <pthread.h>
#include <stdint.h>

#include "weft/rt.h"

#include "fix.h"

#define LIVE_GEOFENCES_MAX 16 /* geofences one device can be inside at once (more: ignored) */
#define LIVE_ATTRS_MAX 2048   /* longer attributes are not kept in memory (read from the store) */

typedef enum live_status { LIVE_UNKNOWN = 0, LIVE_ONLINE, LIVE_OFFLINE } live_status;

/* A device's latest state: what the last in-order fix and the server's
 * rules (events.c) made of it. Plain data: the pipeline works on a copy and
 * stores it back only once the fixes it came from are durable.
 *
 * Every device holds one, so it is packed (152 bytes, asserted in live.c):
 * flags and tri-states are int8_t, the UTC day an int32_t, the geofences the
 * device is inside are out of line (live_geo below). Positions, speeds and
 * times keep their full width (doubles, int64 ms): the live position is the
 * stored row's, to the bit. */
typedef struct live_state {
    int64_t fix_ms, server_ms; /* of the latest fix */
    int64_t last_seen_ms;      /* server time of the last message of any kind */
    int64_t motion_since_ms;
    int64_t slow_since_ms; /* moving, but below the threshold since then; 0 = not */
    double lat, lon, speed_kn, course, altitude, accuracy;
    double battery_pct, power_v, odometer_m;
    double distance_today_m;
    int32_t day;     /* the UTC day (since 1970) distance_today_m counts */
    uint32_t alarms; /* alarm bits of the latest fix */
    char protocol[12];
    int8_t has_fix;
    int8_t valid;
    int8_t ignition, motion; /* tri-state, FLEET_UNKNOWN when never reported */
    int8_t moving;           /* the server's motion state: 1 moving, 0 stopped */
    int8_t overspeeding;
    uint8_t status; /* live_status */
} live_state;

/* The geofences a device is inside: ids, ascending. A working copy (the
 * pipeline's and the event rules'); the device keeps them in an array of
 * their exact number (most devices are inside none). */
typedef struct live_geo {
    uint32_t n;
    int64_t ids[LIVE_GEOFENCES_MAX];
} live_geo;

/* The longest unique id, name and category kept (the API's limits). */
#define LIVE_UNIQUE_ID_MAX 64
#define LIVE_NAME_MAX 128
#define LIVE_CATEGORY_MAX 32

/* What the server knows of a device: its registration (copied from the
 * devices table) and its latest state. */
typedef struct live_device {
    int64_t id;
    /* unique_id, name and category: three strings in one allocation of their
     * exact size (the block starts at unique_id). live_put replaces the block
     * and frees the old one, so read them under live_lock (unique_id also
     * under the table's lock, which lookups hold) and copy what must outlive
     * it (model_view). */
    const char *unique_id, *name, *category;
    int64_t group_id; /* 0 = none */
    double speed_limit_kn;
    int disabled;
    int deleted;

    weft_mutex gate; /* held by the pipeline across a batch's commit */

    pthread_mutex_t mu; /* live_lock: the state below */

    live_state st; /* latest state, under mu */
    char *attrs;      /* latest attributes (JSON object), NULL when none or too long */
    uint32_t attrs_len, attrs_cap;
    uint64_t version; /* bumped on every change, for the live socket */
    uint64_t feed_sig;   /* feed.c's task only: what its last device entry showed ... */
    int64_t feed_sent_ms; /* ... and when it was sent */
    int64_t *geo;         /* geofences inside (live_geo_get/_set), under mu */
    int feed_pending;     /* queued for the next live update (feed.c, under its lock) */
    uint8_t ngeo, geo_cap;
} live_device;

/* A state with nothing known yet. */
void live_state_init(live_state *st);

typedef struct live live;

live *live_new(void);
void live_free(live *l);

/* Add or replace a device's registration (from the devices table or the
 * API); its live state is kept when it already exists. Returns the entry
 * (stable for the life of the process) or NULL when out of memory. */
live_device *live_put(live *l, int64_t id, const char *unique_id, const char *name,
                      const char *category, int64_t group_id, double speed_limit_kn, int disabled);
/* Mark deleted: lookups no longer find it; the entry stays allocated. */
void live_remove(live *l, int64_t id);

live_device *live_by_unique(live *l, const char *unique_id);
live_device *live_by_id(live *l, int64_t id);

/* The devices, for iteration: *n gets the count; entries of deleted devices
 * are included with deleted set. The array is a snapshot (malloc'd; free it). */
live_device **live_list(live *l, size_t *n);
size_t live_count(live *l);

void live_lock(live_device *d);
void live_unlock(live_device *d);

/* The geofences d is inside (under live_lock). live_geo_reserve makes room
 * for n of them (0 or WEFT_ENOMEM), so that live_geo_set, called after it
 * with at most n, cannot fail: the pipeline reserves before its commit and
 * sets after. */
void live_geo_get(const live_device *d, live_geo *g);
int live_geo_reserve(live_device *d, uint32_t n);
void live_geo_set(live_device *d, const live_geo *g);

/* Bytes of memory the live state uses (entries, maps, attribute buffers). */
size_t live_memory(live *l);

#endif
